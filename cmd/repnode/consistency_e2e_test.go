package main

// Real-process tests of the consistency promises (docs/guarantees.md):
// each reproduces, with repnode processes on loopback, a way the
// promise was once broken.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
	"logship/wal/lsn"
)

// kill SIGKILLs p and waits for it to exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.done <- <-p.done
}

// TestPriorityZeroAckDoesNotMakeWritesPermanent: sites of priority 100,
// 50 and 0 with quorum acks. With the priority-50 site down, a write
// acknowledged only by the priority-0 site is not permanent (Berkeley DB
// counts only electable sites toward quorum); after the master is
// SIGKILLed and the priority-50 site comes back and wins, every write
// that was answered permanent is there. Before the fix repnode told every
// site its peers had priority 1: the writes were answered permanent and
// then lost.
func TestPriorityZeroAckDoesNotMakeWritesPermanent(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	prio := map[int]string{1: "100", 2: "50", 3: "0"}
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	args := func(id int) []string {
		return append(g.args(id, dirs[id]), "--priority", prio[id], "--ack", "quorum", "--ack-timeout", "150ms",
			"--full-election-timeout", "1s")
	}
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], args(id)...)
	}
	if m := electedMaster(t, procs); m != 1 {
		t.Fatalf("site %d elected, want the priority-100 site 1", m)
	}
	// Every site up: writes are permanent, and the master counts site 3
	// as unelectable once it has heard from it.
	perm := writePermanent(t, procs[1], "up", 5)
	testwait.Poll(t, 5*time.Second, 50*time.Millisecond, "the master sees site 3 as unelectable", func() bool {
		for _, s := range status(t, procs[1]).Sites {
			if s.ID == 3 {
				return s.Electability == "unelectable"
			}
		}
		return false
	})
	procs[2].kill(t)
	var notPerm int
	for i := range 30 {
		key := fmt.Sprintf("down%d", i)
		code, body, _ := do(t, "PUT", "http://"+procs[1].http+"/v1/kv/b/"+key, key)
		if code != 200 {
			t.Fatalf("PUT %s: %d %s", key, code, body)
		}
		if decode[api.WriteResult](t, body).Permanent {
			perm = append(perm, key)
		} else {
			notPerm++
		}
	}
	if notPerm != 30 {
		t.Errorf("%d of 30 writes acknowledged only by the priority-0 site were answered permanent", 30-notPerm)
	}
	procs[1].kill(t)
	procs[2] = startProc(t, bin, g.http[2], args(2)...)
	alive := map[int]*proc{2: procs[2], 3: procs[3]}
	if m := electedMaster(t, alive); m != 2 {
		t.Fatalf("site %d elected, want site 2 (site 3 has priority 0)", m)
	}
	for _, key := range perm {
		code, body, _ := do(t, "GET", "http://"+procs[2].http+"/v1/kv/b/"+key, "")
		if code != 200 || string(body) != key {
			t.Errorf("write %s answered permanent is gone on the new master: %d %q", key, code, body)
		}
	}
}

// TestMasterReadSeesReturnedWrites: a GET on the master sees every write
// the master answered before the GET was sent, at once (no min_lsn).
// Before the fix it read the applied data, which trails the log by the
// applier's batching delay, and a write just answered was often missing.
func TestMasterReadSeesReturnedWrites(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 2)
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "one")...)
	startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--client")...)
	url := "http://" + m.http + "/v1/kv/b/counter"
	for i := range 200 {
		want := fmt.Sprint(i)
		if code, body, _ := do(t, "PUT", url, want); code != 200 {
			t.Fatalf("PUT %d: %d %s", i, code, body)
		}
		code, body, _ := do(t, "GET", url, "")
		if code != 200 || string(body) != want {
			t.Fatalf("GET right after PUT %s answered: %d %q", want, code, body)
		}
	}
}

