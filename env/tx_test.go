package env

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTxSeesOwnWrites(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	tok, err := e.Update(t.Context(), func(tx *Tx) error {
		if err := tx.Put("b", []byte("k"), []byte("v1")); err != nil {
			return err
		}
		if v, err := tx.Get("b", []byte("k")); err != nil || string(v) != "v1" {
			return fmt.Errorf("after put: %q %v", v, err)
		}
		if err := tx.Delete("b", []byte("k")); err != nil {
			return err
		}
		if v, err := tx.Get("b", []byte("k")); err != nil || v != nil {
			return fmt.Errorf("after delete: %q %v", v, err)
		}
		if err := tx.Put("b", []byte("e"), nil); err != nil {
			return err
		}
		if v, err := tx.Get("b", []byte("e")); err != nil || v == nil || len(v) != 0 {
			return fmt.Errorf("empty value: %q (nil %v) %v", v, v == nil, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitApplied(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if v, ok := viewGet(t, e, "b", "e"); !ok || v != "" {
		t.Errorf("empty value after apply: %q %v", v, ok)
	}
}

func TestTxSeesCommittedUnapplied(t *testing.T) {
	e, g := openGated(t, t.TempDir(), testConfig())
	put(t, e, "b", "k", "v1")
	tok := put(t, e, "b", "k", "v2")
	put(t, e, "b", "gone", "x")
	del(t, e, "b", "gone")

	if _, ok := appliedGet(t, e, "b", "k"); ok {
		t.Fatal("ViewApplied sees a commit the applier has not applied")
	}
	// View sees every commit that returned, applied or not.
	if v, _ := viewGet(t, e, "b", "k"); v != "v2" {
		t.Fatalf("View reads %q, want the committed v2", v)
	}
	if _, ok := viewGet(t, e, "b", "gone"); ok {
		t.Fatal("View sees a key deleted by a committed transaction")
	}
	var names []string
	if err := e.View(func(rt *ReadTx) error {
		if got := rt.AppliedLSN(); got != e.log.Last() {
			t.Errorf("View reflects %s, want the newest record %s", got, e.log.Last())
		}
		return rt.Buckets(func(b string) error { names = append(names, b); return nil })
	}); err != nil || len(names) != 1 || names[0] != "b" {
		t.Fatalf("View lists buckets %v (%v), want the unapplied bucket b", names, err)
	}
	if v, _ := txGet(t, e, "b", "k"); v != "v2" {
		t.Fatalf("Update reads %q, want the committed v2", v)
	}
	if _, ok := txGet(t, e, "b", "gone"); ok {
		t.Fatal("Update sees a key deleted by a committed transaction")
	}
	g.release()
	if err := e.WaitApplied(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if v, _ := viewGet(t, e, "b", "k"); v != "v2" {
		t.Fatalf("View after WaitApplied reads %q", v)
	}
	if v, _ := txGet(t, e, "b", "k"); v != "v2" {
		t.Fatalf("Update after apply reads %q", v)
	}
}

// A Mark writes nothing, so it never enters the overlay; a View after
// one still reflects it (AppliedLSN names it) whether or not the applier
// got to it. Lease reads wait for what AppliedLSN names, and the
// simulator's trace holds it: it must not depend on the applier's pace.
func TestViewReflectsATrailingMark(t *testing.T) {
	e, g := openGated(t, t.TempDir(), testConfig())
	put(t, e, "b", "k", "v")
	mark, err := e.Update(t.Context(), func(tx *Tx) error { tx.Mark(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if err := e.View(func(rt *ReadTx) error {
			if got := rt.AppliedLSN(); got != mark.LSN {
				t.Errorf("%s: View reflects %s, want the trailing Mark %s", when, got, mark.LSN)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check("applier held")
	g.release()
	if err := e.WaitApplied(t.Context(), mark); err != nil {
		t.Fatal(err)
	}
	check("applied")
}

func TestTxErrorWritesNothing(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	put(t, e, "b", "k", "old")
	last := e.log.Last()
	boom := errors.New("boom")
	_, err := e.Update(t.Context(), func(tx *Tx) error {
		_ = tx.Put("b", []byte("k"), []byte("new"))
		_ = tx.Put("b", []byte("k2"), []byte("new"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
	if got := e.log.Last(); got != last {
		t.Fatalf("log grew from %s to %s", last, got)
	}
	if v, _ := txGet(t, e, "b", "k"); v != "old" {
		t.Fatalf("k = %q", v)
	}
	if _, ok := txGet(t, e, "b", "k2"); ok {
		t.Fatal("k2 written")
	}
	if s := e.Stats(); s.Aborted != 1 || s.Commits != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReadOnlyUpdate(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	tok0, err := e.Update(t.Context(), func(tx *Tx) error { return nil })
	if err != nil || !tok0.LSN.IsZero() {
		t.Fatalf("empty env: token %v, err %v", tok0, err)
	}
	tok := put(t, e, "b", "k", "v")
	last := e.log.Last()
	got, err := e.Update(t.Context(), func(tx *Tx) error {
		_, err := tx.Get("b", []byte("k"))
		_ = tx.Delete("b", []byte("missing")) // a no-op delete writes nothing
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != tok || e.log.Last() != last {
		t.Fatalf("read-only token %v (want %v), log last %s (was %s)", got, tok, e.log.Last(), last)
	}
}

func TestBadArguments(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	big := make([]byte, e.cfg.MaxValueSize+1)
	long := bytes.Repeat([]byte("k"), MaxKeySize+1)
	cases := []struct {
		name string
		fn   func(tx *Tx) error
		want error
	}{
		{"put empty bucket", func(tx *Tx) error { return tx.Put("", []byte("k"), nil) }, ErrEmptyBucket},
		{"get empty bucket", func(tx *Tx) error { _, err := tx.Get("", []byte("k")); return err }, ErrEmptyBucket},
		{"scan empty bucket", func(tx *Tx) error { return tx.Scan("", Range{}, nil) }, ErrEmptyBucket},
		{"put empty key", func(tx *Tx) error { return tx.Put("b", nil, []byte("v")) }, ErrEmptyKey},
		{"delete empty key", func(tx *Tx) error { return tx.Delete("b", []byte{}) }, ErrEmptyKey},
		{"value too large", func(tx *Tx) error { return tx.Put("b", []byte("k"), big) }, ErrValueTooLarge},
		{"key too large", func(tx *Tx) error { return tx.Put("b", long, nil) }, ErrKeyTooLarge},
		{"bucket too large", func(tx *Tx) error { return tx.Put(string(long), []byte("k"), nil) }, ErrKeyTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.Update(t.Context(), c.fn); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	t.Run("view", func(t *testing.T) {
		err := e.View(func(rt *ReadTx) error { _, err := rt.Get("", []byte("k")); return err })
		if !errors.Is(err, ErrEmptyBucket) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("tx after fn", func(t *testing.T) {
		var kept *Tx
		if _, err := e.Update(t.Context(), func(tx *Tx) error { kept = tx; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := kept.Put("b", []byte("k"), nil); !errors.Is(err, ErrTxClosed) {
			t.Fatalf("Put after fn: %v", err)
		}
		if _, err := kept.Get("b", []byte("k")); !errors.Is(err, ErrTxClosed) {
			t.Fatalf("Get after fn: %v", err)
		}
		var rkept *ReadTx
		_ = e.View(func(rt *ReadTx) error { rkept = rt; return nil })
		if _, err := rkept.Get("b", []byte("k")); !errors.Is(err, ErrTxClosed) {
			t.Fatalf("ReadTx.Get after fn: %v", err)
		}
	})
	t.Run("tx too large", func(t *testing.T) {
		_, err := e.Update(t.Context(), func(tx *Tx) error {
			v := make([]byte, e.cfg.MaxValueSize)
			for i := 0; i < 20; i++ {
				if err := tx.Put("b", fmt.Appendf(nil, "k%d", i), v); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, ErrTxTooLarge) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := e.Update(ctx, func(tx *Tx) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestClosedEnv(t *testing.T) {
	e, err := Open(t.TempDir(), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok := put(t, e, "b", "k", "v")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	checks := map[string]error{
		"Update":       func() error { _, err := e.Update(ctx, func(*Tx) error { return nil }); return err }(),
		"View":         e.View(func(*ReadTx) error { return nil }),
		"WaitApplied":  e.WaitApplied(ctx, tok),
		"Checkpoint":   func() error { _, err := e.Checkpoint(ctx); return err }(),
		"RollbackTo":   func() error { _, err := e.RollbackTo(ctx, tok.LSN); return err }(),
		"Snapshot":     func() error { _, err := e.Snapshot(&bytes.Buffer{}); return err }(),
		"Close again":  e.Close(),
		"RemoveLogs":   func() error { _, err := e.RemoveLogs(); return err }(),
		"InstallSnap.": e.InstallSnapshot(&bytes.Buffer{}, tok.LSN),
	}
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s: %v, want ErrClosed", name, err)
		}
	}
}

func TestWaitAppliedUnblocksOnClose(t *testing.T) {
	e, g := openGated(t, t.TempDir(), testConfig())
	tok := put(t, e, "b", "k", "v")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := e.WaitApplied(ctx, tok); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied with the applier held: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- e.WaitApplied(context.Background(), tok) }()
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitApplied during Close: %v", err)
	}
	g.release() // Close waits for the applier
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	// Close applied what was durable: reopen and look.
	e2 := openTest(t, e.dir, testConfig())
	if v, _ := viewGet(t, e2, "b", "k"); v != "v" {
		t.Fatalf("after reopen k = %q", v)
	}
}

// TestScanMergesLayers builds data in three layers (applied in bbolt,
// committed in the overlay, written by the transaction itself) and checks
// Scan over several ranges against a model.
func TestScanMergesLayers(t *testing.T) {
	e, g := openGated(t, t.TempDir(), testConfig())
	model := map[string]string{}
	apply := func(ops [][2]string) {
		_, err := e.Update(t.Context(), func(tx *Tx) error {
			for _, o := range ops {
				if o[1] == "-" {
					delete(model, o[0])
					if err := tx.Delete("b", []byte(o[0])); err != nil {
						return err
					}
					continue
				}
				model[o[0]] = o[1]
				if err := tx.Put("b", []byte(o[0]), []byte(o[1])); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Layer 1: applied to bbolt.
	apply([][2]string{{"a1", "1"}, {"a2", "1"}, {"a3", "1"}, {"a5", "1"}, {"b1", "1"}, {"c", "1"}})
	g.release()
	tok := put(t, e, "other", "x", "y")
	if err := e.WaitApplied(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	// Layer 2: committed, not applied (hold the applier again).
	g2 := newGate()
	g.mu.Lock()
	g.open = g2.open
	g.mu.Unlock()
	t.Cleanup(g2.release)
	apply([][2]string{{"a2", "-"}, {"a3", "2"}, {"a4", "2"}, {"b1", "-"}, {"b2", "2"}})
	if v, _ := appliedGet(t, e, "b", "a3"); v != "1" {
		t.Fatalf("layer 2 was applied (a3 = %q)", v)
	}

	ranges := []struct {
		name string
		r    Range
	}{
		{"all", Range{}},
		{"prefix a", Range{Prefix: []byte("a")}},
		{"prefix b", Range{Prefix: []byte("b")}},
		{"start a3", Range{Start: []byte("a3")}},
		{"end a4", Range{End: []byte("a4")}},
		{"a2..b1", Range{Start: []byte("a2"), End: []byte("b1")}},
		{"prefix a from a25", Range{Prefix: []byte("a"), Start: []byte("a25")}},
		{"empty", Range{Start: []byte("z")}},
	}
	// Layer 3: own writes, then scan inside the same transaction.
	own := [][2]string{{"a0", "3"}, {"a1", "-"}, {"a4", "3"}, {"a5", "-"}, {"b2", "-"}, {"b3", "3"}, {"c", "3"}}
	_, err := e.Update(t.Context(), func(tx *Tx) error {
		m := map[string]string{}
		for k, v := range model {
			m[k] = v
		}
		for _, o := range own {
			if o[1] == "-" {
				delete(m, o[0])
				if err := tx.Delete("b", []byte(o[0])); err != nil {
					return err
				}
			} else {
				m[o[0]] = o[1]
				if err := tx.Put("b", []byte(o[0]), []byte(o[1])); err != nil {
					return err
				}
			}
		}
		for _, rc := range ranges {
			var got []string
			err := tx.Scan("b", rc.r, func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			})
			if err != nil {
				return err
			}
			if want := expectScan(m, rc.r); !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", rc.name, got, want)
			}
		}
		// Early stop returns the function's error.
		stop := errors.New("stop")
		n := 0
		if err := tx.Scan("b", Range{}, func(k, v []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("early stop: %v after %d", err, n)
		}
		return errors.New("discard")
	})
	if err == nil || err.Error() != "discard" {
		t.Fatal(err)
	}
	// ViewApplied sees only layer 1; View sees layers 1 and 2, every
	// commit that returned.
	for _, v := range []struct {
		name string
		view func(func(*ReadTx) error) error
		want []string
	}{
		{"ViewApplied", e.ViewApplied, []string{"a1=1", "a2=1", "a3=1", "a5=1"}},
		{"View", e.View, expectScan(model, Range{Prefix: []byte("a")})},
	} {
		err = v.view(func(rt *ReadTx) error {
			var got []string
			err := rt.Scan("b", Range{Prefix: []byte("a")}, func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			})
			if !slices.Equal(got, v.want) {
				t.Errorf("%s scan: got %v, want %v", v.name, got, v.want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func expectScan(m map[string]string, r Range) []string {
	lo, hi := r.bounds()
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, string(r.Prefix)) && k >= string(lo) && (hi == nil || k < string(hi)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + m[k]
	}
	return out
}

func TestMaxUnappliedBytesBlocksUpdate(t *testing.T) {
	cfg := testConfig()
	cfg.MaxUnappliedBytes = 16 << 10
	e, g := openGated(t, t.TempDir(), cfg)
	v := make([]byte, 4<<10)
	for i := 0; i < 4; i++ {
		if _, err := e.Update(t.Context(), func(tx *Tx) error { return tx.Put("b", fmt.Appendf(nil, "k%d", i), v) }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Update(ctx, func(tx *Tx) error { return tx.Put("b", []byte("more"), v) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update past MaxUnappliedBytes: %v, want it to wait", err)
	}
	g.release()
	if _, err := e.Update(t.Context(), func(tx *Tx) error { return tx.Put("b", []byte("more"), v) }); err != nil {
		t.Fatal(err)
	}
}

// TestRemapWithConcurrentReads grows the data file from a tiny memory map,
// so bbolt remaps it many times while Updates (sharing a cached read
// transaction), Views and WaitApplied run: nothing may deadlock.
func TestRemapWithConcurrentReads(t *testing.T) {
	cfg := testConfig()
	cfg.hooks = &testHooks{mmapSize: 1}
	e := openTest(t, t.TempDir(), cfg)
	val := bytes.Repeat([]byte("v"), 2000)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		go func() {
			var err error
			for i := 0; i < 300 && err == nil; i++ {
				var tok Token
				tok, err = e.Update(ctx, func(tx *Tx) error {
					if _, err := tx.Get("b", fmt.Appendf(nil, "w%d-%d", w, i-1)); err != nil {
						return err
					}
					return tx.Put("b", fmt.Appendf(nil, "w%d-%d", w, i), val)
				})
				if err == nil && i%50 == 0 {
					err = e.WaitApplied(ctx, tok)
				}
				if err == nil && i%10 == 0 {
					err = e.View(func(rt *ReadTx) error {
						_, err := rt.Get("b", []byte("w0-0"))
						return err
					})
				}
			}
			errs <- err
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := dump(t, e)
	if len(got["b"]) != 1200 {
		t.Fatalf("%d keys", len(got["b"]))
	}
}

// TestPanicInTransactionLeavesStoreUsable: a transaction function that
// panics appends nothing, and once the caller recovers, the store takes
// the next commits (the writer mutex and the group commit run are left).
func TestPanicInTransactionLeavesStoreUsable(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	put(t, e, "b", "before", "1")
	func() {
		defer func() {
			if r := recover(); r != "bug" {
				t.Fatalf("recovered %v, want the transaction's panic", r)
			}
		}()
		e.Update(context.Background(), func(tx *Tx) error {
			if err := tx.Put("b", []byte("half"), []byte("x")); err != nil {
				return err
			}
			panic("bug")
		})
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		put(t, e, "b", "after", "2")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		// Not t.Fatal: the cleanup's Close would wait on the stuck
		// store until the test binary's timeout.
		panic("the commit after a recovered panic never returned: the store is stuck")
	}
	if _, ok := txGet(t, e, "b", "half"); ok {
		t.Fatal("the panicked transaction's write is visible")
	}
	if v, ok := txGet(t, e, "b", "after"); !ok || v != "2" {
		t.Fatalf("after = %q, %v", v, ok)
	}
}
