package site

import (
	"context"
	"errors"
	"logship/env"
	"strings"
	"testing"
	"time"

	"logship/rep"
)

// TestDriverLocalCommitRacingRoleChangeIsRolledBack: a commit on a master
// passes the role check, and while its transaction runs (holding the
// writer mutex) the site learns of a newer master and rep becomes its
// client. The record the commit then appends was never handed to rep: it
// is reported not permanent and rolled back into a rollback file, and the
// site syncs with the new master instead of failing on a log that ends
// after rep's (seen in make soak: "append position does not follow the
// log end", and the environment failed).
//
// It stays on the real clock: its transaction may wait out a deadline
// while the site's loop waits for the writer mutex it holds, and a
// goroutine waiting for a mutex is not durably blocked, so a bubble's
// fake clock would never reach the deadline.
func TestDriverLocalCommitRacingRoleChangeIsRolledBack(t *testing.T) {
	net := newTestNet(t)
	s, _ := startCutOffMaster(t, net, testConfig())
	replaceMaster(t, s)

	// A commit on site 1 holds the writer mutex while site 1 hears of the
	// new master, then writes.
	inTx := make(chan struct{})
	done := make(chan error, 1)
	var stray env.Token
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		stray, err = s[0].e.Update(ctx, func(tx *env.Tx) error {
			close(inTx)
			// Until site 1 reports the new master, or long enough for its
			// loop to be waiting for this mutex (env.Shut).
			deadline := time.After(time.Second)
			for {
				select {
				case ev := <-s[0].events:
					if ev.Rep == nil || ev.Rep.Type != rep.EventNewMaster || ev.Rep.Gen != 2 {
						continue
					}
				case <-deadline:
				}
				break
			}
			return tx.Put("b", []byte("stray"), []byte("z"))
		})
		done <- err
	}()
	<-inTx
	net.setLink(1, 2, true)
	net.setLink(1, 3, true)
	if err := <-done; err != nil {
		var nm *NotMasterError
		if !errors.As(err, &nm) {
			t.Fatalf("stray commit: %v", err)
		}
	} else if stray.Permanent {
		t.Fatal("a commit rep never shipped was reported permanent")
	}
	tok := repPut(t, s[1].e, "after", "y")
	s[0].caughtUp(t, within, tok)
	mustData(t, s[1].env, s[0].env)
	if v, ok := viewGet(t, s[0].e, "b", "stray"); ok {
		t.Fatalf("the stray commit is still visible on site 1: %q", v)
	}
	if err := s[0].env.Failure(); err != nil {
		t.Fatalf("site 1 failed: %v", err)
	}
	files, err := env.RollbackFiles(s[0].dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range files {
		_ = env.ReadRollbackFile(f, func(_ env.RollbackHeader, r env.RollbackRecord) error {
			_, ops, _ := r.Ops()
			for _, o := range ops {
				found = found || strings.Contains(string(o.Key), "stray")
			}
			return nil
		})
	}
	if !stray.LSN.IsZero() && !found {
		t.Fatalf("stray commit at %s not in any rollback file %v", stray.LSN, files)
	}
}
