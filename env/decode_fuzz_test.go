package env

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"testing"

	"logship/elect"
	"logship/wal/lsn"
)

// The election store's record: any bytes decode to a HardState that
// re-encodes to them, or fail with an error; never a panic.
func FuzzDecodeHardState(f *testing.F) {
	f.Add(encodeHardState(elect.HardState{EGen: 7, VotedFor: 3, Holder: 2, HolderGen: 6, HolderTentative: true, Promised: 7, Electability: elect.Electable}))
	v2 := encodeHardState(elect.HardState{EGen: 5, VotedFor: 2, Promised: 5})[:hardStateLenV2]
	v2[0] = 2
	f.Add(v2)
	v1 := encodeHardState(elect.HardState{EGen: 4, VotedFor: 1})[:hardStateLenV1]
	v1[0] = 1
	f.Add(v1)
	f.Add([]byte{})
	f.Add([]byte{2, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		hs, err := decodeHardState(in)
		if err != nil {
			return
		}
		if in[0] == hardStateVersion && !bytes.Equal(encodeHardState(hs), in) {
			t.Fatalf("%+v does not re-encode to its input", hs)
		}
	})
}

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
