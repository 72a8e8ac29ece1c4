package rep

import "errors"

// Sentinel errors. Wrap them with %w when adding context.
var (
	// ErrNotMaster is returned by master-only inputs (Appended) on a site
	// that is not the master.
	ErrNotMaster = errors.New("rep: not master")
	// ErrNotClient is returned by client-only inputs (Sync) on a site that
	// is not a client.
	ErrNotClient = errors.New("rep: not client")
	// ErrLockout is what the driver returns to an operation on a client
	// that is synchronising (verify, rollback, internal init) when NoWait
	// is configured; without NoWait the driver makes the operation wait.
	ErrLockout = errors.New("rep: client is synchronising (lockout)")
	// ErrJoinFailure means the client is too far behind the master to
	// catch up from the log and NoAutoInit forbids internal init.
	ErrJoinFailure = errors.New("rep: client too far out of date and auto-init is off (join failure)")
	// ErrInitAbandoned means the client's internal init cannot complete:
	// the master (or peer) stopped retaining the log from the snapshot's
	// LSN before the client caught up past it, because the log written
	// meanwhile exceeded InitRetainMaxBytes. The client stops rather than
	// start another init that would likely fail the same way; Sync
	// retries (raise InitRetainMaxBytes or ThrottleBytes first).
	ErrInitAbandoned = errors.New("rep: internal init abandoned: the log needed to catch up after the snapshot was not retained")
	// ErrRollbackRefused means the client would discard more of its own
	// log than MaxRollbackBytes allows (a rollback to the sync point, or
	// the records an internal init replaces): it stopped instead, in
	// SyncRollbackRefused. AllowRollback lets it proceed once.
	ErrRollbackRefused = errors.New("rep: rollback refused: it would discard more of this site's log than MaxRollbackBytes allows")
	// ErrNoRollbackRefused is AllowRollback's answer on a site that is
	// not stopped in SyncRollbackRefused: there is nothing to allow.
	ErrNoRollbackRefused = errors.New("rep: no rollback refused: the site is not stopped in rollback_refused")
	// ErrStaleGen rejects a role change to a generation older than the
	// one the site already knows.
	ErrStaleGen = errors.New("rep: stale generation")
	// ErrBadMessage is wrapped by every Unmarshal error.
	ErrBadMessage = errors.New("rep: malformed message")
	// ErrNotFound is what a LogReader returns for a position that holds
	// no record (past the end, not a record start).
	ErrNotFound = errors.New("rep: no such log record")
	// ErrLogRemoved is what a LogReader returns when the record asked for
	// existed but its log file has been removed (archived): a client
	// needing it must be rebuilt by internal init.
	ErrLogRemoved = errors.New("rep: log record removed")
	// ErrLogDamaged is what a LogReader returns (wrapped, naming the
	// record) for a record it holds but cannot read back intact (its
	// checksum fails): like a removed record, it cannot be served, and a
	// client that needs it from the master is rebuilt by internal init.
	ErrLogDamaged = errors.New("rep: log record damaged")
	// ErrBadConfig is wrapped by every Config.Validate error.
	ErrBadConfig = errors.New("rep: invalid config")
)
