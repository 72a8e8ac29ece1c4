package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// Open opens the log in dir, creating dir and an empty log if needed, and
// recovers from a crash:
//
//   - a partly written record at the very end of the last file (a torn
//     write) is cut off, and the cut is logged;
//   - a bad record followed by a good one in the last file is media
//     damage, not a torn write: Open refuses, naming the LSN, rather than
//     drop good records;
//   - a bad record in an earlier file, a bad file header or a missing
//     file number is damage too: Open refuses, naming it;
//   - a last file whose header is incomplete (a crash while creating it)
//     is removed.
//
// Only the last file is scanned: every earlier one was fsynced before its
// successor was created. Open never drops a record that was durable.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l := &Log{dir: dir, opts: opts, fs: opts.FS, log: opts.Logger}
	l.cond.L = &l.mu
	l.space.L = &l.mu
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.close(false)
		}
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l.kick = make(chan struct{}, 1)
	l.quit = make(chan struct{})
	l.flusherDone = make(chan struct{})
	go l.flusher()
	l.startPrealloc()
	return l, nil
}

// listSegments returns the segment numbers in dir, sorted, and the
// numbers of unfinished Reset files.
func listSegments(fs vfs.FS, dir string) (nums, tmps []uint32, err error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		num, tmp, ok := parseSegName(name)
		switch {
		case !ok:
		case tmp:
			tmps = append(tmps, num)
		default:
			nums = append(nums, num)
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	sort.Slice(tmps, func(i, j int) bool { return tmps[i] < tmps[j] })
	return nums, tmps, nil
}

// checkConsecutive returns an error naming the first missing file number.
func checkConsecutive(dir string, nums []uint32) error {
	for i := 1; i < len(nums); i++ {
		if nums[i] != nums[i-1]+1 {
			return corruptFile(filepath.Join(dir, segName(nums[i-1]+1)),
				"missing: the log has files %d and %d but nothing between", nums[i-1], nums[i])
		}
	}
	return nil
}

func (l *Log) recover() error {
	if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	nums, tmps, err := listSegments(l.fs, l.dir)
	if err != nil {
		return err
	}
	if nums, err = l.finishReset(nums, tmps); err != nil {
		return err
	}
	if len(nums) == 0 {
		if err := l.createEmpty(fileHeader{num: 1, firstOff: FileHeaderSize}); err != nil {
			return err
		}
		nums = []uint32{1}
	}
	if err := checkConsecutive(l.dir, nums); err != nil {
		return err
	}
	if err := l.loadHeaders(nums); err != nil {
		return err
	}
	if err := l.recoverLast(); err != nil {
		return err
	}
	if err := l.checkPrevTail(); err != nil {
		return err
	}
	l.dirSynced.Store(l.lastSeg().num)
	l.created = l.lastSeg().num
	return nil
}

// finishReset deals with files a crashed Reset left: if the old log is
// gone the Reset had passed its point of no return and is completed;
// otherwise it never took effect and its file is dropped.
func (l *Log) finishReset(nums, tmps []uint32) ([]uint32, error) {
	if len(tmps) == 0 {
		return nums, nil
	}
	if len(nums) == 0 {
		num := tmps[len(tmps)-1]
		tmps = tmps[:len(tmps)-1]
		path := filepath.Join(l.dir, segName(num))
		if err := l.fs.Rename(path+tmpSuffix, path); err != nil {
			return nil, err
		}
		l.log.Warn("wal: finished an interrupted reset", "dir", l.dir, "file", path)
		nums = []uint32{num}
	}
	for _, t := range tmps {
		if err := l.fs.Remove(filepath.Join(l.dir, segName(t)+tmpSuffix)); err != nil {
			return nil, err
		}
	}
	return nums, l.fs.SyncDir(l.dir)
}

// createEmpty creates a segment holding only a header (and the hole up to
// its first record), durably.
func (l *Log) createEmpty(h fileHeader) error {
	path := filepath.Join(l.dir, segName(h.num))
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	hdr := h.encode()
	err = writeFull(f, hdr[:], 0)
	if err == nil && h.firstOff > FileHeaderSize {
		err = f.Truncate(int64(h.firstOff))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	return err
}

// loadHeaders reads every segment's header and size. A last file whose
// header is incomplete is removed (or, if it is the only file, created
// again): it was being created when the process died, so it held nothing
// durable.
func (l *Log) loadHeaders(nums []uint32) error {
	for i, num := range nums {
		path := filepath.Join(l.dir, segName(num))
		h, size, err := l.readSegHeader(path, num)
		var ce *CorruptError
		if err != nil && errors.As(err, &ce) && i == len(nums)-1 && size <= FileHeaderSize {
			l.log.Warn("wal: removing a log file whose creation was interrupted", "file", path, "size", size, "reason", ce.Reason)
			if err := l.fs.Remove(path); err != nil {
				return err
			}
			if err := l.fs.SyncDir(l.dir); err != nil {
				return err
			}
			if i > 0 {
				break
			}
			h, size = fileHeader{num: num, firstOff: FileHeaderSize}, FileHeaderSize
			err = l.createEmpty(h)
		}
		if err != nil {
			return err
		}
		s := newSegment(l.dir, h)
		s.onDisk = true
		s.end = uint32(size)
		l.segs = append(l.segs, s)
	}
	return nil
}

func (l *Log) readSegHeader(path string, num uint32) (fileHeader, int64, error) {
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fileHeader{}, 0, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fileHeader{}, 0, err
	}
	h, err := readHeader(f, num, size)
	return h, size, err
}

// recoverLast scans the last file, cuts a torn tail and makes the file
// durable, and sets the log's positions from it.
func (l *Log) recoverLast() error {
	s := l.lastSeg()
	f, err := s.file(l.fs)
	if err != nil {
		return err
	}
	size := int64(s.end)
	// The scan reads every record anyway: note their starts, so the
	// reopened log's first walk in this file is as short as a later one.
	// Only the log's opener sees s yet, so Log.mu is not needed.
	res, err := scanSegment(f, s.header(), size, func(r Record) error {
		s.noteStart(r.LSN.Offset)
		return nil
	})
	if err != nil {
		return err
	}
	if res.bad != nil {
		ce := res.bad.(*CorruptError)
		// Zeros (what the preallocator leaves) hold no record: no need to
		// search them offset by offset for one.
		zero, err := zeroTail(f, int64(res.end), size)
		if err != nil {
			return err
		}
		if zero {
			l.log.Debug("wal: cutting preallocated zeros", "dir", l.dir, "lsn", ce.LSN.String(),
				"bytes", size-int64(res.end))
		} else {
			at, found, err := findValid(f, s.header(), res.end, res, size)
			if err != nil {
				return err
			}
			if found {
				return corruptAt(ce.LSN, "%s, but a good record follows at %s: media damage, not a torn write", ce.Reason, at)
			}
			l.log.Warn("wal: cutting a torn tail", "dir", l.dir, "lsn", ce.LSN.String(),
				"bytes", size-int64(res.end), "reason", ce.Reason)
		}
		if err := f.Truncate(int64(res.end)); err != nil {
			return err
		}
	}
	// The last file may hold writes of a process that died before it
	// synced them: sync them now, so that DurableEnd is true.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	s.end = res.end
	l.end = lsn.New(s.num, res.end)
	l.written, l.durable = l.end, l.end
	if res.records > 0 {
		l.last, l.prevOff = res.last, res.last.Offset
	} else {
		l.last = s.prevLast
	}
	return nil
}

// checkPrevTail checks that the file before the last one ends with the
// record the last file's header names, exactly: a cheap guard against a
// damaged or shortened earlier file, which Open does not scan.
func (l *Log) checkPrevTail() error {
	last := l.lastSeg()
	p := last.prevLast
	if p.IsZero() || p.File < l.segs[0].num {
		return nil
	}
	ps := l.segLocked(p.File)
	for n := p.File + 1; n < last.num; n++ {
		if s := l.segLocked(n); s.hasRecords() {
			return corruptFile(s.path, "holds data after %s, which %s says is the log's last record before it", p, last.path)
		}
	}
	f, err := ps.file(l.fs)
	if err != nil {
		return err
	}
	rec, _, err := readRecordAt(f, p, ps.firstOff, ps.end)
	if err != nil {
		return fmt.Errorf("the last record before %s: %w", last.path, err)
	}
	if rec.Next.Offset != ps.end {
		return corruptFile(ps.path, "%d bytes follow its last record %s", ps.end-rec.Next.Offset, p)
	}
	return nil
}
