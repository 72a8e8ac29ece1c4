package wal

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// snapshot returns the contents of every file in dir.
func snapshot(t testing.TB, fs *vfs.MemFS, dir string) map[string][]byte {
	t.Helper()
	names, err := fs.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, _ := fs.Bytes(filepath.Join(dir, n))
		out[n] = b
	}
	return out
}

// plant returns a MemFS holding files in dir, all durable.
func plant(files map[string][]byte, dir string) *vfs.MemFS {
	fs := vfs.NewMem()
	fs.MkdirAll(dir, 0o755)
	for n, b := range files {
		fs.SetBytes(filepath.Join(dir, n), b)
	}
	return fs
}

// buildLog writes n records to a fresh MemFS log, closes it and returns
// the files and LSNs.
func buildLog(t testing.TB, n int) (map[string][]byte, []lsn.LSN) {
	t.Helper()
	o, fs := memOpts()
	l := mustOpen(t, testDir, o)
	ats := appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return snapshot(t, fs, testDir), ats
}

// TestRecoverTornTail cuts the last file at every byte of its last record
// (and, separately, zero-fills from there, as a file system that saved the
// size but not the data would): Open must keep every earlier record, drop
// the torn one and let appends continue.
func TestRecoverTornTail(t *testing.T) {
	files, ats := buildLog(t, 60)
	last := ats[len(ats)-1]
	if ats[len(ats)-2].File != last.File {
		t.Fatal("want the last two records in one file")
	}
	name := segName(last.File)
	full := files[name]
	for _, zeroFill := range []bool{false, true} {
		for cut := int(last.Offset); cut < len(full); cut++ {
			torn := append([]byte(nil), full[:cut]...)
			if zeroFill {
				torn = append(torn, make([]byte, len(full)-cut)...)
			}
			fs := plant(files, testDir)
			fs.SetBytes(filepath.Join(testDir, name), torn)
			o := Options{FS: fs, SegmentSize: MinSegmentSize, BufferSize: 512, Logger: quiet}
			// Zeros after the last good record are preallocated space,
			// not a torn record: Verify accepts them.
			allZero := zeroFill && cut == int(last.Offset)
			if _, err := Verify(fs, testDir, nil); (len(torn) == int(last.Offset) || allZero) && err != nil {
				t.Fatalf("cut at a record boundary (zero fill %v): Verify = %v", zeroFill, err)
			} else if len(torn) > int(last.Offset) && !allZero && (!errors.Is(err, ErrTornTail) || !strings.Contains(err.Error(), last.String())) {
				t.Fatalf("cut at %d (zero fill %v): Verify = %v; want a torn tail at %s", cut, zeroFill, err, last)
			}
			l, err := Open(testDir, o)
			if err != nil {
				t.Fatalf("cut at %d (zero fill %v): Open: %v", cut, zeroFill, err)
			}
			if l.End() != last {
				t.Fatalf("cut at %d: End = %s, want %s", cut, l.End(), last)
			}
			at, err := l.AppendSync(payload(len(ats) - 1))
			if err != nil || at != last {
				t.Fatalf("cut at %d: append after recovery: %s, %v", cut, at, err)
			}
			checkAll(t, l, 0, ats)
			l.Close()
		}
	}
}

// flipBit flips one bit of file name in dir, through a handle, so a log
// that has it open sees the change.
func flipBit(t testing.TB, fs vfs.FS, path string, off int64) {
	t.Helper()
	f, err := fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func wantCorruptAt(t testing.TB, what string, err error, at lsn.LSN) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTornTail) || !strings.Contains(err.Error(), "at "+at.String()) {
		t.Fatalf("%s = %v; want ErrCorrupt (not a torn tail) naming %s", what, err, at)
	}
}

