package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
)

// deposedTail sets up a former master with a tail nobody else has, that
// the group can no longer verify: site 1, master with --ack none, writes
// a0..a4 (site 2 has them), then, with site 2 down, lost0..lost2, and
// stops. Site 2 restarts as master of a new generation, writes enough to
// fill several small log files and archives them. It returns site 1's
// directory, the common flags and the running new master.
func deposedTail(t *testing.T, bin string, g group) (dir1 string, small []string, m2 *proc) {
	t.Helper()
	dir1, dir2 := t.TempDir(), t.TempDir()
	small = []string{"--log-file-size", "65536", "--auto-remove-logs"}
	m1 := startProc(t, bin, g.http[1], append(append(g.args(1, dir1), small...), "--master", "--ack", "none")...)
	c2 := startProc(t, bin, g.http[2], append(append(g.args(2, dir2), small...), "--client")...)
	at := putKeys(t, m1, "a", 5)
	if !hasKeys(t, c2, "a", 5, at) {
		t.Fatal("site 2 lacks the first writes")
	}
	if err := c2.stop(t); err != nil {
		t.Fatalf("stop site 2: %v", err)
	}
	putKeys(t, m1, "lost", 3) // answered (ack none), on site 1 only
	if err := m1.stop(t); err != nil {
		t.Fatalf("stop site 1: %v", err)
	}

	m2 = startProc(t, bin, g.http[2], append(append(g.args(2, dir2), small...), "--master", "--ack", "none")...)
	putKeys(t, m2, "b", 400) // ~120 KiB: two 64 KiB log files
	// Forced: site 1 is within --log-keep-bytes, and the test wants it
	// rebuilt by internal init.
	code, body, _ := do(t, "POST", "http://"+m2.http+"/v1/admin/archive", `{"force":true}`)
	if code != 200 {
		t.Fatalf("archive: %d %s", code, body)
	}
	if arch := decode[struct {
		Removed []string `json:"removed"`
	}](t, body); len(arch.Removed) == 0 {
		t.Fatalf("the new master removed no log file: %s", body)
	}
	return dir1, small, m2
}

// formerMasterBack runs deposedTail, writes c0 on the new master and
// starts site 1 again as its client, with the extra flags. It returns
// site 1, its directory, c0's position and repadmin.
func formerMasterBack(t *testing.T, extra ...string) (c1 *proc, dir1, at, admin string) {
	t.Helper()
	bin := buildBinary(t)
	admin = buildRepadmin(t)
	g := newGroup(t, 2)
	dir1, small, m2 := deposedTail(t, bin, g)
	at = putKeys(t, m2, "c", 1)
	args := append(append(g.args(1, dir1), small...), "--client", "--master-id", "2")
	c1 = startProc(t, bin, g.http[1], append(args, extra...)...)
	return c1, dir1, at, admin
}

// rollbackDump is `repadmin log dump --rollback --dir dir`.
func rollbackDump(t *testing.T, admin, dir string) string {
	t.Helper()
	out, err := exec.Command(admin, "log", "dump", "--rollback", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin log dump --rollback: %v\n%s", err, out)
	}
	return string(out)
}

// requireLostKept checks that site 1's rollback files hold its lost tail.
func requireLostKept(t *testing.T, admin, dir string) {
	t.Helper()
	dump := rollbackDump(t, admin, dir)
	for i := range 3 {
		if !strings.Contains(dump, fmt.Sprintf(`"b"/"lost%d"`, i)) {
			t.Fatalf("the rollback files lack lost%d:\n%s", i, dump)
		}
	}
}

// TestInternalInitKeepsFormerMastersTailInRollbackFile: a former master
// with a tail nobody else has comes back after the group archived the
// log it would verify against. It is rebuilt by internal init, and the
// tail the init throws away is in a rollback file.
func TestInternalInitKeepsFormerMastersTailInRollbackFile(t *testing.T) {
	c1, dir1, at, admin := formerMasterBack(t)
	if !hasKeys(t, c1, "b", 400, at) {
		t.Fatalf("the former master lacks the new master's writes\n%s", c1.log())
	}
	if code, _, _ := do(t, "GET", "http://"+c1.http+"/v1/kv/b/lost0", ""); code != 404 {
		t.Fatalf("the former master still serves its lost write (%d)", code)
	}
	if v := metric(t, c1, "logship_inits_done_total"); v < 1 {
		t.Fatalf("site 1 completed %v internal inits, want 1\n%s", v, c1.log())
	}
	if v := metric(t, c1, "logship_init_discards_total"); v < 1 {
		t.Errorf("site 1 counted %v init discards, want 1", v)
	}
	requireLostKept(t, admin, dir1)
}

