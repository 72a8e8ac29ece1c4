package main

// The HTTP API: the client key/value API, status, admin and /metrics.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"logship/cmd/internal/api"
	"logship/env"
	"logship/env/site"
	"logship/wal/lsn"
)

func (n *node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/kv/{bucket}/{key...}", n.handlePut)
	mux.HandleFunc("GET /v1/kv/{bucket}/{key...}", n.handleGet)
	mux.HandleFunc("DELETE /v1/kv/{bucket}/{key...}", n.handleDelete)
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("GET /v1/stats", n.handleStats)
	mux.HandleFunc("POST /v1/admin/sync", n.handleSync)
	mux.HandleFunc("POST /v1/admin/elect", n.handleElect)
	mux.HandleFunc("POST /v1/admin/transfer", n.handleTransfer)
	mux.HandleFunc("POST /v1/admin/priority", n.handlePriority)
	mux.HandleFunc("POST /v1/admin/archive", n.handleArchive)
	mux.HandleFunc("POST /v1/admin/allow-rollback", n.handleAllowRollback)
	mux.HandleFunc("POST /v1/admin/verify", n.handleVerify)
	n.memberRoutes(mux) // members.go
	mux.HandleFunc("GET /healthz", handleHealthz)
	mux.HandleFunc("GET /readyz", n.handleReadyz)
	mux.Handle("GET /metrics", n.metrics.handler())
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// httpStatus is the HTTP status of a failure of kind k.
var httpStatus = map[failKind]int{
	failInternal:     http.StatusInternalServerError,
	failNotMaster:    http.StatusServiceUnavailable,
	failNoLease:      http.StatusServiceUnavailable,
	failLockout:      http.StatusServiceUnavailable,
	failUnavailable:  http.StatusServiceUnavailable,
	failNeverApplied: http.StatusGone,
	failBadRequest:   http.StatusBadRequest,
	failTooLarge:     http.StatusRequestEntityTooLarge,
	failTimeout:      http.StatusGatewayTimeout,
	failCanceled:     499,
	failClosed:       http.StatusServiceUnavailable,
}

// writeError maps env's errors to HTTP statuses (describe).
func (n *node) writeError(w http.ResponseWriter, err error) {
	f := n.describe(err)
	writeJSON(w, httpStatus[f.kind], api.ErrorBody{Error: f.msg, Master: f.master, MasterAddr: f.masterAddr, MasterHTTP: n.httpAddrOf(f.master)})
}

func (n *node) handlePut(w http.ResponseWriter, r *http.Request) {
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(n.cfg.EnvConfig().MaxValueSize)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, api.ErrorBody{Error: env.ErrValueTooLarge.Error()})
			return
		}
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: "read body: " + err.Error()})
		return
	}
	n.write(w, r, "put", func(tx *env.Tx) error { return tx.Put(bucket, []byte(key), value) })
}

func (n *node) handleDelete(w http.ResponseWriter, r *http.Request) {
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	n.write(w, r, "delete", func(tx *env.Tx) error { return tx.Delete(bucket, []byte(key)) })
}

func (n *node) write(w http.ResponseWriter, r *http.Request, op string, fn func(*env.Tx) error) {
	start := time.Now()
	tok, err := n.site.Update(r.Context(), fn)
	if err != nil {
		if n.redirectWrite(w, r, err) {
			return
		}
		n.writeError(w, err)
		return
	}
	n.metrics.observeCommit(op, tok.Permanent, time.Since(start))
	writeResult(w, tok)
}

