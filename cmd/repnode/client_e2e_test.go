package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"logship/client"
	"logship/internal/testwait"
)

// TestGoClientFollowsTheMaster: the Go client, given only a client
// site's address, writes to the master, and after the master is killed
// writes to the new one; it reads its writes back with their tokens on
// a replica.
func TestGoClientFollowsTheMaster(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		procs[id] = startProc(t, bin, g.http[id], g.args(id, t.TempDir())...)
	}
	m := electedMaster(t, procs)
	c1, c2 := m%3+1, (m+1)%3+1
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the clients know the master's HTTP address", func() bool {
		return status(t, procs[c1]).MasterHTTP == g.http[m] && status(t, procs[c2]).MasterHTTP == g.http[m]
	})
	cl, err := client.New(client.Config{Sites: []string{g.http[c1], g.http[c2]}, MaxAttempts: 40,
		Backoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	put := func(key string) client.Result {
		t.Helper()
		res, err := cl.Put(ctx, "b", key, []byte(key))
		if err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
		return res
	}
	for i := range 5 {
		put(fmt.Sprint("before", i))
	}
	if got, _ := cl.Master(ctx); got != g.http[m] {
		t.Fatalf("the client writes to %s, the master is %s", got, g.http[m])
	}
	if err := procs[m].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	procs[m].done <- <-procs[m].done
	delete(procs, m)
	res := put("after")
	nm, _ := cl.Master(ctx)
	if nm == g.http[m] || (nm != g.http[c1] && nm != g.http[c2]) {
		t.Fatalf("after the failover the client writes to %s", nm)
	}
	if !res.Permanent {
		t.Errorf("write after the failover not permanent: %+v", res)
	}
	// Read-your-writes on the replica that is not the new master.
	replica := g.http[c1]
	if replica == nm {
		replica = g.http[c2]
	}
	rc, _ := client.New(client.Config{Sites: []string{replica}, ReadFrom: replica})
	v, err := rc.GetAfter(ctx, "b", "after", res.Token)
	if err != nil || string(v) != "after" {
		t.Fatalf("GetAfter on the replica %s: %q %v", replica, v, err)
	}
}
