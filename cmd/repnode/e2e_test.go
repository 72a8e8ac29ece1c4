package main

// End-to-end tests of the replication features an operator steers:
// delayed clients, client-to-client sync, internal init after archiving,
// and mutual TLS. Real repnode processes on 127.0.0.1, each stopped by
// the test; every wait is bounded.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testpki"
	"logship/internal/testwait"
)

// buildRepadmin builds cmd/repadmin next to the test's repnode binary.
func buildRepadmin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "repadmin")
	out, err := exec.Command("go", "build", "-o", bin, "../repadmin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build repadmin: %v\n%s", err, out)
	}
	return bin
}

// status reads a site's /v1/status.
func status(t *testing.T, p *proc) api.Status {
	t.Helper()
	code, body, _ := do(t, "GET", "http://"+p.http+"/v1/status", "")
	if code != 200 {
		t.Fatalf("status of %s: %d %s", p.http, code, body)
	}
	return decode[api.Status](t, body)
}

// metric returns the value of one sample of a site's /metrics, e.g.
// metric(t, p, "logship_inits_done_total"); -1 when absent.
func metric(t *testing.T, p *proc, sample string) float64 {
	t.Helper()
	_, body, _ := do(t, "GET", "http://"+p.http+"/metrics", "")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metric %s: %v", sample, err)
	}
	return v
}

// putKeys writes n keys prefix0..prefix{n-1} on the master and returns
// the LSN of the last write.
func putKeys(t *testing.T, master *proc, prefix string, n int) string {
	t.Helper()
	var last string
	for i := range n {
		key := fmt.Sprintf("%s%d", prefix, i)
		code, body, _ := do(t, "PUT", "http://"+master.http+"/v1/kv/b/"+key, key+strings.Repeat(".", 200))
		if code != 200 {
			t.Fatalf("PUT %s: %d %s", key, code, body)
		}
		last = decode[api.WriteResult](t, body).LSN
	}
	return last
}

// hasKeys reports whether site p holds every key prefix0..prefix{n-1},
// reading after LSN at (read-your-writes, bounded by --read-timeout).
func hasKeys(t *testing.T, p *proc, prefix string, n int, at string) bool {
	t.Helper()
	for i := range n {
		key := fmt.Sprintf("%s%d", prefix, i)
		url := "http://" + p.http + "/v1/kv/b/" + key
		if at != "" && i == 0 {
			url += "?min_lsn=" + at
		}
		code, body, _ := do(t, "GET", url, "")
		if code != 200 || string(body) != key+strings.Repeat(".", 200) {
			return false
		}
	}
	return true
}

// group names the replication and HTTP addresses of n sites, 1..n.
type group struct{ rep, http map[int]string }

func newGroup(t *testing.T, n int) group {
	g := group{rep: map[int]string{}, http: map[int]string{}}
	for id := 1; id <= n; id++ {
		g.rep[id], g.http[id] = freeAddr(t), freeAddr(t)
	}
	return g
}

// args are the common flags of site id: dir, id, listen, peers.
func (g group) args(id int, dir string) []string {
	var peers []string
	for j := 1; j <= len(g.rep); j++ {
		if j != id {
			peers = append(peers, fmt.Sprintf("%d=%s", j, g.rep[j]))
		}
	}
	return []string{"--dir", dir, "--id", fmt.Sprint(id), "--listen", g.rep[id], "--peers", strings.Join(peers, ",")}
}

