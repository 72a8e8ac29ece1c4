package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"logship/wal/lsn"
)

// readerBufSize bounds a Reader's memory beyond the record it returns.
const readerBufSize = 64 << 10

// Reader iterates over records forward from a record start, across files.
// It stays valid while records are appended: at the end of the log Next
// returns io.EOF, and a later Next returns records appended since. If the
// log is truncated, reset or trimmed under its position, Next returns an
// error wrapping ErrNotFound rather than records of another history.
//
// A Reader is not safe for concurrent use; use one per goroutine.
type Reader struct {
	l      *Log
	pos    lsn.LSN
	gen    uint64 // the log generation pos was last checked against
	err    error  // sticky
	closed bool

	// The buffered view of one file: br returns the bytes of seg from
	// brOff up to brLim, as they were at generation brGen.
	seg   *segment
	br    *bufio.Reader
	brOff uint32
	brLim uint32
	brGen uint64
}

// NewReader returns a Reader whose first record is the one at `from`.
// from must be a record start, End() (then Next returns io.EOF until
// something is appended), or the end of a file's records (the Next of its
// last record: the reader goes on in the next file); lsn.Zero means
// First().
func (l *Log) NewReader(from lsn.LSN) (*Reader, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	gen, end := l.gen, l.end
	if from.IsZero() {
		from = l.firstLocked()
		if from.IsZero() {
			from = end
		}
	}
	s := l.segLocked(from.File)
	fileEnd := s != nil && s != l.lastSeg() && from.Offset == s.end && !from.Less(l.firstLocked())
	l.mu.Unlock()
	if from != end && !fileEnd {
		if _, err := l.Read(from); err != nil {
			return nil, err
		}
	}
	return &Reader{l: l, pos: from, gen: gen}, nil
}

// Next returns the next record, or io.EOF at the end of the log.
func (r *Reader) Next() (Record, error) {
	if r.closed {
		return Record{}, ErrClosed
	}
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil && err != io.EOF {
		r.err = err
		r.br = nil
	}
	return rec, err
}

// Close releases the Reader's buffer. It does not close the Log.
func (r *Reader) Close() error {
	if r.closed {
		return ErrClosed
	}
	r.closed, r.br, r.seg = true, nil, nil
	return nil
}

func (r *Reader) next() (Record, error) {
	// A truncation, Reset or removal can change the bytes under a read.
	// Each bumps the log's generation before it touches a file, so a
	// read that ends with the generation it started with saw a stable
	// log; any other is thrown away and redone, and the redo's position
	// check says whether the reader still has a place in the log.
	for range 100 {
		rec, gen, err := r.readOnce()
		if err == io.EOF || r.l.genA.Load() == gen {
			if err == nil {
				r.pos = rec.Next
			}
			return rec, err
		}
		r.br = nil
	}
	return Record{}, fmt.Errorf("%w: reader at %s: the log keeps changing under it", ErrNotFound, r.pos)
}

// readOnce reads the record at the reader's position and returns the
// generation the position was valid in.
func (r *Reader) readOnce() (Record, uint64, error) {
	s, limit, gen, err := r.position()
	if err != nil {
		return Record{}, gen, err
	}
	if r.br == nil || r.seg != s || r.brOff != r.pos.Offset || r.brGen != gen {
		if err := r.reset(s, limit, gen); err != nil {
			return Record{}, gen, err
		}
	}
	var h recordHeader
	for {
		hb, err := r.br.Peek(RecordHeaderSize)
		if err == nil {
			h = decodeRecordHeader(hb)
			if uint64(r.pos.Offset)+RecordHeaderSize+uint64(h.n) <= uint64(r.brLim) {
				break
			}
		} else if !errors.Is(err, io.EOF) {
			return Record{}, gen, r.ioErr(err)
		}
		// The record runs past the buffered view: more may have been
		// written since the view was made; otherwise it is damaged.
		if r.brLim >= limit {
			return Record{}, gen, corruptAt(r.pos, "record runs past the end of the data (%d)", limit)
		}
		if err := r.reset(s, limit, gen); err != nil {
			return Record{}, gen, err
		}
	}
	if _, err := r.br.Discard(RecordHeaderSize); err != nil {
		return Record{}, gen, r.ioErr(err)
	}
	payload := make([]byte, h.n)
	if _, err := io.ReadFull(r.br, payload); err != nil {
		return Record{}, gen, r.ioErr(err)
	}
	at := r.pos
	end := lsn.New(at.File, at.Offset+RecordHeaderSize+h.n)
	r.brOff = end.Offset
	if checksum(at, h.n, h.prev, payload) != h.crc {
		return Record{}, gen, corruptAt(at, "checksum mismatch")
	}
	return Record{LSN: at, Next: end, Checksum: h.crc, Payload: payload}, gen, nil
}