// TestLeaseReadNeverReturnsRolledBackWrite: a master cut off from the
// majority still holds its lease for a while; a write it accepts then
// cannot be replicated and is rolled back once another site is elected.
// A lease read on the cut-off master must not return that write (it
// waits for a majority to acknowledge what it read, and fails when the
// lease runs out); the new master's lease reads return the older value.
// Before the fix the cut-off master's lease reads returned the write.
func TestLeaseReadNeverReturnsRolledBackWrite(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	px := newProxies(t, g)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], append(px.args(id, t.TempDir()), "--leases",
			"--lease-timeout", "2s", "--ack-timeout", "3s")...)
	}
	m := electedMaster(t, procs)
	murl := "http://" + procs[m].http + "/v1/kv/b/x"
	if code, body, _ := do(t, "PUT", murl, "old"); code != 200 || !decode[api.WriteResult](t, body).Permanent {
		t.Fatalf("PUT old: %d %s", code, body)
	}
	testwait.Poll(t, 5*time.Second, 50*time.Millisecond, "a lease read of the old value", func() bool {
		code, body, _ := do(t, "GET", murl, "")
		return code == 200 && string(body) == "old"
	})

	px.cut(m, true)
	put := make(chan string, 1)
	go func() {
		code, body, _ := do(t, "PUT", murl, "new")
		put <- fmt.Sprintf("%d %s", code, body)
	}()
	// Lease reads on the cut-off master until it no longer serves them.
	var reads, news int
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, body, _ := do(t, "GET", murl, "")
		if code != 200 {
			break
		}
		reads++
		if string(body) == "new" {
			news++
		}
		time.Sleep(10 * time.Millisecond) // a bounded read loop against a real process
	}
	t.Logf("cut-off master: %d lease reads answered before it refused; the write answered %s", reads, <-put)
	if news > 0 {
		t.Errorf("%d lease reads on the cut-off master returned a write no other site has", news)
	}
	rest := map[int]*proc{}
	for id, p := range procs {
		if id != m {
			rest[id] = p
		}
	}
	nm := electedMaster(t, rest)
	px.cut(m, false)
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "a lease read on the new master", func() bool {
		code, body, _ := do(t, "GET", "http://"+procs[nm].http+"/v1/kv/b/x", "")
		if code == 200 && string(body) != "old" {
			t.Fatalf("new master's lease read: %q, want the old value", body)
		}
		return code == 200
	})
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "the old master rejoins as a client of the new one", func() bool {
		st := status(t, procs[m])
		return st.Role == "client" && st.Master == uint64(nm) && st.SyncState == "ready"
	})
}

