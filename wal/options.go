package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"logship/wal/vfs"
)

// Limits on Options.
const (
	// DefaultSegmentSize is the size at which Append starts a new file.
	DefaultSegmentSize = 10 << 20
	// MinSegmentSize is the smallest SegmentSize Validate accepts: small
	// enough for tests that want many files, large enough for a header and
	// a few records.
	MinSegmentSize = 4096
	// MaxSegmentSize is the largest SegmentSize: an offset is a u32.
	MaxSegmentSize = maxOffset
	// DefaultBufferSize is how many appended bytes are held in memory
	// before they are written to the file.
	DefaultBufferSize = 1 << 20
	// MaxBufferSize bounds BufferSize.
	MaxBufferSize = 1 << 30
	// DefaultPreallocate is how far ahead of its writer the log keeps
	// zeros on disk, at most, on the operating system's file system.
	DefaultPreallocate = 4 << 20
)

// Options configure a Log. Start from DefaultOptions; a zero field means
// the default.
type Options struct {
	FS          vfs.FS       // default vfs.OS
	SegmentSize int64        // default 10 MiB
	BufferSize  int          // bytes buffered before a write(2); default 1 MiB
	Logger      *slog.Logger // default slog.Default()
	// Preallocate is how far ahead of the writer, at most, the log lays
	// zeros in its file and fsyncs them, so that a commit's fsync
	// overwrites allocated blocks instead of growing the file (see
	// prealloc.go). Zero means DefaultPreallocate when FS is vfs.OS and
	// none on other file systems; negative turns it off.
	Preallocate int64
	// OnSync, if set, is called after each fsync that Sync (or Close)
	// made, with how long writing the pending records and fsyncing took:
	// one call per group commit, however many callers it covered. It
	// must not block.
	OnSync func(time.Duration)
	// BeforeSync, if set, is called by the caller of Sync that is about
	// to write and fsync for a group, once the group has gathered: every
	// record appended before the call is in the group. It must not block.
	BeforeSync func()
}

// DefaultOptions returns the options Open uses for zero fields.
func DefaultOptions() Options {
	return Options{
		FS:          vfs.OS,
		SegmentSize: DefaultSegmentSize,
		BufferSize:  DefaultBufferSize,
		Logger:      slog.Default(),
	}
}

// Validate reports every field that is out of range. A zero field is valid
// (it means the default). Validate does not modify o.
func (o Options) Validate() error {
	var errs []error
	if o.SegmentSize != 0 && o.SegmentSize < MinSegmentSize {
		errs = append(errs, fmt.Errorf("wal: SegmentSize (%d) must be at least %d", o.SegmentSize, MinSegmentSize))
	}
	if o.SegmentSize > MaxSegmentSize {
		errs = append(errs, fmt.Errorf("wal: SegmentSize (%d) must be at most %d", o.SegmentSize, int64(MaxSegmentSize)))
	}
	if o.BufferSize < 0 {
		errs = append(errs, fmt.Errorf("wal: BufferSize (%d) must not be negative", o.BufferSize))
	}
	if o.BufferSize > MaxBufferSize {
		errs = append(errs, fmt.Errorf("wal: BufferSize (%d) must be at most %d", o.BufferSize, MaxBufferSize))
	}
	return errors.Join(errs...)
}

// withDefaults returns o with every zero field set from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.FS == nil {
		o.FS = d.FS
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = d.SegmentSize
	}
	if o.BufferSize == 0 {
		o.BufferSize = d.BufferSize
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}
