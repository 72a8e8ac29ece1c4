package wal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// fuzzSeeds returns the files of small valid logs and damaged variants.
func fuzzSeeds(t testing.TB) [][2][]byte {
	files, _ := buildLog(t, 30)
	f1, f2 := files[segName(1)], files[segName(2)]
	hdr := fileHeader{num: 1, firstOff: FileHeaderSize}.encode()
	reset := fileHeader{num: 1, firstOff: 100}.encode()
	one, _ := appendRecord(hdr[:], lsn.New(1, FileHeaderSize), 0, []byte("hello"))
	return [][2][]byte{
		{f1, f2},
		{f1, nil},
		{f1[:len(f1)-5], nil},
		{f1, f2[:40]},
		{f1, f2[:20]},
		{hdr[:], nil},
		{one, nil},
		{append(one, make([]byte, 64)...), nil},
		{append(reset[:], make([]byte, 68)...), nil},
		{nil, nil},
		{[]byte("LSWL"), nil},
	}
}

// FuzzOpenAndRead builds a log of one or two files from fuzz bytes, then
// verifies, opens, reads, appends to and reopens it. Nothing may panic,
// and Verify and Open must agree: Open succeeds exactly when Verify finds
// the log sound or only a torn tail.
func FuzzOpenAndRead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0], s[1])
	}
	f.Fuzz(openAndRead)
}

func openAndRead(t *testing.T, file1, file2 []byte) {
	{
		fs := vfs.NewMem()
		fs.MkdirAll(testDir, 0o755)
		fs.SetBytes(filepath.Join(testDir, segName(1)), file1)
		if len(file2) > 0 {
			fs.SetBytes(filepath.Join(testDir, segName(2)), file2)
		}
		var verified []Record
		vres, verr := Verify(fs, testDir, func(r Record) error {
			verified = append(verified, r)
			return nil
		})
		o := Options{FS: fs, SegmentSize: MinSegmentSize, BufferSize: 64, Logger: quiet}
		l, err := Open(testDir, o)
		sound := verr == nil || errors.Is(verr, ErrTornTail)
		switch {
		case sound && err != nil:
			t.Fatalf("Verify: %v, but Open: %v", verr, err)
		case err != nil:
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open failed without ErrCorrupt: %v", err)
			}
			return
		case !sound:
			// Open scans only the last file; damage in an earlier one
			// must surface when it is read, never as data.
			defer l.Close()
			var ce *CorruptError
			if !errors.As(verr, &ce) {
				t.Fatalf("Verify: %v", verr)
			}
			if ce.LSN.IsZero() {
				return // a file-level inconsistency Open does not check
			}
			r, err := l.NewReader(lsn.Zero)
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify: %v, but a Reader over the open log ends with %v", verr, err)
			}
			return
		}
		defer l.Close()
		if len(verified) != vres.Records {
			t.Fatalf("Verify visited %d records but reports %d", len(verified), vres.Records)
		}
		// Every record Verify saw is readable, by LSN and in order. (Open
		// may have dropped a torn file, not records.)
		r, err := l.NewReader(lsn.Zero)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range verified {
			got, err := r.Next()
			if err != nil || got.LSN != want.LSN || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("reader: %s %v; Verify saw %s", got.LSN, err, want.LSN)
			}
			if _, err := l.Read(want.LSN); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Prev(want.LSN); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("reader after the verified records: %v", err)
		}
		// Reads at every offset of the first file must not panic.
		for off := uint32(0); off < uint32(len(file1))+2 && off < 600; off++ {
			l.Read(lsn.New(1, off))
			l.Prev(lsn.New(1, off))
		}
		at, err := l.AppendSync([]byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(testDir, o)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if rec, err := l.Read(at); err != nil || string(rec.Payload) != "after" {
			t.Fatalf("record appended after recovery: %v", err)
		}
	}
}

// FuzzRecordDecode feeds arbitrary bytes to the record decoder at an
// arbitrary LSN: it must not panic, and whatever verifies must re-encode
// to the same bytes.
func FuzzRecordDecode(f *testing.F) {
	rec, _ := appendRecord(nil, lsn.New(3, 4096), 100, []byte("payload"))
	f.Add(rec, uint32(3), uint32(4096))
	f.Add(rec, uint32(3), uint32(4097))
	f.Add([]byte{}, uint32(1), uint32(32))
	f.Add(make([]byte, 12), uint32(1), uint32(32))
	f.Fuzz(func(t *testing.T, b []byte, file, off uint32) {
		if len(b) >= FileHeaderSize {
			if h, err := decodeFileHeader(b); err == nil {
				enc := h.encode()
				if !bytes.Equal(enc[:crcOffset+4], b[:crcOffset+4]) {
					t.Fatalf("file header does not round-trip")
				}
			}
		}
		fs := vfs.NewMem()
		fs.MkdirAll("/d", 0o755)
		fs.SetBytes("/d/f", b)
		fl, err := fs.OpenFile("/d/f", os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		at := lsn.New(file, off)
		got, prev, err := readRecordAt(fl, at, 0, uint32(min(len(b), maxOffset)))
		if err != nil {
			return
		}
		// The record sat at offset `off` of the file.
		enc, _ := appendRecord(nil, at, prev, got.Payload)
		if uint64(off)+uint64(len(enc)) > uint64(len(b)) || !bytes.Equal(enc, b[off:int(off)+len(enc)]) {
			t.Fatalf("record at %s does not re-encode to its bytes", at)
		}
		if got.Next.Offset != off+uint32(len(enc)) {
			t.Fatalf("Next = %s", got.Next)
		}
	})
}
