package env

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"logship/rep"
	"logship/wal/lsn"
)

// An internal init does not start writing a snapshot the disk cannot hold.
func TestInitRefusesSnapshotLargerThanTheDisk(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	r := e.Replica()
	err := r.WriteChunk(rep.Chunk{Snap: rep.SnapInfo{ID: 1, Size: 1 << 62}, Data: []byte("x")})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("WriteChunk of a 4 EiB snapshot: %v, want ErrNoSpace", err)
	}
}

// A damaged record in an old log file is reported as ErrLogDamaged,
// naming it, and the reader goes no further: serving that range once
// recursed without end and crashed the master.
func TestReplicaNextReportsDamagedRecord(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	var toks []Token
	for i := range 150 {
		toks = append(toks, put(t, e, "b", fmt.Sprint("k", i), strings.Repeat("v", 1000)))
	}
	if toks[len(toks)-1].LSN.File < 3 {
		t.Fatalf("the log has only %d files", toks[len(toks)-1].LSN.File)
	}
	// Damage a record in the middle of file 1: flip a byte of its payload.
	var victim, prevTok Token
	for i, tok := range toks {
		if tok.LSN.File == 1 && tok.LSN.Offset > 20000 {
			victim, prevTok = tok, toks[i-1]
			break
		}
	}
	f, err := os.OpenFile(e.log.SegmentPath(1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := int64(victim.LSN.Offset) + 100
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := e.Replica()
	prev := prevTok.LSN
	// From well before it (a catch-up reading on), and from just before.
	for _, from := range []lsn.LSN{toks[0].LSN, prev} {
		at := from
		for range len(toks) {
			rec, err := r.Next(at)
			if err != nil {
				if !errors.Is(err, rep.ErrLogDamaged) || !strings.Contains(err.Error(), victim.LSN.String()) {
					t.Fatalf("Next(%s) = %v, want ErrLogDamaged naming %s", at, err, victim.LSN)
				}
				break
			}
			if rec.LSN == victim.LSN {
				t.Fatalf("the damaged record %s was served", victim.LSN)
			}
			at = rec.LSN
		}
		if at != prev {
			t.Fatalf("reading on from %s stopped at %s, want just before the damage (%s)", from, at, prev)
		}
	}
	// After the damaged record, it serves again.
	next := toks[slices.Index(toks, victim)+1]
	if rec, err := r.Next(next.LSN); err != nil || !next.LSN.Less(rec.LSN) {
		t.Fatalf("Next after the damage: %v %v", rec.LSN, err)
	}
}
