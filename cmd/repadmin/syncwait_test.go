package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"logship/cmd/internal/api"
)

// fakeSite is a client's /v1/status, /v1/stats and /v1/admin/sync that
// a test moves along: step runs before each status answer (poll counts
// from 0) and sync answers each sync request, both holding the lock.
type fakeSite struct {
	t     *testing.T
	mu    sync.Mutex
	st    api.Status
	polls int
	syncs int
	recv  int64
	step  func(f *fakeSite)
	sync  func(f *fakeSite) int // the HTTP code; nil: 200
}

func (f *fakeSite) serve() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.URL.Path {
		case "/v1/status":
			if f.step != nil {
				f.step(f)
			}
			f.polls++
			json.NewEncoder(w).Encode(f.st)
		case "/v1/stats":
			fmt.Fprintf(w, `{"id":%d,"replication":{"log_bytes_recv":%d},"env":{}}`, f.st.ID, f.recv)
		case "/v1/admin/sync":
			f.syncs++
			code := http.StatusOK
			if f.sync != nil {
				code = f.sync(f)
			}
			w.WriteHeader(code)
			if code != http.StatusOK {
				json.NewEncoder(w).Encode(api.ErrorBody{Error: "not a client"})
				return
			}
			w.Write([]byte(`{"ok":true}`))
		default:
			http.NotFound(w, r)
		}
	}))
	f.t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func delayedAt(id, master, gen uint64) api.Status {
	return api.Status{ID: id, Role: "client", Master: master, Gen: gen, LastLSN: "1/500", SyncState: "delayed", BehindBytes: 4000}
}

// TestSyncWaitFollowsAMasterChange: a delayed client asked to sync with
// master 1 finds the sync point, then follows a new master, site 2 of
// generation 2, and delays its sync again, as a delayed client does at
// every new master. sync --wait says the master changed, asks the client
// to sync with the new one, and ends when it caught up with site 2.
func TestSyncWaitFollowsAMasterChange(t *testing.T) {
	f := &fakeSite{t: t, st: delayedAt(3, 1, 1)}
	f.sync = func(f *fakeSite) int {
		if f.st.SyncState == "delayed" {
			f.st.SyncState = "verify"
		}
		return http.StatusOK
	}
	f.step = func(f *fakeSite) {
		switch {
		case f.st.Master == 1 && f.polls == 4: // verify with a master that went away
			f.st = delayedAt(3, 2, 2)
		case f.st.Master == 2 && f.st.SyncState == "verify":
			f.st.SyncState = "catchup"
		case f.st.Master == 2 && f.st.SyncState == "catchup":
			f.recv += 2000
			f.st.BehindBytes -= 2000
			if f.st.BehindBytes <= 0 {
				f.st.SyncState, f.st.BehindBytes = "ready", 0
			}
		}
	}
	node := f.serve()
	code, out, errs := runCmd("--node", node, "sync", "--wait", "--interval", "1ms", "--timeout", "10s")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	last := -1
	for _, want := range []string{
		"finding the sync point ...",
		"master changed: site 2 (gen 2); waiting on it",
		"site 3 delays its sync with site 2 (gen 2) (--delay-client): asking it to sync",
		"catch-up [",
		"site 3 caught up with master 2 at 1/500",
	} {
		at := strings.Index(out, want)
		if at < 0 || at < last {
			t.Fatalf("output lacks %q (or has it out of order):\n%s", want, out)
		}
		last = at
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.syncs != 2 {
		t.Errorf("%d sync requests, want 2: one at the start, one at the new master", f.syncs)
	}
}

// TestSyncWaitThroughAnElection: while no master is known (an election)
// the wait goes on; a site that then becomes master itself ends it with
// success, saying so.
func TestSyncWaitThroughAnElection(t *testing.T) {
	f := &fakeSite{t: t, st: api.Status{ID: 3, Role: "client", Master: 1, Gen: 1, SyncState: "catchup", BehindBytes: 100}}
	f.step = func(f *fakeSite) {
		switch f.polls {
		case 2:
			f.st = api.Status{ID: 3, Role: "none", Gen: 1}
		case 5:
			f.st = api.Status{ID: 3, Role: "master", Master: 3, Gen: 2}
		}
	}
	code, out, errs := runCmd("--node", f.serve(), "sync", "--wait", "--interval", "1ms", "--timeout", "10s")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	for _, want := range []string{"waiting for a master ...", "site 3 became the master (gen 2)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestSyncWaitFailsWhenTheNewMasterCannotServe: a failure after a master
// change ends the wait with its cause.
func TestSyncWaitFailsWhenTheNewMasterCannotServe(t *testing.T) {
	f := &fakeSite{t: t, st: api.Status{ID: 3, Role: "client", Master: 1, Gen: 1, SyncState: "verify"}}
	f.step = func(f *fakeSite) {
		if f.polls == 2 {
			f.st = api.Status{ID: 3, Role: "client", Master: 2, Gen: 2, SyncState: "join_failed", Error: "rep: join failure: master 2"}
		}
	}
	code, out, errs := runCmd("--node", f.serve(), "sync", "--wait", "--interval", "1ms", "--timeout", "10s")
	if code != 1 || !strings.Contains(errs, "--no-auto-init") || !strings.Contains(errs, "master 2") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
}

// TestSyncWaitStopMessagesSayWhatGoesOn: on a timeout or Ctrl-C, the
// message says what the site still does: syncing on its own, or waiting
// for 'repadmin sync' (here the site refused the sync request).
func TestSyncWaitStopMessagesSayWhatGoesOn(t *testing.T) {
	syncing := &fakeSite{t: t, st: api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, SyncState: "catchup", BehindBytes: 5000}}
	_, _, errs := runCmd("--node", syncing.serve(), "sync", "--wait", "--interval", "1ms", "--timeout", "20ms")
	for _, want := range []string{"not caught up after 20ms", "sync state catchup", "goes on syncing without repadmin", "'repadmin sync --wait' follows it again"} {
		if !strings.Contains(errs, want) {
			t.Errorf("timeout while syncing: %q lacks %q", errs, want)
		}
	}

	// A delayed client that follows a new master and refuses the sync
	// (409): interrupted, it is said to wait, not to go on syncing.
	first := api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, SyncState: "catchup", BehindBytes: 100}
	delayed := &fakeSite{t: t, st: first}
	delayed.step = func(f *fakeSite) {
		if f.polls == 1 {
			f.st = delayedAt(2, 3, 2)
		}
	}
	delayed.sync = func(*fakeSite) int { return http.StatusConflict }
	node := delayed.serve()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- waitCaughtUp(ctx, node, first, waitOptions{Interval: time.Millisecond, BarWidth: 10}, &out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		delayed.mu.Lock()
		asked := delayed.syncs
		delayed.mu.Unlock()
		if asked > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sync --wait did not ask the delayed client to sync with its new master")
		}
		time.Sleep(time.Millisecond) // a real HTTP server: poll its record, for a bounded time
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waitCaughtUp did not return after its context ended")
	}
	if err == nil {
		t.Fatal("interrupted wait returned nil")
	}
	for _, want := range []string{"interrupted: stopped waiting", "sync state delayed", "site 2 waits for 'repadmin sync' to sync with master 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("interrupted while delayed: %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "goes on syncing") {
		t.Errorf("interrupted while delayed, the message says the sync goes on: %q", err)
	}
}

