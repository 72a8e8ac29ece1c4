package wal

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

func TestTruncateAfter(t *testing.T) {
	for _, keep := range []int{0, 10, 45, 98, 99} {
		o, fs := memOpts()
		l := mustOpen(t, testDir, o)
		ats := appendN(t, l, 0, 100)
		if err := l.Sync(ats[60]); err != nil {
			t.Fatal(err)
		}
		tail, err := l.NewReader(ats[min(keep+1, 99)]) // will be past the cut
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tail.Next(); err != nil {
			t.Fatal(err)
		}
		kept, err := l.Read(ats[keep])
		if err != nil {
			t.Fatal(err)
		}
		if err := l.TruncateAfter(ats[keep]); err != nil {
			t.Fatalf("TruncateAfter(%s): %v", ats[keep], err)
		}
		if l.Last() != ats[keep] || l.DurableEnd().Compare(l.End()) > 0 {
			t.Fatalf("after TruncateAfter(%s): Last %s End %s DurableEnd %s", ats[keep], l.Last(), l.End(), l.DurableEnd())
		}
		if keep < 99 {
			if _, err := l.Read(ats[keep+1]); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Read past the cut: %v", err)
			}
		}
		// Appends continue at the old end of the kept record, with new
		// contents: the reader at the old position must not see them.
		more := appendN(t, l, 1000, 80)
		if more[0] != kept.Next {
			t.Fatalf("first append after truncation at %s, want %s", more[0], kept.Next)
		}
		if keep < 98 {
			if rec, err := tail.Next(); !errors.Is(err, ErrNotFound) {
				t.Fatalf("reader past the cut: %s, %v", rec.LSN, err)
			}
		}
		// Durable: after a crash the log is the truncated one, plus
		// perhaps some of the unsynced new records, never an old one.
		fs.Crash()
		l2 := mustOpen(t, testDir, o)
		r, err := l2.NewReader(lsn.Zero)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			rec, err := r.Next()
			if err == io.EOF && i > keep {
				break
			}
			want, wantAt := payload(i), lsn.Zero
			if i <= keep {
				wantAt = ats[i]
			} else if i-keep-1 < len(more) {
				want, wantAt = payload(1000+i-keep-1), more[i-keep-1]
			}
			if err != nil || rec.LSN != wantAt || string(rec.Payload) != string(want) {
				t.Fatalf("keep %d: after crash, record %d: %s %q %v", keep, i, rec.LSN, rec.Payload, err)
			}
		}
		l2.Close()
	}
}

func TestTruncateAfterErrors(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	ats := appendN(t, l, 0, 20)
	for _, at := range []lsn.LSN{l.End(), lsn.New(ats[3].File, ats[3].Offset+1), lsn.Zero} {
		if err := l.TruncateAfter(at); err == nil {
			t.Fatalf("TruncateAfter(%s) succeeded", at)
		}
	}
	checkAll(t, l, 0, ats)
}

func TestReset(t *testing.T) {
	o, fs := memOpts()
	l := mustOpen(t, testDir, o)
	appendN(t, l, 0, 100)
	r, err := l.NewReader(lsn.Zero)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(lsn.New(1, 10)); err == nil {
		t.Fatal("Reset inside the header succeeded")
	}
	next := lsn.New(7, 3000)
	if err := l.Reset(next); err != nil {
		t.Fatal(err)
	}
	if l.End() != next || !l.First().IsZero() || !l.Last().IsZero() {
		t.Fatalf("after Reset: First %s Last %s End %s", l.First(), l.Last(), l.End())
	}
	if _, err := r.Next(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reader across a Reset: %v", err)
	}
	if err := l.AppendAt(lsn.New(7, 3001), nil); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("AppendAt off the reset position: %v", err)
	}
	if err := l.AppendAt(next, payload(0)); err != nil {
		t.Fatal(err)
	}
	ats := append([]lsn.LSN{next}, appendN(t, l, 1, 40)...)
	if p, err := l.Prev(next); err != nil || !p.IsZero() {
		t.Fatalf("Prev of the first record after Reset = %s, %v", p, err)
	}
	if err := l.Sync(l.End()); err != nil {
		t.Fatal(err)
	}
	fs.Crash()
	l = mustOpen(t, testDir, o)
	defer l.Close()
	checkAll(t, l, 0, ats)
	if got := l.Segments()[0]; got != filepath.Join(testDir, segName(7)) {
		t.Fatalf("first segment %s", got)
	}
}

