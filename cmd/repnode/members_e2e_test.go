package main

// End-to-end tests of membership changes with real repnode processes:
// a site joins under write load and is promoted, a dead site is removed
// and replaced, a read replica is promoted, a removed site says so.

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
)

// members reads a site's GET /v1/members.
func members(t *testing.T, p *proc) api.Members {
	t.Helper()
	code, body, _ := do(t, "GET", "http://"+p.http+"/v1/members", "")
	if code != 200 {
		t.Fatalf("members of %s: %d %s", p.http, code, body)
	}
	return decode[api.Members](t, body)
}

// memberOf returns id's row in m.
func memberOf(m api.Members, id uint64) (api.Member, bool) {
	for _, r := range m.Members {
		if r.ID == id {
			return r, true
		}
	}
	return api.Member{}, false
}

// startFounders starts sites 1..3 of g with elections and the extra
// flags, and returns them with the elected master's id.
func startFounders(t *testing.T, bin string, g group, extra ...string) (map[int]*proc, int) {
	t.Helper()
	args := map[int][]string{}
	for id := 1; id <= 3; id++ {
		args[id] = append(g.args(id, t.TempDir()), extra...)
	}
	procs := startTogether(t, bin, g, args)
	var m int
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "one master elected", func() bool {
		m = 0
		for id, p := range procs {
			if st := status(t, p); st.Role == "master" && st.Election != nil && st.Election.CanWrite {
				m = id
			}
		}
		return m != 0
	})
	return procs, m
}

func admin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestMemberJoinsUnderLoad: a fourth site started with --join on an
// empty directory, while the master takes writes, is added, catches up
// and is promoted to voting; every write answered permanent is on it
// and on the master. A restart of it asks nobody and stays a member.
func TestMemberJoinsUnderLoad(t *testing.T) {
	bin, adminBin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 4)
	procs, m := startFounders(t, bin, group{rep: map[int]string{1: g.rep[1], 2: g.rep[2], 3: g.rep[3]}, http: g.http})
	master := procs[m]

	stop := make(chan struct{})
	loaded := make(chan []loadResult, 1)
	go func() { loaded <- underLoad("http://"+master.http, "load", 4, 300, stop) }()

	// Join through a client (not the master): the join follows master_http.
	contact := procs[m%3+1]
	dir4 := t.TempDir()
	p4 := startProc(t, bin, g.http[4], "--dir", dir4, "--id", "4", "--listen", g.rep[4], "--join", contact.http)
	testwait.Poll(t, 30*time.Second, 50*time.Millisecond, "site 4 added and promoted to voting", func() bool {
		r, ok := memberOf(members(t, master), 4)
		return ok && r.Voting
	})
	close(stop)
	res := <-loaded
	var perm []string
	for _, r := range res {
		perm = append(perm, r.permanent...)
	}
	if len(perm) == 0 {
		t.Fatal("no write answered permanent under load")
	}
	last := putKeys(t, master, "after", 1)
	for _, p := range []*proc{master, p4} {
		for i, key := range perm {
			url := "http://" + p.http + "/v1/kv/b/" + key
			if i == 0 {
				url += "?min_lsn=" + last
			}
			code, body, _ := do(t, "GET", url, "")
			if code != 200 || string(body) != key {
				t.Fatalf("permanent key %s on %s: %d %q", key, p.http, code, body)
			}
		}
	}
	st := status(t, p4)
	if st.Membership == nil || st.Membership.State != "voting" || st.Membership.Voters != 4 {
		t.Fatalf("site 4 membership %+v", st.Membership)
	}
	if !strings.Contains(p4.log(), "added to the group by the master") {
		t.Errorf("site 4's log does not say it was added")
	}
	out := admin(t, adminBin, "--node", contact.http, "site", "list")
	if l := lineWith(out, "4 "); !strings.Contains(l, "voting") || strings.Contains(l, "non-voting") {
		t.Errorf("repadmin site list, site 4 row %q:\n%s", l, out)
	}

	// A restart uses the stored membership: it asks nobody, even with
	// every --join address wrong, and is a voting member again.
	if err := p4.stop(t); err != nil {
		t.Fatalf("site 4 exit: %v", err)
	}
	p4 = startProc(t, bin, g.http[4], "--dir", dir4, "--id", "4", "--listen", g.rep[4], "--join", freeAddr(t))
	at := putKeys(t, master, "back", 5)
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "restarted site 4 holds the new writes", func() bool { return hasKeys(t, p4, "back", 5, at) })
	if st := status(t, p4); st.Membership == nil || st.Membership.State != "voting" {
		t.Fatalf("restarted site 4 membership %+v", st.Membership)
	}
	if !strings.Contains(p4.log(), "--join is not asked") {
		t.Errorf("restarted site 4's log does not say it used the stored membership")
	}

	// The master dies: the others (site 4 a voter among them) elect a
	// new one, and site 4 follows it: it can reach every member, the
	// first master's record lacking no address it needs.
	master.kill(t)
	procs[4] = p4
	delete(procs, m)
	var nm int
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "a new master after the old one died", func() bool {
		nm = 0
		for id, p := range procs {
			if st := status(t, p); st.Role == "master" && st.Election != nil && st.Election.CanWrite {
				nm = id
			}
		}
		return nm != 0
	})
	var code int
	var body []byte
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the new master accepts a write", func() bool {
		code, body, _ = do(t, "PUT", "http://"+procs[nm].http+"/v1/kv/b/failover", "x")
		return code == 200
	})
	tok := decode[api.WriteResult](t, body).LSN
	for id, p := range procs {
		if code, got, _ := do(t, "GET", "http://"+p.http+"/v1/kv/b/failover?min_lsn="+tok, ""); code != 200 || string(got) != "x" {
			t.Errorf("site %d after the failover to %d: %d %q", id, nm, code, got)
		}
	}
}

