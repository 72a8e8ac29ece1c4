package main

// sync --wait: follow a client until it has caught up with its master,
// drawing a one-line progress bar from /v1/status (and /v1/stats for the
// log bytes received).
//
// The master caught up with is the one the client follows at each poll.
// When that changes (a failover, a transfer, a master restarted in a new
// generation) the wait says so and goes on with the new master. A
// delayed client (--delay-client) waits for a sync at every new master:
// Berkeley DB's rep_sync starts the sync with one master. The operator
// asked this one to catch up, so the wait asks it to sync again, as
// 'repadmin sync' would, and says so.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"logship/cmd/internal/api"
)

// The phases of a client's sync, as the progress line names them.
const (
	phaseNoMaster   = "waiting for a master"
	phaseDelayed    = "waiting for sync to start"
	phaseVerify     = "finding the sync point"
	phasePreparing  = "master preparing snapshot" // internal init asked, nothing received yet
	phaseCopying    = "copying snapshot"          // internal init: bytes received / snapshot size
	phaseInstalling = "installing snapshot"       // received whole, being installed
	phaseCatchUp    = "catch-up"                  // by log: bytes received / received + behind
)

// masterGen is a master and its generation.
type masterGen struct{ id, gen uint64 }

func (m masterGen) String() string { return fmt.Sprintf("site %d (gen %d)", m.id, m.gen) }

// syncWait is what one sync --wait remembers between polls. Its methods
// decide from a status alone; waitCaughtUp does the I/O.
type syncWait struct {
	master     masterGen // the master followed; id 0: none known yet
	asked      masterGen // a sync was asked at this master and the site has not left "delayed" since
	changes    int       // master changes seen
	sawDelayed bool      // the site delayed a sync during the wait: it is a delayed client
	base       int64     // catch-up: log bytes received when first seen (-1: not yet)
	behind0    int64     // catch-up: bytes behind when first seen (-1: not yet)
}

// newSyncWait starts following the client whose status, read just before
// 'repadmin sync' asked it to sync, is first.
func newSyncWait(first api.Status) *syncWait {
	w := &syncWait{base: -1, behind0: -1}
	if first.Role == "client" && first.Master != 0 {
		w.master = masterGen{first.Master, first.Gen}
		if first.SyncState == "delayed" {
			w.asked, w.sawDelayed = w.master, true
		}
	}
	return w
}

// follow notes a master change and says whether the client must be
// asked to sync again: it delays its sync with a master it was not asked
// to sync with (a new master), or again with the same one (it
// restarted). Generation 0 is not known yet: a client that learns its
// master's generation has not changed master.
func (w *syncWait) follow(st api.Status) (notes []string, askSync bool) {
	if st.Role != "client" || st.Master == 0 {
		return nil, false // an election, or no master heard yet: wait for one
	}
	cur := masterGen{st.Master, st.Gen}
	switch {
	case w.master.id == 0:
		w.master = cur
	case cur.id != w.master.id || (w.master.gen != 0 && cur.gen != 0 && cur.gen != w.master.gen):
		w.master = cur
		w.changes++
		w.base, w.behind0 = -1, -1
		notes = append(notes, fmt.Sprintf("master changed: %s; waiting on it", cur))
	case cur.gen != 0:
		w.master.gen = cur.gen
	}
	if st.SyncState != "delayed" {
		w.asked = masterGen{}
		return notes, false
	}
	w.sawDelayed = true
	if w.asked == cur {
		return notes, false
	}
	w.asked = cur
	notes = append(notes, fmt.Sprintf("site %d delays its sync with %s (--delay-client): asking it to sync, as 'repadmin sync' does", st.ID, cur))
	return notes, true
}

// phase is the progress frame of st's sync phase; the catch-up frame's
// bytes come from frame.
func phase(st api.Status) progress {
	switch {
	case st.Role != "client" || st.Master == 0:
		return progress{Label: phaseNoMaster, Total: -1}
	case st.SyncState == "delayed":
		return progress{Label: phaseDelayed, Total: -1}
	case st.SyncState == "verify":
		return progress{Label: phaseVerify, Total: -1}
	case st.SyncState == "init" && st.Installing:
		return progress{Label: fmt.Sprintf("%s (%s)", phaseInstalling, humanBytes(st.InitTotal)), Total: -1}
	case st.SyncState == "init" && st.InitTotal == 0:
		return progress{Label: phasePreparing, Total: -1}
	case st.SyncState == "init":
		return progress{Label: phaseCopying, Done: st.InitDone, Total: st.InitTotal}
	}
	return progress{Label: phaseCatchUp}
}