// TestResetCrash crashes a Reset at every file-system step, and checks
// Open finds either the old log or the new one.
func TestResetCrash(t *testing.T) {
	for step := 0; ; step++ {
		o, mem := memOpts()
		inj := vfs.NewInjector(mem)
		o.FS = inj
		l := mustOpen(t, testDir, o)
		ats := appendN(t, l, 0, 60)
		if err := l.Sync(l.End()); err != nil {
			t.Fatal(err)
		}
		// Fail every directory sync after the step-th, then crash: what
		// was not synced by then is lost.
		inj.Inject(vfs.Fault{Op: vfs.OpSyncDir, Skip: step})
		err := l.Reset(lsn.New(9, 100))
		mem.Crash()
		inj.Clear()
		l2, oerr := Open(testDir, o)
		if oerr != nil {
			t.Fatalf("step %d: Open after a crashed Reset: %v", step, oerr)
		}
		if err == nil {
			if l2.End() != lsn.New(9, 100) {
				t.Fatalf("step %d: Reset returned but End = %s", step, l2.End())
			}
			l2.Close()
			return
		}
		if first := l2.First(); !first.IsZero() {
			// The old log, possibly with its oldest files gone.
			i := slices.Index(ats, first)
			if i < 0 {
				t.Fatalf("step %d: First = %s, not a record of the old log", step, first)
			}
			checkAll(t, l2, i, ats[i:])
		} else if l2.End() != lsn.New(9, 100) {
			t.Fatalf("step %d: empty log ending at %s", step, l2.End())
		}
		l2.Close()
		if step > 20 {
			t.Fatal("Reset never succeeded")
		}
	}
}

func TestRemoveBefore(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	ats := appendN(t, l, 0, 200)
	r, err := l.NewReader(ats[0])
	if err != nil {
		t.Fatal(err)
	}
	// Remove everything before the first record of file 4, from a
	// position inside file 4.
	i4 := slices.IndexFunc(ats, func(a lsn.LSN) bool { return a.File == 4 })
	removed, err := l.RemoveBefore(ats[i4+1])
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 || removed[0] != filepath.Join(testDir, segName(1)) {
		t.Fatalf("removed %v", removed)
	}
	if l.First() != ats[i4] {
		t.Fatalf("First = %s, want %s", l.First(), ats[i4])
	}
	for _, at := range []lsn.LSN{ats[0], ats[i4-1]} {
		if _, err := l.Read(at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Read(%s) of a removed file: %v", at, err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reader in a removed file: %v", err)
	}
	if p, err := l.Prev(ats[i4]); err != nil || !p.IsZero() {
		t.Fatalf("Prev(First) = %s, %v", p, err)
	}
	checkAll(t, l, i4, ats[i4:])
	// Never the last file, even when asked for everything.
	removed, err = l.RemoveBefore(lsn.New(1000, 0))
	if err != nil || len(l.Segments()) != 1 {
		t.Fatalf("RemoveBefore(far) removed %v, %v; %d files left", removed, err, len(l.Segments()))
	}
	last := ats[len(ats)-1]
	i := slices.IndexFunc(ats, func(a lsn.LSN) bool { return a.File == last.File })
	checkAll(t, l, i, ats[i:])
	if _, err := Verify(o.FS, testDir, nil); err != nil {
		t.Fatal(err)
	}
	// Reopen: the log starts at the remaining file.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, testDir, o)
	checkAll(t, l, i, ats[i:])
}

// TestReaderAcrossTruncation: a reader at the cut point continues with the
// new records.
func TestReaderAcrossTruncation(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	ats := appendN(t, l, 0, 30)
	r, err := l.NewReader(ats[0])
	if err != nil {
		t.Fatal(err)
	}
	for range 11 {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateAfter(ats[10]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("reader at the new end: %v", err)
	}
	more := appendN(t, l, 500, 5)
	rec, err := r.Next()
	if err != nil || rec.LSN != more[0] || string(rec.Payload) != string(payload(500)) {
		t.Fatalf("reader after truncate+append: %s %q %v", rec.LSN, rec.Payload, err)
	}
}