func TestPhaseNames(t *testing.T) {
	c := func(state string) api.Status {
		return api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, SyncState: state}
	}
	withInit := func(done, total int64, installing bool) api.Status {
		st := c("init")
		st.InitDone, st.InitTotal, st.Installing = done, total, installing
		return st
	}
	tests := []struct {
		name string
		st   api.Status
		want string
	}{
		{"election", api.Status{ID: 2, Role: "none"}, phaseNoMaster},
		{"no master heard", api.Status{ID: 2, Role: "client", SyncState: "delayed"}, phaseNoMaster},
		{"delayed", c("delayed"), phaseDelayed},
		{"verify", c("verify"), phaseVerify},
		{"init asked", withInit(0, 0, false), phasePreparing},
		{"init copying", withInit(5, 10, false), phaseCopying},
		{"init installing", withInit(10, 10, true), phaseInstalling + " (10 B)"},
		{"catch-up", c("catchup"), phaseCatchUp},
		{"ready", c("ready"), phaseCatchUp},
	}
	for _, tt := range tests {
		if got := phase(tt.st).Label; got != tt.want {
			t.Errorf("%s: phase %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestFollowAsksOncePerMaster: a sync is asked again at a new master (and
// again at the same one once the site left "delayed" and came back to
// it: a restart), not at every poll; learning the generation of the same
// master is no change.
func TestFollowAsksOncePerMaster(t *testing.T) {
	w := newSyncWait(api.Status{ID: 2, Role: "client", Master: 1, Gen: 0, SyncState: "delayed"})
	steps := []struct {
		st      api.Status
		changed bool
		ask     bool
	}{
		{api.Status{ID: 2, Role: "client", Master: 1, Gen: 0, SyncState: "delayed"}, false, false}, // asked by 'repadmin sync'
		{api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, SyncState: "verify"}, false, false},  // learnt the generation
		{api.Status{ID: 2, Role: "client", Master: 1, Gen: 1, SyncState: "catchup"}, false, false},
		{api.Status{ID: 2, Role: "none", Gen: 1}, false, false}, // an election
		{api.Status{ID: 2, Role: "client", Master: 3, Gen: 2, SyncState: "delayed"}, true, true},
		{api.Status{ID: 2, Role: "client", Master: 3, Gen: 2, SyncState: "delayed"}, false, false},
		{api.Status{ID: 2, Role: "client", Master: 3, Gen: 2, SyncState: "verify"}, false, false},
		{api.Status{ID: 2, Role: "client", Master: 3, Gen: 2, SyncState: "delayed"}, false, true}, // restarted
		{api.Status{ID: 2, Role: "client", Master: 3, Gen: 3, SyncState: "verify"}, true, false},  // restarted master, not delaying
	}
	for i, s := range steps {
		notes, ask := w.follow(s.st)
		changed := len(notes) > 0 && strings.HasPrefix(notes[0], "master changed")
		if changed != s.changed || ask != s.ask {
			t.Errorf("step %d (%+v): changed %v ask %v, want %v %v; notes %q", i, s.st, changed, ask, s.changed, s.ask, notes)
		}
	}
}
