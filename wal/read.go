package wal

import (
	"fmt"
	"io"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// Record is one record as read back.
type Record struct {
	LSN      lsn.LSN
	Next     lsn.LSN // position just after this record (== LSN of the next one in the same file)
	Checksum uint32  // the stored CRC-32C: the record's identity together with LSN
	Payload  []byte
}

// Read returns the record at `at`. Records appended but not yet written
// are written first (without fsync). An LSN outside [First, End) is
// ErrNotFound; one inside that is not the start of a record is
// ErrNotRecordStart; a record that fails its checksum is ErrCorrupt. The
// returned payload belongs to the caller.
func (l *Log) Read(at lsn.LSN) (Record, error) {
	rec, _, err := l.read(at, false)
	return rec, err
}

// Prev returns the LSN of the record before the one at `at`, or lsn.Zero if
// `at` is the first record. It follows the record's back link, or the file
// header's for the first record of a file, so it costs one record read.
func (l *Log) Prev(at lsn.LSN) (lsn.LSN, error) {
	_, prev, err := l.read(at, false)
	if err != nil {
		return lsn.Zero, err
	}
	if prev != 0 {
		return lsn.New(at.File, prev), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segLocked(at.File)
	if s == nil {
		return lsn.Zero, fmt.Errorf("%w: %s", ErrNotFound, at)
	}
	if p := s.prevLast; !p.Less(l.firstLocked()) {
		return p, nil
	}
	return lsn.Zero, nil
}

// read reads the record at `at` and returns its back link too. haveWmu
// says the caller holds wmu (so a needed flush must not take it again).
func (l *Log) read(at lsn.LSN, haveWmu bool) (Record, uint32, error) {
	// As for a Reader: a read that a truncation overlapped is redone.
	for {
		gen := l.genA.Load()
		rec, prev, err := l.readOnce(at, haveWmu)
		if l.genA.Load() == gen {
			return rec, prev, err
		}
	}
}

func (l *Log) readOnce(at lsn.LSN, haveWmu bool) (Record, uint32, error) {
	s, limit, err := l.locate(at, haveWmu)
	if err != nil {
		return Record{}, 0, err
	}
	f, err := s.file(l.fs)
	if err != nil {
		return Record{}, 0, fmt.Errorf("wal: read %s: %w", at, err)
	}
	rec, prev, err := readRecordAt(f, at, s.firstOff, limit)
	if err != nil {
		if _, ok := err.(*CorruptError); ok {
			// Slow path: is `at` a record start at all?
			return Record{}, 0, l.classify(s, f, at, limit, err)
		}
		return Record{}, 0, fmt.Errorf("wal: read %s: %w", at, err)
	}
	return rec, prev, nil
}

// locate checks that `at` lies inside the log and returns its segment and
// the offset up to which that segment's records are in the file, writing
// pending records first if `at` is among them.
func (l *Log) locate(at lsn.LSN, haveWmu bool) (*segment, uint32, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, 0, ErrClosed
		}
		first, end := l.firstLocked(), l.end
		if first.IsZero() || at.Less(first) || !at.Less(end) {
			l.mu.Unlock()
			if first.IsZero() {
				return nil, 0, fmt.Errorf("%w: %s: the log is empty", ErrNotFound, at)
			}
			return nil, 0, fmt.Errorf("%w: %s is outside the log [%s, %s)", ErrNotFound, at, first, end)
		}
		s := l.segLocked(at.File)
		switch {
		case at.Offset < s.firstOff:
			l.mu.Unlock()
			return nil, 0, fmt.Errorf("%w: %s is before the file's first record at %d", ErrNotRecordStart, at, s.firstOff)
		case at.Offset >= s.end:
			l.mu.Unlock()
			return nil, 0, fmt.Errorf("%w: %s is past the end of file %d (%d)", ErrNotFound, at, s.num, s.end)
		case at.Less(l.written):
			// Chunks hold whole records, so a record that starts
			// before the written mark ends before it too.
			limit := s.end
			if l.written.File == s.num {
				limit = l.written.Offset
			}
			l.mu.Unlock()
			return s, limit, nil
		}
		l.mu.Unlock()
		var err error
		if haveWmu {
			_, err = l.flushLocked()
		} else {
			err = l.flush()
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

// readRecordAt reads and checks the record at `at` in f, whose records
// lie between firstOff and limit. Damage is a *CorruptError.
func readRecordAt(f io.ReaderAt, at lsn.LSN, firstOff, limit uint32) (Record, uint32, error) {
	if uint64(at.Offset)+RecordHeaderSize > uint64(limit) {
		return Record{}, 0, corruptAt(at, "record header runs past the end of the data (%d)", limit)
	}
	var hb [RecordHeaderSize]byte
	if err := readFull(f, hb[:], int64(at.Offset)); err != nil {
		return Record{}, 0, err
	}
	h := decodeRecordHeader(hb[:])
	end := uint64(at.Offset) + RecordHeaderSize + uint64(h.n)
	if end > uint64(limit) {
		return Record{}, 0, corruptAt(at, "length %d runs past the end of the data (%d)", h.n, limit)
	}
	payload := make([]byte, h.n)
	if err := readFull(f, payload, int64(at.Offset)+RecordHeaderSize); err != nil {
		return Record{}, 0, err
	}
	if checksum(at, h.n, h.prev, payload) != h.crc {
		return Record{}, 0, corruptAt(at, "checksum mismatch")
	}
	if !plausiblePrev(h.prev, at.Offset, firstOff) {
		return Record{}, 0, corruptAt(at, "back link %d is impossible", h.prev)
	}
	rec := Record{LSN: at, Next: lsn.New(at.File, uint32(end)), Checksum: h.crc, Payload: payload}
	return rec, h.prev, nil
}

// classify decides, after the record at `at` failed to verify, whether `at`
// is a record start at all, by walking s's records from the last known
// start before it. It returns ErrNotRecordStart, or the damage (bad, or an
// earlier record that breaks the walk). The starts the walk passes are
// kept (segment.starts), unless the log was cut meanwhile.
func (l *Log) classify(s *segment, f vfs.File, at lsn.LSN, limit uint32, bad error) error {
	l.mu.Lock()
	gen := l.gen
	pos := s.startBefore(at.Offset)
	l.mu.Unlock()
	var found []uint32
	start, noted := pos, pos
	ra := &readAhead{f: f, buf: make([]byte, 0, readAheadBytes)}
	defer func() {
		if len(found) > 0 {
			l.mu.Lock()
			if l.gen == gen {
				s.learnStarts(found)
			}
			l.mu.Unlock()
		}
	}()
	for pos < at.Offset {
		start = pos
		if pos-noted >= startsEvery {
			found, noted = append(found, pos), pos
		}
		l.st.walked.Add(1)
		rec, _, err := readRecordAt(ra, lsn.New(at.File, pos), s.firstOff, limit)
		if err != nil {
			if _, ok := err.(*CorruptError); ok {
				return fmt.Errorf("%w (found while looking for %s)", err, at)
			}
			return fmt.Errorf("wal: read %s: %w", at, err)
		}
		pos = rec.Next.Offset
	}
	if pos == at.Offset {
		return bad
	}
	return fmt.Errorf("%w: %s is inside the record at %s", ErrNotRecordStart, at, lsn.New(at.File, start))
}

// readAheadBytes is how much a walk over records reads at once.
const readAheadBytes = 32 << 10

// readAhead serves a walk's small reads of consecutive records from one
// larger read of the file: one system call for many records, not two per
// record.
type readAhead struct {
	f   io.ReaderAt
	off int64 // where buf starts in the file
	buf []byte
}

func (r *readAhead) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.off && off+int64(len(p)) <= r.off+int64(len(r.buf)) {
		return copy(p, r.buf[off-r.off:]), nil
	}
	if len(p) > cap(r.buf)/2 {
		return r.f.ReadAt(p, off)
	}
	n, _ := r.f.ReadAt(r.buf[:cap(r.buf)], off)
	r.off, r.buf = off, r.buf[:n]
	if n < len(p) {
		// Short: let the file say why.
		return r.f.ReadAt(p, off)
	}
	return copy(p, r.buf), nil
}
