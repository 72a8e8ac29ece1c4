package wal

import (
	"errors"
	"fmt"

	"logship/wal/lsn"
)

// Sentinel errors. Errors returned by this package wrap one of these with
// context (the directory, the LSN); test them with errors.Is.
var (
	// ErrClosed is returned by every call on a closed Log or Reader.
	ErrClosed = errors.New("wal: log closed")
	// ErrCorrupt reports a record or file whose checksum or structure is
	// wrong. The message names the LSN or file.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrTornTail reports, from Verify, a partly written last record: the
	// normal result of a crash, which opening the log repairs. Errors that
	// wrap it also wrap ErrCorrupt.
	ErrTornTail = errors.New("wal: torn tail")
	// ErrNotRecordStart reports an LSN inside the log that is not the
	// first byte of a record.
	ErrNotRecordStart = errors.New("wal: not a record start")
	// ErrNotFound reports an LSN outside the log: before First, at or
	// after End, or in a range removed or truncated away.
	ErrNotFound = errors.New("wal: no such record")
	// ErrFailed marks a log that lost a write or an fsync. It accepts no
	// further writes: the data it holds in memory may never have reached
	// the disk, and a later successful fsync would not prove otherwise.
	ErrFailed = errors.New("wal: log failed; no further writes accepted")
	// ErrTooLarge reports a record that can never fit in a segment.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrBadPosition reports an AppendAt whose position does not follow
	// the end of the log.
	ErrBadPosition = errors.New("wal: append position does not follow the log end")
)

// CorruptError describes damage found in a log: where, and why. It
// matches ErrCorrupt with errors.Is, and ErrTornTail as well when the
// damage is a partly written last record.
type CorruptError struct {
	LSN    lsn.LSN // the damaged record; Zero for damage to a whole file
	Path   string  // the file, for damage to a whole file (LSN is Zero)
	Reason string
	// Torn reports a partly written record at the very end of the log,
	// the normal trace of a crash; Open cuts it.
	Torn bool
}

func (e *CorruptError) Error() string {
	switch {
	case e.Torn && e.LSN.IsZero():
		return fmt.Sprintf("wal: torn tail in %s: %s", e.Path, e.Reason)
	case e.Torn:
		return fmt.Sprintf("wal: torn tail at %s: the last record is incomplete (%s); opening the log cuts it", e.LSN, e.Reason)
	case e.LSN.IsZero():
		return fmt.Sprintf("wal: corrupt log file %s: %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("wal: corrupt record at %s: %s", e.LSN, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) (and ErrTornTail for a torn tail)
// true.
func (e *CorruptError) Is(target error) bool {
	return target == ErrCorrupt || (e.Torn && target == ErrTornTail)
}

func corruptAt(at lsn.LSN, format string, args ...any) error {
	return &CorruptError{LSN: at, Reason: fmt.Sprintf(format, args...)}
}

func corruptFile(path string, format string, args ...any) error {
	return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...)}
}
