package env

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"logship/wal"
	"logship/wal/vfs"
)

// MaxKeySize is the longest key or bucket name, in bytes. It is well below
// bbolt's own limit (32 KiB) so that a transaction's record stays small and
// the worst case is easy to bound against Config.LogFileSize.
const MaxKeySize = 4096

// walReserve is what a log file must keep for the log's own framing (segment
// header, record header) besides the largest record env writes. It is an
// allowance, not the wal's exact overhead; wal rejects a record that does not
// fit with its own error, which env reports as ErrTxTooLarge.
const walReserve = 4096

// Config configures an environment. Start from DefaultConfig and change what
// you need; Open rejects a configuration that does not Validate.
type Config struct {
	// LogFileSize is the size at which the log rolls over to a new file
	// (default 10 MiB). Smaller files let checkpoints free disk sooner;
	// larger ones mean fewer files. Every transaction's record must fit in
	// one file.
	LogFileSize int64

	// MaxValueSize is the largest value a Put accepts (default 1 MiB). A
	// put of the largest value over another one of the largest value, with
	// the longest key, must fit in one log file (its record carries the new
	// value and the before-image), so 2*MaxValueSize plus keys must be less
	// than LogFileSize.
	MaxValueSize int

	// AutoRemoveLogs makes Checkpoint remove the log files it reports as no
	// longer needed (default false: keep them until RemoveLogs is called,
	// as an operator may want them for archiving or replication).
	AutoRemoveLogs bool

	// LogKeepBytes bounds the log checkpoints keep for lagging
	// replication sites (default 1 GiB): a site down for a while catches
	// up from the log, not by internal init, while the log it needs is
	// within this many bytes of the log's end; past it, the site is let
	// go (see KeepFor). 0 keeps nothing for them. Without replication
	// nothing asks for it.
	LogKeepBytes int64

	// CheckpointInterval, if positive, makes the environment take a
	// checkpoint this often by itself (with AutoRemoveLogs, removing the
	// log files it no longer needs), as PostgreSQL's checkpoint_timeout
	// does. Zero (the default) leaves checkpoints to the caller, as in
	// Berkeley DB. A failed periodic checkpoint is logged and retried at
	// the next interval.
	CheckpointInterval time.Duration

	// VerifyOnOpen makes Open read every key of the data file and check
	// it against the digest kept from the log (VerifyData), failing with
	// ErrCorrupt on damage. It costs a read of the whole file at every
	// open; off by default. Open always checks every page bbolt relies on
	// (a damaged page is ErrCorrupt, not a panic), but not the values.
	VerifyOnOpen bool
	// VerifyInterval, if positive, runs VerifyData this often by itself;
	// damage fails the environment (see VerifyData). Zero (the default)
	// leaves it to the caller.
	VerifyInterval time.Duration

	// ApplyDelay is how long the applier may wait to gather a batch of
	// durable records before applying them to bbolt (default 5 ms). Each
	// batch costs bbolt's fsyncs, which compete with the log's, so
	// batching keeps the commit rate close to the log's own; for the same
	// reason the applier also spaces batches so that its bbolt commits
	// take about an eighth of the time at most (on a slow disk, batches
	// grow). A caller waiting in WaitApplied, Checkpoint, Snapshot or
	// RollbackTo makes the applier apply at once, so neither adds latency
	// to a read-your-writes. Zero means no delay beyond that spacing.
	ApplyDelay time.Duration

	// MinApplyDelay makes this a delayed replica (default 0: none), like
	// PostgreSQL's recovery_min_apply_delay: a record received from a
	// master is applied to bbolt only once its commit time plus
	// MinApplyDelay has passed on this site's clock, so that the data
	// trails the master by that much and an operator can read, or copy
	// back, what a mistake on the master destroyed. The records are
	// durable in the log at once (replication acknowledges them as
	// usual); only their application waits, and the log from the first
	// unapplied record on is kept. The delay holds while local commits
	// are shut out (Shut, a replication client; a store opens that way
	// with a delay): Admit, the site becoming master, applies the whole
	// log at once, and the records a master appended itself are never
	// delayed. Readers that wait for a record (WaitApplied, a token
	// read) wait for its delay too; Checkpoint, Snapshot, Open and Close
	// do not, and reflect only what is applied. See delay.go.
	MinApplyDelay time.Duration

	// MaxUnappliedBytes bounds the committed but not yet applied part of
	// the log (default 64 MiB). Those writes are held in memory (the
	// overlay that Update reads through), so an Update waits while the
	// bound is exceeded: memory stays bounded however fast writers go.
	MaxUnappliedBytes int64

	// FS is the file system for the log (default vfs.OS; nil means
	// vfs.OS). The bbolt data file always uses the operating system.
	FS vfs.FS

	// Logger receives the environment's events (default slog.Default();
	// nil means slog.Default()).
	Logger *slog.Logger

	hooks *testHooks // tests only
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		LogFileSize:       10 << 20,
		MaxValueSize:      1 << 20,
		AutoRemoveLogs:    false,
		LogKeepBytes:      1 << 30,
		ApplyDelay:        5 * time.Millisecond,
		MaxUnappliedBytes: 64 << 20,
		FS:                vfs.OS,
		Logger:            slog.Default(),
	}
}

// maxRecordSize is an upper bound on the encoded record of a transaction
// holding one put of a value of maxValue bytes over another such value.
func maxRecordSize(maxValue int) int64 {
	return recordHeaderMax + opOverheadMax + 2*MaxKeySize + 2*int64(maxValue)
}

// Validate reports every field that is out of range, naming it and its
// value. It never changes c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("env: "+format, args...))
	}
	if c.LogFileSize <= 0 {
		bad("LogFileSize (%d) must be > 0", c.LogFileSize)
	} else if c.LogFileSize > wal.MaxSegmentSize {
		bad("LogFileSize (%d) must be <= %d", c.LogFileSize, int64(wal.MaxSegmentSize))
	}
	if c.MaxValueSize <= 0 {
		bad("MaxValueSize (%d) must be > 0", c.MaxValueSize)
	} else if c.LogFileSize > 0 {
		if need := maxRecordSize(c.MaxValueSize) + walReserve; need > c.LogFileSize {
			bad("MaxValueSize (%d) too large for LogFileSize (%d): a record holding one such value and its before-image needs %d bytes of a log file",
				c.MaxValueSize, c.LogFileSize, need)
		}
	}
	if c.LogKeepBytes < 0 {
		bad("LogKeepBytes (%d) must be >= 0", c.LogKeepBytes)
	}
	if c.CheckpointInterval < 0 {
		bad("CheckpointInterval (%v) must be >= 0", c.CheckpointInterval)
	}
	if c.VerifyInterval < 0 {
		bad("VerifyInterval (%v) must be >= 0", c.VerifyInterval)
	}
	if c.ApplyDelay < 0 {
		bad("ApplyDelay (%v) must be >= 0", c.ApplyDelay)
	}
	if c.MinApplyDelay < 0 {
		bad("MinApplyDelay (%v) must be >= 0", c.MinApplyDelay)
	}
	if c.MaxUnappliedBytes <= 0 {
		bad("MaxUnappliedBytes (%d) must be > 0", c.MaxUnappliedBytes)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with nil FS and Logger replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.OS
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
