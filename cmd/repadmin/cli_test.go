package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"logship/cmd/internal/api"
)

// liveNode is a fake repnode whose status the test changes; it counts
// the admin POSTs it gets.
type liveNode struct {
	addr  string
	mu    sync.Mutex
	st    api.Status
	posts atomic.Int32
	// onPost, if set, runs on an admin POST (say, to finish an election).
	onPost func(n *liveNode)
}

func (n *liveNode) set(f func(st *api.Status)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.st)
}

func newLiveNode(t *testing.T, st api.Status) *liveNode {
	t.Helper()
	n := &liveNode{st: st}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n.posts.Add(1)
			if n.onPost != nil {
				n.onPost(n)
			}
			w.Write([]byte(`{"ok":true}`))
			return
		}
		switch r.URL.Path {
		case "/v1/status":
			n.mu.Lock()
			st := n.st
			n.mu.Unlock()
			json.NewEncoder(w).Encode(st)
		case "/v1/stats":
			w.Write([]byte(`{"id":1,"replication":{"msgs_sent":3},"env":{}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	n.addr = strings.TrimPrefix(srv.URL, "http://")
	n.st.HTTPAddr = n.addr
	return n
}

func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestHelpExitsZeroForEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"status", "-h"}, {"group", "--help"}, {"watch", "-h"}, {"stat", "-h"}, {"sync", "-h"},
		{"elect", "-h"}, {"transfer", "-h"}, {"priority", "-h"}, {"archive", "-h"},
		{"allow-rollback", "-h"}, {"verify", "-h"}, {"log", "dump", "-h"}, {"log", "verify", "--help"},
		{"version", "-h"},
	} {
		code, out, errs := runCmd(args...)
		if code != 0 || !strings.Contains(out, "usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, out, errs)
		}
	}
	// A flag that does not exist is still a usage error.
	if code, _, _ := runCmd("status", "--nope"); code != 2 {
		t.Errorf("status --nope: exit %d, want 2", code)
	}
}

func TestVersionFlagAndCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errs := runCmd(args...)
		if code != 0 || !strings.HasPrefix(out, "repadmin ") || !strings.Contains(out, "revision") {
			t.Errorf("%v: exit %d %q %q", args, code, out, errs)
		}
	}
	code, out, _ := runCmd("version", "--json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["goversion"] == "" {
		t.Errorf("version --json: exit %d %q", code, out)
	}
}

func TestGlobalFlagsBeforeOrAfterTheCommandAndFromTheEnvironment(t *testing.T) {
	n := newLiveNode(t, api.Status{ID: 4, Role: "client", Master: 1, Gen: 2, SyncState: "ready"})
	for _, c := range []struct {
		name string
		env  string
		args []string
	}{
		{"node before", "", []string{"--node", n.addr, "status", "--json"}},
		{"node after", "", []string{"status", "--node", n.addr, "--json"}},
		{"json before", "", []string{"--json", "status", "--node=" + n.addr}},
		{"timeout after", "", []string{"status", "--json", "--timeout", "2s", "--node", n.addr}},
		{"LOGSHIP_NODE", n.addr, []string{"status", "--json"}},
		{"flag beats LOGSHIP_NODE", deadAddr(t), []string{"status", "--json", "--node", n.addr}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("LOGSHIP_NODE", c.env)
			code, out, errs := runCmd(c.args...)
			var st api.Status
			if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.ID != 4 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
		})
	}
	t.Setenv("LOGSHIP_NODE", "")
	if code, _, errs := runCmd("status", "--timeout", "0s", "--node", n.addr); code != 2 || !strings.Contains(errs, "--timeout") {
		t.Errorf("--timeout 0s: exit %d %q", code, errs)
	}
}

func TestJSONOnEveryNodeCommand(t *testing.T) {
	n := newLiveNode(t, api.Status{ID: 2, Role: "client", Master: 1, Gen: 2, SyncState: "ready"})
	for _, args := range [][]string{
		{"status"}, {"group"}, {"watch", "--count", "1"}, {"stat"}, {"sync"}, {"sync", "--delay"},
		{"elect"}, {"transfer", "--to", "3"}, {"priority", "--set", "5"}, {"allow-rollback"},
		{"archive"},
	} {
		code, out, errs := runCmd(append([]string{"--node", n.addr, "--json"}, args...)...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("%v --json: exit %d, stdout %q (not one JSON object), stderr %q", args, code, out, errs)
		}
	}
}

func TestElectOnTheMasterCallsNoElection(t *testing.T) {
	n := newLiveNode(t, api.Status{ID: 1, Role: "master", Master: 1, Gen: 7})
	code, out, errs := runCmd("--node", n.addr, "elect")
	if code != 0 || !strings.Contains(out, "is the master (generation 7)") || n.posts.Load() != 0 {
		t.Fatalf("exit %d, %q %q, %d POSTs; want the master named and no election called", code, out, errs, n.posts.Load())
	}
	if code, _, errs := runCmd("--node", n.addr, "elect", "--force"); code != 0 || n.posts.Load() != 1 {
		t.Fatalf("--force: exit %d %q, %d POSTs", code, errs, n.posts.Load())
	}
}

func TestElectWaitReportsTheWinner(t *testing.T) {
	n := newLiveNode(t, api.Status{ID: 2, Role: "client", Master: 0, Gen: 3, Election: &api.Election{EGen: 4}})
	n.onPost = func(n *liveNode) {
		// The election this call started ends with site 3 master of gen 4.
		go n.set(func(st *api.Status) {
			st.Master, st.Gen, st.Election = 3, 4, &api.Election{EGen: 5}
		})
	}
	code, out, errs := runCmd("--node", n.addr, "--json", "elect", "--wait", "--timeout", "5s")
	var res electResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Master != 3 || res.Gen != 4 || !res.Called {
		t.Fatalf("exit %d, %q %q: want site 3 at generation 4", code, out, errs)
	}
	// No outcome in time: exit 1 saying so.
	stuck := newLiveNode(t, api.Status{ID: 2, Role: "client", Gen: 3, Election: &api.Election{EGen: 4, Electing: true}})
	if code, _, errs := runCmd("--node", stuck.addr, "elect", "--wait", "--timeout", "300ms"); code != 1 || !strings.Contains(errs, "no master elected within") {
		t.Fatalf("stuck: exit %d %q", code, errs)
	}
}

func TestGroupAsksEverySiteAtItsAdvertisedAddress(t *testing.T) {
	m := newLiveNode(t, api.Status{ID: 1, Role: "master", Master: 1, Gen: 5, LSN: "1/900", AppliedLSN: "1/900", SyncState: "ready"})
	c2 := newLiveNode(t, api.Status{ID: 2, Role: "client", Master: 1, Gen: 5, LSN: "1/900", AppliedLSN: "1/880", SyncState: "ready"})
	dead := deadAddr(t)
	m.set(func(st *api.Status) {
		st.Sites = []api.Site{
			{ID: 2, Connected: true, HTTPAddr: c2.addr, LagBytes: 20, LagSeconds: 0.25},
			{ID: 3, Connected: false, HTTPAddr: dead, LagBytes: 4096, LagSeconds: 9},
			{ID: 4},
		}
	})
	c2.set(func(st *api.Status) { st.MasterHTTP = m.addr })
	// Asked at a client, the view is the master's.
	code, out, errs := runCmd("--node", c2.addr, "group", "--json")
	var v groupView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("exit %d %q %q", code, out, errs)
	}
	if v.Master != 1 || v.Asked != m.addr || len(v.Sites) != 4 {
		t.Fatalf("view %+v: want master 1 asked at %s, 4 sites", v, m.addr)
	}
	if s := v.Sites[1]; s.ID != 2 || s.Role != "client" || s.AppliedLSN != "1/880" || s.LagBytes != 20 || !s.Connected {
		t.Errorf("site 2 row %+v: want its own role and applied LSN, the master's lag", s)
	}
	if s := v.Sites[2]; s.ID != 3 || !strings.Contains(s.Error, "cannot reach") || s.LagBytes != 4096 {
		t.Errorf("site 3 row %+v: want it unreachable with the master's lag", s)
	}
	if s := v.Sites[3]; s.ID != 4 || !strings.Contains(s.Error, "not known") {
		t.Errorf("site 4 row %+v: want its address unknown", s)
	}
	code, out, _ = runCmd("--node", m.addr, "group")
	if code != 0 || !strings.Contains(lineWith(out, "2 "), "client") || !strings.Contains(out, "site 3: cannot reach") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
}

func TestWatchFollowsTheMasterAfterAFailover(t *testing.T) {
	a := newLiveNode(t, api.Status{ID: 1, Role: "master", Master: 1, Gen: 5})
	b := newLiveNode(t, api.Status{ID: 2, Role: "client", Master: 1, Gen: 5})
	a.set(func(st *api.Status) { st.Sites = []api.Site{{ID: 2, HTTPAddr: b.addr}} })
	// After the first refresh site 1 steps down and site 2 takes over.
	fail := func() {
		a.set(func(st *api.Status) { st.Role, st.Master, st.Gen, st.MasterHTTP = "client", 2, 6, b.addr })
		b.set(func(st *api.Status) { st.Role, st.Master, st.Gen = "master", 2, 6 })
	}
	wt := &watcher{node: a.addr, addrs: map[uint64]string{}}
	st, _, err := wt.refresh()
	if err != nil || st.ID != 1 {
		t.Fatal(err, st)
	}
	wt.following = true
	wt.learn(st)
	fail()
	st, note, err := wt.refresh()
	if err != nil || st.ID != 2 || wt.node != b.addr || !strings.Contains(note, "following the master, site 2") {
		t.Fatalf("after a failover: status of site %d at %s, note %q, err %v; want site 2", st.ID, wt.node, note, err)
	}
	// The master stops answering: the watch finds the new one through
	// the addresses it learned.
	c := newLiveNode(t, api.Status{ID: 3, Role: "master", Master: 3, Gen: 7})
	a.set(func(st *api.Status) { st.Master, st.Gen, st.MasterHTTP = 3, 7, c.addr })
	wt2 := &watcher{node: deadAddr(t), following: true, addrs: map[uint64]string{1: a.addr}}
	st, note, err = wt2.refresh()
	if err != nil || st.ID != 3 || wt2.node != c.addr || !strings.Contains(note, "does not answer") {
		t.Fatalf("master gone: site %d at %s, note %q, err %v; want site 3", st.ID, wt2.node, note, err)
	}
	// --no-follow (or watching a client) stays put.
	code, out2, _ := runCmd("--node", a.addr, "watch", "--count", "1", "--json")
	var line struct {
		Node   string
		Status api.Status
	}
	if code != 0 || json.Unmarshal([]byte(out2), &line) != nil || line.Node != a.addr || line.Status.ID != 1 {
		t.Fatalf("watching a client: exit %d %q", code, out2)
	}
}
