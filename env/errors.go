package env

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the errors the
// environment returns wrap them with context.
var (
	// ErrClosed is returned by every call on a closed environment.
	ErrClosed = errors.New("env: environment closed")
	// ErrFailed is returned once the environment has hit an error it cannot
	// recover from in place (a failed log fsync, a failed bbolt commit). The
	// cause is wrapped too. Close and reopen: recovery repairs the state.
	ErrFailed = errors.New("env: environment failed")
	// ErrTxClosed is returned when a Tx or ReadTx is used after the function
	// it was passed to has returned.
	ErrTxClosed = errors.New("env: transaction closed")
	// ErrEmptyBucket is returned for an empty bucket name.
	ErrEmptyBucket = errors.New("env: empty bucket name")
	// ErrEmptyKey is returned for an empty key.
	ErrEmptyKey = errors.New("env: empty key")
	// ErrKeyTooLarge is returned for a key or bucket name longer than
	// MaxKeySize.
	ErrKeyTooLarge = errors.New("env: key or bucket name too large")
	// ErrValueTooLarge is returned for a value longer than
	// Config.MaxValueSize.
	ErrValueTooLarge = errors.New("env: value too large")
	// ErrTxTooLarge is returned when a transaction's record would not fit
	// in one log file (Config.LogFileSize).
	ErrTxTooLarge = errors.New("env: transaction too large for a log file")
	// ErrNoUndo is returned by RollbackTo when the target LSN is not a
	// record still held in the log (before the first one, after the last
	// one, or not a record start). The caller must re-copy the data
	// instead (internal initialization).
	ErrNoUndo = errors.New("env: cannot roll back to that LSN")
	// ErrBadSnapshot is returned by InstallSnapshot for a stream that is
	// not a snapshot, is damaged, or reflects another LSN than expected.
	ErrBadSnapshot = errors.New("env: bad snapshot")
	// ErrCorrupt is returned when a log record cannot be decoded or the
	// data file and the log disagree.
	ErrCorrupt = errors.New("env: corrupt")

	// ErrNeverApplied: the commit a token names will never be applied on
	// this site: the site holds another record at its LSN, at or before
	// the commit point, which no failover undoes (the commit was rolled
	// back). Berkeley DB's txn_applied answers DB_NOTFOUND.
	ErrNeverApplied = errors.New("env: the commit will never be applied here")
	// ErrNoSpace: the file system lacks the room an operation needs
	// before it starts (an internal init's snapshot).
	ErrNoSpace = errors.New("env: not enough free disk space")
)