// TestDelayedClientWaitsForRepadminSync: a client started with
// --delay-client stays behind its master until `repadmin sync`.
func TestDelayedClientWaitsForRepadminSync(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 2)
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "none")...)
	c := startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--client", "--delay-client")...)

	at := putKeys(t, m, "k", 10)
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the delayed client reports sync_state delayed", func() bool {
		return status(t, c).SyncState == "delayed"
	})
	// It heard its master and still holds nothing: a bounded look at the
	// client for a while, which must stay empty.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if code, _, _ := do(t, "GET", "http://"+c.http+"/v1/kv/b/k0", ""); code == 200 {
			t.Fatal("the delayed client applied the master's write before repadmin sync")
		}
		time.Sleep(100 * time.Millisecond) // look again, for a bounded second
	}

	out, err := exec.Command(admin, "--node", c.http, "sync").CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin sync: %v\n%s", err, out)
	}
	if !hasKeys(t, c, "k", 10, at) {
		t.Fatalf("after repadmin sync the client lacks the master's writes\nclient log:\n%s", c.log())
	}
	if st := status(t, c); st.SyncState != "ready" {
		t.Errorf("after sync: sync_state %q, want ready", st.SyncState)
	}
}

// TestPeerServesClient: a client started with --peer 2 fetches the log it
// missed while down from site 2, not from the master.
func TestPeerServesClient(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	dir3 := t.TempDir()
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "one")...)
	c2 := startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--client", "--master-id", "1")...)
	c3 := startProc(t, bin, g.http[3], append(g.args(3, dir3), "--client", "--master-id", "1", "--peer", "2")...)
	at := putKeys(t, m, "a", 5)
	if !hasKeys(t, c3, "a", 5, at) {
		t.Fatal("site 3 lacks the first writes")
	}
	if err := c3.stop(t); err != nil {
		t.Fatalf("stop site 3: %v", err)
	}
	at = putKeys(t, m, "b", 50)
	if !hasKeys(t, c2, "b", 50, at) {
		t.Fatal("site 2 lacks the writes made while site 3 was down")
	}
	// Restart delayed, and sync only once site 3 is connected to its
	// peer: until then rep asks the master, which is right but not what
	// this test is about.
	c3 = startProc(t, bin, g.http[3], append(g.args(3, dir3), "--client", "--master-id", "1", "--peer", "2", "--delay-client")...)
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "site 3 waits for sync, connected to its peer", func() bool {
		st := status(t, c3)
		for _, s := range st.Sites {
			if s.ID == 2 {
				return s.Connected && st.SyncState == "delayed"
			}
		}
		return false
	})
	if code, body, _ := do(t, "POST", "http://"+c3.http+"/v1/admin/sync", ""); code != 200 {
		t.Fatalf("sync site 3: %d %s", code, body)
	}
	if !hasKeys(t, c3, "b", 50, at) {
		t.Fatalf("restarted site 3 lacks the writes it missed\n%s", c3.log())
	}
	if v := metric(t, c2, "logship_client_requests_served_total"); v < 1 {
		t.Errorf("site 2 served %v requests from its peer client, want at least 1\nsite 3 log:\n%s", v, c3.log())
	}
	if v := metric(t, c3, "logship_log_requests_total"); v < 1 {
		t.Errorf("site 3 sent %v log requests, want at least 1", v)
	}
}

// TestInternalInitAfterArchive: a client whose needed log the master
// archived (archive --force) while it was down is rebuilt by internal
// initialization.
func TestInternalInitAfterArchive(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 2)
	dir2 := t.TempDir()
	small := []string{"--log-file-size", "65536"}
	m := startProc(t, bin, g.http[1], append(append(g.args(1, t.TempDir()), small...), "--master", "--ack", "none")...)
	c := startProc(t, bin, g.http[2], append(append(g.args(2, dir2), small...), "--client")...)
	at := putKeys(t, m, "a", 5)
	if !hasKeys(t, c, "a", 5, at) {
		t.Fatal("client lacks the first writes")
	}
	if err := c.stop(t); err != nil {
		t.Fatalf("stop client: %v", err)
	}
	// ~400 records of ~300 bytes span two 64 KiB log files.
	at = putKeys(t, m, "b", 400)
	// The master keeps the log a lagging client needs (--log-keep-bytes);
	// --force removes it anyway.
	out, err := exec.Command(admin, "--node", m.http, "archive", "--force").CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin archive --force: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "site 2 let go") {
		t.Errorf("repadmin archive --force does not say site 2 is let go:\n%s", out)
	}

	c = startProc(t, bin, g.http[2], append(append(g.args(2, dir2), small...), "--client")...)
	if !hasKeys(t, c, "b", 400, at) {
		t.Fatalf("restarted client lacks the writes made while it was down\n%s", c.log())
	}
	if !hasKeys(t, c, "a", 5, "") {
		t.Fatal("restarted client lost the writes it had before")
	}
	if v := metric(t, c, "logship_inits_done_total"); v < 1 {
		t.Errorf("client completed %v internal inits, want 1 (was the master's log archived? repadmin said %s)\n%s", v, out, c.log())
	}
	if v := metric(t, m, "logship_inits_served_total"); v < 1 {
		t.Errorf("master served %v internal inits, want 1", v)
	}
}

