package site

import (
	"context"
	"fmt"
	"testing"
	"time"

	"logship/env"
	"logship/internal/testwait"
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

// A delayed replica that becomes master applies its whole log before it
// serves: reads and writes on it see every commit of the old master at
// once, without waiting out the delay.
func TestDriverDelayedReplicaPromotedAppliesAll(t *testing.T) {
	bubble(t, func(t *testing.T) {
		const delay = 30 * time.Second // beyond the fake time a promotion takes
		net := newTestNet(t)
		ids := []SiteID{1, 2}
		m := startRepSite(t, net, 1, ids, t.TempDir(), testConfig(), func(c *Config) { c.AckPolicy = rep.AckAll })
		dcfg := testConfig()
		dcfg.MinApplyDelay = delay
		d := startRepSite(t, net, 2, ids, t.TempDir(), dcfg, func(c *Config) { c.AckPolicy = rep.AckNone })
		if err := m.e.StartMaster(1); err != nil {
			t.Fatal(err)
		}
		if err := d.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		var tok env.Token
		for i := range 10 {
			if tok = repPut(t, m.e, fmt.Sprint("k", i), "v"); !tok.Permanent {
				t.Fatalf("commit %d not permanent", i)
			}
		}
		if _, ok := viewGet(t, d.e, "b", "k9"); ok {
			t.Fatal("delayed replica applied k9 before its delay")
		}
		m.stop()
		start := time.Now()
		if err := d.e.StartMaster(2); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, within, "site 2 master", func() bool { return d.status(t).Role == rep.RoleMaster })
		// Bounded first (a read through the writer's view below waits
		// holding the writer mutex, which would stop the fake clock).
		ctx, cancel := context.WithTimeout(t.Context(), delay/2)
		defer cancel()
		if err := d.e.WaitApplied(ctx, tok); err != nil {
			t.Fatalf("the promoted delayed replica did not apply the old master's log at once: %v", err)
		}
		if v, ok := viewGet(t, d.e, "b", "k9"); !ok || v != "v" {
			t.Fatalf("the promoted delayed replica reads k9 = %q (present %v), want v", v, ok)
		}
		repPut(t, d.e, "after", "x")
		if el := time.Since(start); el >= delay {
			t.Fatalf("promotion took %v of fake time: it waited out the delay", el)
		}
		if applied := d.env.Stats().AppliedLSN; applied.Less(tok.LSN) {
			t.Fatalf("promoted site applied up to %s, want at least %s", applied, tok.LSN)
		}
	})
}
