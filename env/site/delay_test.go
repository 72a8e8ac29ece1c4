package site

import (
	"fmt"
	"testing"
	"time"

	"logship/env"
	"logship/rep"
)

// A delayed replica (env.Config.MinApplyDelay) acknowledges the log as it
// makes it durable, not when it applies it: under AckAll every commit is
// permanent although the replica applies none of them within the ack
// timeout; its data follows once the delay has passed.
func TestDriverDelayedReplicaAcksAtOnce(t *testing.T) {
	bubble(t, func(t *testing.T) {
		const delay = 5 * time.Second
		net := newTestNet(t)
		ids := []SiteID{1, 2}
		mod := func(c *Config) {
			c.AckPolicy = rep.AckAll
			c.Timing.AckTimeout = 200 * time.Millisecond // far below the delay
		}
		m := startRepSite(t, net, 1, ids, t.TempDir(), testConfig(), mod)
		dcfg := testConfig()
		dcfg.MinApplyDelay = delay
		d := startRepSite(t, net, 2, ids, t.TempDir(), dcfg, func(c *Config) {
			mod(c)
			c.Priority = 0
		})
		if err := m.e.StartMaster(1); err != nil {
			t.Fatal(err)
		}
		if err := d.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		var tok env.Token
		for i := range 20 {
			tok = repPut(t, m.e, fmt.Sprint("k", i), "v")
			if !tok.Permanent {
				t.Fatalf("commit %d at %s not permanent under AckAll with a delayed replica", i, tok.LSN)
			}
		}
		if st := d.status(t); st.DurableLSN.Less(tok.LSN) {
			t.Fatalf("delayed replica durable at %s, want %s", st.DurableLSN, tok.LSN)
		}
		if v, ok := viewGet(t, d.e, "b", "k0"); ok {
			t.Fatalf("delayed replica applied k0 = %q before its delay", v)
		}
		d.caughtUp(t, 2*delay, tok)
		mustData(t, m.env, d.env)
	})
}