// TestMaxRollbackBytesRefusesUntilAllowed: the same former master, with
// --max-rollback-bytes below its tail (three records of about 250
// bytes), does not discard it: it stops in sync_state rollback_refused,
// saying so, until repadmin allow-rollback; then it is rebuilt and the
// tail is in a rollback file.
func TestMaxRollbackBytesRefusesUntilAllowed(t *testing.T) {
	c1, dir1, at, admin := formerMasterBack(t, "--max-rollback-bytes", "512")
	var st api.Status
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "site 1 refuses to discard its log", func() bool {
		st = status(t, c1)
		return st.SyncState == "rollback_refused"
	})
	if !strings.Contains(st.Error, "512") || !strings.Contains(st.Error, "allow-rollback") {
		t.Errorf("status error %q: want it to name the limit and the way out", st.Error)
	}
	if out := rollbackDump(t, admin, dir1); !strings.Contains(out, "no rollback files") {
		t.Fatalf("a refused site wrote a rollback file:\n%s", out)
	}
	if code, body, _ := do(t, "GET", "http://"+c1.http+"/v1/kv/b/a0", ""); code != 503 || !strings.Contains(string(body), "rollback refused") {
		t.Errorf("a read on the refused site: %d %s, want 503 naming the refusal", code, body)
	}
	if !strings.Contains(c1.log(), "RollbackRefused") {
		t.Errorf("site 1's log does not report the refusal")
	}
	// It stays refused: nothing discarded, nothing installed.
	time.Sleep(time.Second) // a bounded look at a real process that must not move on
	if st := status(t, c1); st.SyncState != "rollback_refused" || metric(t, c1, "logship_inits_done_total") > 0 {
		t.Fatalf("site 1 moved on by itself: %s", st.SyncState)
	}

	out, err := exec.Command(admin, "--node", c1.http, "allow-rollback").CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin allow-rollback: %v\n%s", err, out)
	}
	if !hasKeys(t, c1, "b", 400, at) {
		t.Fatalf("after allow-rollback site 1 lacks the new master's writes\n%s", c1.log())
	}
	if st := status(t, c1); st.SyncState != "ready" || st.Error != "" {
		t.Errorf("after allow-rollback: sync_state %q, error %q", st.SyncState, st.Error)
	}
	requireLostKept(t, admin, dir1)
	// Nothing is refused now: a second allow says so.
	if out, err := exec.Command(admin, "--node", c1.http, "allow-rollback").CombinedOutput(); err == nil || !strings.Contains(string(out), "refused no rollback") {
		t.Errorf("allow-rollback with nothing refused: %v %s", err, out)
	}
}

// TestRestartedSiteDiscardsOnlyItsOwnTail: the former master restarts
// knowing that a0..a4 were committed (site 2 acknowledged them: its
// commit point, kept on disk). Its init discards only lost0..lost2,
// which fit in --max-rollback-bytes 1024, though its whole log (eight
// records of about 250 bytes) does not: no refusal, no operator, and
// only the tail in the rollback file.
func TestRestartedSiteDiscardsOnlyItsOwnTail(t *testing.T) {
	c1, dir1, at, admin := formerMasterBack(t, "--max-rollback-bytes", "1024")
	if !hasKeys(t, c1, "b", 400, at) {
		t.Fatalf("the former master lacks the new master's writes (sync state %s)\n%s", status(t, c1).SyncState, c1.log())
	}
	if v := metric(t, c1, "logship_rollbacks_refused_total"); v != 0 {
		t.Errorf("site 1 refused %v rollbacks, want none", v)
	}
	requireLostKept(t, admin, dir1)
	if dump := rollbackDump(t, admin, dir1); strings.Contains(dump, `"b"/"a0"`) {
		t.Errorf("the rollback file holds a0, which was committed:\n%s", dump)
	}
}
