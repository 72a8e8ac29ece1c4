package wal

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"zero is default", Options{}, ""},
		{"defaults", DefaultOptions(), ""},
		{"small segment", Options{SegmentSize: 100}, "wal: SegmentSize (100) must be at least 4096"},
		{"huge segment", Options{SegmentSize: 1 << 33}, "SegmentSize (8589934592) must be at most"},
		{"negative buffer", Options{BufferSize: -1}, "BufferSize (-1) must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.o
			err := tc.o.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if !reflect.DeepEqual(before, tc.o) {
				t.Fatal("Validate modified the options")
			}
		})
	}
	if _, err := Open(t.TempDir(), Options{SegmentSize: 10}); err == nil {
		t.Fatal("Open accepted a bad SegmentSize")
	}
}

func TestEmptyLog(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	if got, want := l.End(), lsn.New(1, FileHeaderSize); got != want {
		t.Fatalf("End = %s, want %s", got, want)
	}
	if !l.First().IsZero() || !l.Last().IsZero() {
		t.Fatalf("First, Last = %s, %s; want zero", l.First(), l.Last())
	}
	if _, err := l.Read(lsn.New(1, FileHeaderSize)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read on empty log: %v", err)
	}
	checkAll(t, l, 0, nil)
}

// TestRoundTrip appends across many segment boundaries, reopens, and reads
// everything back by LSN, with Readers from every record start, and with
// Prev.
func TestRoundTrip(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	ats := appendN(t, l, 0, 300)
	if ats[len(ats)-1].File < 5 {
		t.Fatalf("only %d files; the test wants several", ats[len(ats)-1].File)
	}
	checkAll(t, l, 0, ats) // before anything is synced
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, testDir, o)
	defer l.Close()
	checkAll(t, l, 0, ats)
	if l.First() != ats[0] || l.Last() != ats[len(ats)-1] {
		t.Fatalf("First, Last = %s, %s; want %s, %s", l.First(), l.Last(), ats[0], ats[len(ats)-1])
	}
	for i, at := range ats {
		rec, err := l.Read(at)
		if err != nil || !bytes.Equal(rec.Payload, payload(i)) {
			t.Fatalf("Read %s: %v", at, err)
		}
		if i+1 < len(ats) && ats[i+1].File == at.File && rec.Next != ats[i+1] {
			t.Fatalf("Read %s: Next = %s, want %s", at, rec.Next, ats[i+1])
		}
		prev, err := l.Prev(at)
		var want lsn.LSN
		if i > 0 {
			want = ats[i-1]
		}
		if err != nil || prev != want {
			t.Fatalf("Prev %s = %s, %v; want %s", at, prev, err, want)
		}
	}
	// Readers from arbitrary record starts.
	for _, start := range []int{1, 17, 100, 299} {
		r, err := l.NewReader(ats[start])
		if err != nil {
			t.Fatal(err)
		}
		for i := start; i < len(ats); i++ {
			rec, err := r.Next()
			if err != nil || rec.LSN != ats[i] || !bytes.Equal(rec.Payload, payload(i)) {
				t.Fatalf("reader from %s, record %d: %s %v", ats[start], i, rec.LSN, err)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("reader from %s: at end: %v", ats[start], err)
		}
	}
}

func TestReadErrors(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	ats := appendN(t, l, 0, 40)
	for _, tc := range []struct {
		name string
		at   lsn.LSN
		want error
	}{
		{"inside a record", lsn.New(ats[3].File, ats[3].Offset+5), ErrNotRecordStart},
		{"one byte in", lsn.New(ats[3].File, ats[3].Offset+1), ErrNotRecordStart},
		{"in a file header", lsn.New(2, 4), ErrNotRecordStart},
		{"before first", lsn.New(1, 4), ErrNotFound},
		{"zero", lsn.Zero, ErrNotFound},
		{"end", l.End(), ErrNotFound},
		{"past end", lsn.New(l.End().File+1, FileHeaderSize), ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := l.Read(tc.at); !errors.Is(err, tc.want) {
				t.Fatalf("Read(%s) = %v, want %v", tc.at, err, tc.want)
			}
			if tc.at != l.End() && !tc.at.IsZero() { // NewReader(Zero) means First
				if _, err := l.NewReader(tc.at); !errors.Is(err, tc.want) {
					t.Fatalf("NewReader(%s) = %v, want %v", tc.at, err, tc.want)
				}
			}
		})
	}
	// A Reader may start at the end of a full file: it goes on in the
	// next one.
	for i := 0; i+1 < len(ats); i++ {
		if ats[i+1].File != ats[i].File {
			rec, err := l.Read(ats[i])
			if err != nil {
				t.Fatal(err)
			}
			r, err := l.NewReader(rec.Next)
			if err != nil {
				t.Fatalf("NewReader(%s), the end of file %d: %v", rec.Next, ats[i].File, err)
			}
			if rec, err := r.Next(); err != nil || rec.LSN != ats[i+1] {
				t.Fatalf("reader from the end of file %d: %s, %v; want %s", ats[i].File, rec.LSN, err, ats[i+1])
			}
			break
		}
	}
	// A Reader at End is valid and sees later appends.
	r, err := l.NewReader(l.End())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("reader at end: %v", err)
	}
	more := appendN(t, l, 40, 30) // crosses into a new file
	for i, at := range more {
		rec, err := r.Next()
		if err != nil || rec.LSN != at || !bytes.Equal(rec.Payload, payload(40+i)) {
			t.Fatalf("tailing reader, record %d: %s %v", 40+i, rec.LSN, err)
		}
	}
}

