package wal

import (
	"errors"
	"testing"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// checkStarts checks, for every record of ats, that a read at its start
// finds it and that reads one byte and one header into it are
// ErrNotRecordStart (not damage), and returns the most records one of
// those reads walked.
func checkStarts(t *testing.T, l *Log, ats []lsn.LSN) uint64 {
	t.Helper()
	var most uint64
	for _, at := range ats {
		if _, err := l.Read(at); err != nil {
			t.Fatalf("Read(%s): %v", at, err)
		}
		for _, in := range []uint32{1, RecordHeaderSize} {
			inside := lsn.New(at.File, at.Offset+in)
			before := l.Stats().WalkedRecords
			_, err := l.Read(inside)
			if !errors.Is(err, ErrNotRecordStart) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read(%s), %d bytes into the record at %s: %v, want ErrNotRecordStart", inside, in, at, err)
			}
			most = max(most, l.Stats().WalkedRecords-before)
		}
	}
	return most
}

// walkedInside returns how many records deciding that the byte after
// at's start is inside a record walked.
func walkedInside(t *testing.T, l *Log, at lsn.LSN) uint64 {
	t.Helper()
	before := l.Stats().WalkedRecords
	if _, err := l.Read(lsn.New(at.File, at.Offset+1)); !errors.Is(err, ErrNotRecordStart) {
		t.Fatalf("inside the record at %s: %v, want ErrNotRecordStart", at, err)
	}
	return l.Stats().WalkedRecords - before
}

// Deciding that an offset is inside a record walks the records from the
// nearest known record start, not from the file's first record, and
// stays right after a truncation rewrites the file's tail with records
// of other sizes and after the log is opened again (recovery notes the
// last file's starts; a first walk learns an older file's).
func TestNotARecordStartWalksFromTheNearestKnownStart(t *testing.T) {
	o := Options{FS: vfs.NewMem(), SegmentSize: 512 << 10, Logger: quiet}
	l := mustOpen(t, testDir, o)
	ats := appendN(t, l, 0, 1500) // about 250 KiB in one file
	if ats[0].File != ats[len(ats)-1].File {
		t.Fatal("the records should share one file")
	}
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatal(err)
	}
	// Records lie at least a header apart.
	const bound = startsEvery/RecordHeaderSize + 1

	// The appends noted the starts: even the first walk, to the last
	// record, is short.
	if n := walkedInside(t, l, ats[len(ats)-1]); n > bound {
		t.Fatalf("the first read inside a record walked %d records, want at most %d", n, bound)
	}
	if most := checkStarts(t, l, ats); most > bound {
		t.Fatalf("a read inside a record walked %d records, want at most %d", most, bound)
	}

	// Rewrite the tail with records of other sizes: starts noted before
	// the cut must not send a walk into the middle of a new record.
	cut := len(ats) / 3
	if err := l.TruncateAfter(ats[cut]); err != nil {
		t.Fatal(err)
	}
	ats = append(ats[:cut+1], appendN(t, l, 5000, 1000)...)
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatal(err)
	}
	if most := checkStarts(t, l, ats); most > bound {
		t.Fatalf("after a truncation: a read inside a record walked %d records, want at most %d", most, bound)
	}

	// Fill the file, so that the next record starts file 2.
	var more []lsn.LSN
	for i := 9000; len(more) == 0 || more[len(more)-1].File == ats[0].File; i++ {
		more = append(more, appendN(t, l, i, 1)...)
	}
	if err := l.Sync(more[len(more)-1]); err != nil {
		t.Fatal(err)
	}
	ats = append(ats, more[:len(more)-1]...)
	second := appendN(t, l, 20000, 1500)
	second = append([]lsn.LSN{more[len(more)-1]}, second...)
	if err := l.Sync(second[len(second)-1]); err != nil {
		t.Fatal(err)
	}

	// Opened again: recovery scans the last file and notes its starts,
	// so even the first walk there is short; the first walk in file 1
	// learns that file's.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, testDir, o)
	defer l.Close()
	if n := walkedInside(t, l, second[len(second)-1]); n > bound {
		t.Fatalf("after reopening, the first read inside a record of the last file walked %d records, want at most %d", n, bound)
	}
	t.Logf("first walk in file 1 after reopening: %d records", walkedInside(t, l, ats[len(ats)-1]))
	if most := checkStarts(t, l, append(ats, second...)); most > bound {
		t.Fatalf("after reopening: a read inside a record walked %d records, want at most %d", most, bound)
	}
}
