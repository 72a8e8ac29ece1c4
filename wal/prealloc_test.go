package wal

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// preallocOpts returns options for a preallocating log on a fresh MemFS.
func preallocOpts() (Options, *vfs.MemFS) {
	o, fs := memOpts()
	o.SegmentSize = 64 << 10
	o.Preallocate = 16 << 10
	return o, fs
}

// waitPrealloc waits, boundedly, until the log has laid at least n bytes of
// zeros: the preallocator works in the background.
func waitPrealloc(t *testing.T, l *Log, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().PreallocBytes < n {
		if time.Now().After(deadline) {
			t.Fatalf("preallocated %d bytes after 10s; want at least %d", l.Stats().PreallocBytes, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkExactFiles checks that every file but the last ends at its last
// record, and returns the last file's size.
func checkExactFiles(t *testing.T, fs *vfs.MemFS, l *Log) int64 {
	t.Helper()
	segs := l.Segments()
	if _, err := Verify(fs, testDir, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b, _ := fs.Bytes(segs[len(segs)-1])
	return int64(len(b))
}

// TestPreallocAppendAcrossFiles appends and syncs from several goroutines
// while the preallocator lays zeros ahead: every record reads back, files
// before the last hold no zeros, zeros do lie ahead of the writer while it
// runs, and Close leaves the last file ending at its records.
func TestPreallocAppendAcrossFiles(t *testing.T) {
	o, fs := preallocOpts()
	l := mustOpen(t, testDir, o)
	const writers, each = 4, 600
	var mu sync.Mutex
	got := map[lsn.LSN][]byte{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := payload(w*each + i)
				at, err := l.AppendSync(p)
				if err != nil {
					t.Errorf("AppendSync: %v", err)
					return
				}
				mu.Lock()
				got[at] = p
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(l.Segments()) < 3 {
		t.Fatalf("%d files; want the records to span several", len(l.Segments()))
	}
	waitPrealloc(t, l, minPreallocChunk)
	end := l.End()
	// The writer is idle: the zeros ahead of it stay until Close.
	deadline := time.Now().Add(10 * time.Second)
	for {
		size := checkExactFiles(t, fs, l)
		if size > int64(end.Offset) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last file is %d bytes, records end at %d: no zeros laid ahead", size, end.Offset)
		}
		l.pa.kick() // as an fsync would
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if b, _ := fs.Bytes(segs[len(segs)-1]); len(b) != int(end.Offset) {
		t.Fatalf("after Close the last file is %d bytes; its records end at %d", len(b), end.Offset)
	}
	l = mustOpen(t, testDir, o)
	defer l.Close()
	if l.End() != end {
		t.Fatalf("reopened End = %s, want %s", l.End(), end)
	}
	for at, want := range got {
		rec, err := l.Read(at)
		if err != nil || !bytes.Equal(rec.Payload, want) {
			t.Fatalf("Read %s = %q, %v; want %q", at, rec.Payload, err, want)
		}
	}
}

// TestPreallocCrash crashes the file system (dropping unsynced writes,
// tearing some) at random points of a preallocating log: every synced
// record survives, the zeros left ahead are cut without complaint, and
// the log goes on.
func TestPreallocCrash(t *testing.T) {
	for seed := range int64(20) {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		o, fs := preallocOpts()
		l := mustOpen(t, testDir, o)
		var synced []lsn.LSN
		n := 200 + rng.IntN(800)
		for i := range n {
			at, err := l.Append(payload(i))
			if err != nil {
				t.Fatalf("seed %d: Append: %v", seed, err)
			}
			if rng.IntN(4) == 0 {
				if err := l.Sync(at); err != nil {
					t.Fatalf("seed %d: Sync: %v", seed, err)
				}
				synced = append(synced[:0], at)
			}
		}
		if rng.IntN(2) == 0 {
			waitPrealloc(t, l, 1)
		}
		fs.CrashTorn(rng)
		l.Close() // the files it closes are the crashed system's

		l, err := Open(testDir, o)
		if err != nil {
			t.Fatalf("seed %d: Open after crash: %v", seed, err)
		}
		if len(synced) > 0 && !synced[0].Less(l.End()) {
			t.Fatalf("seed %d: synced record %s lost; log ends at %s", seed, synced[0], l.End())
		}
		r, err := l.NewReader(lsn.Zero)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			rec, err := r.Next()
			if err != nil {
				break
			}
			if !bytes.Equal(rec.Payload, payload(i)) {
				t.Fatalf("seed %d: record %d at %s = %q", seed, i, rec.LSN, rec.Payload)
			}
		}
		r.Close()
		if _, err := l.AppendSync([]byte("after")); err != nil {
			t.Fatalf("seed %d: append after recovery: %v", seed, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(fs, testDir, nil); err != nil {
			t.Fatalf("seed %d: Verify after reopen: %v", seed, err)
		}
	}
}

// TestPreallocRewrites truncates, archives and resets a preallocating log
// between appends: none of them lets zeros land on records or leaves zeros
// in a file that is not the last.
func TestPreallocRewrites(t *testing.T) {
	o, fs := preallocOpts()
	l := mustOpen(t, testDir, o)
	defer func() { l.Close() }()
	ats := appendN(t, l, 0, 400)
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatal(err)
	}
	waitPrealloc(t, l, 1)

	keep := ats[250]
	if err := l.TruncateAfter(keep); err != nil {
		t.Fatalf("TruncateAfter: %v", err)
	}
	ats = append(ats[:251], appendN(t, l, 251, 300)...)
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatal(err)
	}
	checkAll(t, l, 0, ats)
	checkExactFiles(t, fs, l)

	if _, err := l.RemoveBefore(ats[300]); err != nil {
		t.Fatalf("RemoveBefore: %v", err)
	}
	more := appendN(t, l, len(ats), 200)
	if err := l.Sync(more[len(more)-1]); err != nil {
		t.Fatal(err)
	}
	checkExactFiles(t, fs, l)

	at := lsn.New(more[len(more)-1].File+2, 1000)
	if err := l.Reset(at); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	after := appendN(t, l, 0, 300)
	if after[0] != at {
		t.Fatalf("first record after Reset at %s, want %s", after[0], at)
	}
	if err := l.Sync(after[len(after)-1]); err != nil {
		t.Fatal(err)
	}
	checkAll(t, l, 0, after)
	checkExactFiles(t, fs, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, testDir, o)
	checkAll(t, l, 0, after)
}

// noSpaceFS fails every write of zeros, as a full disk would fail the
// preallocator's, and passes the log's own writes.
type noSpaceFS struct{ *vfs.MemFS }

type noSpaceFile struct{ vfs.File }

func (fs noSpaceFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSpaceFile{f}, nil
}

func (f noSpaceFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > RecordHeaderSize && bytes.Count(p, []byte{0}) == len(p) {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// TestPreallocFailure: when laying zeros fails, the log goes on without
// them, neither failed nor losing a record.
func TestPreallocFailure(t *testing.T) {
	o, mem := preallocOpts()
	o.FS = noSpaceFS{mem}
	l := mustOpen(t, testDir, o)
	ats := appendN(t, l, 0, 500)
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.pa.mu.Lock()
		stopped := l.pa.stopped
		l.pa.mu.Unlock()
		if stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the preallocator did not meet its failure")
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("log failed with its preallocator: %v", err)
	}
	ats = append(ats, appendN(t, l, len(ats), 300)...)
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatalf("Sync after the preallocator stopped: %v", err)
	}
	checkAll(t, l, 0, ats)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPreallocOS runs the preallocator on the real file system, where it
// is on by default.
func TestPreallocOS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if l.pa == nil {
		t.Fatal("no preallocator on vfs.OS with default options")
	}
	ats := appendN(t, l, 0, 3000)
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatal(err)
	}
	waitPrealloc(t, l, minPreallocChunk)
	end := l.End()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, segName(end.File)))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(end.Offset) {
		t.Fatalf("after Close the file is %d bytes; its records end at %d", fi.Size(), end.Offset)
	}
	l, err = Open(dir, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkAll(t, l, 0, ats)

	off, err := Open(filepath.Join(t.TempDir(), "off"), Options{Logger: quiet, Preallocate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.pa != nil {
		t.Fatal("Preallocate -1 still preallocates")
	}
}

// TestPreallocFollowsSyncs: appending without syncing lays no zeros (a
// bulk writer would write every block twice); the first fsync starts.
func TestPreallocFollowsSyncs(t *testing.T) {
	o, _ := preallocOpts()
	l := mustOpen(t, testDir, o)
	defer l.Close()
	ats := appendN(t, l, 0, 2000)
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	if len(l.Segments()) < 2 {
		t.Fatal("want the unsynced records to span files")
	}
	if n := l.Stats().PreallocBytes; n != 0 {
		t.Fatalf("%d bytes of zeros laid for a log that never synced", n)
	}
	if err := l.Sync(ats[len(ats)-1]); err != nil {
		t.Fatal(err)
	}
	waitPrealloc(t, l, 1)
}