// lineWith returns the first line of out starting with prefix.
func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestReplaceDeadSite: with --ack all, a dead site 3 stops commits from
// being permanent; after repadmin site remove it no longer counts and
// writes are permanent again; a new site 5 on a fresh directory joins in
// its place and holds every permanent write.
func TestReplaceDeadSite(t *testing.T) {
	bin, adminBin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 3)
	procs, m := startFounders(t, bin, g, "--ack", "all", "--ack-timeout", "300ms", "--priority", "100")
	master := procs[m]
	dead := m%3 + 1
	if dead == m {
		t.Fatal("bad pick")
	}
	procs[dead].kill(t)

	code, body, _ := do(t, "PUT", "http://"+master.http+"/v1/kv/b/while-dead", "x")
	if code != 200 || decode[api.WriteResult](t, body).Permanent {
		t.Fatalf("with --ack all and site %d dead, a write: %d %s (want 200, not permanent)", dead, code, body)
	}
	out := admin(t, adminBin, "--node", master.http, "site", "remove", "--id", fmt.Sprint(dead))
	if !strings.Contains(out, fmt.Sprintf("site %d removed from the group", dead)) {
		t.Fatalf("repadmin site remove: %s", out)
	}
	if _, ok := memberOf(members(t, master), uint64(dead)); ok {
		t.Fatalf("site %d still listed after its removal", dead)
	}
	perm := writePermanent(t, master, "k", 10)
	if len(perm) != 10 {
		t.Fatalf("after removing dead site %d, %d of 10 writes permanent with --ack all", dead, len(perm))
	}

	// The replacement: site 5 on a fresh directory.
	rep5, http5 := freeAddr(t), freeAddr(t)
	out = admin(t, adminBin, "--node", master.http, "site", "add", "--id", "5", "--addr", rep5, "--http", http5)
	if !strings.Contains(out, "site 5 added") {
		t.Fatalf("repadmin site add: %s", out)
	}
	p5 := startProc(t, bin, http5, "--dir", t.TempDir(), "--id", "5", "--listen", rep5, "--join", master.http, "--ack", "all", "--ack-timeout", "300ms")
	testwait.Poll(t, 30*time.Second, 50*time.Millisecond, "site 5 promoted to voting", func() bool {
		r, ok := memberOf(members(t, master), 5)
		return ok && r.Voting
	})
	last := putKeys(t, master, "more", 1)
	for i, key := range perm {
		url := "http://" + p5.http + "/v1/kv/b/" + key
		if i == 0 {
			url += "?min_lsn=" + last
		}
		if code, body, _ := do(t, "GET", url, ""); code != 200 || string(body) != key {
			t.Fatalf("permanent key %s on site 5: %d %q", key, code, body)
		}
	}
	// Site 5 now counts for --ack all: writes are permanent with it up.
	if perm := writePermanent(t, master, "five", 5); len(perm) != 5 {
		t.Fatalf("with site 5 voting, %d of 5 writes permanent", len(perm))
	}
}