// writeResult answers a commit. It is the one answer on the write path, so
// it is built by hand: encoding/json with indentation cost more CPU than
// the rest of the handler. TestWriteResultJSON holds it to the encoder's
// compact output of api.WriteResult.
func writeResult(w http.ResponseWriter, tok env.Token) {
	b := make([]byte, 0, 112)
	b = append(b, `{"lsn":"`...)
	b = tok.LSN.AppendText(b)
	b = append(b, `","gen":`...)
	b = strconv.AppendUint(b, tok.Gen, 10)
	b = append(b, `,"token":"`...)
	b = append(b, tok.String()...)
	b = append(b, `","permanent":`...)
	b = strconv.AppendBool(b, tok.Permanent)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// handleGet answers the value's bytes (404 if none). With ?token=T (a
// write's token), or ?min_lsn=T (the same, or a bare FILE/OFFSET, which
// only compares positions), it first waits, bounded by the request and
// --read-timeout, until that write is applied here (read-your-writes);
// 410 if this site holds another record there that no failover undoes
// (the write was rolled back). The X-Applied-LSN header names the last
// record the read reflects.
func (n *node) handleGet(w http.ResponseWriter, r *http.Request) {
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	q := r.URL.Query()
	tokText, param := q.Get("token"), "token"
	if tokText == "" {
		tokText, param = q.Get("min_lsn"), "min_lsn"
	}
	var tok env.Token
	if tokText != "" {
		var err error
		if tok, err = env.ParseToken(tokText); err != nil {
			writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: fmt.Sprintf("%s %q: want a write's token (GEN:FILE/OFFSET:CHECKSUM) or FILE/OFFSET, e.g. 1/4096", param, tokText)})
			return
		}
	}
	lease, err := n.leaseRead(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: err.Error()})
		return
	}
	var (
		value   []byte
		applied lsn.LSN
	)
	read := func(rt *env.ReadTx) error {
		applied = rt.AppliedLSN()
		v, err := rt.Get(bucket, []byte(key))
		value = v
		return err
	}
	switch {
	case tokText != "":
		ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ReadTimeout)
		defer cancel()
		err = n.readAt(ctx, tok, lease, read)
		if errors.Is(err, context.DeadlineExceeded) {
			writeJSON(w, http.StatusGatewayTimeout, api.ErrorBody{Error: fmt.Sprintf("%s %s not applied here in time: %v", param, tok, err)})
			return
		}
	case lease:
		err = n.site.ViewLease(read)
	default:
		err = n.site.View(read)
	}
	if err != nil {
		n.writeError(w, err)
		return
	}
	w.Header().Set("X-Applied-LSN", applied.String())
	if value == nil {
		writeJSON(w, http.StatusNotFound, api.ErrorBody{Error: "not found"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(value)
}

// readAt is a read that sees the write tok names (env.ViewAt), as a
// lease read if lease is set.
func (n *node) readAt(ctx context.Context, tok env.Token, lease bool, read func(*env.ReadTx) error) error {
	if !lease {
		return n.site.ViewAt(ctx, tok, read)
	}
	for {
		if err := n.site.WaitApplied(ctx, tok); err != nil {
			return err
		}
		seen := false
		err := n.site.ViewLease(func(rt *env.ReadTx) error {
			ok, err := rt.Sees(tok)
			if err != nil || !ok {
				return err
			}
			seen = true
			return read(rt)
		})
		if err != nil || seen {
			return err
		}
	}
}

// leaseRead reports whether a GET must be a lease read: asked for with
// ?lease=true on any site, and by default on a master running with
// --leases (as Berkeley DB checks the lease on a master's reads), unless
// the caller accepts a possibly stale answer with ?stale=true.
func (n *node) leaseRead(r *http.Request) (bool, error) {
	q := r.URL.Query()
	flag := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%q: want true or false", name, v)
		}
		return b, nil
	}
	lease, err := flag("lease")
	if err != nil {
		return false, err
	}
	stale, err := flag("stale")
	if err != nil {
		return false, err
	}
	return n.readMode(lease, stale)
}

// readMode reports whether a read is a lease read, given what the caller
// asked for (HTTP's ?lease= and ?stale=, RESP's default of neither): a
// lease read if asked for, else on a master running with --leases unless
// the caller accepts a stale answer.
func (n *node) readMode(lease, stale bool) (bool, error) {
	if lease && stale {
		return false, errors.New("lease=true and stale=true exclude each other")
	}
	if lease || stale || !n.cfg.Leases {
		return lease, nil
	}
	return n.site.Status().Role.String() == "master", nil
}