// TestTokenReadNeverSucceedsOnAnotherRecord: a write's token names its
// record, not just its position. A deposed master cut off with a write
// of its own at the same LSN as the new master's write must not answer a
// token read of the new write (before the fix, ?min_lsn= compared
// positions and it answered at once, without the write); once it has
// synced, it answers with the new write; and a token of the rolled-back
// write answers 410 on a site whose record there is final.
func TestTokenReadNeverSucceedsOnAnotherRecord(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	px := newProxies(t, g)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], append(px.args(id, t.TempDir()), "--read-timeout", "1s",
			"--ack-timeout", "300ms")...)
	}
	m := electedMaster(t, procs)
	writePermanent(t, procs[m], "base", 3)
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "every site caught up", func() bool {
		last := status(t, procs[m]).LastLSN
		for _, p := range procs {
			if st := status(t, p); st.AppliedLSN != last {
				return false
			}
		}
		return true
	})

	px.cut(m, true)
	code, body, _ := do(t, "PUT", "http://"+procs[m].http+"/v1/kv/b/k", "deposed")
	if code != 200 {
		t.Fatalf("PUT on the cut-off master: %d %s", code, body)
	}
	lost := decode[api.WriteResult](t, body)
	rest := map[int]*proc{}
	for id, p := range procs {
		if id != m {
			rest[id] = p
		}
	}
	nm := electedMaster(t, rest)
	var w api.WriteResult
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "a permanent write on the new master", func() bool {
		code, body, _ := do(t, "PUT", "http://"+procs[nm].http+"/v1/kv/b/k", "new")
		w = decode[api.WriteResult](t, body)
		return code == 200 && w.Permanent
	})
	if w.LSN != lost.LSN {
		t.Logf("the new master's write is at %s, the deposed master's at %s", w.LSN, lost.LSN)
	}
	// The deposed master holds its own record there (or none): a token
	// read of the new write must not succeed.
	url := "http://" + procs[m].http + "/v1/kv/b/k?min_lsn=" + w.Token
	if code, body, _ := do(t, "GET", url, ""); code == 200 {
		t.Fatalf("token read of %s on the deposed master answered %q", w.Token, body)
	}
	px.cut(m, false)
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "the deposed master synced and serves the token read", func() bool {
		code, body, _ := do(t, "GET", url, "")
		return code == 200 && string(body) == "new"
	})
	for id, p := range procs {
		code, body, _ := do(t, "GET", "http://"+p.http+"/v1/kv/b/k?token="+lost.Token, "")
		if code != 410 && !(code == 504 && id != nm) {
			t.Errorf("site %d: token read of the rolled-back write %s: %d %s, want 410", id, lost.Token, code, body)
		}
	}
	code, body, _ = do(t, "GET", "http://"+procs[nm].http+"/v1/kv/b/k?token="+lost.Token, "")
	if code != 410 {
		t.Errorf("new master: token read of the rolled-back write: %d %s, want 410", code, body)
	}
}

// limitFileSize makes every write of process p at an offset past max
// bytes fail with EFBIG (RLIMIT_FSIZE; Go ignores SIGXFSZ), as a full
// disk makes them fail with ENOSPC: the log and data.db can no longer
// grow or be written past it.
func limitFileSize(t *testing.T, p *proc, max uint64) {
	t.Helper()
	if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: max, Max: unix.RLIM_INFINITY}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
}

// TestMasterWithFailedStorageStepsDown: the master's disk "fills" (its
// file writes fail). Before the fix every read and write answered 500
// but the master kept heartbeating, so nobody else was elected and its
// status looked healthy. Now it steps down within the election timeout,
// says why in status and metrics, the others elect a master holding
// every permanent write, and the old master rejoins as a client once
// restarted without the limit.
func TestMasterWithFailedStorageStepsDown(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], g.args(id, dirs[id])...)
	}
	m := electedMaster(t, procs)
	perm := writePermanent(t, procs[m], "before", 10)
	limitFileSize(t, procs[m], 1)
	start := time.Now()
	code, body, _ := do(t, "PUT", "http://"+procs[m].http+"/v1/kv/b/after", "x")
	if code == 200 {
		t.Fatalf("PUT on a master that cannot write its log: 200 %s", body)
	}
	rest := map[int]*proc{}
	for id, p := range procs {
		if id != m {
			rest[id] = p
		}
	}
	nm := electedMaster(t, rest)
	t.Logf("site %d elected %v after the write failed on site %d", nm, time.Since(start).Round(time.Millisecond), m)
	st := status(t, procs[m])
	if !st.StorageFailed || st.SyncState != "storage_failed" || st.Role == "master" || st.Error == "" {
		t.Errorf("failed master's status: role %s sync %s storage_failed %t error %q", st.Role, st.SyncState, st.StorageFailed, st.Error)
	}
	if v := metric(t, procs[m], "logship_storage_failed"); v != 1 {
		t.Errorf("logship_storage_failed on the failed master = %v, want 1", v)
	}
	for _, key := range perm {
		if code, body, _ := do(t, "GET", "http://"+procs[nm].http+"/v1/kv/b/"+key, ""); code != 200 || string(body) != key {
			t.Errorf("permanent %s on the new master: %d %q", key, code, body)
		}
	}
	writePermanent(t, procs[nm], "new", 3)
	procs[m].stop(t)
	procs[m] = startProc(t, bin, g.http[m], g.args(m, dirs[m])...)
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "the repaired site rejoins as a client", func() bool {
		st := status(t, procs[m])
		return st.Role == "client" && st.Master == uint64(nm) && st.SyncState == "ready" && !st.StorageFailed
	})
}