// TestReadReplicaPromotedAndRemovedSiteSaysSo: a site added with
// --non-voting stays non-voting (it is not promoted by itself), is
// promoted by repadmin site promote, and once removed says in its status
// and log that it was removed.
func TestReadReplicaPromotedAndRemovedSiteSaysSo(t *testing.T) {
	bin, adminBin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 4)
	procs, m := startFounders(t, bin, group{rep: map[int]string{1: g.rep[1], 2: g.rep[2], 3: g.rep[3]}, http: g.http})
	master := procs[m]
	putKeys(t, master, "k", 20)
	dir4 := t.TempDir()
	p4 := startProc(t, bin, g.http[4], "--dir", dir4, "--id", "4", "--listen", g.rep[4], "--join", master.http, "--join-non-voting")
	at := putKeys(t, master, "r", 5)
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "the read replica holds the writes", func() bool { return hasKeys(t, p4, "r", 5, at) })
	// Caught up, it stays non-voting: a read replica is not promoted.
	time.Sleep(time.Second) // give a wrong auto-promotion its chance
	if r, ok := memberOf(members(t, master), 4); !ok || r.Voting {
		t.Fatalf("read replica row %+v (member %v): want non-voting", r, ok)
	}
	if st := status(t, p4); st.Membership == nil || st.Membership.State != "non_voting" {
		t.Fatalf("read replica membership %+v", st.Membership)
	}
	ms := status(t, master)
	for _, s := range ms.Sites {
		if s.ID == 4 && !s.NonVoting {
			t.Errorf("master's status shows site 4 voting")
		}
	}
	out := admin(t, adminBin, "--node", p4.http, "site", "promote", "--id", "4")
	if !strings.Contains(out, "site 4 is now a voting member") {
		t.Fatalf("repadmin site promote: %s", out)
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "site 4 knows it votes", func() bool {
		st := status(t, p4)
		return st.Membership != nil && st.Membership.State == "voting"
	})

	// Removed, it says so.
	admin(t, adminBin, "--node", master.http, "site", "remove", "--id", "4")
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the removed site says it was removed", func() bool {
		st := status(t, p4)
		return st.Membership != nil && st.Membership.State == "removed" && strings.Contains(st.Membership.Note, "site 4 was removed from the group at LSN")
	})
	testwait.Poll(t, 5*time.Second, 50*time.Millisecond, "the removed site's log says it was removed", func() bool {
		return strings.Contains(p4.log(), "site 4 was removed from the group at LSN")
	})
	code, body, _ := do(t, "POST", "http://"+master.http+"/v1/admin/members/4/voting", `{"voting":true}`)
	if code != 404 || !strings.Contains(string(body), "no such member") {
		t.Errorf("promote of a removed site: %d %s, want 404", code, body)
	}

	// Restarted, the removed site is not a member, and says so: status
	// and log name the command that would add it.
	if err := p4.stop(t); err != nil {
		t.Fatalf("site 4 exit: %v", err)
	}
	p4 = startProc(t, bin, g.http[4], "--dir", dir4, "--id", "4", "--listen", g.rep[4], "--join", master.http)
	want := "site 4 is not a member of the group: ask an operator to run repadmin site add --id 4"
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the restarted removed site says it is not a member", func() bool {
		st := status(t, p4)
		return st.Membership != nil && st.Membership.State == "not_member" && strings.Contains(st.Membership.Note, want) &&
			strings.Contains(p4.log(), want)
	})
	out = admin(t, adminBin, "--node", p4.http, "status")
	if !strings.Contains(out, "membership: not member") || !strings.Contains(out, want) {
		t.Errorf("repadmin status of the removed site:\n%s", out)
	}
}

// TestStraySiteSaysItIsNotAMember: a site started with --peers naming a
// group that never added it counts itself in its own founding membership,
// but every member refuses it as unknown; it says so in status and log,
// naming the command that would add it, instead of retrying elections in
// silence.
func TestStraySiteSaysItIsNotAMember(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	bin := buildBinary(t)
	g := newGroup(t, 3)
	pair := map[int][]string{}
	for id := 1; id <= 2; id++ {
		other := 3 - id
		pair[id] = []string{"--dir", t.TempDir(), "--id", fmt.Sprint(id), "--listen", g.rep[id],
			"--peers", fmt.Sprintf("%d=%s", other, g.rep[other])}
	}
	p1 := startProc(t, bin, g.http[1], append(pair[1], "--master", "--ack", "one")...)
	startProc(t, bin, g.http[2], append(pair[2], "--client", "--master-id", "1")...)
	stray := startProc(t, bin, g.http[3], g.args(3, t.TempDir())...)

	want := "site 3 is not a member of the group: sites 1 and 2 refuse it as unknown; ask an operator to run repadmin site add --id 3"
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "the stray site says it is not a member", func() bool {
		st := status(t, stray)
		return st.Membership != nil && st.Membership.State == "not_member" && strings.Contains(st.Membership.Note, want) &&
			strings.Contains(stray.log(), want)
	})
	if st := status(t, p1); st.Role != "master" {
		t.Errorf("site 1 is %s, want master: the stray must not disturb the group", st.Role)
	}
}
