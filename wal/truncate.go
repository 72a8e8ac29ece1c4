package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"logship/wal/lsn"
)

// TruncateAfter keeps the record at `at` and durably drops every record
// after it; appends continue where that record ends. It rolls back a
// replication client whose log diverged from its master's. `at` must be a
// record start in [First, Last]. Records appended concurrently are dropped
// too.
//
// On disk, later files go first, newest first, then the file holding `at`
// is cut and fsynced: a crash in between leaves a shorter log that still
// holds `at`, never a gap.
func (l *Log) TruncateAfter(at lsn.LSN) error {
	if err := l.lockExclusive(); err != nil {
		return err
	}
	defer l.unlockExclusive()
	if err := l.Err(); err != nil {
		return err
	}
	rec, _, err := l.read(at, true)
	if err != nil {
		return fmt.Errorf("wal: truncate after %s: %w", at, err)
	}
	newEnd := rec.Next

	l.mu.Lock()
	l.dropPendingLocked()
	i := int(at.File - l.segs[0].num)
	gone := append([]*segment(nil), l.segs[i+1:]...)
	clear(l.segs[i+1:])
	l.segs = l.segs[:i+1]
	s := l.segs[i]
	s.end = newEnd.Offset
	s.cutStarts(newEnd.Offset)
	l.end, l.last, l.prevOff = newEnd, at, at.Offset
	l.written = newEnd
	l.durable = lsn.Min(l.durable, newEnd)
	l.addCutLocked(cutAfter, newEnd)
	l.mu.Unlock()

	l.forgetDirty(gone)
	for i := len(gone) - 1; i >= 0; i-- {
		if err := l.removeSegment(gone[i]); err != nil {
			return l.fail(err)
		}
	}
	if len(gone) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("sync directory %s: %w", l.dir, err))
		}
		l.created = at.File
		l.dirSynced.Store(at.File)
	}
	f, err := s.file(l.fs)
	if err == nil {
		err = f.Truncate(int64(newEnd.Offset))
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return l.fail(fmt.Errorf("truncate %s at %d: %w", s.path, newEnd.Offset, err))
	}
	return nil
}

// Reset durably drops every record and continues with an empty log whose
// End is next: after a replication client installs a snapshot, the next
// record from its master lands at next. next.File must be at least 1 and
// next.Offset at least FileHeaderSize; the bytes between the header and
// next.Offset are a hole of zeros.
//
// The new file is prepared under a temporary name and renamed into place
// only after every old file is gone, so a crash leaves either the old log
// (or a suffix of it), or the new one; Open finishes an interrupted Reset
// whose old files are all removed.
func (l *Log) Reset(next lsn.LSN) error {
	if next.File == 0 || next.Offset < FileHeaderSize {
		return fmt.Errorf("wal: reset to %s: the position must be at or after file 1, offset %d", next, FileHeaderSize)
	}
	if err := l.lockExclusive(); err != nil {
		return err
	}
	defer l.unlockExclusive()
	if err := l.Err(); err != nil {
		return err
	}

	s := newSegment(l.dir, fileHeader{num: next.File, firstOff: next.Offset})
	l.mu.Lock()
	l.dropPendingLocked()
	old := l.segs
	l.segs = []*segment{s}
	l.end, l.last, l.prevOff = next, lsn.Zero, 0
	l.written, l.durable = next, next
	l.addCutLocked(cutAll, next)
	l.mu.Unlock()
	l.forgetDirty(old)

	tmp := s.path + tmpSuffix
	if err := l.writeResetFile(tmp, s.header()); err != nil {
		return l.fail(err)
	}
	for _, o := range old {
		if err := l.removeSegment(o); err != nil {
			return l.fail(err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(fmt.Errorf("sync directory %s: %w", l.dir, err))
	}
	if err := l.fs.Rename(tmp, s.path); err != nil {
		return l.fail(fmt.Errorf("rename %s: %w", tmp, err))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(fmt.Errorf("sync directory %s: %w", l.dir, err))
	}
	s.fmu.Lock()
	s.onDisk = true
	s.fmu.Unlock()
	l.created = s.num
	l.dirSynced.Store(s.num)
	return nil
}

// writeResetFile creates the durable file a Reset renames into place.
func (l *Log) writeResetFile(path string, h fileHeader) error {
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	hdr := h.encode()
	err = writeFull(f, hdr[:], 0)
	if err == nil {
		err = f.Truncate(int64(h.firstOff))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("prepare %s: %w", path, err)
	}
	// Make the prepared file durable by name before removing the old
	// log, so that a crash after the removals can finish the Reset.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", l.dir, err)
	}
	return nil
}

// RemoveBefore removes every segment file all of whose records are before
// `at` (archiving), but never the file holding `at` nor the current last
// file, and returns the removed paths. First moves past them. Files go
// oldest first, so a crash leaves a log without a gap.
func (l *Log) RemoveBefore(at lsn.LSN) ([]string, error) {
	if err := l.lockExclusive(); err != nil {
		return nil, err
	}
	defer l.unlockExclusive()
	// Write what is pending first: every segment but the last is then
	// complete on disk, and no write can come for one removed here.
	if _, err := l.flushLocked(); err != nil {
		return nil, err
	}

	l.mu.Lock()
	n := 0
	for n < len(l.segs)-1 && l.segs[n].num < at.File {
		n++
	}
	gone := append([]*segment(nil), l.segs[:n]...)
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	if n > 0 {
		s := l.segs[0]
		l.addCutLocked(cutBefore, lsn.New(s.num, s.firstOff))
	}
	l.mu.Unlock()
	if n == 0 {
		return nil, nil
	}

	l.forgetDirty(gone)
	var removed []string
	for _, s := range gone {
		if err := l.removeSegment(s); err != nil {
			return removed, fmt.Errorf("wal: remove before %s: %w", at, err)
		}
		removed = append(removed, s.path)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return removed, fmt.Errorf("wal: remove before %s: sync directory %s: %w", at, l.dir, err)
	}
	return removed, nil
}

// removeSegment closes and deletes a segment's file.
func (l *Log) removeSegment(s *segment) error {
	s.fmu.Lock()
	onDisk := s.onDisk
	s.fmu.Unlock()
	if err := s.close(true); err != nil {
		l.log.Warn("wal: close before removal", "path", s.path, "err", err)
	}
	if !onDisk {
		return nil
	}
	if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", s.path, err)
	}
	return nil
}

// dropPendingLocked forgets records not yet written.
func (l *Log) dropPendingLocked() {
	l.recycleLocked(l.pending)
	l.pending = l.pending[:0]
	l.pendingBytes = 0
	l.space.Broadcast()
}

// forgetDirty drops removed segments from the set to fsync. The caller
// holds wmu.
func (l *Log) forgetDirty(gone []*segment) {
	keep := l.dirty[:0]
	for _, d := range l.dirty {
		drop := false
		for _, g := range gone {
			drop = drop || d == g
		}
		if !drop {
			keep = append(keep, d)
		}
	}
	clear(l.dirty[len(keep):])
	l.dirty = keep
}
