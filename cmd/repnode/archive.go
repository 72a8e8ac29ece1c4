package main

// POST /v1/admin/archive, and the log kept for lagging sites in
// /v1/status.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"logship/cmd/internal/api"
	"logship/env"
)

// handleArchive takes a checkpoint, then removes the log files nothing
// needs any more: not recovery, not an internal init this site serves,
// not a lagging site within --log-keep-bytes (unless {"force":true}).
// {"dry_run":true} says what it would remove and keep, and does nothing.
func (n *node) handleArchive(w http.ResponseWriter, r *http.Request) {
	var req api.ArchiveRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: fmt.Sprintf(`bad archive request: %v; want {"dry_run":bool,"force":bool} or no body`, err)})
		return
	}
	info, err := n.env.Archive(r.Context(), env.ArchiveOptions{DryRun: req.DryRun, Force: req.Force})
	if err != nil {
		n.writeError(w, err)
		return
	}
	out := api.Archive{
		CheckpointLSN: info.LSN.String(), KeepFrom: info.KeepFrom.String(),
		Removed: append([]string{}, info.Removed...), DryRun: req.DryRun, Force: req.Force,
		Kept: []api.KeptFile{}, LetGo: info.LetGo,
		LogKeepBytes: info.Keep.Budget, LogRetainedBytes: info.Keep.Retained, LogKeepHeadroomBytes: info.Keep.Headroom,
	}
	if req.DryRun {
		out.WouldRemove = append([]string{}, info.Removable...)
	}
	for _, f := range info.Kept {
		out.Kept = append(out.Kept, api.KeptFile{File: filepath.Base(f.Path), Sites: f.Sites})
	}
	n.log.Info("admin: archive", "checkpoint", info.LSN.String(), "keep_from", info.KeepFrom.String(), "removed", len(info.Removed),
		"dry_run", req.DryRun, "force", req.Force, "kept_for_sites", len(info.Kept), "let_go", info.LetGo)
	writeJSON(w, http.StatusOK, out)
}

// addLogKeep adds the log kept for lagging sites to a status: the
// budget, what is kept, the headroom, and per site.
func (n *node) addLogKeep(out *api.Status) {
	k := n.env.LogKeep()
	out.LogKeepBytes, out.LogRetainedBytes, out.LogKeepHeadroomBytes = k.Budget, k.Retained, k.Headroom
	for _, ks := range k.Sites {
		for i := range out.Sites {
			if s := &out.Sites[i]; s.ID == ks.Site {
				s.LogNeededBytes, s.LogKeptBytes, s.LogLetGo = ks.Needed, ks.Kept, ks.LetGo
			}
		}
	}
}

var (
	dKeepBudget   = desc("log_keep_bytes", "Budget of log kept for lagging sites (--log-keep-bytes).")
	dKeepRetained = desc("log_retained_bytes", "Log bytes kept for lagging sites within the budget: from the oldest one's need to the end of the log.")
	dKeepHeadroom = desc("log_keep_headroom_bytes", "log_keep_bytes minus log_retained_bytes: at 0 the next site to fall further behind is let go.")
	dSiteKept     = desc("site_log_kept_bytes", "Log bytes kept for the site: from what it last acknowledged (unknown: the budget's start) to the end of the log; 0 once let go.", "site")
	dSiteLetGo    = desc("site_log_let_go", "1 when the site needs more log than --log-keep-bytes keeps: once its log is removed it needs an internal init.", "site")
	keepDescs     = []*prometheus.Desc{dKeepBudget, dKeepRetained, dKeepHeadroom, dSiteKept, dSiteLetGo}
)

// collectLogKeep exports the log kept for lagging sites.
func collectLogKeep(n *node, gauge func(*prometheus.Desc, float64, ...string)) {
	k := n.env.LogKeep()
	gauge(dKeepBudget, float64(k.Budget))
	gauge(dKeepRetained, float64(k.Retained))
	gauge(dKeepHeadroom, float64(k.Headroom))
	for _, s := range k.Sites {
		sid := strconv.FormatUint(s.Site, 10)
		gauge(dSiteKept, float64(s.Kept), sid)
		gauge(dSiteLetGo, b2f(s.LetGo), sid)
	}
}
