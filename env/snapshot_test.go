package env

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"logship/wal/lsn"
)

func TestSnapshotInstall(t *testing.T) {
	src := openTest(t, t.TempDir(), testConfig())
	put(t, src, "b", "before", "1")

	// Writers run while the snapshot is taken.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := src.Update(ctx, func(tx *Tx) error {
					if err := tx.Put("b", fmt.Appendf(nil, "w%d-%d", w, i), []byte("v")); err != nil {
						return err
					}
					return tx.Put("counter", []byte("c"), fmt.Appendf(nil, "%d-%d", w, i))
				})
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for src.Stats().Commits < 50 {
		put(t, src, "b", "poll", "x")
	}
	var buf bytes.Buffer
	at, err := src.Snapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for c := src.Stats().Commits; src.Stats().Commits < c+20; {
		put(t, src, "b", "poll", "y")
	}
	cancel()
	wg.Wait()

	dstDir := t.TempDir()
	dst := openTest(t, dstDir, testConfig())
	put(t, dst, "old", "k", "discarded")
	if err := dst.InstallSnapshot(bytes.NewReader(buf.Bytes()), at); err != nil {
		t.Fatal(err)
	}
	// The copy equals the source's log replayed up to the snapshot LSN.
	want := replayLog(t, src.log, at)
	got, applied := dump(t, dst)
	if applied != at {
		t.Errorf("installed copy reflects %s, want %s", applied, at)
	}
	if !equalData(got, want) {
		t.Fatalf("installed copy differs from the source at %s: %s", at, diffData(got, want))
	}
	// The log continues after the snapshot: append the source's next
	// records at the same positions, as a replication client would.
	rec, err := src.log.Read(at)
	if err != nil {
		t.Fatal(err)
	}
	if end := dst.log.End(); end != rec.Next {
		t.Fatalf("installed log ends at %s, want %s", end, rec.Next)
	}
	rd, err := src.log.NewReader(at)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rd.Next() // the snapshot's own record
	var lastLSN lsn.LSN
	for i := 0; i < 10; i++ {
		r, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.log.AppendAt(r.LSN, r.Payload); err != nil {
			t.Fatalf("AppendAt %s: %v", r.LSN, err)
		}
		lastLSN = r.LSN
	}
	dst.kickApplier()
	if err := dst.log.Sync(lastLSN); err != nil {
		t.Fatal(err)
	}
	if err := dst.WaitApplied(t.Context(), Token{LSN: lastLSN}); err != nil {
		t.Fatal(err)
	}
	got, _ = dump(t, dst)
	if want := replayLog(t, src.log, lastLSN); !equalData(got, want) {
		t.Fatalf("after shipping records: %s", diffData(got, want))
	}
	// Local Updates work too, and everything survives a reopen.
	tok := put(t, dst, "b", "local", "L")
	if !lastLSN.Less(tok.LSN) {
		t.Fatalf("local commit at %s", tok.LSN)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst2 := openTest(t, dstDir, testConfig())
	if v, _ := viewGet(t, dst2, "b", "local"); v != "L" {
		t.Fatalf("after reopen local = %q", v)
	}
	if _, ok := viewGet(t, dst2, "old", "k"); ok {
		t.Fatal("pre-install data survived")
	}
}

func TestInstallSnapshotRejects(t *testing.T) {
	src := openTest(t, t.TempDir(), testConfig())
	put(t, src, "b", "k", "v")
	var buf bytes.Buffer
	at, err := src.Snapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	dst := openTest(t, t.TempDir(), testConfig())
	keep := put(t, dst, "mine", "k", "v")
	cases := map[string]struct {
		data []byte
		at   lsn.LSN
	}{
		"wrong lsn": {good, lsn.New(at.File, at.Offset+1)},
		"bad magic": {flip(0), at},
		"corrupt":   {flip(snapHeaderSize + 100), at},
		"bad crc":   {flip(len(good) - 1), at},
		"truncated": {good[:len(good)-10], at},
		"short":     {good[:10], at},
	}
	for name, c := range cases {
		if err := dst.InstallSnapshot(bytes.NewReader(c.data), c.at); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: %v, want ErrBadSnapshot", name, err)
		}
	}
	// The environment is untouched.
	if err := dst.WaitApplied(t.Context(), keep); err != nil {
		t.Fatal(err)
	}
	if v, _ := viewGet(t, dst, "mine", "k"); v != "v" {
		t.Fatalf("data lost after rejected installs")
	}
}

// TestInstallCrashBeforeReset stops InstallSnapshot after the data file
// was swapped, before the log reset; reopening finishes the install.
func TestInstallCrashBeforeReset(t *testing.T) {
	src := openTest(t, t.TempDir(), testConfig())
	put(t, src, "b", "k", "src")
	var buf bytes.Buffer
	at, err := src.Snapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := src.log.Read(at)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfg := testConfig()
	crash := errors.New("simulated crash")
	cfg.hooks = &testHooks{afterInstallSwap: func() error { return crash }}
	dst, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		put(t, dst, "b", fmt.Sprint("old", i), "dst")
	}
	if err := dst.InstallSnapshot(bytes.NewReader(buf.Bytes()), at); !errors.Is(err, crash) {
		t.Fatalf("InstallSnapshot: %v", err)
	}
	_ = dst.Close()

	dst2 := openTest(t, dir, testConfig())
	if end := dst2.log.End(); end != rec.Next || !dst2.log.Last().IsZero() {
		t.Fatalf("after reopen the log ends at %s (last %s), want an empty log ending at %s", end, dst2.log.Last(), rec.Next)
	}
	got, applied := dump(t, dst2)
	if want := map[string]map[string]string{"b": {"k": "src"}}; !equalData(got, want) || applied != at {
		t.Fatalf("after reopen: %v at %s", got, applied)
	}
	tok := put(t, dst2, "b", "new", "v")
	if tok.LSN != rec.Next {
		t.Fatalf("first commit after install at %s, want %s", tok.LSN, rec.Next)
	}
}
