package env

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"logship/wal"
	"logship/wal/lsn"
)

func TestRollbackTo(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, testConfig())
	a := put(t, e, "b", "a", "A")
	put(t, e, "b", "x", "x1")
	b := put(t, e, "b", "b", "B")
	c, err := e.Update(t.Context(), func(tx *Tx) error {
		if err := tx.Put("b", []byte("x"), []byte("x2")); err != nil {
			return err
		}
		if err := tx.Delete("b", []byte("a")); err != nil {
			return err
		}
		return tx.Put("c", []byte("c"), []byte("C"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitApplied(t.Context(), c); err != nil {
		t.Fatal(err)
	}

	n, err := e.RollbackTo(t.Context(), a.LSN)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("undid %d transactions, want 3", n)
	}
	want := map[string]map[string]string{"b": {"a": "A"}}
	got, applied := dump(t, e)
	if !equalData(got, want) {
		t.Fatalf("data after rollback: %v, want %v", got, want)
	}
	if applied != a.LSN {
		t.Errorf("applied LSN %s, want %s", applied, a.LSN)
	}
	if last := e.log.Last(); last != a.LSN {
		t.Fatalf("log last %s, want %s", last, a.LSN)
	}
	if _, err := e.log.Read(b.LSN); !errors.Is(err, wal.ErrNotFound) {
		t.Errorf("B's record still readable: %v", err)
	}
	// New commits continue after A.
	d := put(t, e, "b", "d", "D")
	if !a.LSN.Less(d.LSN) {
		t.Fatalf("new commit at %s, not after %s", d.LSN, a.LSN)
	}
	if err := e.WaitApplied(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	got, _ = dump(t, e)
	want["b"]["d"] = "D"
	if !equalData(got, want) {
		t.Fatalf("after new commit: %v", got)
	}
	// Reopen: the same, and equal to the log's replay.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := openTest(t, dir, testConfig())
	got, _ = dump(t, e2)
	if !equalData(got, want) || !equalData(got, replayLog(t, e2.log, lsn.Zero)) {
		t.Fatalf("after reopen: %v", got)
	}
}

func TestRollbackAcrossOverlay(t *testing.T) {
	cfg := testConfig()
	cfg.ApplyDelay = 1 << 40 // never on its own: only waiters make it apply
	e, g := openGated(t, t.TempDir(), cfg)
	g.release()
	a := put(t, e, "b", "k", "A")
	if err := e.WaitApplied(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	put(t, e, "b", "k", "B")
	put(t, e, "b", "new", "C")
	if v, _ := appliedGet(t, e, "b", "k"); v != "A" {
		t.Fatalf("B was applied already (k = %q): the test needs it unapplied", v)
	}
	if v, _ := txGet(t, e, "b", "k"); v != "B" {
		t.Fatalf("overlay: k = %q", v)
	}
	if n, err := e.RollbackTo(t.Context(), a.LSN); err != nil || n != 2 {
		t.Fatalf("RollbackTo: %d, %v", n, err)
	}
	if v, _ := txGet(t, e, "b", "k"); v != "A" {
		t.Fatalf("Update reads k = %q after rollback", v)
	}
	if _, ok := txGet(t, e, "b", "new"); ok {
		t.Fatal("rolled-back key visible through Update")
	}
	if v, _ := viewGet(t, e, "b", "k"); v != "A" {
		t.Fatalf("View reads k = %q after rollback", v)
	}
}

func TestRollbackErrors(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	a := put(t, e, "b", "k", "A")
	put(t, e, "b", "k", "B")
	for name, at := range map[string]lsn.LSN{
		"zero":           lsn.Zero,
		"inside record":  lsn.New(a.LSN.File, a.LSN.Offset+1),
		"past the end":   lsn.New(a.LSN.File+5, 32),
		"before the log": lsn.New(0, 10),
	} {
		if _, err := e.RollbackTo(t.Context(), at); !errors.Is(err, ErrNoUndo) {
			t.Errorf("%s (%s): %v, want ErrNoUndo", name, at, err)
		}
	}
	if n, err := e.RollbackTo(t.Context(), e.log.Last()); err != nil || n != 0 {
		t.Errorf("rollback to the last record: %d, %v", n, err)
	}
}

// TestRollbackCrashBeforeTruncate stops RollbackTo after its bbolt commit,
// before the log truncation; reopening finishes the truncation.
func TestRollbackCrashBeforeTruncate(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	crash := errors.New("simulated crash")
	cfg.hooks = &testHooks{afterRollbackCommit: func() error { return crash }}
	e, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := put(t, e, "b", "a", "A")
	put(t, e, "b", "b", "B")
	c := put(t, e, "b", "a", "A2")
	if _, err := e.RollbackTo(t.Context(), a.LSN); !errors.Is(err, crash) || !errors.Is(err, ErrFailed) {
		t.Fatalf("RollbackTo: %v", err)
	}
	if e.log.Last() != c.LSN {
		t.Fatalf("the hook ran after the truncation")
	}
	if _, err := e.Update(t.Context(), func(*Tx) error { return nil }); !errors.Is(err, ErrFailed) {
		t.Fatalf("Update on a failed env: %v", err)
	}
	_ = e.Close()

	e2 := openTest(t, dir, testConfig())
	if last := e2.log.Last(); last != a.LSN {
		t.Fatalf("after reopen log last %s, want %s", last, a.LSN)
	}
	got, applied := dump(t, e2)
	if want := map[string]map[string]string{"b": {"a": "A"}}; !equalData(got, want) || applied != a.LSN {
		t.Fatalf("after reopen: %v at %s", got, applied)
	}
	put(t, e2, "b", "z", "Z")
}

func TestRollbackVisitsRecords(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	a := put(t, e, "b", "k", "A")
	b := put(t, e, "b", "k", "B")
	c := put(t, e, "b", "k", "C")
	var seen []lsn.LSN
	n, err := e.rollbackTo(t.Context(), a.LSN, func(r wal.Record) error {
		seen = append(seen, r.LSN)
		return nil
	})
	if err != nil || n != 2 || len(seen) != 2 || seen[0] != c.LSN || seen[1] != b.LSN {
		t.Fatalf("visited %v (n %d, err %v), want [%s %s]", seen, n, err, c.LSN, b.LSN)
	}
}

// TestRollbackUnderLoad rolls back while writers commit: no writer hangs,
// and the data always equals the replay of the log.
func TestRollbackUnderLoad(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := e.Update(ctx, func(tx *Tx) error {
					return tx.Put("b", fmt.Appendf(nil, "w%d", w), fmt.Appendf(nil, "%d", i))
				})
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for round := 0; round < 5; round++ {
		for e.Stats().Commits < uint64(50*(round+1)) {
			put(t, e, "b", "main", "x")
		}
		target := put(t, e, "b", "target", fmt.Sprint(round))
		for i := 0; i < 10; i++ {
			put(t, e, "b", "main", "y")
		}
		if _, err := e.RollbackTo(t.Context(), target.LSN); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	last := e.log.Last()
	if err := e.WaitApplied(t.Context(), Token{LSN: last}); err != nil {
		t.Fatal(err)
	}
	got, _ := dump(t, e)
	if want := replayLog(t, e.log, lsn.Zero); !equalData(got, want) {
		t.Fatalf("data differs from the log: %s", diffData(got, want))
	}
}

// TestGenerationStamped checks the hook replication uses: records carry
// the generation set, the data file records it, and it survives a reopen.
func TestGenerationStamped(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, testConfig())
	put(t, e, "b", "k", "gen0")
	e.setGeneration(5)
	tok := put(t, e, "b", "k", "gen5")
	rec, err := e.log.Read(tok.LSN)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRecord(rec.Payload)
	if err != nil || r.gen != 5 || r.time == 0 {
		t.Fatalf("record gen %d time %d err %v", r.gen, r.time, err)
	}
	if err := e.WaitApplied(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := openTest(t, dir, testConfig())
	if e2.gen != 5 || e2.appliedGen != 5 {
		t.Fatalf("after reopen gen %d, applied gen %d", e2.gen, e2.appliedGen)
	}
}
