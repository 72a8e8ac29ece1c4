package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"logship/internal/testwait"
)

// TestRepadminMonitoringAgainstRealSites: repadmin sync --wait follows a
// delayed client to caught up; stat and watch read a real master.
func TestRepadminMonitoringAgainstRealSites(t *testing.T) {
	bin, admin := buildBinary(t), buildRepadmin(t)
	g := newGroup(t, 2)
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "none")...)
	c := startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--client", "--delay-client")...)
	at := putKeys(t, m, "k", 50)
	// Delayed with the master's generation known: a sync started before
	// NEWMASTER arrives is undone by it (the client delays again).
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the delayed client has heard its master", func() bool {
		st := status(t, c)
		return st.SyncState == "delayed" && st.Gen > 0
	})

	out, err := exec.Command(admin, "--node", c.http, "sync", "--wait", "--interval", "20ms", "--timeout", "30s").CombinedOutput()
	if err != nil {
		t.Fatalf("repadmin sync --wait: %v\n%s\nclient log:\n%s", err, out, c.log())
	}
	if !strings.Contains(string(out), "site 2 caught up with master 1") || !strings.Contains(string(out), "catch-up [") {
		t.Fatalf("sync --wait output:\n%s", out)
	}
	if !hasKeys(t, c, "k", 50, at) {
		t.Fatal("sync --wait returned before the client held the master's writes")
	}
	// The client reports what it applied: the master sees it caught up.
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the master sees site 2 applied to its last record", func() bool {
		st := status(t, m)
		return len(st.Sites) == 1 && st.Sites[0].AppliedLSN == st.LastLSN && st.Sites[0].LagSeconds == 0
	})

	// On the master, --wait refuses and says where to point it.
	out, err = exec.Command(admin, "--node", m.http, "sync", "--wait").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "site 1 is the master") || !strings.Contains(string(out), "client's --http address") {
		t.Fatalf("sync --wait on the master: %v\n%s", err, out)
	}

	out, err = exec.Command(admin, "--node", m.http, "stat").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "REPLICATION") || !strings.Contains(string(out), "log_records_sent") {
		t.Fatalf("repadmin stat: %v\n%s", err, out)
	}
	out, err = exec.Command(admin, "--node", m.http, "watch", "--count", "2", "--interval", "20ms").CombinedOutput()
	if err != nil || strings.Count(string(out), "SITE") != 2 || !strings.Contains(string(out), g.rep[2]) {
		t.Fatalf("repadmin watch: %v\n%s", err, out)
	}
}