// TestClientWithFailedStorageSaysSo: a client whose disk fills reports
// the failure (not sync_state "ready") and stops replicating; the master
// keeps its role.
func TestClientWithFailedStorageSaysSo(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], g.args(id, t.TempDir())...)
	}
	m := electedMaster(t, procs)
	gen := status(t, procs[m]).Gen
	c := m%3 + 1
	limitFileSize(t, procs[c], 1)
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "the client reports its storage failure", func() bool {
		do(t, "PUT", "http://"+procs[m].http+"/v1/kv/b/k", strings.Repeat("v", 100))
		st := status(t, procs[c])
		return st.StorageFailed && st.SyncState == "storage_failed" && st.Error != ""
	})
	if st := status(t, procs[m]); st.Role != "master" || st.Gen != gen {
		t.Errorf("master after a client's storage failed: role %s gen %d (was %d)", st.Role, st.Gen, gen)
	}
	writePermanent(t, procs[m], "still", 3)
}

// TestDamagedOldLogRecordDoesNotCrashMaster: a byte of a record in an
// older log file of the master changes on disk. Before the fix, serving
// that range to a lagging client recursed without end: writes hung, a
// second master was elected and the process died of stack overflow, at
// every restart. Now the master says which record and file are damaged,
// serves the client by internal init, and keeps its role and generation.
func TestDamagedOldLogRecordDoesNotCrashMaster(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	args := func(id int) []string { return append(g.args(id, dirs[id]), "--log-file-size", "65536") }
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], args(id)...)
	}
	m := electedMaster(t, procs)
	gen := status(t, procs[m]).Gen
	c := m%3 + 1
	putKeys(t, procs[m], "a", 5)
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the client caught up", func() bool {
		return status(t, procs[c]).AppliedLSN == status(t, procs[m]).LastLSN
	})
	cLast := status(t, procs[c]).LastLSN
	procs[c].stop(t)
	last := putKeys(t, procs[m], "b", 600) // about 200 KiB: several log files
	at, err := lsn.Parse(cLast)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := lsn.Parse(last)
	if end.File < at.File+2 {
		t.Fatalf("the master's log grew from file %d to %d only", at.File, end.File)
	}
	// Damage a byte in the middle of the file after the client's last
	// record: a record the client needs.
	path := filepath.Join(dirs[m], "log", fmt.Sprintf("log.%010d", at.File+1))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	if _, err := f.ReadAt(b, 30000); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 30000); err != nil {
		t.Fatal(err)
	}
	f.Close()

	procs[c] = startProc(t, bin, g.http[c], args(c)...)
	testwait.Poll(t, 30*time.Second, 50*time.Millisecond, "the client has every write", func() bool {
		return hasKeys(t, procs[c], "b", 600, last)
	})
	procs[m].running(t)
	if st := status(t, procs[m]); st.Role != "master" || st.Gen != gen {
		t.Errorf("master after serving around the damage: role %s gen %d (was %d)", st.Role, st.Gen, gen)
	}
	if v := metric(t, procs[m], "logship_log_damaged_total"); v < 1 {
		t.Errorf("logship_log_damaged_total = %v", v)
	}
	if !strings.Contains(procs[m].log(), "damaged") || !strings.Contains(procs[m].log(), filepath.Base(path)) {
		t.Errorf("the master's log does not name the damaged record's file %s", filepath.Base(path))
	}
	if v := metric(t, procs[c], "logship_inits_done_total"); v != 1 {
		t.Errorf("client inits done = %v, want 1", v)
	}
	writePermanent(t, procs[m], "after", 3)
}