// position validates the reader's position against the log, moves it to
// the next file at the end of a full one, and returns its segment, how far
// that segment's records are in the file, and the generation all this
// holds for (errors included: they are answers about that generation).
func (r *Reader) position() (*segment, uint32, uint64, error) {
	l := r.l
	l.mu.Lock()
	stop := func(err error) (*segment, uint32, uint64, error) {
		gen := l.gen
		l.mu.Unlock()
		return nil, 0, gen, err
	}
	for {
		if l.closed {
			return stop(ErrClosed)
		}
		if err := l.checkCutsLocked(r.gen, r.pos, r.pos); err != nil {
			return stop(err)
		}
		r.gen = l.gen
		if !r.pos.Less(l.end) {
			return stop(io.EOF)
		}
		s := l.segLocked(r.pos.File)
		if s == nil {
			return stop(fmt.Errorf("%w: reader at %s: no such file", ErrNotFound, r.pos))
		}
		if r.pos.Offset >= s.end {
			next := l.segLocked(s.num + 1)
			if next == nil {
				return stop(fmt.Errorf("%w: reader at %s: past the end of the last file", ErrNotFound, r.pos))
			}
			r.pos = lsn.New(next.num, next.firstOff)
			continue
		}
		gen := l.gen
		if r.pos.Less(l.written) {
			limit := s.end
			if l.written.File == s.num {
				limit = l.written.Offset
			}
			l.mu.Unlock()
			return s, limit, gen, nil
		}
		l.mu.Unlock()
		if err := l.flush(); err != nil {
			return nil, 0, gen, err
		}
		l.mu.Lock()
	}
}

// reset points the buffered view at the reader's position in s.
func (r *Reader) reset(s *segment, limit uint32, gen uint64) error {
	f, err := s.file(r.l.fs)
	if err != nil {
		return r.ioErr(err)
	}
	sec := io.NewSectionReader(f, int64(r.pos.Offset), int64(limit)-int64(r.pos.Offset))
	if r.br == nil {
		r.br = bufio.NewReaderSize(sec, readerBufSize)
	} else {
		r.br.Reset(sec)
	}
	r.seg, r.brOff, r.brLim, r.brGen = s, r.pos.Offset, limit, gen
	return nil
}

// ioErr wraps an I/O error.
func (r *Reader) ioErr(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("wal: reader at %s: %w", r.pos, err)
}

// cutKind says which positions an operation invalidated.
type cutKind uint8

const (
	cutAfter  cutKind = iota + 1 // TruncateAfter: positions past at
	cutBefore                    // RemoveBefore: positions before at
	cutAll                       // Reset: every position
)

// cut is one operation that invalidated positions, for readers.
type cut struct {
	gen  uint64
	kind cutKind
	at   lsn.LSN
}

// maxCuts bounds the history kept; a reader older than all of it is
// invalidated conservatively.
const maxCuts = 64

// addCutLocked records an operation that invalidates positions.
func (l *Log) addCutLocked(kind cutKind, at lsn.LSN) {
	l.gen++
	l.genA.Store(l.gen)
	if len(l.cuts) == maxCuts {
		l.cuts = append(l.cuts[:0], l.cuts[1:]...)
	}
	l.cuts = append(l.cuts, cut{gen: l.gen, kind: kind, at: at})
}

// checkCutsLocked returns an error if an operation since generation
// `since` invalidated the range [pos, end).
func (l *Log) checkCutsLocked(since uint64, pos, end lsn.LSN) error {
	if since == l.gen {
		return nil
	}
	if len(l.cuts) == 0 || l.cuts[0].gen > since+1 {
		return fmt.Errorf("%w: reader at %s: the log changed too often under it", ErrNotFound, pos)
	}
	for _, c := range l.cuts {
		if c.gen <= since {
			continue
		}
		switch c.kind {
		case cutAfter:
			if c.at.Less(end) {
				return fmt.Errorf("%w: reader at %s: the log was truncated to end at %s", ErrNotFound, pos, c.at)
			}
		case cutBefore:
			if pos.Less(c.at) {
				return fmt.Errorf("%w: reader at %s: the files before %s were removed", ErrNotFound, pos, c.at)
			}
		case cutAll:
			return fmt.Errorf("%w: reader at %s: the log was reset to %s", ErrNotFound, pos, c.at)
		}
	}
	return nil
}
