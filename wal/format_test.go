package wal

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"logship/wal/lsn"
)

// TestChecksumDefinition pins the checksum to its documented definition:
// CRC-32C of LSN, header[4:12], payload.
func TestChecksumDefinition(t *testing.T) {
	at := lsn.New(3, 4096)
	payload := []byte("some payload")
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, at.File)
	b = binary.LittleEndian.AppendUint32(b, at.Offset)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, 1234)
	b = append(b, payload...)
	want := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	if got := checksum(at, uint32(len(payload)), 1234, payload); got != want {
		t.Fatalf("checksum = %08x, want %08x", got, want)
	}
	rec, crc := appendRecord(nil, at, 1234, payload)
	if crc != want || binary.LittleEndian.Uint32(rec) != want || len(rec) != RecordHeaderSize+len(payload) {
		t.Fatalf("appendRecord: crc %08x, header % x", crc, rec[:RecordHeaderSize])
	}
	buf := make([]byte, 0, 1024)
	if allocs := testing.AllocsPerRun(100, func() { appendRecord(buf, at, 2, payload) }); allocs != 0 {
		t.Fatalf("appendRecord allocates %v times", allocs)
	}
}

func TestSegName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		num     uint32
		tmp, ok bool
	}{
		{"log.0000000001", 1, false, true},
		{"log.4294967295", 4294967295, false, true},
		{"log.0000000007.tmp", 7, true, true},
		{"log.0000000000", 0, false, false},
		{"log.1", 0, false, false},
		{"log.000000001x", 0, false, false},
		{"log.4294967296", 0, false, false},
		{"other", 0, false, false},
	} {
		num, tmp, ok := parseSegName(tc.name)
		if num != tc.num || tmp != tc.tmp || ok != tc.ok {
			t.Errorf("parseSegName(%q) = %d, %v, %v", tc.name, num, tmp, ok)
		}
		if tc.ok && !tc.tmp && segName(tc.num) != tc.name {
			t.Errorf("segName(%d) = %q", tc.num, segName(tc.num))
		}
	}
}
