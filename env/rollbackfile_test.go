package env

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"logship/wal/lsn"
)

// A rollback file written with records reads back identically; a flipped
// byte or a cut file is an error wrapping ErrBadRollbackFile.
func TestRollbackFileRoundTripsAndRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	h := RollbackHeader{Site: 3, Time: time.Unix(0, 12345), To: lsn.New(1, 32), From: lsn.New(2, 100), Count: 2}
	recs := []RollbackRecord{{LSN: lsn.New(1, 80), Gen: 4, Checksum: 7, Payload: []byte("abc")}, {LSN: lsn.New(2, 100), Gen: 4, Checksum: 9, Payload: nil}}
	path, err := writeRollbackFile(dir, h, recs)
	if err != nil {
		t.Fatal(err)
	}
	var got []RollbackRecord
	if err := ReadRollbackFile(path, func(gh RollbackHeader, r RollbackRecord) error {
		if gh.Site != 3 || gh.To != h.To || gh.From != h.From || !gh.Time.Equal(h.Time) {
			t.Fatalf("header %+v", gh)
		}
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].LSN != recs[0].LSN || string(got[0].Payload) != "abc" || got[1].Checksum != 9 {
		t.Fatalf("read back %+v", got)
	}
	b, _ := os.ReadFile(path)
	for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte(nil), b[:60]...), b[61]^1)} {
		if err := DecodeRollbackFile(bytes.NewReader(bad), nil); !errors.Is(err, ErrBadRollbackFile) {
			t.Fatalf("damaged file: %v", err)
		}
	}
	files, _ := RollbackFiles(dir)
	if len(files) != 1 || files[0] != path {
		t.Fatalf("RollbackFiles = %v", files)
	}
}

func FuzzDecodeRollbackFile(f *testing.F) {
	dir := f.TempDir()
	h := RollbackHeader{Site: 1, Time: time.Unix(1, 0), To: lsn.New(1, 32), From: lsn.New(1, 64), Count: 1}
	path, err := writeRollbackFile(dir, h, []RollbackRecord{{LSN: lsn.New(1, 64), Gen: 1, Payload: []byte{1, 1, 0}}})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Add([]byte(rbMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = DecodeRollbackFile(bytes.NewReader(data), func(_ RollbackHeader, r RollbackRecord) error {
			_, _, _ = r.Ops()
			return nil
		})
	})
}
