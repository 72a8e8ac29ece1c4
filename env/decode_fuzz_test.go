package env

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"testing"

	"logship/wal/lsn"
)

// A snapshot stream from a peer: any bytes are either a checked snapshot
// or ErrBadSnapshot; never a panic, never an unbounded allocation.
func FuzzReceiveSnapshot(f *testing.F) {
	h := snapHeader{applied: lsn.New(1, 100), end: lsn.New(1, 160), gen: 2, length: 8}
	good := append(h.encode(), []byte("datadata")...)
	good = binary.BigEndian.AppendUint32(good, crc32.Checksum(good, castagnoli))
	f.Add(good)
	f.Add(good[:snapHeaderSize])
	f.Add(good[:len(good)-1])
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, in []byte) {
		path := filepath.Join(t.TempDir(), "snap")
		got, err := receiveSnapshot(bytes.NewReader(in), path, lsn.New(1, 100))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		if got.applied != lsn.New(1, 100) || got.length <= 0 {
			t.Fatalf("accepted %+v", got)
		}
	})
}