func (n *node) status() (api.Status, error) {
	st := n.site.Status()
	role := st.Role.String()
	out := api.Status{
		ID: uint64(st.ID), Role: role, Master: uint64(st.Master), Gen: st.Gen,
		LSN: st.LSN.String(), LastLSN: st.LSN.String(), EndLSN: endOfLog(st).String(),
		DurableLSN: st.DurableLSN.String(), AppliedLSN: st.AppliedLSN.String(),
		SyncState: syncStateName(st), Lockout: st.Lockout, StorageFailed: st.StorageFailed,
		InitDone: st.InitDone, InitTotal: st.InitTotal, Installing: st.Installing, BehindBytes: st.BehindBytes, Ack: n.cfg.Ack,
		Mode: modeName(n.cfg.Mode()), Election: electionStatus(n),
		Sites: []api.Site{},
	}
	if st.Master != 0 {
		out.MasterAddr = n.masterAddr(uint64(st.Master))
	}
	out.HTTPAddr, out.MasterHTTP = n.cfg.AdvertisedHTTP(), n.httpAddrOf(uint64(st.Master))
	addrs := n.site.PeerAddrs()
	if !st.MasterLSN.IsZero() {
		out.MasterLSN = st.MasterLSN.String()
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	known := map[uint64]site.SiteStatus{}
	for _, s := range st.Sites {
		known[uint64(s.ID)] = s
	}
	// The sites are the other members of the membership this site holds
	// (members.go): the founding --peers until a change.
	out.Membership = n.membership(st)
	for _, mem := range st.Members.Members {
		id := uint64(mem.ID)
		if id == n.cfg.ID {
			continue
		}
		s := known[id]
		out.Sites = append(out.Sites, api.Site{
			ID: id, Addr: orElse(mem.Addr, n.cfg.Peers[id]),
			Connected: s.Connected || n.tr.Connected(transportID(id)),
			LSN:       s.Acked.String(), LagBytes: s.LagBytes,
			SentLSN: s.SentLSN.String(), FlushedLSN: s.FlushedLSN.String(), AppliedLSN: s.AppliedLSN.String(),
			LagSeconds: s.LagTime.Seconds(), CatchUpETASeconds: etaSeconds(s.CatchUpETA),
			Witness: mem.Witness || slices.Contains(n.cfg.WitnessPeers, id), NonVoting: !mem.Voting(),
			InitSentBytes: s.InitSentBytes, InitTotalBytes: s.InitTotalBytes, InitRate: s.InitRate,
		})
		a := addrs[site.SiteID(id)]
		out.Sites[len(out.Sites)-1].HTTPAddr, out.Sites[len(out.Sites)-1].RESPAddr = a.HTTP, a.RESP
		if role == "master" && !out.Sites[len(out.Sites)-1].Witness {
			out.Sites[len(out.Sites)-1].ApplyLagSeconds = etaSeconds(s.ApplyLagTime)
		}
		if s.InitTotalBytes > 0 {
			out.Sites[len(out.Sites)-1].InitETASeconds = etaSeconds(s.InitETA)
		}
		if st.Role.String() == "master" && !out.Sites[len(out.Sites)-1].Witness {
			out.Sites[len(out.Sites)-1].Electability = s.Electability.String()
			if !s.DataMismatch.IsZero() {
				out.Sites[len(out.Sites)-1].DataMismatchLSN = s.DataMismatch.String()
			}
		}
	}
	n.addLogKeep(&out)
	n.addApplyDelay(&out)
	return out, nil
}

// syncStateName is the sync_state a site reports: rep's, or
// "storage_failed" once its environment failed and it stopped
// replicating (it is then neither ready nor syncing).
func syncStateName(st site.Status) string {
	if st.StorageFailed {
		return "storage_failed"
	}
	return st.SyncState.String()
}

// endOfLog is where the site's next record goes; Zero while the site
// has never held a record, so an empty site reads "0/0" like its other
// LSNs rather than the position of a first record it does not have.
func endOfLog(st site.Status) lsn.LSN {
	if st.LSN.IsZero() {
		return lsn.Zero
	}
	return st.EndLSN
}

// etaSeconds keeps env's "not progressing" (-1) exact in seconds.
func etaSeconds(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return d.Seconds()
}

func (n *node) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := n.status()
	if err != nil {
		n.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleSync: an empty body (or {}) starts a delayed client's sync now;
// {"delay":bool} would change delayed sync, which env cannot do at run time.
func (n *node) handleSync(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Delay *bool `json:"delay"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: "read body: " + err.Error()})
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: `body: want {"delay":true|false} or empty: ` + err.Error()})
			return
		}
	}
	if req.Delay != nil {
		if err := n.site.SetDelayClient(*req.Delay); err != nil {
			n.writeError(w, err)
			return
		}
		n.log.Info("admin: delayed sync set", "delay", *req.Delay)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "delay": *req.Delay})
		return
	}
	if st := n.site.Status(); st.Role.String() != "client" {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("site %d is %s, not a client: sync starts a delayed client's synchronisation", n.cfg.ID, st.Role)})
		return
	}
	if err := n.site.Sync(); err != nil {
		n.writeError(w, err)
		return
	}
	n.log.Info("admin: sync started")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (n *node) handleElect(w http.ResponseWriter, r *http.Request) {
	if n.cfg.Mode() != ModeElect {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("elections are off on this site: it was started with --%s", modeName(n.cfg.Mode()))})
		return
	}
	if err := electNow(n); err != nil {
		n.writeError(w, err)
		return
	}
	n.log.Info("admin: election called")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// handlePriority changes this site's election priority at run time
// (rep_set_priority): body {"priority": N}.
func (n *node) handlePriority(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Priority *int64 `json:"priority"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Priority == nil ||
		*req.Priority < 0 || *req.Priority > 1<<32-1 {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: `body: want {"priority": N}, N from 0 (never master) to 4294967295`})
		return
	}
	if n.cfg.Mode() != ModeElect {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("priority matters in elections, but this site was started with --%s", modeName(n.cfg.Mode()))})
		return
	}
	if err := n.site.SetPriority(uint32(*req.Priority)); err != nil {
		n.writeError(w, err)
		return
	}
	n.log.Info("admin: priority set", "priority", *req.Priority)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "priority": *req.Priority})
}

