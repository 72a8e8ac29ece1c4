package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"logship/cmd/internal/api"
)

// TestMemberEndpointsRolesAndAnswers: the list needs the read role and
// changes the admin role; a change answers the membership after it, and
// refusals map to their statuses.
func TestMemberEndpointsRolesAndAnswers(t *testing.T) {
	_, base := startFront(t, func(c *Config) { c.AuthTokens = writeTokens(t) })
	c := &http.Client{}
	if code, _, _ := doAuth(t, c, "PUT", base+"/v1/kv/b/k", writeTok, "v"); code != 200 {
		t.Fatalf("first write: %d", code)
	}
	if code, _, _ := doAuth(t, c, "GET", base+"/v1/members", "", ""); code != http.StatusUnauthorized {
		t.Errorf("members without a token: %d, want 401", code)
	}
	code, body, _ := doAuth(t, c, "GET", base+"/v1/members", readTok, "")
	m := decode[api.Members](t, []byte(body))
	if code != 200 || m.ID != 1 || m.Role != "master" || m.LSN != "0/0" || len(m.Members) != 1 || !m.Members[0].Self || !m.Members[0].Voting {
		t.Fatalf("members: %d %s", code, body)
	}
	add := `{"id":4,"addr":"127.0.0.1:1","voting":false}`
	if code, _, _ := doAuth(t, c, "POST", base+"/v1/admin/members", writeTok, add); code != http.StatusForbidden {
		t.Errorf("add with a write token: %d, want 403", code)
	}
	code, body, _ = doAuth(t, c, "POST", base+"/v1/admin/members", adminTok, add)
	res := decode[api.MemberChange](t, []byte(body))
	if r, ok := memberOf(res.Members, 4); code != 200 || !res.OK || res.Op != "add" || !ok || r.Voting || r.Addr != "127.0.0.1:1" || res.Members.LSN == "0/0" {
		t.Fatalf("add: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/v1/admin/members", add, http.StatusConflict},                          // already a member
		{"POST", "/v1/admin/members", `{"id":5,"addr":"nohost"}`, http.StatusBadRequest}, // bad address
		{"POST", "/v1/admin/members", `{"addr":"127.0.0.1:1"}`, http.StatusBadRequest},   // no id
		{"DELETE", "/v1/admin/members/9", "", http.StatusNotFound},                       // no such member
		{"DELETE", "/v1/admin/members/x", "", http.StatusBadRequest},                     // not an id
		{"POST", "/v1/admin/members/1/voting", `{"voting":false}`, http.StatusConflict},  // the master demoting itself
		{"POST", "/v1/admin/members/4/voting", `{}`, http.StatusBadRequest},              // no voting
		{"POST", "/v1/admin/members/9/voting", `{"voting":true}`, http.StatusNotFound},   // no such member
	} {
		if code, body, _ := doAuth(t, c, tc.method, base+tc.path, adminTok, tc.body); code != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.code)
		}
	}
	code, body, _ = doAuth(t, c, "DELETE", base+"/v1/admin/members/4", adminTok, "")
	if res := decode[api.MemberChange](t, []byte(body)); code != 200 || len(res.Members.Members) != 1 {
		t.Fatalf("remove: %d %s", code, body)
	}
	code, body, _ = doAuth(t, c, "GET", base+"/v1/status", readTok, "")
	st := decode[api.Status](t, []byte(body))
	if code != 200 || st.Membership == nil || st.Membership.State != "voting" || st.Membership.Members != 1 || st.Membership.LSN == "0/0" {
		t.Fatalf("status membership: %d %s", code, body)
	}
}

// TestJoinAsksWithTheToken: --join without the admin token is refused
// for good, naming --join-token-file; with it the site is added and
// learns the master.
func TestJoinAsksWithTheToken(t *testing.T) {
	n, base := startFront(t, func(c *Config) { c.AuthTokens = writeTokens(t) })
	if code, _, _ := doAuth(t, &http.Client{}, "PUT", base+"/v1/kv/b/k", writeTok, "v"); code != 200 {
		t.Fatalf("first write: %d", code)
	}
	cfg := DefaultConfig()
	cfg.Dir, cfg.ID, cfg.Listen, cfg.HTTP = t.TempDir(), 7, "127.0.0.1:7777", "127.0.0.1:8777"
	cfg.Join = strings.TrimPrefix(base, "http://")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := joinGroup(t.Context(), cfg, log); err == nil || !strings.Contains(err.Error(), "--join-token-file") {
		t.Fatalf("join without a token: %v", err)
	}
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(adminTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.JoinTokenFile = tok
	got, err := joinGroup(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("join with the token: %v", err)
	}
	if len(got.Peers) != 1 || got.Peers[1] == "" {
		t.Fatalf("joined config names peers %v, want the master, site 1", got.Peers)
	}
	if m, ok := n.site.Members().Find(7); !ok || m.Addr != "127.0.0.1:7777" || m.HTTP != "127.0.0.1:8777" || !m.Joining {
		t.Fatalf("site 7 on the master: %+v %v", m, ok)
	}
	// A restart asks nobody: the contact is in join.json.
	cfg.Join, cfg.JoinTokenFile = "127.0.0.1:1", ""
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // asking would fail at once
	if again, err := joinGroup(ctx, cfg, log); err != nil || again.Peers[1] != got.Peers[1] {
		t.Fatalf("restart: %v %v", again.Peers, err)
	}
}