// TestDataDamageIsFoundAndNamed: a changed byte in a client's data.db is
// served silently by bbolt, but `repadmin verify` finds it, names the file
// and the site stops (storage failed); a page of garbage makes the start
// fail with an error naming the file, not a panic.
func TestDataDamageIsFoundAndNamed(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 3)
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], g.args(id, dirs[id])...)
	}
	m := electedMaster(t, procs)
	c := m%3 + 1
	putKeys(t, procs[m], "k", 300)
	code, body, _ := do(t, "PUT", "http://"+procs[m].http+"/v1/kv/b/marked", "MARKER-0123456789")
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	tok := decode[api.WriteResult](t, body).Token
	if code, body, _ := do(t, "GET", "http://"+procs[c].http+"/v1/kv/b/marked?token="+tok, ""); code != 200 {
		t.Fatalf("token read on the client: %d %s", code, body)
	}
	if out, err := exec.Command(admin, "--node", procs[c].http, "verify").CombinedOutput(); err != nil {
		t.Fatalf("repadmin verify of a sound site: %v\n%s", err, out)
	}
	procs[c].stop(t)
	path := filepath.Join(dirs[c], "data.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("MARKER-0123456789"))
	if i < 0 {
		t.Fatal("the marker is not in the client's data.db")
	}
	b[i+7] = 'X'
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	procs[c] = startProc(t, bin, g.http[c], g.args(c, dirs[c])...)
	if _, body, _ := do(t, "GET", "http://"+procs[c].http+"/v1/kv/b/marked?stale=true", ""); string(body) != "MARKER-X123456789" {
		t.Logf("the damaged client serves %q", body)
	}
	out, err := exec.Command(admin, "--node", procs[c].http, "verify").CombinedOutput()
	if err == nil || !strings.Contains(string(out), path) {
		t.Fatalf("repadmin verify of the damaged site: %v\n%s", err, out)
	}
	if st := status(t, procs[c]); !st.StorageFailed || st.SyncState != "storage_failed" {
		t.Errorf("damaged client's status: %+v", st)
	}
	procs[c].stop(t)

	// Pages of garbage: the start fails naming the file.
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i < 10*4096 && i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(g.args(c, dirs[c]), "--http", g.http[c])...)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), path) || strings.Contains(string(out), "goroutine ") {
		t.Fatalf("start on a data.db with a garbage page: %v\n%s", err, out)
	}
}

// TestWriteOutcomes: what a write's answer says about the write
// (docs/guarantees.md, "Writes"). A 503 "not the master" means nothing
// was written anywhere. A timeout means the outcome is unknown: here the
// client gives up while the master waits for an ack that cannot come,
// and the write is nonetheless committed on the master, and answered
// not permanent to whoever waits long enough for it.
func TestWriteOutcomes(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 2)
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "all", "--ack-timeout", "3s")...)
	c := startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--client")...)
	writePermanent(t, m, "warm", 1)

	code, body, _ := do(t, "PUT", "http://"+c.http+"/v1/kv/b/refused", "x")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "not the master") {
		t.Fatalf("PUT on the client: %d %s, want 503 not the master", code, body)
	}

	// The client stops acknowledging; a PUT with a short client timeout
	// gives up before the master's ack timeout.
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.cmd.Process.Signal(syscall.SIGCONT) }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PUT", "http://"+m.http+"/v1/kv/b/unknown", strings.NewReader("written"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("PUT answered %d before the ack timeout, want the client to time out", resp.StatusCode)
	}
	code, body, _ = do(t, "GET", "http://"+m.http+"/v1/kv/b/unknown", "")
	if code != 200 || string(body) != "written" {
		t.Fatalf("after the timed-out PUT the master answers %d %q: the write did happen", code, body)
	}
	_ = c.cmd.Process.Signal(syscall.SIGCONT)
	code, body, _ = do(t, "GET", "http://"+m.http+"/v1/kv/b/refused", "")
	if code != http.StatusNotFound {
		t.Fatalf("the write refused with 503 is on the master: %d %q", code, body)
	}
}