// frame is the progress frame of st; in catch-up, recv is the client's
// count of log bytes received (ok false: unknown, progress then counts
// down the bytes behind).
func (w *syncWait) frame(st api.Status, recv int64, ok bool) progress {
	p := phase(st)
	if p.Label != phaseCatchUp {
		return p
	}
	if w.behind0 < 0 {
		w.behind0 = st.BehindBytes
	}
	if ok {
		if w.base < 0 || recv < w.base { // recv < base: the site restarted, its counters too
			w.base = recv
		}
		p.Done = recv - w.base
	} else {
		p.Done = max(0, w.behind0-st.BehindBytes)
	}
	p.Total = p.Done + st.BehindBytes
	return p
}

// caughtUp: the client holds every record of its master it heard of.
func caughtUp(st api.Status) bool {
	return st.Role == "client" && st.SyncState == "ready" && st.BehindBytes == 0
}

// leftRunning says what the site does after repadmin stops waiting.
func (w *syncWait) leftRunning(st api.Status) string {
	switch {
	case st.Role != "client" || st.Master == 0:
		s := fmt.Sprintf("site %d knows no master now and syncs with the next one it follows", st.ID)
		if w.sawDelayed {
			s += " once 'repadmin sync' is run (it delays its sync with every new master)"
		}
		return s
	case st.SyncState == "delayed":
		return fmt.Sprintf("site %d waits for 'repadmin sync' to sync with master %d", st.ID, st.Master)
	}
	s := fmt.Sprintf("site %d goes on syncing without repadmin; 'repadmin sync --wait' follows it again", st.ID)
	if w.sawDelayed {
		s += " (at a new master it waits for 'repadmin sync' again)"
	}
	return s
}

// waitOptions tune waitCaughtUp.
type waitOptions struct {
	Interval time.Duration // between polls
	Timeout  time.Duration // 0: none
	TTY      bool          // redraw one line in place
	BarWidth int
}

// waitCaughtUp polls the client at node until it is synchronised with its
// current master and holds every record of it it has heard of, drawing
// progress on w; first is the status read before its sync was asked. It
// fails at once when the site cannot catch up (join or init failure, a
// storage failure), and when the timeout passes; it succeeds at once if
// the site became master.
func waitCaughtUp(ctx context.Context, node string, first api.Status, opt waitOptions, w io.Writer) error {
	if opt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
	}
	tick := time.NewTicker(opt.Interval)
	defer tick.Stop()
	start := time.Now()
	sw := newSyncWait(first)
	var (
		lastDone int64
		shown    string // the phase (and master) the rate was measured in
		lastAt   time.Time
		rate     float64
		drawn    bool
		st       api.Status
	)
	endLine := func() {
		if drawn && opt.TTY {
			fmt.Fprintln(w)
		}
		drawn = false
	}
	for {
		if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
			endLine()
			return err
		}
		if err := failed(st); err != nil {
			endLine()
			return err
		}
		if st.Role == "master" {
			endLine()
			fmt.Fprintf(w, "site %d became the master (gen %d): it has no master to catch up with; the other sites sync with it\n", st.ID, st.Gen)
			return nil
		}
		notes, ask := sw.follow(st)
		if len(notes) > 0 {
			endLine()
			for _, n := range notes {
				fmt.Fprintln(w, n)
			}
		}
		if ask {
			err := call(http.MethodPost, node, "/v1/admin/sync", nil, nil)
			var he *httpError
			switch {
			case err == nil:
				continue // the status now shows the sync: poll it at once
			case !errors.As(err, &he) || he.Code != http.StatusConflict:
				return fmt.Errorf("asking site %d to sync with %s: %w", st.ID, sw.master, err)
			}
			// 409: no longer a client; the next poll says what it is.
		}
		var p progress
		if phase(st).Label == phaseCatchUp {
			recv, ok := bytesReceived(node)
			p = sw.frame(st, recv, ok)
		} else {
			p = sw.frame(st, 0, false)
		}
		now := time.Now()
		if key := fmt.Sprint(p.Label, sw.changes); key != shown { // init bytes and log bytes are different rates
			shown, rate, lastAt = key, 0, time.Time{}
		}
		if !lastAt.IsZero() && p.Done >= lastDone {
			if dt := now.Sub(lastAt).Seconds(); dt > 0 {
				inst := float64(p.Done-lastDone) / dt
				if rate == 0 {
					rate = inst
				} else {
					rate = 0.3*inst + 0.7*rate
				}
			}
		}
		lastDone, lastAt, p.Rate = p.Done, now, rate
		line := renderProgress(p, opt.BarWidth)
		if opt.TTY {
			fmt.Fprint(w, "\r"+line+ansiClearLine)
		} else {
			fmt.Fprintln(w, line)
		}
		drawn = true
		if caughtUp(st) {
			endLine()
			fmt.Fprintf(w, "site %d caught up with master %d at %s in %v\n", st.ID, st.Master, orNone(st.LastLSN), time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			endLine()
			where := fmt.Sprintf("sync state %s, %s behind master %s%s", st.SyncState, humanBytes(st.BehindBytes), siteName(st.Master), stuckHint(st))
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("site %d not caught up after %v: %s; %s", st.ID, opt.Timeout, where, sw.leftRunning(st))
			}
			return fmt.Errorf("interrupted: stopped waiting (%s); %s", where, sw.leftRunning(st))
		case <-tick.C:
		}
	}
}

