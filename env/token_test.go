package env

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"logship/wal/lsn"
)

func TestTokenText(t *testing.T) {
	for _, tok := range []Token{
		{LSN: lsn.New(3, 4096), Gen: 7, Checksum: 0xdeadbeef},
		{LSN: lsn.New(1, 20), Checksum: 1},
		{LSN: lsn.New(9, 0)},
	} {
		got, err := ParseToken(tok.String())
		if err != nil || got != tok {
			t.Errorf("ParseToken(%q) = %+v, %v; want %+v", tok.String(), got, err, tok)
		}
	}
	if s := (Token{LSN: lsn.New(3, 4096), Gen: 7, Checksum: 0xab}).String(); s != "7:3/4096:ab" {
		t.Errorf("String = %q", s)
	}
	for _, bad := range []string{"", "x", "1:2", "a:1/2:3", "1:x/y:3", "1:1/2:zz", "0:1/2:0", "1:0/0:5", "1:1/2:3:4", "1:1/2:100000000"} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
}

// A token names its record: on a site where the record at its LSN is
// another one, durable (final here without replication), WaitApplied
// fails with ErrNeverApplied; ViewAt reads the write once it is there.
// Both hold after the log file is archived, through the generation table.
func TestTokenNamesTheRecord(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	ctx := t.Context()
	tok := put(t, e, "b", "k", "v1")
	if tok.Checksum == 0 || tok.LSN.IsZero() {
		t.Fatalf("Update's token has no identity: %+v", tok)
	}
	other := tok
	other.Gen++
	check := func(stage string) {
		t.Helper()
		if err := e.WaitApplied(ctx, tok); err != nil {
			t.Fatalf("%s: WaitApplied(own token): %v", stage, err)
		}
		var v []byte
		if err := e.ViewAt(ctx, tok, durable{e}, func(rt *ReadTx) (err error) { v, err = rt.Get("b", []byte("k")); return err }); err != nil || string(v) != "v1" {
			t.Fatalf("%s: ViewAt: %q %v", stage, v, err)
		}
		if err := e.WaitApplied(ctx, other); !errors.Is(err, ErrNeverApplied) {
			t.Fatalf("%s: WaitApplied(token of another generation at the same LSN) = %v, want ErrNeverApplied", stage, err)
		}
	}
	check("in the log")
	// Fill the log past a few files, checkpoint, remove the old files.
	for i := range 200 {
		put(t, e, "fill", strings.Repeat("x", 8)+string(rune('a'+i%26)), strings.Repeat("v", 1000))
	}
	if _, err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveLogs(); err != nil {
		t.Fatal(err)
	}
	if first := e.log.First(); !tok.LSN.Less(first) {
		t.Fatalf("the token's record %s is still in the log (first %s)", tok.LSN, first)
	}
	check("archived")
	// A position-only token compares positions.
	if err := e.WaitApplied(ctx, Token{LSN: tok.LSN}); err != nil {
		t.Fatal(err)
	}
	// A token beyond the log waits until ctx ends.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := e.WaitApplied(short, Token{LSN: lsn.New(900, 0), Gen: 1, Checksum: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("token beyond the log: %v", err)
	}
}

// A rollback cuts the generation table: a token of a rolled-back record
// of generation 2 does not match the record at the same LSN after it,
// here one of generation 1 (a client that rolled back a deposed
// master's tail receives the older generation's records there).
func TestRollbackCutsGenerationRuns(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	ctx := t.Context()
	e.setGeneration(1)
	base := put(t, e, "b", "k", "base")
	e.setGeneration(2)
	gone := put(t, e, "b", "k", "rolled back")
	if err := e.WaitApplied(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RollbackTo(ctx, base.LSN); err != nil {
		t.Fatal(err)
	}
	e.setGeneration(1)
	now := put(t, e, "b", "k", "new")
	if now.LSN != gone.LSN {
		t.Fatalf("the new record is at %s, the rolled-back one was at %s", now.LSN, gone.LSN)
	}
	for i := range 200 { // archive both
		put(t, e, "fill", string(rune('a'+i%26)), strings.Repeat("v", 1000))
	}
	if _, err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveLogs(); err != nil {
		t.Fatal(err)
	}
	if first := e.log.First(); !now.LSN.Less(first) {
		t.Fatalf("the records are still in the log (first %s)", first)
	}
	if err := e.WaitApplied(ctx, gone); !errors.Is(err, ErrNeverApplied) {
		t.Fatalf("token of the rolled-back record: %v, want ErrNeverApplied", err)
	}
	if err := e.WaitApplied(ctx, now); err != nil {
		t.Fatalf("token of the record there now: %v", err)
	}
	if err := e.WaitApplied(ctx, base); err != nil {
		t.Fatalf("token of the record before the rollback: %v", err)
	}
}

// A marked transaction that writes nothing still appends a record (of no
// ops): it has a token, is applied, changes no data and survives reopen.
func TestMarkAppendsARecordOfNoOps(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, testConfig())
	ctx := t.Context()
	if _, err := e.Update(ctx, func(tx *Tx) error { return tx.Put("b", []byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	before := e.Stats().LastLSN
	tok, err := e.Update(ctx, func(tx *Tx) error { tx.Mark(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !before.Less(tok.LSN) || tok.Checksum == 0 {
		t.Fatalf("marker token %s, after %s: no record appended", tok, before)
	}
	if err := e.WaitApplied(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.View(func(rt *ReadTx) error {
		return rt.Scan("b", Range{}, func(k, v []byte) error { n++; return nil })
	}); err != nil || n != 1 {
		t.Fatalf("data after the marker: %d keys, %v", n, err)
	}
	ro, err := e.Update(ctx, func(tx *Tx) error { return nil })
	if err != nil || ro.LSN != tok.LSN {
		t.Fatalf("an unmarked empty transaction appended: %s, %v (marker at %s)", ro, err, tok.LSN)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, testConfig())
	if got := e.Stats().LastLSN; got != tok.LSN {
		t.Fatalf("after reopen the log ends at %s, want the marker %s", got, tok.LSN)
	}
}
