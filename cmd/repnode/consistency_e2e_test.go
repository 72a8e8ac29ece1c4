package main

// Real-process tests of the consistency promises (docs/guarantees.md):
// each reproduces, with repnode processes on loopback, a way the
// promise was once broken.

import (
	"fmt"
	"testing"
	"time"

	"logship/cmd/internal/api"
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
	eventually(t, 5*time.Second, "the master sees site 3 as unelectable", func() bool {
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
