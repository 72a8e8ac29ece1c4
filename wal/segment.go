package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// segment is one log file as the Log tracks it.
//
// num, firstOff, prevLast and path never change. end is guarded by Log.mu.
// The file handle is guarded by fmu: it is opened lazily (a long log need
// not hold a descriptor per file) and closed when the file is removed.
type segment struct {
	num      uint32
	firstOff uint32
	prevLast lsn.LSN
	path     string

	// end is the offset just past the last record appended to the
	// segment, written or not. Guarded by Log.mu.
	end uint32
	// starts holds known record starts, ascending, about startsEvery
	// apart: appends note them, and so does a walk over a file opened
	// from disk (classify). Guarded by Log.mu.
	starts []uint32

	fmu     sync.Mutex
	f       vfs.File
	onDisk  bool // the file exists (false while its creation is pending)
	removed bool // the file was removed or the log closed
}

func newSegment(dir string, h fileHeader) *segment {
	return &segment{
		num:      h.num,
		firstOff: h.firstOff,
		prevLast: h.prevLast,
		path:     filepath.Join(dir, segName(h.num)),
		end:      h.firstOff,
	}
}

func (s *segment) header() fileHeader {
	return fileHeader{num: s.num, firstOff: s.firstOff, prevLast: s.prevLast}
}

// startsEvery spaces segment.starts: deciding whether an offset is a
// record start walks the records from the nearest known start before it,
// so at most this many bytes of them, not the file from its first record.
// A client walking back a diverged log asks the master that for each of
// its records, and a walk over a 3 MiB file took 55 ms
// (BenchmarkReadInsideARecord), long enough for a few of them to silence
// a new master's heartbeats.
const startsEvery = 8 << 10

// noteStart records that a record starts at off, past every known start,
// if it lies far enough past the last one. Caller holds Log.mu.
func (s *segment) noteStart(off uint32) {
	if n := len(s.starts); n == 0 && off-s.firstOff >= startsEvery || n > 0 && off-s.starts[n-1] >= startsEvery {
		s.starts = append(s.starts, off)
	}
}

// startBefore returns the last known record start at or before off (the
// first record's if none). Caller holds Log.mu.
func (s *segment) startBefore(off uint32) uint32 {
	i, _ := slices.BinarySearch(s.starts, off+1)
	if i == 0 {
		return s.firstOff
	}
	return s.starts[i-1]
}

// learnStarts merges record starts a walk found. Caller holds Log.mu.
func (s *segment) learnStarts(found []uint32) {
	s.starts = slices.Compact(slices.Sorted(slices.Values(append(s.starts, found...))))
}

// cutStarts forgets the starts at or past end, where a truncation let
// other records be written. Caller holds Log.mu.
func (s *segment) cutStarts(end uint32) {
	i, _ := slices.BinarySearch(s.starts, end)
	s.starts = s.starts[:i]
}

// hasRecords reports whether the segment holds a record. Caller holds
// Log.mu.
func (s *segment) hasRecords() bool { return s.end > s.firstOff }

// file returns the segment's handle, opening it if needed.
func (s *segment) file(fs vfs.FS) (vfs.File, error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	switch {
	case s.removed:
		return nil, fmt.Errorf("%w: %s was removed", ErrNotFound, s.path)
	case s.f != nil:
		return s.f, nil
	case !s.onDisk:
		// Only the writer reads a segment whose creation is pending, and
		// it creates the file first.
		return nil, fmt.Errorf("wal: %s: not created yet", s.path)
	}
	f, err := fs.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	s.f = f
	return f, nil
}

// create creates the segment's file and keeps the handle; the writer
// writes the header with the first records.
func (s *segment) create(fs vfs.FS) error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.removed {
		return fmt.Errorf("wal: %s: created after removal", s.path)
	}
	f, err := fs.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.f, s.onDisk = f, true
	return nil
}

// close closes the handle; remove also marks the segment gone, so readers
// still holding it get an error rather than reopening a later file of the
// same name.
func (s *segment) close(remove bool) error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if remove {
		s.removed = true
	}
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// writeFull writes all of p at off, turning a short write into an error.
func writeFull(f vfs.File, p []byte, off int64) error {
	n, err := f.WriteAt(p, off)
	if err == nil && n < len(p) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(p))
	}
	if err != nil {
		return fmt.Errorf("write %s at %d: %w", f.Name(), off, err)
	}
	return nil
}

// readFull reads len(p) bytes at off; a file too short is io.ErrUnexpectedEOF.
func readFull(f io.ReaderAt, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// sync fsyncs the segment's file; a removed segment has nothing to sync.
func (s *segment) sync(fs vfs.FS) error {
	s.fmu.Lock()
	removed := s.removed
	s.fmu.Unlock()
	if removed {
		return nil
	}
	f, err := s.file(fs)
	if err == nil {
		err = f.Sync()
	}
	return err
}
