package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// VerifyResult is what Verify found in a log directory.
type VerifyResult struct {
	Records  int
	First    lsn.LSN // the first good record; Zero if none
	End      lsn.LSN // just past the last good record
	Segments int
}

// Verify checks every record of the log in dir without modifying
// anything, for tools working on a stopped site (repadmin log verify and
// dump). visit, if not nil, sees every good record in order and may stop
// the scan by returning an error, which Verify returns.
//
// Verify returns the first problem as an error wrapping ErrCorrupt and
// naming the LSN or file. A partly written last record, which Open would
// cut, also wraps ErrTornTail; damage followed by good records does not.
// The result describes the good records before the problem.
func Verify(fs vfs.FS, dir string, visit func(Record) error) (VerifyResult, error) {
	var res VerifyResult
	nums, _, err := listSegments(fs, dir)
	if err != nil {
		return res, fmt.Errorf("wal: verify %s: %w", dir, err)
	}
	res.Segments = len(nums)
	if len(nums) == 0 {
		return res, fmt.Errorf("wal: verify %s: %w: no log files", dir, ErrNotFound)
	}
	if err := checkConsecutive(dir, nums); err != nil {
		return res, fmt.Errorf("wal: verify %s: %w", dir, err)
	}
	// A last file with an incomplete header was being created when the
	// process died; Open removes it, so the file before it is the one
	// whose tail may be torn.
	var tornHeader error
	if err := checkTornHeader(fs, dir, nums[len(nums)-1]); err != nil {
		tornHeader, nums = err, nums[:len(nums)-1]
	}
	var last lsn.LSN // the last good record so far
	for i, num := range nums {
		if err := verifySegment(fs, dir, num, i == len(nums)-1, i == 0, &last, &res, visit); err != nil {
			return res, err
		}
	}
	return res, tornHeader
}

// checkTornHeader returns a torn-tail error if segment num has an
// incomplete header, the trace of a crash while creating it.
func checkTornHeader(fs vfs.FS, dir string, num uint32) error {
	f, err := fs.OpenFile(filepath.Join(dir, segName(num)), os.O_RDONLY, 0)
	if err != nil {
		return nil // verifySegment reports it
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > FileHeaderSize {
		return nil
	}
	_, err = readHeader(f, num, size)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		return nil
	}
	ce.Reason += "; the file's creation was interrupted, and opening the log removes it"
	ce.Torn = true
	return fmt.Errorf("wal: verify %s: %w", dir, ce)
}

// verifySegment checks one file and adds what it found to res.
func verifySegment(fs vfs.FS, dir string, num uint32, isLast, isFirst bool, last *lsn.LSN, res *VerifyResult, visit func(Record) error) error {
	path := filepath.Join(dir, segName(num))
	wrap := func(err error) error { return fmt.Errorf("wal: verify %s: %w", dir, err) }
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return wrap(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return wrap(err)
	}
	h, err := readHeader(f, num, size)
	if err != nil {
		return wrap(err)
	}
	if !isFirst && h.prevLast != *last {
		return wrap(corruptFile(path, "the header names %s as the log's previous last record, but it is %s", h.prevLast, *last))
	}
	res.End = lsn.New(num, h.firstOff)
	sr, err := scanSegment(f, h, size, func(r Record) error {
		if res.First.IsZero() {
			res.First = r.LSN
		}
		res.Records++
		res.End = r.Next
		if visit != nil {
			return visit(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sr.records > 0 {
		*last = sr.last
	}
	if sr.bad == nil {
		return nil
	}
	ce := sr.bad.(*CorruptError)
	if !isLast {
		ce.Reason += fmt.Sprintf(" (in %s, which is not the last file)", path)
		return wrap(ce)
	}
	// Zeros the log laid ahead of its writer (see prealloc.go) hold no
	// record: the log ends at the last good one.
	zero, err := zeroTail(f, int64(sr.end), size)
	if err != nil {
		return wrap(err)
	}
	if zero {
		return nil
	}
	at, found, err := findValid(f, h, sr.end, sr, size)
	if err != nil {
		return wrap(err)
	}
	if found {
		ce.Reason += fmt.Sprintf(", but a good record follows at %s: media damage, not a torn write", at)
	} else {
		ce.Torn = true
	}
	return wrap(ce)
}