func TestLimits(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	big := make([]byte, MinSegmentSize-FileHeaderSize-RecordHeaderSize)
	if _, err := l.Append(append(big, 0)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append too large: %v", err)
	}
	at, err := l.Append(big)
	if err != nil {
		t.Fatalf("Append of the largest record: %v", err)
	}
	empty, err := l.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if at.File == empty.File {
		t.Fatalf("a full file took another record: %s, %s", at, empty)
	}
	if rec, err := l.Read(empty); err != nil || len(rec.Payload) != 0 {
		t.Fatalf("Read empty record: %v", err)
	}
	if rec, err := l.Read(at); err != nil || len(rec.Payload) != len(big) {
		t.Fatalf("Read large record: %v", err)
	}
}

// TestAppendAt mirrors a master log into a client with AppendAt and checks
// the files come out byte-identical.
func TestAppendAt(t *testing.T) {
	o, fs := memOpts()
	master := mustOpen(t, "/master", o)
	ats := appendN(t, master, 0, 120)
	if err := master.Close(); err != nil {
		t.Fatal(err)
	}
	// The client's own SegmentSize is larger: AppendAt ignores it.
	co := o
	co.SegmentSize = 1 << 20
	client := mustOpen(t, "/client", co)
	for i, at := range ats {
		if err := client.AppendAt(at, payload(i)); err != nil {
			t.Fatalf("AppendAt %s: %v", at, err)
		}
	}
	end := client.End()
	for _, bad := range []lsn.LSN{lsn.New(end.File, end.Offset+1), lsn.New(end.File+1, 100), lsn.New(end.File+2, FileHeaderSize), ats[3]} {
		err := client.AppendAt(bad, []byte("x"))
		if !errors.Is(err, ErrBadPosition) || !strings.Contains(err.Error(), bad.String()) || !strings.Contains(err.Error(), end.String()) {
			t.Fatalf("AppendAt(%s) = %v; want ErrBadPosition naming both LSNs", bad, err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	for f := uint32(1); f <= ats[len(ats)-1].File; f++ {
		m, _ := fs.Bytes("/master/" + segName(f))
		c, _ := fs.Bytes("/client/" + segName(f))
		if !bytes.Equal(m, c) {
			t.Fatalf("file %d differs between master and client", f)
		}
	}
}

func TestClosed(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	at := appendN(t, l, 0, 3)[0]
	r, err := l.NewReader(at)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Close":  l.Close(),
		"Sync":   l.Sync(at),
		"Append": func() error { _, err := l.Append(nil); return err }(),
		"Read":   func() error { _, err := l.Read(at); return err }(),
		"Next":   func() error { _, err := r.Next(); return err }(),
		"Trunc":  l.TruncateAfter(at),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func TestStats(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	before := l.Stats()
	for i := range 5 {
		if _, err := l.AppendSync(payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	d := l.Stats().Sub(before)
	if d.Appends != 5 || d.Syncs != 5 || d.Writes < 5 || d.AppendBytes == 0 || d.WriteBytes < d.AppendBytes {
		t.Fatalf("stats: %+v", d)
	}
}

func TestRealFS(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: MinSegmentSize, Logger: quiet})
	ats := appendN(t, l, 0, 100)
	if err := l.Sync(l.End()); err != nil {
		t.Fatal(err)
	}
	if !ats[len(ats)-1].Less(l.DurableEnd()) {
		t.Fatalf("DurableEnd %s not after %s", l.DurableEnd(), ats[len(ats)-1])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{SegmentSize: MinSegmentSize, Logger: quiet})
	defer l.Close()
	checkAll(t, l, 0, ats)
	if _, err := Verify(vfs.OS, dir, nil); err != nil {
		t.Fatal(err)
	}
}

// TestReaderErrorsStick: a reader's errors are the log's answer, not
// retried into another.
func TestReaderErrorsStick(t *testing.T) {
	o, _ := memOpts()
	l := mustOpen(t, testDir, o)
	ats := appendN(t, l, 0, 10)
	r, err := l.NewReader(ats[5])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateAfter(ats[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("reader past a truncation: %v", err)
	}
	r, err = l.NewReader(ats[1])
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := r.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("reader of a closed log: %v", err)
	}
}

// TestOnSync: the hook sees every fsync the group commit made, once each,
// and no more of them than there were records; BeforeSync runs before
// each, and the fsync that follows has written every record appended
// before it.
func TestOnSync(t *testing.T) {
	o, _ := memOpts()
	var calls, before atomic.Int64
	var l *Log
	// One syncer at a time: the end BeforeSync saw, for the OnSync after.
	var seen lsn.LSN
	o.BeforeSync = func() {
		before.Add(1)
		seen = l.End()
	}
	o.OnSync = func(d time.Duration) {
		if d < 0 {
			t.Errorf("OnSync(%v)", d)
		}
		calls.Add(1)
		l.mu.Lock()
		written := l.written
		l.mu.Unlock()
		if written.Less(seen) {
			t.Errorf("fsynced up to %s; BeforeSync saw records up to %s", written, seen)
		}
	}
	l = mustOpen(t, testDir, o)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := l.AppendSync(payload(i)); err != nil {
					t.Errorf("AppendSync: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	if n := calls.Load(); n == 0 || uint64(n) != st.Syncs || n > 400 {
		t.Fatalf("OnSync called %d times; the log counted %d fsyncs for 400 records", n, st.Syncs)
	}
	if before.Load() < calls.Load() {
		t.Fatalf("BeforeSync called %d times for %d fsyncs", before.Load(), calls.Load())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
