package env

// Delayed apply (Config.MinApplyDelay): a replica whose data trails its
// master by a configured time, like PostgreSQL's
// recovery_min_apply_delay, so that an operator can read, or copy back,
// what a mistake on the master destroyed before the replica applies it.
//
// Only the application waits. Records are appended and made durable as
// they arrive (replication acknowledges them as usual), and the applier
// stops at the first record whose commit time plus the delay is still
// ahead of the clock, on a timer set for that moment: it never holds
// up the log, the replication loop or a commit's fsync. Records apply
// in LSN order, so a record with a later commit time (a new master with
// a clock ahead) holds back the ones after it.
//
// The delay holds while the store is shut to local commits (a
// replication client); a store with a delay opens shut. Admit (this site
// becoming master) lifts it: the applier applies the whole log at once,
// and the first transaction waits for that (applyRemote), so a new
// master serves the present. Shut puts it back for the records that
// follow: those appended until then, the site's own commits as master
// among them, apply without delay.
//
// What waits for the applier: WaitApplied and token reads wait for the
// record's delay too (bounded by their context). Open, Checkpoint,
// Snapshot, RollbackTo and Close wait only for the records that are due
// (waitDue) and then work on what is applied: a checkpoint lies at the
// applied position, so the log of every record not yet applied is kept
// (logKeepFrom never keeps less than from the checkpoint), and recovery
// replays it. RollbackTo undoes the applied records after its target
// and simply drops the unapplied ones.

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"logship/wal"
	"logship/wal/lsn"
)

// delayState is the delay's gate and the applier's report of where it
// is held. Its mutex is a leaf: taken under mu or ap.mu, never around
// another lock.
type delayState struct {
	mu sync.Mutex
	on bool // the store is shut to local commits: records wait
	// through: records up to it (LSN <= through) apply without delay:
	// those in the log when the site stopped being master.
	through lsn.LSN
	// The applier is held, with the applied position's end at heldAt
	// (where the record it waits for starts, or the end of the file
	// before), in log epoch heldEpoch, until heldUntil (zero: not held).
	heldAt    lsn.LSN
	heldEpoch uint64
	heldUntil time.Time
	// The commit time of the record at timeAt, the last applied one
	// when it was read (appliedCommitTime's cache).
	timeAt  lsn.LSN
	timeVal time.Time
}

// delayGate is the gate as the applier reads it for one batch.
type delayGate struct {
	delay   time.Duration // 0: no delay
	through lsn.LSN
}

// gate returns the delay in force now.
func (e *Env) gate() delayGate {
	if e.cfg.MinApplyDelay <= 0 {
		return delayGate{}
	}
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if !e.dl.on {
		return delayGate{}
	}
	return delayGate{delay: e.cfg.MinApplyDelay, through: e.dl.through}
}

// due reports when a record at `at` committed at commitTime (Unix
// nanoseconds) may be applied, and whether that is still ahead of now.
func (g delayGate) due(at lsn.LSN, commitTime int64, now time.Time) (time.Time, bool) {
	if g.delay <= 0 || !g.through.Less(at) {
		return time.Time{}, false
	}
	t := time.Unix(0, commitTime).Add(g.delay)
	return t, now.Before(t)
}

// delayOnOpen shuts a delayed store to local commits as it opens:
// until Admit it is a replica, and the log it received waits for its
// delay. remote makes a first transaction after Admit wait until that
// log is applied.
func (e *Env) delayOnOpen() {
	if e.cfg.MinApplyDelay <= 0 {
		return
	}
	e.writable, e.remote = false, true
	e.dl.on = true
}

// delayOff lifts the delay (Admit, under mu): the applier applies the
// whole log at once.
func (e *Env) delayOff() {
	if e.cfg.MinApplyDelay <= 0 {
		return
	}
	e.dl.mu.Lock()
	was := e.dl.on
	e.dl.on = false
	e.dl.mu.Unlock()
	if was {
		e.remote = true // the log holds records not applied yet
		e.kickApplier()
	}
}

// delayOn puts the delay back (Shut, under mu) for the records after
// the log's last one.
func (e *Env) delayOn() {
	if e.cfg.MinApplyDelay <= 0 {
		return
	}
	e.dl.mu.Lock()
	if !e.dl.on {
		e.dl.on, e.dl.through = true, e.log.Last()
	}
	e.dl.mu.Unlock()
}

// delayCut keeps the gate's through at or before at, where RollbackTo or
// InstallSnapshot cut the log: the records that later take those LSNs
// come from a master and wait.
func (e *Env) delayCut(at lsn.LSN) {
	e.dl.mu.Lock()
	if at.Less(e.dl.through) {
		e.dl.through = at
	}
	e.dl.mu.Unlock()
}

