package main

// sync --wait: follow a client until it has caught up with its master,
// drawing a one-line progress bar from /v1/status (and /v1/stats for the
// bytes received).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"logship/cmd/internal/api"
)

// progress is one frame of the progress bar.
type progress struct {
	Label       string
	Done, Total int64   // bytes; Total 0: not known yet, < 0: a phase without a size
	Rate        float64 // bytes per second; 0: not measured yet
}

// renderProgress draws p as one line with a bar of width cells:
//
//	catch-up [##########----------]  50%  1.0 MiB / 2.0 MiB  512.0 KiB/s  ETA 2s
//
// A phase without a size (Total < 0) is its label alone.
func renderProgress(p progress, width int) string {
	if p.Total < 0 {
		return p.Label + " ..."
	}
	width = max(width, 1)
	frac := 0.0
	switch {
	case p.Total > 0:
		frac = math.Min(1, math.Max(0, float64(p.Done)/float64(p.Total)))
	case p.Done > 0:
		frac = 1
	}
	full := int(frac * float64(width))
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s%s] %3d%%  %s / %s", p.Label, strings.Repeat("#", full), strings.Repeat("-", width-full),
		int(frac*100), humanBytes(p.Done), humanBytes(p.Total))
	if p.Rate > 0 {
		fmt.Fprintf(&b, "  %s/s", humanBytes(int64(p.Rate)))
	} else {
		b.WriteString("  -/s")
	}
	left := p.Total - p.Done
	switch {
	case left <= 0:
		b.WriteString("  ETA 0s")
	case p.Rate > 0:
		eta := time.Duration(float64(left) / p.Rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %v", eta.Round(time.Second))
	default:
		b.WriteString("  ETA ?")
	}
	return b.String()
}

// humanBytes prints n in B, KiB, MiB, GiB or TiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return "" // not reached
}

// waitOptions tune waitCaughtUp.
type waitOptions struct {
	Interval time.Duration // between polls
	Timeout  time.Duration // 0: none
	TTY      bool          // redraw one line in place
	BarWidth int
}

// waitCaughtUp polls the client at node until it is synchronised and
// holds every master record it has heard of, drawing progress on w. It
// fails at once when the site cannot catch up (join or init failure), is
// not a client, or when the timeout passes.
func waitCaughtUp(ctx context.Context, node string, opt waitOptions, w io.Writer) error {
	if opt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
	}
	tick := time.NewTicker(opt.Interval)
	defer tick.Stop()
	start := time.Now()
	var (
		base     int64 = -1 // log bytes received when the wait started
		behind0  int64 = -1 // bytes behind when catch-up was first seen
		lastDone int64
		phase    string
		lastAt   time.Time
		rate     float64
		drawn    bool
		st       api.Status
	)
	endLine := func() {
		if drawn && opt.TTY {
			fmt.Fprintln(w)
		}
	}
	for {
		if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
			endLine()
			return err
		}
		if err := cannotCatchUp(st); err != nil {
			endLine()
			return err
		}
		p := progress{Label: "catch-up"}
		switch st.SyncState {
		case "delayed":
			p = progress{Label: "waiting for sync to start", Total: -1}
		case "verify":
			p = progress{Label: "finding the sync point", Total: -1}
		case "init":
			p = progress{Label: "internal init", Done: st.InitDone, Total: st.InitTotal}
		default:
			if behind0 < 0 {
				behind0 = st.BehindBytes
			}
			if recv, ok := bytesReceived(node); ok {
				if base < 0 {
					base = recv
				}
				p.Done = recv - base
			} else {
				p.Done = max(0, behind0-st.BehindBytes)
			}
			p.Total = p.Done + st.BehindBytes
		}
		now := time.Now()
		if p.Label != phase { // init bytes and log bytes are different rates
			phase, rate, lastAt = p.Label, 0, time.Time{}
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
		caught := st.SyncState == "ready" && st.BehindBytes == 0
		if caught && p.Total == 0 {
			p.Total = p.Done
		}
		line := renderProgress(p, opt.BarWidth)
		if opt.TTY {
			fmt.Fprint(w, "\r"+line+ansiClearLine)
		} else {
			fmt.Fprintln(w, line)
		}
		drawn = true
		if caught {
			endLine()
			fmt.Fprintf(w, "site %d caught up with master %d at %s in %v\n", st.ID, st.Master, orNone(st.LastLSN), time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			endLine()
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("site %d not caught up after %v: sync state %s, %s behind master %s%s", st.ID, opt.Timeout,
					st.SyncState, humanBytes(st.BehindBytes), siteName(st.Master), stuckHint(st))
			}
			return fmt.Errorf("interrupted; site %d goes on synchronising (sync state %s)", st.ID, st.SyncState)
		case <-tick.C:
		}
	}
}

// cannotCatchUp names a state the wait cannot end well from, and what to
// do about it.
func cannotCatchUp(st api.Status) error {
	switch {
	case st.Role == "master":
		return fmt.Errorf("site %d is the master: it has nothing to catch up with; give --node a client's --http address", st.ID)
	case st.Role == "witness":
		return fmt.Errorf("site %d is a witness: it holds no data to catch up", st.ID)
	case st.Role != "client":
		return fmt.Errorf("site %d has no role yet (%q): wait for it to find a master, or start it with --client", st.ID, st.Role)
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
