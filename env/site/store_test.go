package site

import (
	"bytes"
	"testing"

	"logship/elect"
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
