package site

import (
	"context"
	"errors"
	"fmt"
	"logship/env"
	"logship/internal/testwait"
	"strings"
	"testing"
	"time"

	"logship/rep"
	"logship/wal/vfs"
)

func TestFsyncStallStepsDown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		s, inj := startInjectedGroup(t, 3, func(c *Config) { c.Timing.FsyncStall = 300 * time.Millisecond })
		m := waitOneMaster(t, 10*time.Second, s)
		gen := m.status(t).Gen
		var tok env.Token
		for i := range 10 {
			if tok = repPut(t, m.e, fmt.Sprint("pre", i), "v"); !tok.Permanent {
				t.Fatalf("commit %d not permanent", i)
			}
		}

		// The master's disk stops completing fsyncs; a commit waits on one.
		release := inj[m.id].Hold(vfs.OpSync, "")
		t.Cleanup(release)
		type result struct {
			tok env.Token
			err error
		}
		stuck := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*within)
			defer cancel()
			tok, err := m.e.Update(ctx, func(tx *env.Tx) error { return tx.Put("b", []byte("stuck"), []byte("v")) })
			stuck <- result{tok, err}
		}()
		testwait.For(t, within, "the commit's fsync to stall", func() bool { return inj[m.id].Holding() > 0 })
		stalled := time.Now()

		// Within a bounded time another site is master and takes writes.
		rest := others(s, m)
		nm := waitOneMaster(t, within, rest)
		t.Logf("site %d master %v after the fsync stalled", nm.id, time.Since(stalled).Round(time.Millisecond))
		if g := nm.status(t).Gen; g <= gen {
			t.Fatalf("new master gen %d, old %d", g, gen)
		}
		after := repPut(t, nm.e, "after", "stall")
		if !after.Permanent {
			t.Fatal("write on the new master not permanent")
		}
		st := m.status(t)
		es, err := m.e.ElectStatus()
		if err != nil || st.Role == rep.RoleMaster || !es.Stalled {
			t.Fatalf("stalled site: role %s, elect %+v %v", st.Role, es, err)
		}
		if _, err := m.e.Update(t.Context(), func(tx *env.Tx) error { return tx.Put("b", []byte("x"), []byte("y")) }); !errors.Is(err, ErrNotMaster) {
			t.Fatalf("write on the stalled site: %v", err)
		}

		// The fsync completes: the old master rejoins as a client.
		release()
		select {
		case r := <-stuck:
			if r.err == nil && r.tok.Permanent {
				t.Fatal("the commit whose fsync stalled was reported permanent by a master that stepped down")
			}
		case <-time.After(within):
			t.Fatal("the stalled commit never returned")
		}
		if got := waitOneMaster(t, within, s); got != nm {
			t.Fatalf("after the stall the master is site %d, want %d", got.id, nm.id)
		}
		if es, _ := m.e.ElectStatus(); es.Stalled {
			t.Fatal("old master still stalled after the fsync completed")
		}
		m.caughtUp(t, within, after)
		for _, x := range others(s, nm) {
			mustData(t, nm.env, x.env)
		}
		for i := range 10 {
			if _, ok := viewGet(t, nm.e, "b", fmt.Sprint("pre", i)); !ok {
				t.Fatalf("permanent commit pre%d lost", i)
			}
		}
		_ = tok
	})
}

func TestFsyncStallTimeoutValidated(t *testing.T) {
	c := DefaultConfig()
	c.Transport, c.ID, c.Election.On = newTestNet(t).endpoint(1), 1, true
	for _, tc := range []struct {
		in   time.Duration
		want time.Duration
		bad  bool
	}{
		{0, DefaultFsyncStall, false},
		{-1, 0, false},
		{time.Millisecond, 0, true},
		{time.Second, time.Second, false},
	} {
		c.Timing.FsyncStall = tc.in
		err := c.Validate()
		if (err != nil) != tc.bad || !tc.bad && c.fsyncStall() != tc.want {
			t.Errorf("Timing.FsyncStall %v: %v %v", tc.in, c.fsyncStall(), err)
		}
		if tc.bad && (!errors.Is(err, rep.ErrBadConfig) || !strings.Contains(err.Error(), "Timing.FsyncStall")) {
			t.Errorf("Timing.FsyncStall %v: error %v does not wrap ErrBadConfig naming the field", tc.in, err)
		}
	}
}
