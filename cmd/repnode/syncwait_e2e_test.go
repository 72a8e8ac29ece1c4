package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"logship/internal/testlog"
	"logship/internal/testwait"
)

// TestRepadminSyncWaitFollowsANewMaster: `repadmin sync --wait` on a
// delayed client whose master goes away mid-sync follows the site that
// becomes master next: it says the master changed, asks the client to
// sync again (a delayed client waits for a sync at every new master), and
// ends, exit 0, once the client caught up with the new master.
//
// Elections are off, so the order is the test's: site 3 (delayed) is
// behind by the master's whole log when site 1 stops; sync --wait starts
// and cannot finish, since no master serves; only then site 2, which
// holds that log, restarts as master of generation 2.
func TestRepadminSyncWaitFollowsANewMaster(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 3)
	dir2 := t.TempDir()
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "one")...)
	c2 := startProc(t, bin, g.http[2], append(g.args(2, dir2), "--client", "--master-id", "1")...)
	c3 := startProc(t, bin, g.http[3], append(g.args(3, t.TempDir()), "--client", "--master-id", "1", "--delay-client")...)
	at := putKeys(t, m, "k", 200)
	if !hasKeys(t, c2, "k", 200, at) {
		t.Fatal("site 2 lacks the master's writes")
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "site 3 delays its sync with master 1", func() bool {
		st := status(t, c3)
		return st.SyncState == "delayed" && st.Master == 1 && st.Gen == 1 && st.BehindBytes > 0
	})
	if err := m.stop(t); err != nil {
		t.Fatalf("stop site 1: %v", err)
	}

	var out testlog.Buffer
	cmd := exec.Command(admin, "--node", c3.http, "sync", "--wait", "--interval", "20ms", "--timeout", "60s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "sync --wait waits on a sync started with the stopped master", func() bool {
		st := status(t, c3)
		return st.SyncState != "delayed" && st.Master == 1 && strings.Count(out.String(), "\n") >= 3
	})

	if err := c2.stop(t); err != nil {
		t.Fatalf("stop site 2: %v", err)
	}
	startProc(t, bin, g.http[2], append(g.args(2, dir2), "--master", "--ack", "one")...)

	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("repadmin sync --wait: %v\n%s\nsite 3 log:\n%s", err, out.String(), c3.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("repadmin sync --wait still running 30s after site 2 became master:\n%s", out.String())
	}
	got := out.String()
	last := -1
	for _, want := range []string{
		"master changed: site 2 (gen 2); waiting on it",
		"site 3 delays its sync with site 2 (gen 2) (--delay-client): asking it to sync",
		"site 3 caught up with master 2",
	} {
		i := strings.Index(got, want)
		if i < 0 || i < last {
			t.Fatalf("sync --wait output lacks %q (or has it out of order):\n%s", want, got)
		}
		last = i
	}
	if !hasKeys(t, c3, "k", 200, at) {
		t.Fatalf("sync --wait ended before site 3 held the master's writes\n%s", got)
	}
	if st := status(t, c3); st.Master != 2 || st.SyncState != "ready" {
		t.Fatalf("after sync --wait: site 3 follows %d in sync state %s, want 2, ready", st.Master, st.SyncState)
	}
}
