package env

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"logship/rep"
	"logship/wal/lsn"
)

// The tests of Config.MinApplyDelay run on synctest's fake clock: a
// master store commits at chosen times, and its records are shipped to a
// delayed replica through the Replica API, as replication does.

const testDelay = time.Hour

// openDelayed opens a replica store delayed by testDelay in dir.
func openDelayed(t *testing.T, dir string, mutate ...func(*Config)) *Env {
	t.Helper()
	cfg := testConfig()
	cfg.MinApplyDelay = testDelay
	for _, m := range mutate {
		m(&cfg)
	}
	return openTest(t, dir, cfg)
}

// ship appends to `to` (and makes durable) every record of from's log
// after to's last, as a client receives its master's log.
func ship(t *testing.T, from, to *Env) {
	t.Helper()
	fr, tr := from.Replica(), to.Replica()
	after := tr.Last()
	var recs []rep.Record
	for range 100000 {
		rec, err := fr.Next(after)
		if errors.Is(err, rep.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("read the master's log after %s: %v", after, err)
		}
		rec.Payload = append([]byte(nil), rec.Payload...)
		recs = append(recs, rec)
		after = rec.LSN
	}
	if err := tr.Append(recs); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Sync(); err != nil {
		t.Fatal(err)
	}
}

func wantValue(t *testing.T, e *Env, key, want string) {
	t.Helper()
	v, ok := appliedGet(t, e, "b", key)
	switch {
	case want == "" && ok:
		t.Fatalf("%s = %q applied, want nothing yet", key, v)
	case want != "" && v != want:
		t.Fatalf("%s = %q (present %v), want %q", key, v, ok, want)
	}
}

// TestDelayedApplyWaitsForCommitTime: a record applies once its commit
// time plus the delay has passed, not when it arrives, each at its own
// time; a read waiting for a token waits for the delay too.
func TestDelayedApplyWaitsForCommitTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := openTest(t, t.TempDir(), testConfig())
		r := openDelayed(t, t.TempDir())
		t0 := time.Now()
		put(t, m, "b", "k", "v1")
		time.Sleep(30 * time.Minute)
		tok2 := put(t, m, "b", "k", "v2")
		ship(t, m, r)
		synctest.Wait()
		wantValue(t, r, "k", "")
		if got := r.Replica().Durable(); got != tok2.LSN {
			t.Fatalf("replica durable at %s, want %s at once", got, tok2.LSN)
		}

		time.Sleep(29 * time.Minute) // t0+59m
		synctest.Wait()
		wantValue(t, r, "k", "")
		time.Sleep(2 * time.Minute) // t0+61m: the first is due
		synctest.Wait()
		wantValue(t, r, "k", "v1")
		ds := r.DelayStatus()
		if !ds.Active || ds.Delay != testDelay || !ds.AppliedCommitTime.Equal(t0) {
			t.Fatalf("delay status %+v, want active, %v, applied commit at %v", ds, testDelay, t0)
		}
		if want := t0.Add(30*time.Minute + testDelay); !ds.HeldUntil.Equal(want) {
			t.Fatalf("held until %v, want %v", ds.HeldUntil, want)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		err := r.WaitApplied(ctx, tok2)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitApplied for a record not due: %v, want the deadline", err)
		}
		time.Sleep(20 * time.Minute) // t0+91m
		synctest.Wait()
		wantValue(t, r, "k", "v2")
		if err := r.WaitApplied(t.Context(), tok2); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDelayedTailSurvivesRestart: Close and Open apply only what is due;
// a checkpoint with log removal keeps the log not yet applied, and after
// the restart that log is applied once due.
func TestDelayedTailSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := openTest(t, t.TempDir(), testConfig())
		dir := t.TempDir()
		auto := func(c *Config) { c.AutoRemoveLogs = true }
		r := openDelayed(t, dir, auto)
		put(t, m, "b", "early", "e")
		time.Sleep(2 * time.Hour)
		big := string(make([]byte, 4<<10))
		for i := range 40 { // about 160 KiB: several 64 KiB log files
			put(t, m, "b", "late", big+string(rune('a'+i%26)))
		}
		put(t, m, "b", "last", "l")
		ship(t, m, r)
		synctest.Wait()
		wantValue(t, r, "early", "e")
		wantValue(t, r, "last", "")
		info, err := r.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if applied := r.Stats().AppliedLSN; info.LSN != applied {
			t.Fatalf("checkpoint at %s, want the applied %s", info.LSN, applied)
		}
		if len(r.log.Segments()) < 3 {
			t.Fatalf("%d log files left, want the unapplied ones kept", len(r.log.Segments()))
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}

		r = openDelayed(t, dir, auto)
		wantValue(t, r, "last", "")
		time.Sleep(testDelay - time.Minute)
		synctest.Wait()
		wantValue(t, r, "last", "")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		want, _ := dump(t, m)
		got, _ := dump(t, r)
		if !equalData(got, want) {
			t.Fatalf("after the delay the replica differs from its master: %s", diffData(got, want))
		}
	})
}