// cannotCatchUp names why a site is not one sync --wait can start on, or
// a state it cannot end well from, and what to do about it.
func cannotCatchUp(st api.Status) error {
	switch {
	case st.Role == "master":
		return fmt.Errorf("site %d is the master: it has nothing to catch up with; give --node a client's --http address", st.ID)
	case st.Role == "witness":
		return fmt.Errorf("site %d is a witness: it holds no data to catch up", st.ID)
	case st.Role != "client":
		return fmt.Errorf("site %d has no role yet (%q): wait for it to find a master, or start it with --client", st.ID, st.Role)
	}
	return failed(st)
}

// failed names a state a client cannot catch up from without the
// operator, and what to do about it.
func failed(st api.Status) error {
	switch {
	case st.SyncState == "join_failed":
		return fmt.Errorf("site %d cannot catch up: too far behind its master and started with --no-auto-init (%s); restart it without --no-auto-init, or rebuild it, then run 'repadmin sync'", st.ID, st.Error)
	case st.SyncState == "init_failed":
		return fmt.Errorf("site %d cannot catch up: its master stopped retaining the log for its internal init (%s); run 'repadmin sync' to start over", st.ID, st.Error)
	case st.Error != "":
		return fmt.Errorf("site %d cannot catch up: %s", st.ID, st.Error)
	}
	return nil
}

// stuckHint explains the usual reasons a client stays behind.
func stuckHint(st api.Status) string {
	switch {
	case st.Master == 0:
		return "; the site knows no master: check that a master runs and that --peers lists it"
	case st.SyncState == "delayed":
		return "; the site is a delayed client: 'repadmin sync' starts its sync"
	}
	for _, s := range st.Sites {
		if s.ID == st.Master && !s.Connected {
			return fmt.Sprintf("; the site is not connected to master %d: check that it runs and that --peers has its address", st.Master)
		}
	}
	return ""
}

// bytesReceived reads the client's count of log bytes received; false
// from a repnode without /v1/stats (progress then shows what is left).
func bytesReceived(node string) (int64, bool) {
	var st struct {
		Replication map[string]json.RawMessage `json:"replication"`
	}
	if call(http.MethodGet, node, "/v1/stats", nil, &st) != nil {
		return 0, false
	}
	var n int64
	if json.Unmarshal(st.Replication["log_bytes_recv"], &n) != nil {
		return 0, false
	}
	return n, true
}
