package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// scanBufSize is the read-ahead of a sequential scan.
const scanBufSize = 256 << 10

// scanned is what a sequential scan of one segment found.
type scanned struct {
	records int
	last    lsn.LSN // the last good record; Zero if none
	end     uint32  // just past the last good record (firstOff if none)
	// bad is why the bytes at end are not a good record (a
	// *CorruptError), or nil if the good records fill the file exactly.
	bad error
	// badLen is the length field of the bad record, if it had a header.
	badLen    uint32
	badHeader bool
}

// scanSegment reads a segment's records in order, checking each one's
// checksum and back link, and stops at the first that fails. visit, if
// not nil, sees every good record and may stop the scan with an error. The
// returned error is an I/O or visit error; damage is reported in bad.
func scanSegment(f vfs.File, h fileHeader, size int64, visit func(Record) error) (scanned, error) {
	res := scanned{end: h.firstOff}
	if size < int64(h.firstOff) {
		res.bad = corruptAt(lsn.New(h.num, h.firstOff), "the file is only %d bytes long", size)
		return res, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, int64(h.firstOff), size-int64(h.firstOff)),
		int(min(scanBufSize, size-int64(h.firstOff)+RecordHeaderSize)))
	var buf []byte
	var prev uint32
	for pos := h.firstOff; int64(pos) < size; {
		at := lsn.New(h.num, pos)
		if rest := size - int64(pos); rest < RecordHeaderSize {
			res.bad = corruptAt(at, "only %d bytes left, a record header is %d", rest, RecordHeaderSize)
			return res, nil
		}
		hb, err := br.Peek(RecordHeaderSize)
		if err != nil {
			return res, fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
		}
		rh := decodeRecordHeader(hb)
		res.badLen, res.badHeader = rh.n, true
		end := uint64(pos) + RecordHeaderSize + uint64(rh.n)
		if end > uint64(size) {
			res.bad = corruptAt(at, "length %d runs past the end of the file (%d bytes)", rh.n, size)
			return res, nil
		}
		br.Discard(RecordHeaderSize)
		var payload []byte
		if visit != nil {
			payload = make([]byte, rh.n)
		} else {
			if cap(buf) < int(rh.n) {
				buf = make([]byte, rh.n)
			}
			payload = buf[:rh.n]
		}
		if _, err := io.ReadFull(br, payload); err != nil {
			return res, fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
		}
		if checksum(at, rh.n, rh.prev, payload) != rh.crc {
			res.bad = corruptAt(at, "checksum mismatch")
			return res, nil
		}
		if rh.prev != prev {
			res.bad = corruptAt(at, "back link %d, want %d", rh.prev, prev)
			return res, nil
		}
		if visit != nil {
			rec := Record{LSN: at, Next: lsn.New(h.num, uint32(end)), Checksum: rh.crc, Payload: payload}
			if err := visit(rec); err != nil {
				return res, err
			}
		}
		res.records++
		res.last = at
		prev, pos = pos, uint32(end)
		res.end, res.badHeader = pos, false
	}
	return res, nil
}

// findValid looks for a good record in f after the bad one at from, to
// tell media damage (good records follow) from a torn write (nothing
// does). It tries the place the bad record's length points to, then every
// offset.
//
// A candidate must link back to the bad record itself (whose length may
// be what is damaged), or to a record between it and the candidate whose
// length ends exactly at the candidate. These cheap tests reject zeros and
// random bytes before any checksum is computed, so the scan is linear in
// practice; the checksum, which covers the LSN, rejects stale records.
func findValid(f vfs.File, h fileHeader, from uint32, sr scanned, size int64) (lsn.LSN, bool, error) {
	var payload []byte
	check := func(o uint32, hb []byte) (bool, error) {
		rh := decodeRecordHeader(hb)
		end := uint64(o) + RecordHeaderSize + uint64(rh.n)
		if end > uint64(size) || rh.prev < from || uint64(rh.prev)+RecordHeaderSize > uint64(o) {
			return false, nil
		}
		if rh.prev != from {
			var ph [RecordHeaderSize]byte
			if err := readFull(f, ph[:], int64(rh.prev)); err != nil {
				return false, err
			}
			if uint64(rh.prev)+RecordHeaderSize+uint64(decodeRecordHeader(ph[:]).n) != uint64(o) {
				return false, nil
			}
		}
		if cap(payload) < int(rh.n) {
			payload = make([]byte, rh.n)
		}
		p := payload[:rh.n]
		if err := readFull(f, p, int64(o)+RecordHeaderSize); err != nil {
			return false, err
		}
		return checksum(lsn.New(h.num, o), rh.n, rh.prev, p) == rh.crc, nil
	}
	if sr.badHeader {
		if o := uint64(from) + RecordHeaderSize + uint64(sr.badLen); o+RecordHeaderSize <= uint64(size) {
			var hb [RecordHeaderSize]byte
			if err := readFull(f, hb[:], int64(o)); err != nil {
				return lsn.Zero, false, err
			}
			if ok, err := check(uint32(o), hb[:]); ok || err != nil {
				return lsn.New(h.num, uint32(o)), ok, err
			}
		}
	}
	// Scan every offset, a window at a time.
	const window = 1 << 20
	buf := make([]byte, min(window+RecordHeaderSize, max(size-int64(from), 0)))
	for base := int64(from) + 1; base+RecordHeaderSize <= size; base += window {
		n := min(int64(len(buf)), size-base)
		if err := readFull(f, buf[:n], base); err != nil {
			return lsn.Zero, false, err
		}
		for i := int64(0); i+RecordHeaderSize <= n && i < window; i++ {
			o := uint32(base + i)
			ok, err := check(o, buf[i:i+RecordHeaderSize])
			if err != nil {
				return lsn.Zero, false, err
			}
			if ok {
				return lsn.New(h.num, o), true, nil
			}
		}
	}
	return lsn.Zero, false, nil
}

// readHeader reads and checks the header of the segment file f, whose name
// says it is number num.
func readHeader(f vfs.File, num uint32, size int64) (fileHeader, error) {
	if size < FileHeaderSize {
		return fileHeader{}, corruptFile(f.Name(), "the file is %d bytes, shorter than its header (%d)", size, FileHeaderSize)
	}
	var hb [FileHeaderSize]byte
	if err := readFull(f, hb[:], 0); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fileHeader{}, corruptFile(f.Name(), "the file is shorter than its header")
		}
		return fileHeader{}, fmt.Errorf("read header of %s: %w", f.Name(), err)
	}
	h, err := decodeFileHeader(hb[:])
	if err != nil {
		return fileHeader{}, corruptFile(f.Name(), "%v", err)
	}
	if h.num != num {
		return fileHeader{}, corruptFile(f.Name(), "the header says file %d", h.num)
	}
	if size < int64(h.firstOff) {
		return fileHeader{}, corruptFile(f.Name(), "the file is %d bytes, shorter than its first record offset %d", size, h.firstOff)
	}
	if size > maxOffset {
		return fileHeader{}, corruptFile(f.Name(), "the file is %d bytes, more than an offset can address", size)
	}
	return h, nil
}

// zeroTail reports whether every byte of f in [from, size) is zero: space
// the log preallocated (see prealloc.go), not a torn record.
func zeroTail(f vfs.File, from, size int64) (bool, error) {
	buf := make([]byte, min(scanBufSize, max(size-from, 0)))
	for off := from; off < size; {
		n := min(int64(len(buf)), size-off)
		if err := readFull(f, buf[:n], off); err != nil {
			return false, fmt.Errorf("read %s at %d: %w", f.Name(), off, err)
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}
