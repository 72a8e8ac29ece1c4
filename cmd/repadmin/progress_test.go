package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"logship/cmd/internal/api"
)

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		name string
		p    progress
		want string
	}{
		{"half, measured", progress{Label: "catch-up", Done: 1 << 20, Total: 2 << 20, Rate: 512 << 10},
			"catch-up [#####-----]  50%  1.0 MiB / 2.0 MiB  512.0 KiB/s  ETA 2s"},
		{"nothing known yet", progress{Label: "catch-up"},
			"catch-up [----------]   0%  0 B / 0 B  -/s  ETA 0s"},
		{"no rate yet", progress{Label: "internal init", Done: 100, Total: 1000},
			"internal init [#---------]  10%  100 B / 1000 B  -/s  ETA ?"},
		{"a phase without a size", progress{Label: "finding the sync point", Total: -1}, "finding the sync point ..."},
		{"done past total", progress{Label: "x", Done: 3000, Total: 2048, Rate: 10},
			"x [##########] 100%  2.9 KiB / 2.0 KiB  10 B/s  ETA 0s"},
	}
	for _, tt := range tests {
		if got := renderProgress(tt.p, 10); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// scriptedClient answers /v1/status from a script, one entry per poll
// (the last repeats), and /v1/stats with bytes received growing.
func scriptedClient(t *testing.T, script []api.Status) string {
	t.Helper()
	var (
		mu    sync.Mutex
		polls int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/admin/sync":
			w.Write([]byte(`{"ok":true}`))
		case "/v1/status":
			json.NewEncoder(w).Encode(script[min(polls, len(script)-1)])
			polls++
		case "/v1/stats":
			fmt.Fprintf(w, `{"id":2,"replication":{"log_bytes_recv":%d},"env":{}}`, 1000*polls)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func clientAt(state string, behind int64) api.Status {
	return api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, LastLSN: "1/500", SyncState: state, BehindBytes: behind}
}

// TestSyncWaitShowsProgressUntilCaughtUp: every phase of a sync is named
// on its progress line, in order: the snapshot asked but not arriving yet
// (the master takes it), arriving (bytes of its size), installed, then
// catch-up by log.
func TestSyncWaitShowsProgressUntilCaughtUp(t *testing.T) {
	initAt := func(done, total int64, installing bool) api.Status {
		return api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, SyncState: "init", InitDone: done, InitTotal: total, Installing: installing}
	}
	node := scriptedClient(t, []api.Status{
		clientAt("delayed", 0), // sync --wait checks the role first
		clientAt("delayed", 0),
		clientAt("verify", 0),
		initAt(0, 0, false),
		initAt(10, 100, false),
		initAt(100, 100, true),
		clientAt("catchup", 3000),
		clientAt("catchup", 1000),
		clientAt("ready", 0),
	})
	code, out, errs := runCmd("--node", node, "sync", "--wait", "--interval", "1ms", "--timeout", "10s")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	last := -1
	for _, want := range []string{"waiting for sync to start", "finding the sync point ...", "master preparing snapshot ...",
		"copying snapshot [", "10 B / 100 B", "installing snapshot (100 B) ...",
		"catch-up [", "site 2 caught up with master 1 at 1/500"} {
		at := strings.Index(out, want)
		if at < 0 {
			t.Errorf("output lacks %q:\n%s", want, out)
			continue
		}
		if at < last {
			t.Errorf("%q out of order:\n%s", want, out)
		}
		last = at
	}
	if !strings.Contains(lineWith(out, "catch-up"), "ETA") {
		t.Errorf("no ETA on the progress line:\n%s", out)
	}
}

func TestSyncWaitFailsClearly(t *testing.T) {
	tests := []struct {
		name string
		st   api.Status
		args []string
		want []string
	}{
		{"master", api.Status{ID: 1, Role: "master", Master: 1}, nil, []string{"site 1 is the master", "client's --http address"}},
		{"no role yet", api.Status{ID: 3, Role: "none"}, nil, []string{"site 3 has no role yet", "--client"}},
		{"join failure", api.Status{ID: 2, Role: "client", Master: 1, SyncState: "join_failed", Error: "rep: join failure"},
			nil, []string{"--no-auto-init", "rep: join failure"}},
		{"init abandoned", api.Status{ID: 2, Role: "client", Master: 1, SyncState: "init_failed", Error: "rep: init abandoned"},
			nil, []string{"stopped retaining", "repadmin sync"}},
		{"timeout", clientAt("catchup", 5000), []string{"--timeout", "30ms"}, []string{"not caught up after 30ms", "catchup", "4.9 KiB behind master 1"}},
		{"no master", api.Status{ID: 2, Role: "client", SyncState: "delayed"}, []string{"--timeout", "20ms"}, []string{"knows no master", "--peers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := scriptedClient(t, []api.Status{tt.st})
			args := append([]string{"--node", node, "sync", "--wait", "--interval", "1ms"}, tt.args...)
			code, _, errs := runCmd(args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("error %q lacks %q", errs, w)
				}
			}
		})
	}
	if code, _, errs := runCmd("--node", "127.0.0.1:1", "sync", "--wait", "--delay"); code != 2 || !strings.Contains(errs, "usage:") {
		t.Fatalf("--wait --delay: exit %d %q", code, errs)
	}
}