// setHeld records that the applier, its applied position ending at
// `at`, waits for the next record until `until`, and wakes those waiting
// on the applied position (waitDue), who need not wait for it. The
// caller holds ap.mu.
func (e *Env) setHeld(at lsn.LSN, until time.Time) {
	e.dl.mu.Lock()
	changed := e.dl.heldAt != at || !e.dl.heldUntil.Equal(until)
	e.dl.heldAt, e.dl.heldEpoch, e.dl.heldUntil = at, e.epoch.Load(), until
	e.dl.mu.Unlock()
	if changed {
		e.wakeWaiters()
	}
}

// delayHeld returns when the record after the applied one becomes due,
// if the delay holds the applier there; ok is false when it is not held
// (nothing waits, or what it reported is stale: the applier moved, a
// rollback or install cut the log, the delay was lifted).
func (e *Env) delayHeld() (until time.Time, ok bool) {
	if e.cfg.MinApplyDelay <= 0 {
		return time.Time{}, false
	}
	_, end, _ := e.appliedPos()
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if !e.dl.on || e.dl.heldUntil.IsZero() || e.dl.heldAt != end || e.dl.heldEpoch != e.epoch.Load() {
		return time.Time{}, false
	}
	return e.dl.heldUntil, true
}

// waitDue waits until every record up to at is applied, or the applier
// is held by the delay before it: until what is due is applied. It is
// waitApplied for those who work on the applied data and must not wait
// out the delay (Open, Checkpoint, Snapshot, RollbackTo).
func (e *Env) waitDue(ctx context.Context, at lsn.LSN) error {
	if e.cfg.MinApplyDelay <= 0 {
		return e.waitApplied(ctx, at)
	}
	return e.waitApplying(ctx, at, func() bool {
		until, ok := e.delayHeld()
		return ok && time.Now().Before(until)
	})
}

// recordTime reads the commit time (Unix nanoseconds) from a record
// payload's header without decoding its ops.
func recordTime(p []byte) (int64, error) {
	if len(p) < 3 || p[0] != recordVersion {
		return 0, fmt.Errorf("%w: record header", errRecord)
	}
	_, n := binary.Uvarint(p[2:])
	if n <= 0 || len(p) < 2+n+8 {
		return 0, fmt.Errorf("%w: record header", errRecord)
	}
	return int64(binary.LittleEndian.Uint64(p[2+n:])), nil
}

// DelayStatus is where a store stands with Config.MinApplyDelay.
type DelayStatus struct {
	// Delay is Config.MinApplyDelay; Active: it holds now (the store is
	// shut to local commits).
	Delay  time.Duration
	Active bool
	// AppliedCommitTime is the commit time of the last record applied
	// (zero if unknown: nothing applied, or its record is no longer in
	// the log). Its age is how far the data trails the master's clock.
	AppliedCommitTime time.Time
	// HeldUntil: the applier waits for the next record's delay until
	// then (zero when it is not held).
	HeldUntil time.Time
}

// DelayStatus returns the delay's status. It reads the last applied
// record's header from the log when the applied position has moved
// since the last call.
func (e *Env) DelayStatus() DelayStatus {
	st := DelayStatus{Delay: e.cfg.MinApplyDelay, AppliedCommitTime: e.appliedCommitTime()}
	if until, ok := e.delayHeld(); ok {
		st.HeldUntil = until
	}
	e.dl.mu.Lock()
	st.Active = e.dl.on
	e.dl.mu.Unlock()
	return st
}

// appliedCommitTime returns the commit time of the last record applied.
func (e *Env) appliedCommitTime() time.Time {
	applied, _, _ := e.appliedPos()
	if applied.IsZero() {
		return time.Time{}
	}
	e.dl.mu.Lock()
	if e.dl.timeAt == applied {
		t := e.dl.timeVal
		e.dl.mu.Unlock()
		return t
	}
	e.dl.mu.Unlock()
	if err := e.enter(); err != nil {
		return time.Time{}
	}
	defer e.exit()
	var t time.Time
	if rec, err := e.log.Read(applied); err == nil {
		if ns, err := recordTime(rec.Payload); err == nil {
			t = time.Unix(0, ns)
		}
	}
	e.dl.mu.Lock()
	e.dl.timeAt, e.dl.timeVal = applied, t
	e.dl.mu.Unlock()
	return t
}

// unread gives back a record nextDurable returned, so that the next call
// returns it again (the delay holds it).
func (a *applier) unread(rec wal.Record) {
	a.held, a.hasHeld = rec, true
}