// TestTLSWrongCertificateGetsNoData: three sites with mutual TLS; site 3's
// certificate is signed by another CA. Site 2 replicates; site 3 is
// refused and receives nothing.
func TestTLSWrongCertificateGetsNoData(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	groupCA, err := testpki.NewCA("logship group CA")
	if err != nil {
		t.Fatal(err)
	}
	rogueCA, err := testpki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := groupCA.WriteCA(dir, "ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	tlsArgs := func(id int, ca *testpki.CA) []string {
		cert, key, err := ca.WriteSite(dir, fmt.Sprintf("site-%d", id))
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", caFile}
	}
	g := newGroup(t, 3)
	m := startProc(t, bin, g.http[1], append(append(g.args(1, t.TempDir()), tlsArgs(1, groupCA)...), "--master", "--ack", "one")...)
	c2 := startProc(t, bin, g.http[2], append(append(g.args(2, t.TempDir()), tlsArgs(2, groupCA)...), "--client", "--master-id", "1")...)
	c3 := startProc(t, bin, g.http[3], append(append(g.args(3, t.TempDir()), tlsArgs(3, rogueCA)...), "--client", "--master-id", "1")...)

	at := putKeys(t, m, "s", 10)
	if !hasKeys(t, c2, "s", 10, at) {
		t.Fatalf("site 2 (group certificate) lacks the writes\n%s", c2.log())
	}
	// The lower id dials, so the master dials site 3, rejects the
	// certificate site 3 shows, and site 3 sees the handshake fail.
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the TLS handshake between the master and site 3 fails", func() bool {
		return metric(t, c3, "logship_transport_inbound_refused_total") >= 1
	})
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the master's log says why site 3 cannot connect", func() bool {
		return strings.Contains(m.log(), "certificate")
	})
	for _, s := range status(t, m).Sites {
		if s.ID == 3 && s.Connected {
			t.Errorf("master shows site 3 (wrong certificate) connected")
		}
		if s.ID == 2 && !s.Connected {
			t.Errorf("master shows site 2 disconnected")
		}
	}
	// Site 3 never gets a record: no key, no master, an empty log.
	if code, _, _ := do(t, "GET", "http://"+c3.http+"/v1/kv/b/s0", ""); code == 200 {
		t.Fatal("site 3, with a certificate from another CA, received data")
	}
	if st := status(t, c3); st.Gen != 0 || st.LSN != "" && st.LSN != "0/0" {
		t.Errorf("site 3 status %+v: want no generation and an empty log", st)
	}
	if v := metric(t, c3, "logship_log_records_received_total"); v > 0 {
		t.Errorf("site 3 received %v log records", v)
	}
}

// electedMaster waits for exactly one of the sites to be a master that
// accepts writes and returns it.
func electedMaster(t *testing.T, procs map[int]*proc) int {
	t.Helper()
	var m int
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "one master elected that accepts writes", func() bool {
		m = 0
		for id, p := range procs {
			st := status(t, p)
			if st.Role == "master" && st.Election != nil && st.Election.CanWrite {
				if m != 0 {
					return false
				}
				m = id
			}
		}
		return m != 0
	})
	return m
}

