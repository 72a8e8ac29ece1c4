package env

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fillData writes enough keys over several buckets to give data.db a few
// hundred pages, then closes the environment.
func fillData(t *testing.T, dir string) {
	t.Helper()
	e := openTest(t, dir, testConfig())
	for i := range 2000 {
		put(t, e, fmt.Sprint("b", i%7), fmt.Sprint("k", i), fmt.Sprint("value-", i))
	}
	put(t, e, "marked", "k", "MARKER-0123456789")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// A page of garbage in data.db: Open fails with ErrCorrupt naming the
// file, whichever page it is; bbolt used to panic on a goroutine of its
// own while rebuilding its free list, taking the process down.
func TestGarbagePageFailsOpen(t *testing.T) {
	dir := t.TempDir()
	fillData(t, dir)
	path := filepath.Join(dir, dataName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for page := int64(2); page*4096 < int64(len(orig)) && pages < 12; page += 1 + page/2 {
		b := append([]byte(nil), orig...)
		r := rand.New(rand.NewPCG(uint64(page), 1))
		for i := range 4096 {
			b[page*4096+int64(i)] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := Open(dir, testConfig())
		if err == nil {
			// A page nothing reaches (free): the data must still be sound.
			if _, verr := e.VerifyData(t.Context()); verr != nil {
				t.Errorf("page %d: opened, then VerifyData: %v", page, verr)
			}
			e.Close()
			continue
		}
		pages++
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("page %d: Open = %v, want ErrCorrupt naming %s", page, err, path)
		}
	}
	if pages == 0 {
		t.Fatal("no damaged page was found")
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	e := openTest(t, dir, testConfig())
	if c, err := e.VerifyData(t.Context()); err != nil || !c.OK() || c.Keys != 2001 {
		t.Fatalf("the restored file: %+v %v", c, err)
	}
}

// A changed byte in a value is served silently by bbolt; VerifyData finds
// it, names the file and fails the environment.
func TestVerifyDataFindsChangedValue(t *testing.T) {
	dir := t.TempDir()
	fillData(t, dir)
	path := filepath.Join(dir, dataName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("MARKER-0123456789"))
	if i < 0 {
		t.Fatal("marker not in the data file")
	}
	b[i+7] = 'X'
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e := openTest(t, dir, testConfig())
	if v, _ := appliedGet(t, e, "marked", "k"); v != "MARKER-X123456789" {
		t.Fatalf("the changed value reads %q", v)
	}
	c, err := e.VerifyData(t.Context())
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || c.OK() {
		t.Fatalf("VerifyData = %+v, %v; want ErrCorrupt naming %s", c, err, path)
	}
	if err := e.failure(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the environment did not fail: %v", err)
	}
}

// The expected digest follows commits, rollbacks and reopening, and a
// file written before digests were kept gets one at open.
func TestDigestFollowsTheData(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, testConfig())
	ctx := t.Context()
	check := func(stage string) {
		t.Helper()
		if c, err := e.VerifyData(ctx); err != nil || !c.OK() {
			t.Fatalf("%s: %+v %v", stage, c, err)
		}
	}
	check("empty")
	base := put(t, e, "b", "k", "v1")
	put(t, e, "b", "k", "v2")
	del(t, e, "b", "k")
	put(t, e, "c", "x", "y")
	if err := e.WaitApplied(ctx, put(t, e, "c", "z", "")); err != nil {
		t.Fatal(err)
	}
	check("after commits")
	if _, err := e.RollbackTo(ctx, base.LSN); err != nil {
		t.Fatal(err)
	}
	check("after a rollback")
	d1, ok := e.DigestAt(base.LSN)
	if !ok {
		t.Fatal("no digest remembered at the rollback point")
	}
	tok := put(t, e, "b", "k", "v3")
	if err := e.WaitApplied(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if d, ok := e.DigestAt(tok.LSN); !ok || d == d1 {
		t.Fatalf("digest after a write: %x %t (before it %x)", d, ok, d1)
	}
	e.Close()
	// Drop the stored digest, as a file from before digests has none.
	e = openTest(t, dir, testConfig())
	if err := e.boltUpdate(func(btx *bolt.Tx) error { return btx.Bucket(bucketMeta).Delete(keyDigest) }); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openTest(t, dir, testConfig())
	check("after reopening without a stored digest")
	if d1 == 0 {
		t.Fatal("zero digest of a non-empty data set")
	}
}

// With VerifyOnOpen a changed value fails Open; with VerifyInterval a
// value changed under a running environment fails it within an interval.
func TestVerifyOnOpenAndPeriodically(t *testing.T) {
	dir := t.TempDir()
	fillData(t, dir)
	path := filepath.Join(dir, dataName)
	damage := func() {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte("MARKER-0123456789"))
		if i < 0 {
			t.Fatal("marker not in the data file")
		}
		if _, err := f.WriteAt([]byte("Y"), int64(i+8)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.VerifyInterval = 20 * time.Millisecond
	e := openTest(t, dir, cfg)
	damage()
	deadline := time.Now().Add(5 * time.Second)
	for e.failure() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the verification runs on its own clock
	}
	if err := e.failure(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("periodic verification: environment failure %v, want ErrCorrupt", err)
	}
	e.Close()
	cfg = testConfig()
	cfg.VerifyOnOpen = true
	if _, err := Open(dir, cfg); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open with VerifyOnOpen of a damaged file: %v", err)
	}
}
