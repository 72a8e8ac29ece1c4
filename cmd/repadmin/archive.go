package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"logship/cmd/internal/api"
)

// runArchive has the site checkpoint and remove the log files nothing
// needs; --dry-run only says what it would remove and keep, --force
// removes also what lagging sites within the budget need.
func runArchive(g *globals, args []string) error {
	var req api.ArchiveRequest
	if err := noArgs(g, "archive", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&req.DryRun, "dry-run", false, "say which log files would be removed and which are kept for which lagging site; remove nothing")
		fs.BoolVar(&req.Force, "force", false, "also remove the log that lagging sites within --log-keep-bytes need (they will need an internal init)")
	}); err != nil {
		return err
	}
	node, stdout := g.node, g.stdout
	var body any
	if req.DryRun || req.Force {
		body = req
	}
	var out api.Archive
	if err := call(http.MethodPost, node, "/v1/admin/archive", body, &out); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if req.DryRun && !out.DryRun {
		return fmt.Errorf("archive: the site at %s does not know --dry-run (an older repnode): it archived; removed %d log file(s)", node, len(out.Removed))
	}
	if g.json {
		return printJSON(stdout, out)
	}
	printArchive(stdout, out)
	return nil
}

// printArchive says what an archive removed (or, dry run, would), what
// it kept for which lagging site, and the budget's headroom.
func printArchive(w io.Writer, out api.Archive) {
	if out.DryRun {
		fmt.Fprintf(w, "dry run: checkpoint would be at %s; log would be kept from %s; %d log file(s) would be removed\n", out.CheckpointLSN, out.KeepFrom, len(out.WouldRemove))
		for _, f := range out.WouldRemove {
			fmt.Fprintf(w, "  would remove %s\n", f)
		}
	} else {
		fmt.Fprintf(w, "checkpoint at %s; log kept from %s; %d log file(s) removed\n", out.CheckpointLSN, out.KeepFrom, len(out.Removed))
		for _, f := range out.Removed {
			fmt.Fprintf(w, "  removed %s\n", f)
		}
	}
	if len(out.Kept) > 0 {
		fmt.Fprintf(w, "%d log file(s) kept for lagging sites within the budget (--force removes them; those sites would need an internal init):\n", len(out.Kept))
		for _, f := range out.Kept {
			fmt.Fprintf(w, "  kept %s: needed by %s\n", f.File, siteList(f.Sites))
		}
	}
	if len(out.LetGo) > 0 {
		verb := "let go"
		if out.DryRun {
			verb = "would be let go"
		}
		fmt.Fprintf(w, "%s %s: its log is removed; it will need an internal init\n", siteList(out.LetGo), verb)
	}
	if out.LogKeepBytes > 0 {
		fmt.Fprintf(w, "log kept for lagging sites: %d of %d bytes (headroom %d)\n", out.LogRetainedBytes, out.LogKeepBytes, out.LogKeepHeadroomBytes)
	}
}

// siteList names sites: "site 2", "sites 2, 3".
func siteList(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	if len(ids) == 1 {
		return "site " + s[0]
	}
	return "sites " + strings.Join(s, ", ")
}