// TestRepadminTransfer: `repadmin transfer --to ID` hands mastership to
// that site, which then holds every write and accepts new ones; the old
// master follows it.
func TestRepadminTransfer(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 3)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], g.args(id, t.TempDir())...)
	}
	m := electedMaster(t, procs)
	putKeys(t, procs[m], "t", 20)
	to := m%3 + 1

	out, err := exec.Command(admin, "--node", procs[m].http, "transfer", "--to", fmt.Sprint(to)).CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin transfer --to %d: %v\n%s\nold master log:\n%s", to, err, out, procs[m].log())
	}
	if got := electedMaster(t, procs); got != to {
		t.Fatalf("after transfer to %d the master is %d", to, got)
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the old master follows the new one", func() bool {
		st := status(t, procs[m])
		return st.Role == "client" && st.Master == uint64(to)
	})
	at := putKeys(t, procs[to], "u", 5)
	if !hasKeys(t, procs[to], "t", 20, at) {
		t.Fatal("the new master lacks writes made before the transfer")
	}
	if !hasKeys(t, procs[m], "u", 5, at) {
		t.Fatal("the old master does not receive the new master's writes")
	}

	// A bad target is refused with a message naming it.
	out, err = exec.Command(admin, "--node", procs[to].http, "transfer", "--to", "9").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "site 9") {
		t.Errorf("repadmin transfer --to 9 (not a member): %v\n%s", err, out)
	}

	// Priority at run time: the old master is set to 0 and shows it.
	if out, err := exec.Command(admin, "--node", procs[m].http, "priority", "--set", "0").CombinedOutput(); err != nil {
		t.Fatalf("repadmin priority --set 0: %v\n%s", err, out)
	}
	if st := status(t, procs[m]); st.Election == nil || st.Election.Priority != 0 {
		t.Errorf("after priority --set 0: election status %+v", st.Election)
	}
	if out, err := exec.Command(admin, "--node", procs[m].http, "priority").CombinedOutput(); err == nil {
		t.Errorf("repadmin priority without --set succeeded:\n%s", out)
	}
}

// TestRepadminSyncDelayToggle: `repadmin sync --delay` makes a running
// client wait at its next new master; `sync --no-delay` lets it sync.
func TestRepadminSyncDelayToggle(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 2)
	dir1 := t.TempDir()
	m := startProc(t, bin, g.http[1], append(g.args(1, dir1), "--master", "--ack", "none")...)
	c := startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--client")...)
	at := putKeys(t, m, "a", 3)
	if !hasKeys(t, c, "a", 3, at) {
		t.Fatal("client lacks the first writes")
	}
	if out, err := exec.Command(admin, "--node", c.http, "sync", "--delay").CombinedOutput(); err != nil {
		t.Fatalf("repadmin sync --delay: %v\n%s", err, out)
	}
	// A new master generation: the master restarts.
	if err := m.stop(t); err != nil {
		t.Fatalf("stop master: %v", err)
	}
	m = startProc(t, bin, g.http[1], append(g.args(1, dir1), "--master", "--ack", "none")...)
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the client waits for sync at the new master", func() bool {
		return status(t, c).SyncState == "delayed"
	})
	at = putKeys(t, m, "b", 3)
	// Nothing signals "did not apply": give the client time it must not use.
	time.Sleep(500 * time.Millisecond)
	if code, _, _ := do(t, "GET", "http://"+c.http+"/v1/kv/b/b0", ""); code == 200 {
		t.Fatal("the delayed client applied a write of the new master before sync")
	}
	if out, err := exec.Command(admin, "--node", c.http, "sync", "--no-delay").CombinedOutput(); err != nil {
		t.Fatalf("repadmin sync --no-delay: %v\n%s", err, out)
	}
	if !hasKeys(t, c, "b", 3, at) {
		t.Fatalf("after sync --no-delay the client lacks the new master's writes\n%s", c.log())
	}
}

