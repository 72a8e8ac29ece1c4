package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"logship/cmd/internal/api"
)

// fakeGroup is a master and a client that speak the membership
// endpoints: the client refuses changes with 503 naming the master, the
// master keeps the membership and records what it was asked.
type fakeGroup struct {
	mu      sync.Mutex
	members api.Members
	asked   []string // "METHOD PATH BODY" the master received
	master  string   // its address
	client  string
}

func newFakeGroup(t *testing.T) *fakeGroup {
	t.Helper()
	g := &fakeGroup{members: api.Members{ID: 1, Role: "master", Master: 1, LSN: "0/0", Members: []api.Member{
		{ID: 1, Addr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001", Voting: true, Self: true},
		{ID: 2, Addr: "127.0.0.1:7002", Voting: true, Connected: true},
	}}}
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/members" {
			json.NewEncoder(w).Encode(g.members)
			return
		}
		g.asked = append(g.asked, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(body)))
		out := api.MemberChange{OK: true}
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/admin/members":
			var req api.MemberRequest
			json.Unmarshal(body, &req)
			if req.ID == 2 {
				w.WriteHeader(http.StatusConflict)
				json.NewEncoder(w).Encode(api.ErrorBody{Error: "site: already a member: site 2"})
				return
			}
			g.members.Members = append(g.members.Members, api.Member{ID: req.ID, Addr: req.Addr})
			g.members.LSN, g.members.Pending = "1/500", true
			out.Op, out.ID = "add", req.ID
		case r.Method == "DELETE":
			out.Op = "remove"
			g.members.LSN = "1/600"
		case strings.HasSuffix(r.URL.Path, "/voting"):
			out.Op = "promote"
			g.members.LSN = "1/700"
		default:
			http.NotFound(w, r)
			return
		}
		out.Members = g.members
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(master.Close)
	g.master = strings.TrimPrefix(master.URL, "http://")
	client := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/members" {
			g.mu.Lock()
			m := g.members
			g.mu.Unlock()
			m.ID, m.Role, m.MasterHTTP = 2, "client", g.master
			json.NewEncoder(w).Encode(m)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: "not the master; the master is site 1", Master: 1, MasterHTTP: g.master})
	}))
	t.Cleanup(client.Close)
	g.client = strings.TrimPrefix(client.URL, "http://")
	return g
}