func (n *node) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		To uint64 `json:"to"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.To == 0 {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: `body: want {"to": SITE_ID}`})
		return
	}
	if m, ok := n.site.Members().Find(site.SiteID(req.To)); !ok || uint64(m.ID) == n.cfg.ID {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: fmt.Sprintf("site %d is not another member of the group (repadmin site list)", req.To)})
		return
	}
	if n.cfg.Mode() != ModeElect {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("transfer needs elections, but this site was started with --%s", modeName(n.cfg.Mode()))})
		return
	}
	n.log.Info("admin: transfer started", "to", req.To)
	err := n.site.Transfer(r.Context(), site.SiteID(req.To))
	switch {
	case err == nil:
		n.log.Info("admin: transfer done", "master", req.To)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "master": req.To, "gen": n.site.Status().Gen})
	case errors.Is(err, site.ErrBadTarget):
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: fmt.Sprintf("cannot transfer to site %d: %v", req.To, err)})
	case errors.Is(err, site.ErrTransferFailed):
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: err.Error()})
	default:
		n.writeError(w, err)
	}
}

// handleVerify reads every key of the data file and checks it against the
// digest kept from the log (env.VerifyData). Damage answers 500 naming the
// file, and the site stops replicating until it is rebuilt.
func (n *node) handleVerify(w http.ResponseWriter, r *http.Request) {
	c, err := n.env.VerifyData(r.Context())
	if err != nil {
		n.log.Error("admin: data verification failed", "err", err)
		n.writeError(w, err)
		return
	}
	n.log.Info("admin: data verified", "applied", c.AppliedLSN.String(), "keys", c.Keys)
	writeJSON(w, http.StatusOK, api.DataCheck{
		AppliedLSN: c.AppliedLSN.String(), Digest: fmt.Sprintf("%016x", c.Digest),
		Expected: fmt.Sprintf("%016x", c.Expected), Keys: c.Keys, OK: c.OK(),
	})
}
