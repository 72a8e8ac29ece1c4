package env

// What a replication runtime (env/site) needs of the store besides the
// commit halves (commit.go) and the storage layer for rep's work
// (replica.go): the applied position with its digest, the log it must
// keep for the sites it serves, the notice of a group commit's fsync
// starting, and log distances for lag.

import (
	"time"

	"logship/wal/lsn"
)

// Applied returns the last record applied (what ViewApplied sees), the
// digest of the data there (digest.go), and a channel closed when either
// changes.
func (e *Env) Applied() (at lsn.LSN, digest uint64, changed <-chan struct{}) {
	e.amu.Lock()
	defer e.amu.Unlock()
	return e.applied, e.digest, e.appliedCh
}

// Retain makes checkpoints keep the log from at (Zero: no constraint):
// a replication site keeps what an internal init it serves still needs.
func (e *Env) Retain(at lsn.LSN) {
	e.keep.mu.Lock()
	e.keep.retain = at
	e.keep.mu.Unlock()
}

// SyncStarts returns a channel closed when the log next starts the fsync
// of a group commit: a replication master ships the group's records
// then, so the clients' fsyncs overlap its own and the whole group goes
// in one message. Take a new channel after each close.
func (e *Env) SyncStarts() <-chan struct{} {
	e.syncStartMu.Lock()
	defer e.syncStartMu.Unlock()
	if e.syncStart == nil {
		e.syncStart = make(chan struct{})
	}
	return e.syncStart
}

// syncStarting is the log's BeforeSync hook: it closes the channel
// SyncStarts handed out, if any.
func (e *Env) syncStarting() {
	if e == nil {
		return
	}
	e.syncStartMu.Lock()
	if e.syncStart != nil {
		close(e.syncStart)
		e.syncStart = nil
	}
	e.syncStartMu.Unlock()
}

// SyncingSince returns when the log's fsync in progress began, the zero
// time when none is.
func (e *Env) SyncingSince() time.Time { return e.log.SyncingSince() }

// End returns where the log's next record will be appended.
func (e *Env) End() lsn.LSN { return e.log.End() }

// Distance estimates the log bytes from a to b (0 if b <= a), counting
// every log file between them as full.
func (e *Env) Distance(a, b lsn.LSN) int64 { return e.distance(a, b) }