func TestSiteListShowsMembersAndVoting(t *testing.T) {
	g := newFakeGroup(t)
	g.members.Members = append(g.members.Members, api.Member{ID: 4, Addr: "127.0.0.1:7004", LagBytes: 8192})
	g.members.Pending = true
	for _, args := range [][]string{{"site", "list"}, {"members"}} {
		code, out, errs := runCmd(append([]string{"--node", g.master}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errs)
		}
		for _, want := range []string{"3 members, 2 voting", "membership set at start-up (--peers)", "a change is pending", "MEMBER"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
		if l := lineWith(out, "4 "); !strings.Contains(l, "non-voting") || !strings.Contains(l, "8192") {
			t.Errorf("%v: site 4 row %q", args, l)
		}
		if l := lineWith(out, "1* "); !strings.Contains(l, "voting") {
			t.Errorf("%v: own row %q", args, l)
		}
	}
	code, out, _ := runCmd("--node", g.master, "site", "list", "--json")
	var back api.Members
	if code != 0 || json.Unmarshal([]byte(out), &back) != nil || len(back.Members) != 3 || back.Members[2].Voting {
		t.Fatalf("--json: exit %d %s", code, out)
	}
}

// TestSiteChangesFollowTheMaster: asked at a client, each change is
// made at the master the 503 names, and the outcome says so.
func TestSiteChangesFollowTheMaster(t *testing.T) {
	g := newFakeGroup(t)
	code, out, errs := runCmd("--node", g.client, "site", "add", "--id", "4", "--addr", "127.0.0.1:7004", "--http", "127.0.0.1:8004")
	if code != 0 {
		t.Fatalf("add: exit %d %s", code, errs)
	}
	if !strings.Contains(out, "site 4 added at LSN 1/500") || !strings.Contains(out, "promotes it") || !strings.Contains(errs, "asking the master, site 1 at "+g.master) {
		t.Errorf("add output:\n%s\nstderr:\n%s", out, errs)
	}
	code, out, errs = runCmd("--node", g.master, "site", "add", "--id", "5", "--addr", "127.0.0.1:7005", "--non-voting", "--json")
	var res api.MemberChange
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.ID != 5 || res.Op != "add" {
		t.Fatalf("add --json: exit %d %s %s", code, out, errs)
	}
	if code, out, errs = runCmd("--node", g.client, "site", "remove", "--id", "2"); code != 0 || !strings.Contains(out, "site 2 removed from the group at LSN 1/600") {
		t.Errorf("remove: exit %d %s %s", code, out, errs)
	}
	if code, out, errs = runCmd("--node", g.master, "site", "promote", "--id", "5"); code != 0 || !strings.Contains(out, "site 5 is now a voting member") {
		t.Errorf("promote: exit %d %s %s", code, out, errs)
	}
	if code, out, errs = runCmd("--node", g.master, "site", "demote", "--id", "5"); code != 0 || !strings.Contains(out, "site 5 is now non-voting") {
		t.Errorf("demote: exit %d %s %s", code, out, errs)
	}
	want := []string{
		`POST /v1/admin/members {"id":4,"addr":"127.0.0.1:7004","http":"127.0.0.1:8004","voting":true}`,
		`POST /v1/admin/members {"id":5,"addr":"127.0.0.1:7005","voting":false}`,
		`DELETE /v1/admin/members/2 `,
		`POST /v1/admin/members/5/voting {"voting":true}`,
		`POST /v1/admin/members/5/voting {"voting":false}`,
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if strings.Join(g.asked, "\n") != strings.Join(want, "\n") {
		t.Errorf("the master was asked:\n%s\nwant:\n%s", strings.Join(g.asked, "\n"), strings.Join(want, "\n"))
	}
}

func TestSiteRefusalsAndUsage(t *testing.T) {
	g := newFakeGroup(t)
	code, _, errs := runCmd("--node", g.master, "site", "add", "--id", "2", "--addr", "127.0.0.1:7002")
	if code != 1 || !strings.Contains(errs, "409") || !strings.Contains(errs, "already a member") {
		t.Errorf("add of a member: exit %d %q", code, errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"site"}, "site: want list"},
		{[]string{"site", "grow"}, `unknown subcommand "grow"`},
		{[]string{"site", "add", "--addr", "127.0.0.1:7004"}, "--id N is required"},
		{[]string{"site", "add", "--id", "4"}, "--addr"},
		{[]string{"site", "add", "--id", "4", "--addr", "127.0.0.1:7004", "--http", "x"}, "--http"},
		{[]string{"site", "remove"}, "--id N is required"},
		{[]string{"site", "promote"}, "--id N is required"},
	} {
		if code, _, errs := runCmd(append([]string{"--node", g.master}, tc.args...)...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	// An old repnode without the endpoints says so.
	old := serveStatus(t, http.StatusOK, api.Status{ID: 1})
	if code, _, errs := runCmd("--node", old, "site", "list"); code != 1 || !strings.Contains(errs, "predates membership") {
		t.Errorf("old repnode: exit %d %q", code, errs)
	}
}

func TestStatusAndGroupShowMembership(t *testing.T) {
	node := serveStatus(t, http.StatusOK, api.Status{
		ID: 4, Role: "client", Master: 1, SyncState: "ready",
		Membership: &api.Membership{State: "not_member", Note: "site 4 is not a member of the group: ask an operator to run repadmin site add --id 4 --addr ..."},
		Sites:      []api.Site{{ID: 1, Addr: "127.0.0.1:7001"}, {ID: 5, Addr: "127.0.0.1:7005", NonVoting: true}},
	})
	code, out, errs := runCmd("--node", node, "status")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	for _, want := range []string{"membership: not member", "repadmin site add --id 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if l := lineWith(out, "5 "); !strings.Contains(l, "non-voting") {
		t.Errorf("site 5 row %q", l)
	}
	if l := lineWith(out, "1 "); !strings.Contains(l, "voting") || strings.Contains(l, "non-voting") {
		t.Errorf("site 1 row %q", l)
	}
}
