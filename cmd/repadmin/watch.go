package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"logship/cmd/internal/api"
)

// ANSI: cursor home, clear screen; clear to the end of the line.
const (
	ansiClearScreen = "\x1b[H\x1b[2J"
	ansiClearLine   = "\x1b[K"
)

func runWatch(g *globals, args []string) error {
	var (
		interval time.Duration
		count    int
		noFollow bool
	)
	if err := noArgs(g, "watch", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&interval, "interval", time.Second, "time between refreshes")
		fs.IntVar(&count, "count", 0, "stop after N refreshes (0: until interrupted)")
		fs.BoolVar(&noFollow, "no-follow", false, "keep watching --node after a failover, rather than the new master")
	}); err != nil {
		return err
	}
	if interval <= 0 {
		return usageError{fmt.Sprintf("watch: --interval %v must be > 0", interval)}
	}
	if count < 0 {
		return usageError{fmt.Sprintf("watch: --count %d must be >= 0", count)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &watcher{node: g.node, noFollow: noFollow, json: g.json, addrs: map[uint64]string{}}
	return w.run(ctx, interval, count, g.stdout, !g.json && isTerminal(g.stdout))
}

// watch is runWatch without flags, for tests: it watches node and
// follows the master.
func watch(ctx context.Context, node string, interval time.Duration, count int, w io.Writer, tty bool) error {
	wt := &watcher{node: node, addrs: map[uint64]string{}}
	return wt.run(ctx, interval, count, w, tty)
}

// watcher redraws the status of one site. Watching a master, it follows
// mastership: when the site says another is master, or stops
// answering, it asks the sites whose HTTP addresses it learned from the
// status (http_addr) for the new master and watches that one.
type watcher struct {
	node     string
	noFollow bool
	json     bool
	// following: the first status was a master's, so the watch stays on
	// the master.
	following bool
	addrs     map[uint64]string // site ID -> advertised HTTP address
}

// learn keeps the HTTP addresses a status names.
func (wt *watcher) learn(st api.Status) {
	if st.HTTPAddr != "" {
		wt.addrs[st.ID] = st.HTTPAddr
	}
	for _, s := range st.Sites {
		if s.HTTPAddr != "" {
			wt.addrs[s.ID] = s.HTTPAddr
		}
	}
}

// refresh reads the watched site's status, moving to the master when
// following; note says where the watch moved, if it did.
func (wt *watcher) refresh() (st api.Status, note string, err error) {
	err = call(http.MethodGet, wt.node, "/v1/status", nil, &st)
	if !wt.following {
		return st, "", err
	}
	if err == nil && (st.Role == "master" || st.Master == 0) {
		return st, "", nil
	}
	if err == nil && st.MasterHTTP != "" && st.MasterHTTP != wt.node {
		var ms api.Status
		if call(http.MethodGet, st.MasterHTTP, "/v1/status", nil, &ms) == nil && ms.Role == "master" {
			note = fmt.Sprintf("site %d at %s is no longer master; following the master, site %d at %s", st.ID, wt.node, ms.ID, st.MasterHTTP)
			wt.node = st.MasterHTTP
			return ms, note, nil
		}
		return st, "", nil
	}
	if err == nil {
		return st, "", nil
	}
	// The watched master stopped answering: ask the others.
	for _, id := range slices.Sorted(maps.Keys(wt.addrs)) {
		addr := wt.addrs[id]
		if addr == wt.node {
			continue
		}
		var other api.Status
		if call(http.MethodGet, addr, "/v1/status", nil, &other) != nil {
			continue
		}
		target, ts := addr, other
		if other.Role != "master" {
			if other.MasterHTTP == "" || other.MasterHTTP == wt.node {
				continue
			}
			target, ts = other.MasterHTTP, api.Status{}
			if call(http.MethodGet, target, "/v1/status", nil, &ts) != nil || ts.Role != "master" {
				continue
			}
		}
		note = fmt.Sprintf("%s does not answer (%v); following the new master, site %d at %s", wt.node, err, ts.ID, target)
		wt.node = target
		return ts, note, nil
	}
	return st, "", err
}

// run redraws the status every interval: in place on a terminal, as
// successive tables otherwise (a log, a pipe), or one JSON object per
// line with --json. A node that stops answering after the first refresh
// is reported in the table, not fatal: watching a restart is what the
// command is for.
func (wt *watcher) run(ctx context.Context, interval time.Duration, count int, w io.Writer, tty bool) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		st, note, err := wt.refresh()
		if err != nil && i == 0 {
			return fmt.Errorf("watch: %w", err)
		}
		if err == nil {
			if i == 0 && !wt.noFollow && st.Role == "master" {
				wt.following = true
			}
			wt.learn(st)
		}
		var b bytes.Buffer
		if wt.json {
			line := struct {
				Time   string      `json:"time"`
				Node   string      `json:"node"`
				Note   string      `json:"note,omitempty"`
				Error  string      `json:"error,omitempty"`
				Status *api.Status `json:"status,omitempty"`
			}{Time: time.Now().UTC().Format(time.RFC3339Nano), Node: wt.node, Note: note}
			if err != nil {
				line.Error = err.Error()
			} else {
				line.Status = &st
			}
			if e := json.NewEncoder(&b).Encode(line); e != nil {
				return e
			}
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			continue
		}
		switch {
		case tty:
			b.WriteString(ansiClearScreen)
		case i > 0:
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s  every %v", time.Now().Format("15:04:05"), interval)
		if tty {
			b.WriteString(", Ctrl-C to stop")
		}
		b.WriteString("\n\n")
		if note != "" {
			fmt.Fprintf(&b, "%s\n\n", note)
		}
		if err != nil {
			fmt.Fprintf(&b, "%v\n", err)
		} else {
			printStatus(&b, wt.node, st)
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal), where
// redrawing in place makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