// TestFlippedBit damages a record in the middle of the last file and one
// in an earlier file, in the payload and in the header.
func TestFlippedBit(t *testing.T) {
	files, ats := buildLog(t, 100)
	lastFile := ats[len(ats)-1].File
	var inLast, inEarlier []int // indexes of records with successors in the same file
	for i := 0; i+1 < len(ats); i++ {
		if ats[i+1].File == ats[i].File {
			if ats[i].File == lastFile {
				inLast = append(inLast, i)
			} else if ats[i].File == 2 {
				inEarlier = append(inEarlier, i)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		rec   int
		delta int64 // byte of the record to damage
		open  bool  // Open detects it (the last file is scanned)
	}{
		{"last file payload", inLast[len(inLast)/2], RecordHeaderSize + 3, true},
		{"last file length", inLast[len(inLast)/2], 5, true},
		{"last file crc", inLast[0], 0, true},
		{"earlier file payload", inEarlier[len(inEarlier)/2], RecordHeaderSize + 3, false},
		{"earlier file back link", inEarlier[len(inEarlier)/2], 9, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := ats[tc.rec]
			path := filepath.Join(testDir, segName(at.File))

			// A log that is open when the damage happens: Read and
			// Readers report it.
			fs := plant(files, testDir)
			o := Options{FS: fs, SegmentSize: MinSegmentSize, Logger: quiet}
			l := mustOpen(t, testDir, o)
			flipBit(t, fs, path, int64(at.Offset)+tc.delta)
			_, err := l.Read(at)
			wantCorruptAt(t, "Read", err, at)
			_, err = l.NewReader(at)
			wantCorruptAt(t, "NewReader", err, at)
			r, err := l.NewReader(ats[0])
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err = r.Next(); err != nil {
					break
				}
			}
			wantCorruptAt(t, "Reader.Next", err, at)
			// The record after it is intact.
			if _, err := l.Read(ats[tc.rec+1]); err != nil {
				t.Fatalf("Read of the next record: %v", err)
			}
			l.Close()

			_, err = Verify(fs, testDir, nil)
			wantCorruptAt(t, "Verify", err, at)
			if tc.open {
				_, err = Open(testDir, o)
				wantCorruptAt(t, "Open", err, at)
				if !strings.Contains(err.Error(), "media damage") {
					t.Fatalf("Open: %v; want it to say media damage", err)
				}
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	files, ats := buildLog(t, 100)
	lastFile := ats[len(ats)-1].File
	for _, tc := range []struct {
		name   string
		damage func(files map[string][]byte)
		want   string
	}{
		{"gap in file numbers", func(f map[string][]byte) { delete(f, segName(2)) }, segName(2) + ": missing"},
		{"bad header in earlier file", func(f map[string][]byte) { f[segName(2)][9] ^= 1 }, segName(2)},
		{"bad magic in last file", func(f map[string][]byte) { f[segName(lastFile)][0] = 'X' }, segName(lastFile)},
		{"earlier file cut short", func(f map[string][]byte) {
			n := segName(lastFile - 1)
			f[n] = f[n][:len(f[n])-3]
		}, "at "},
		{"earlier file with a tail", func(f map[string][]byte) {
			n := segName(lastFile - 1)
			f[n] = append(f[n], 1, 2, 3)
		}, "3 bytes follow its last record"},
		{"wrong file number", func(f map[string][]byte) {
			f[segName(lastFile+1)] = f[segName(lastFile)]
		}, "the header says file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := map[string][]byte{}
			for n, b := range files {
				damaged[n] = append([]byte(nil), b...)
			}
			tc.damage(damaged)
			fs := plant(damaged, testDir)
			_, err := Open(testDir, Options{FS: fs, SegmentSize: MinSegmentSize, Logger: quiet})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v; want ErrCorrupt mentioning %q", err, tc.want)
			}
			if _, err := Verify(fs, testDir, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v; want ErrCorrupt", err)
			}
		})
	}
}

// TestInterruptedCreation: the last file has an incomplete header, as if
// the process died while creating it.
func TestInterruptedCreation(t *testing.T) {
	files, ats := buildLog(t, 100)
	lastFile := ats[len(ats)-1].File
	for _, partial := range [][]byte{nil, []byte("LSW"), make([]byte, FileHeaderSize)} {
		fs := plant(files, testDir)
		fs.SetBytes(filepath.Join(testDir, segName(lastFile+1)), partial)
		if _, err := Verify(fs, testDir, nil); !errors.Is(err, ErrTornTail) {
			t.Fatalf("Verify with a %d-byte last file: %v", len(partial), err)
		}
		l := mustOpen(t, testDir, Options{FS: fs, SegmentSize: MinSegmentSize, Logger: quiet})
		checkAll(t, l, 0, ats)
		more := appendN(t, l, len(ats), 50)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, testDir, Options{FS: fs, SegmentSize: MinSegmentSize, Logger: quiet})
		checkAll(t, l, 0, append(append([]lsn.LSN(nil), ats...), more...))
		l.Close()
	}
	// The only file, with a torn header: a log that was being created.
	fs := vfs.NewMem()
	fs.MkdirAll(testDir, 0o755)
	fs.SetBytes(filepath.Join(testDir, segName(1)), []byte("LS"))
	l := mustOpen(t, testDir, Options{FS: fs, Logger: quiet})
	if l.End() != lsn.New(1, FileHeaderSize) {
		t.Fatalf("End = %s", l.End())
	}
	l.Close()
}

// TestGarbageTail: a large tail of random bytes after the last good
// record is a torn tail, and telling so takes linear time.
func TestGarbageTail(t *testing.T) {
	files, ats := buildLog(t, 20)
	last := ats[len(ats)-1]
	name := segName(last.File)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 2<<20)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	files[name] = append(files[name], garbage...)
	fs := plant(files, testDir)
	start := time.Now()
	l := mustOpen(t, testDir, Options{FS: fs, SegmentSize: 16 << 20, Logger: quiet})
	defer l.Close()
	checkAll(t, l, 0, ats)
	if d := time.Since(start); d > 20*time.Second { // quadratic would be hours
		t.Errorf("recovery took %v", d)
	}
}