// TestWitnessProcess: two data sites and a witness (--witness). The
// witness never becomes master and holds no data; after SIGKILL of the
// master, the other data site wins with the witness's vote and accepts
// writes, every write answered permanent present.
func TestWitnessProcess(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	procs := map[int]*proc{}
	for id := 1; id <= 2; id++ {
		procs[id] = startProc(t, bin, g.http[id], append(g.args(id, t.TempDir()), "--witness-peers", "3")...)
	}
	w := startProc(t, bin, g.http[3], append(g.args(3, t.TempDir()), "--witness")...)
	m := electedMaster(t, procs)

	perm := writePermanent(t, procs[m], "w", 10)
	ws := status(t, w)
	if ws.Role != "witness" || ws.Master != uint64(m) {
		t.Fatalf("witness status: role %q master %d, want witness following %d", ws.Role, ws.Master, m)
	}
	if code, body, _ := do(t, "GET", "http://"+w.http+"/v1/kv/b/w0", ""); code != 503 || !strings.Contains(string(body), "witness") {
		t.Errorf("GET on the witness: %d %s, want 503 saying it is a witness", code, body)
	}
	for _, s := range status(t, procs[m]).Sites {
		if s.ID == 3 && !s.Witness {
			t.Errorf("master's status does not mark site 3 as the witness: %+v", s)
		}
	}

	if err := procs[m].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	procs[m].done <- <-procs[m].done
	other := 3 - m
	nm := electedMaster(t, map[int]*proc{other: procs[other]})
	var body []byte
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the surviving data site accepts a write", func() bool {
		var code int
		code, body, _ = do(t, "PUT", "http://"+procs[nm].http+"/v1/kv/b/after", "x")
		return code == 200
	})
	at := decode[api.WriteResult](t, body).LSN
	for _, key := range perm {
		code, got, _ := do(t, "GET", "http://"+procs[nm].http+"/v1/kv/b/"+key+"?min_lsn="+at, "")
		if code != 200 || string(got) != key {
			t.Fatalf("permanent key %s on the new master: %d %q", key, code, got)
		}
	}
	if st := status(t, w); st.Role != "witness" || st.Master != uint64(nm) {
		t.Errorf("witness after failover: role %q master %d, want witness following %d", st.Role, st.Master, nm)
	}
}

// TestLeaseReadsProcess: with --leases a master's GETs are lease reads;
// once it is cut off from every other site they fail with 503 (a stale
// read is still possible with ?stale=true), and so do its writes.
func TestLeaseReadsProcess(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], append(g.args(id, t.TempDir()), "--leases")...)
	}
	m := electedMaster(t, procs)
	putKeys(t, procs[m], "l", 1)
	mURL := "http://" + procs[m].http + "/v1/kv/b/l0"
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "a lease read on the master succeeds", func() bool {
		code, _, _ := do(t, "GET", mURL, "")
		return code == 200
	})
	for id, p := range procs {
		if id == m {
			continue
		}
		if code, body, _ := do(t, "GET", "http://"+p.http+"/v1/kv/b/l0?lease=true", ""); code != 503 {
			t.Errorf("lease read on client %d: %d %s, want 503", id, code, body)
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.done <- <-p.done
	}
	testwait.Poll(t, 5*time.Second, 50*time.Millisecond, "lease reads on the cut-off master fail", func() bool {
		code, _, _ := do(t, "GET", mURL, "")
		return code == 503
	})
	if code, body, _ := do(t, "GET", mURL+"?stale=true", ""); code != 200 {
		t.Errorf("stale read on the cut-off master: %d %s", code, body)
	}
	if code, body, _ := do(t, "PUT", mURL, "v"); code != 503 {
		t.Errorf("write on a master without its lease: %d %s, want 503", code, body)
	}
}
