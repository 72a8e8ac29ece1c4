package env

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// The reference encoder of the record format; Tx.appendRecord is the one
// commits use, and the tests check both decode alike.

// encodedSize returns the exact size appendRecord will produce.
func (r *record) encodedSize() int {
	n := 2 + uvarintLen(r.gen) + 8 + uvarintLen(uint64(len(r.ops)))
	for i := range r.ops {
		o := &r.ops[i]
		n += 1 + bytesLen(o.bucket) + bytesLen(o.key)
		if o.kind == opPut {
			n += bytesLen(o.value)
		}
		n++
		if o.existed {
			n += bytesLen(o.old)
		}
	}
	return n
}

// appendRecord appends r's encoding to dst.
func appendRecord(dst []byte, r *record) []byte {
	dst = append(dst, recordVersion, r.kind)
	dst = binary.AppendUvarint(dst, r.gen)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.time))
	dst = binary.AppendUvarint(dst, uint64(len(r.ops)))
	for i := range r.ops {
		o := &r.ops[i]
		dst = append(dst, o.kind)
		dst = appendBytes(dst, o.bucket)
		dst = appendBytes(dst, o.key)
		if o.kind == opPut {
			dst = appendBytes(dst, o.value)
		}
		if o.existed {
			dst = append(dst, beforePresent)
			dst = appendBytes(dst, o.old)
		} else {
			dst = append(dst, beforeAbsent)
		}
	}
	return dst
}

func sampleRecord() record {
	return record{
		kind: kindCommit,
		gen:  7,
		time: 1_700_000_000_123_456_789,
		ops: []op{
			{kind: opPut, bucket: []byte("users"), key: []byte("alice"), value: []byte("v2"), existed: true, old: []byte("v1")},
			{kind: opPut, bucket: []byte("users"), key: []byte("bob"), value: []byte{}, existed: false},
			{kind: opDelete, bucket: []byte("x"), key: []byte("k"), existed: true, old: []byte{}},
		},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		sampleRecord(),
		{kind: kindCommit},
		{kind: kindCommit, gen: 1 << 40, time: -1, ops: []op{{kind: opDelete, bucket: []byte("b"), key: []byte("k")}}},
	} {
		p := appendRecord(nil, &r)
		if len(p) != r.encodedSize() {
			t.Errorf("encodedSize %d, encoded %d bytes", r.encodedSize(), len(p))
		}
		got, err := decodeRecord(p)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !recordsEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := appendRecord(nil, ptr(sampleRecord()))
	cases := map[string][]byte{
		"empty":         {},
		"bad version":   append([]byte{9}, good[1:]...),
		"unknown kind":  append([]byte{recordVersion, 7}, good[2:]...),
		"truncated":     good[:len(good)-1],
		"trailing byte": append(append([]byte(nil), good...), 0),
		"huge op count": {recordVersion, kindCommit, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad op":        encodeOps(op{kind: 9, bucket: []byte("b"), key: []byte("k")}),
		"empty bucket":  encodeOps(op{kind: opDelete, bucket: []byte{}, key: []byte("k")}),
		"empty key":     encodeOps(op{kind: opDelete, bucket: []byte("b"), key: []byte{}}),
		"long key":      encodeOps(op{kind: opDelete, bucket: []byte("b"), key: make([]byte, MaxKeySize+1)}),
		"bad before":    append(encodeOps(op{kind: opDelete, bucket: []byte("b"), key: []byte("k")})[:0:0], badBefore()...),
		"length overflow": {recordVersion, kindCommit, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, opPut, 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRecord(p); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode: err %v, want ErrCorrupt", err)
			}
		})
	}
}

func encodeOps(ops ...op) []byte {
	return appendRecord(nil, &record{kind: kindCommit, ops: ops})
}

func badBefore() []byte {
	p := encodeOps(op{kind: opDelete, bucket: []byte("b"), key: []byte("k")})
	p[len(p)-1] = 5
	return p
}

func ptr[T any](v T) *T { return &v }

// recordsEqual compares records treating nil and empty slices alike.
func recordsEqual(a, b record) bool {
	if a.kind != b.kind || a.gen != b.gen || a.time != b.time || len(a.ops) != len(b.ops) {
		return false
	}
	for i := range a.ops {
		x, y := a.ops[i], b.ops[i]
		if x.kind != y.kind || x.existed != y.existed || !bytes.Equal(x.bucket, y.bucket) ||
			!bytes.Equal(x.key, y.key) || !bytes.Equal(x.value, y.value) || !bytes.Equal(x.old, y.old) {
			return false
		}
	}
	return true
}

// FuzzDecodeRecord checks that the decoder never panics, and that what it
// accepts re-encodes to something that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, ptr(sampleRecord())))
	f.Add(encodeOps())
	f.Add(encodeOps(op{kind: opDelete, bucket: []byte("b"), key: []byte("k")}))
	f.Add([]byte{recordVersion, kindCommit, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeRecord(p)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		q := appendRecord(nil, &r)
		if len(q) != r.encodedSize() {
			t.Fatalf("encodedSize %d, encoded %d", r.encodedSize(), len(q))
		}
		r2, err := decodeRecord(q)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !recordsEqual(r, r2) {
			t.Fatalf("re-decode differs")
		}
		if len(q) > len(p) {
			t.Fatalf("canonical encoding longer (%d) than input (%d)", len(q), len(p))
		}
	})
}
