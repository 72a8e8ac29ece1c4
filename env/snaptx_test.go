package env

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// readStream reads a served snapshot's whole stream, in chunks of n.
func readStream(t *testing.T, snap *TakenSnapshot, n int) []byte {
	t.Helper()
	out := make([]byte, snap.Info.Size)
	for off := int64(0); off < snap.Info.Size; off += int64(n) {
		end := min(off+int64(n), snap.Info.Size)
		if _, err := snap.Reader.ReadAt(out[off:end], off); err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	return out
}

// churn overwrites and deletes keys, so that the data file has free pages
// and commits reuse them.
func churn(t *testing.T, e *Env, round int) {
	t.Helper()
	for i := range 120 {
		key := fmt.Sprintf("k%03d", i)
		if i%5 == round%5 {
			del(t, e, "b", key)
			continue
		}
		put(t, e, "b", key, strings.Repeat(fmt.Sprint(round), 500+i*13))
	}
	if err := e.waitApplied(t.Context(), e.log.Last()); err != nil {
		t.Fatal(err)
	}
}

// A snapshot served from a read transaction reads the same however often
// it is read while commits reuse the data file's free pages (a chunk sent
// again, a transfer resumed, the CRC all rely on that), and installs the
// data of its LSN.
func TestServedSnapshotStableUnderCommits(t *testing.T) {
	src := openTest(t, t.TempDir(), testConfig())
	for r := range 3 {
		churn(t, src, r)
	}
	want, _ := dump(t, src)
	snap, err := src.Replica().TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	first := readStream(t, snap, 4096)
	for r := 3; r < 8; r++ {
		churn(t, src, r)
	}
	if again := readStream(t, snap, 1000); !bytes.Equal(first, again) {
		t.Fatal("the served snapshot read differently after commits")
	}

	dst := openTest(t, t.TempDir(), testConfig())
	if err := dst.InstallSnapshot(bytes.NewReader(first), snap.Info.LSN); err != nil {
		t.Fatalf("install: %v", err)
	}
	if got, _ := dump(t, dst); !equalData(want, got) {
		t.Fatalf("installed data differs from the source at the snapshot: %s", diffData(want, got))
	}
	if _, err := dst.VerifyData(t.Context()); err != nil {
		t.Fatalf("installed data does not verify: %v", err)
	}
	if err := src.Replica().ReleaseSnapshot(snap.Info.ID); err != nil {
		t.Fatal(err)
	}
	if n := src.ts.n.Load(); n != 0 {
		t.Fatalf("%d read transactions still open after the release", n)
	}
}

// A commit that grows the data file past bbolt's memory map waits for
// every open read transaction; a served snapshot must not hold it up: it
// is copied out first, and reads the same afterwards.
func TestServedSnapshotDoesNotHoldUpGrowth(t *testing.T) {
	cfg := testConfig()
	cfg.hooks = &testHooks{mmapSize: 1}
	src := openTest(t, t.TempDir(), cfg)
	churn(t, src, 0)
	snap, err := src.Replica().TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Replica().ReleaseSnapshot(snap.Info.ID) }()
	before := readStream(t, snap, 3000)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		val := bytes.Repeat([]byte("g"), 8000)
		for i := range 400 { // ~3 MB: several remaps from a map of 1 MB or so
			if _, err := src.Update(ctx, func(tx *Tx) error { return tx.Put("b", fmt.Appendf(nil, "grow%04d", i), val) }); err != nil {
				done <- err
				return
			}
		}
		done <- src.waitApplied(ctx, src.log.Last())
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		_ = src.Replica().ReleaseSnapshot(snap.Info.ID)
		t.Fatal("commits that grow the data file waited for the served snapshot")
	}
	if n := src.ts.n.Load(); n != 0 {
		t.Fatalf("%d read transactions still open after the data file grew", n)
	}
	if after := readStream(t, snap, 2500); !bytes.Equal(before, after) {
		t.Fatal("the snapshot copied out reads differently")
	}
}