// TestDelayedAdmitAppliesAll: a delayed replica that becomes master
// (Admit) applies the whole log at once, serves it, and its own commits
// are not delayed; shut again, what it receives waits again.
func TestDelayedAdmitAppliesAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := openTest(t, t.TempDir(), testConfig())
		r := openDelayed(t, t.TempDir())
		if r.Writable() {
			t.Fatal("a delayed store opened admitting local commits")
		}
		put(t, m, "b", "k", "v1")
		ship(t, m, r)
		synctest.Wait()
		wantValue(t, r, "k", "")

		start := time.Now()
		r.Admit(1)
		if v, _ := viewGet(t, r, "b", "k"); v != "v1" {
			t.Fatalf("the new master reads %q, want v1", v)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Admit took %v of fake time to apply the log", d)
		}
		put(t, r, "b", "own", "o")
		r.Shut()
		synctest.Wait()
		wantValue(t, r, "own", "o")
		if r.DelayStatus().Active != true {
			t.Fatal("delay not back after Shut")
		}

		// What arrives after Shut waits again. The master below writes
		// after r's last record (r's log is a copy of m's plus "own").
		m2 := openTest(t, t.TempDir(), testConfig())
		ship(t, r, m2)
		m2.Admit(2)
		put(t, m2, "b", "k", "v2")
		ship(t, m2, r)
		synctest.Wait()
		wantValue(t, r, "k", "v1")
		time.Sleep(testDelay + time.Second)
		synctest.Wait()
		wantValue(t, r, "k", "v2")
	})
}

// TestDelayedRollback: a rollback on a delayed replica undoes the applied
// records after its target and drops the unapplied ones, which are then
// never applied.
func TestDelayedRollback(t *testing.T) {
	for _, tc := range []struct {
		name      string
		to        int // index of the rollback target among the records
		wantData  map[string]string
		wantCount int
	}{
		// records: 0 a=1, 1 b=1 (applied), 2 c=1, 3 d=1 (not yet due)
		{"into the unapplied tail", 2, map[string]string{"a": "1", "b": "1", "c": "1"}, 1},
		{"to the last applied", 1, map[string]string{"a": "1", "b": "1"}, 2},
		{"into the applied records", 0, map[string]string{"a": "1"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := openTest(t, t.TempDir(), testConfig())
				r := openDelayed(t, t.TempDir())
				var at []lsn.LSN
				at = append(at, put(t, m, "b", "a", "1").LSN, put(t, m, "b", "b", "1").LSN)
				time.Sleep(2 * time.Hour)
				at = append(at, put(t, m, "b", "c", "1").LSN, put(t, m, "b", "d", "1").LSN)
				ship(t, m, r)
				synctest.Wait()
				wantValue(t, r, "b", "1")
				wantValue(t, r, "c", "")

				n, err := r.RollbackTo(t.Context(), at[tc.to])
				if err != nil {
					t.Fatal(err)
				}
				if n != tc.wantCount {
					t.Fatalf("rolled back %d records, want %d", n, tc.wantCount)
				}
				if last := r.log.Last(); last != at[tc.to] {
					t.Fatalf("log ends at %s, want %s", last, at[tc.to])
				}
				time.Sleep(2 * testDelay)
				synctest.Wait()
				got, _ := dump(t, r)
				if !equalData(got, map[string]map[string]string{"b": tc.wantData}) {
					t.Fatalf("after the rollback and the delay: %v, want b: %v", got, tc.wantData)
				}
				if applied := r.Stats().AppliedLSN; applied != at[tc.to] {
					t.Fatalf("applied %s, want %s", applied, at[tc.to])
				}
			})
		})
	}
}
