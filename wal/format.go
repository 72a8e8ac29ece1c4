package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"logship/wal/lsn"
)

// Format constants. Changing any of them changes the on-disk format; see
// the package documentation for the layout they describe.
const (
	// FileHeaderSize is the size of the header at the start of every
	// segment file, and the offset of its first record unless the file was
	// created by [Log.Reset].
	FileHeaderSize = 32
	// RecordHeaderSize is the size of the header in front of every
	// record's payload.
	RecordHeaderSize = 12
	// FormatVersion is the segment format this package writes and reads.
	FormatVersion = 1

	segPrefix = "log."    // format: segment file names are log.%010d
	segDigits = 10        // format
	tmpSuffix = ".tmp"    // a segment being created by Reset
	magic     = "LSWL"    // format: the first four bytes of every segment
	crcOffset = 24        // format: where the file header's CRC lives
	maxOffset = 1<<32 - 1 // an offset must fit the u32 of an LSN
)

// castagnoli is CRC-32C, which modern CPUs compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileHeader is the decoded header of a segment file.
type fileHeader struct {
	num      uint32  // the segment's number; must match its name
	firstOff uint32  // offset of the first record (>= FileHeaderSize)
	prevLast lsn.LSN // last record of the log before this file; Zero if none
}

func (h fileHeader) encode() [FileHeaderSize]byte {
	var b [FileHeaderSize]byte
	copy(b[0:4], magic)
	binary.LittleEndian.PutUint16(b[4:6], FormatVersion)
	// b[6:8] is reserved and stays zero.
	binary.LittleEndian.PutUint32(b[8:12], h.num)
	binary.LittleEndian.PutUint32(b[12:16], h.firstOff)
	binary.LittleEndian.PutUint32(b[16:20], h.prevLast.File)
	binary.LittleEndian.PutUint32(b[20:24], h.prevLast.Offset)
	binary.LittleEndian.PutUint32(b[24:28], crc32.Checksum(b[:crcOffset], castagnoli))
	return b
}

// decodeFileHeader checks and decodes a segment header. The error says
// what is wrong but not where; callers add the file name.
func decodeFileHeader(b []byte) (fileHeader, error) {
	if len(b) < FileHeaderSize {
		return fileHeader{}, fmt.Errorf("header is %d bytes, want %d", len(b), FileHeaderSize)
	}
	if string(b[0:4]) != magic {
		return fileHeader{}, fmt.Errorf("bad magic %q", b[0:4])
	}
	if got, want := binary.LittleEndian.Uint32(b[24:28]), crc32.Checksum(b[:crcOffset], castagnoli); got != want {
		return fileHeader{}, fmt.Errorf("header checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v != FormatVersion {
		return fileHeader{}, fmt.Errorf("unsupported format version %d (this build reads %d)", v, FormatVersion)
	}
	h := fileHeader{
		num:      binary.LittleEndian.Uint32(b[8:12]),
		firstOff: binary.LittleEndian.Uint32(b[12:16]),
		prevLast: lsn.New(binary.LittleEndian.Uint32(b[16:20]), binary.LittleEndian.Uint32(b[20:24])),
	}
	if h.firstOff < FileHeaderSize {
		return fileHeader{}, fmt.Errorf("first record offset %d is inside the header", h.firstOff)
	}
	if !h.prevLast.IsZero() && h.prevLast.File >= h.num {
		return fileHeader{}, fmt.Errorf("previous last record %s is not before file %d", h.prevLast, h.num)
	}
	return h, nil
}

// recordHeader is the decoded 12-byte header of a record.
type recordHeader struct {
	crc  uint32 // CRC-32C over LSN, header[4:12] and payload
	n    uint32 // payload length
	prev uint32 // offset of the previous record in the same file; 0 if first
}

func decodeRecordHeader(b []byte) recordHeader {
	_ = b[RecordHeaderSize-1]
	return recordHeader{
		crc:  binary.LittleEndian.Uint32(b[0:4]),
		n:    binary.LittleEndian.Uint32(b[4:8]),
		prev: binary.LittleEndian.Uint32(b[8:12]),
	}
}

// checksum computes a record's CRC. The LSN goes in first, although it is
// not stored: a record copied, left over or read at the wrong place never
// verifies, so stale bytes after a truncation cannot pass for a record.
func checksum(at lsn.LSN, n, prev uint32, payload []byte) uint32 {
	pre := make([]byte, 16) // on the heap: crc32 keeps no reference, but escape analysis cannot tell
	putPrefix(pre, at, n, prev)
	return crc32.Update(crc32.Update(0, castagnoli, pre), castagnoli, payload)
}

// putPrefix writes the 16 bytes a record's CRC starts with: LSN, length,
// back link.
func putPrefix(b []byte, at lsn.LSN, n, prev uint32) {
	binary.LittleEndian.PutUint32(b[0:4], at.File)
	binary.LittleEndian.PutUint32(b[4:8], at.Offset)
	binary.LittleEndian.PutUint32(b[8:12], n)
	binary.LittleEndian.PutUint32(b[12:16], prev)
}

// appendRecord frames payload as the record at `at` onto dst. It is the
// hot path of Append and does not allocate: the CRC prefix is built in
// dst itself, where the record header then overwrites it.
func appendRecord(dst []byte, at lsn.LSN, prev uint32, payload []byte) ([]byte, uint32) {
	n := uint32(len(payload))
	start := len(dst)
	dst = append(dst, make([]byte, 16)...)
	putPrefix(dst[start:], at, n, prev)
	crc := crc32.Update(crc32.Update(0, castagnoli, dst[start:]), castagnoli, payload)
	// Header: CRC, then length and back link, which sit at [8:16] of
	// the prefix.
	copy(dst[start+4:start+12], dst[start+8:start+16])
	binary.LittleEndian.PutUint32(dst[start:start+4], crc)
	return append(dst[:start+RecordHeaderSize], payload...), crc
}

// plausiblePrev reports whether prev is a possible previous-record field for
// a record at off in a file whose first record is at firstOff.
func plausiblePrev(prev, off, firstOff uint32) bool {
	if off == firstOff {
		return prev == 0
	}
	return prev >= firstOff && prev < off
}

// segName is the file name of segment num.
func segName(num uint32) string {
	return segPrefix + fmt.Sprintf("%0*d", segDigits, num)
}

// parseSegName returns the number of a segment file name and whether it
// is one; tmp reports a segment Reset had not finished creating.
func parseSegName(name string) (num uint32, tmp, ok bool) {
	rest, found := strings.CutPrefix(name, segPrefix)
	if !found {
		return 0, false, false
	}
	rest, tmp = strings.CutSuffix(rest, tmpSuffix)
	if len(rest) != segDigits {
		return 0, false, false
	}
	v, err := strconv.ParseUint(rest, 10, 32)
	if err != nil || v == 0 {
		return 0, false, false
	}
	return uint32(v), tmp, true
}
