package env

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"logship/wal"
	"logship/wal/lsn"
)

// RollbackTo undoes every transaction whose record follows the record at
// `at`, and truncates the log after it: afterwards the data and the log end
// with that record, and new commits follow it. It returns the number of
// transactions undone. Replication uses it when a client's log tail
// diverged from a new master's.
//
// at must be a record still in the log; otherwise RollbackTo returns an
// error wrapping ErrNoUndo, and the data must be re-copied instead.
//
// RollbackTo blocks Updates, lets the applier apply everything committed,
// then applies the records' before-images, newest first, in one bbolt
// transaction that also moves the applied position back to `at` and sets a
// "truncate the log after at" marker; then it truncates the log and clears
// the marker. A crash in between is finished by Open.
//
// On a delayed replica (Config.MinApplyDelay) the applier catches up only
// with what is due; the records after `at` it has not applied are not
// undone but dropped with the log (and never applied), and when none
// after `at` is applied the data is left as it is.
func (e *Env) RollbackTo(ctx context.Context, at lsn.LSN) (int, error) {
	return e.rollbackTo(ctx, at, nil)
}

// rollbackTo is RollbackTo; visit, if not nil, is called with each record
// undone, newest first, before the undo commits (replication writes them to
// a rollback file). An error from visit aborts the rollback.
func (e *Env) rollbackTo(ctx context.Context, at lsn.LSN, visit func(wal.Record) error) (int, error) {
	if err := e.enter(); err != nil {
		return 0, err
	}
	defer e.exit()
	e.ctl.Lock()
	defer e.ctl.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.failure(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	atRec, err := e.log.Read(at)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrNoUndo, at, err)
	}
	atDec, err := decodeRecord(atRec.Payload)
	if err != nil {
		return 0, fmt.Errorf("env: rollback target %s: %w", at, err)
	}
	last := e.log.Last()
	// Everything committed must be applied first (with MinApplyDelay,
	// what is due), so that the undo runs against data holding every
	// applied record it undoes, and the overlay is empty (the records a
	// master appended itself are never delayed).
	if err := e.log.Sync(last); err != nil {
		return 0, e.fail(fmt.Errorf("env: log sync at %s: %w", last, err))
	}
	if err := e.waitDue(ctx, last); err != nil {
		return 0, err
	}
	e.ap.mu.Lock()
	defer e.ap.mu.Unlock()
	if !at.Less(last) {
		return 0, nil // nothing after at
	}
	// Records after applied are in the log only: dropped, not undone.
	applied, _, _ := e.appliedPos()
	undoData := !applied.Less(at) // the data holds at, and maybe records after it

	n := 0
	var digest uint64
	err = e.boltUpdate(func(btx *bolt.Tx) error {
		m, err := readMeta(btx)
		if err != nil {
			return err
		}
		if digest, _, err = getDigest(btx.Bucket(bucketMeta)); err != nil {
			return err
		}
		bc := bucketCache{data: btx.Bucket(bucketData)}
		for cur := last; at.Less(cur); {
			rec, err := e.log.Read(cur)
			if err != nil {
				return fmt.Errorf("read %s: %w", cur, err)
			}
			r, err := decodeRecord(rec.Payload)
			if err != nil {
				return fmt.Errorf("record %s: %w", cur, err)
			}
			if visit != nil {
				if err := visit(rec); err != nil {
					return err
				}
			}
			for i := len(r.ops) - 1; i >= 0 && !applied.Less(cur); i-- {
				if err := bc.undo(&r.ops[i]); err != nil {
					return fmt.Errorf("undo record %s: %w", cur, err)
				}
				digest = undoDigest(digest, &r.ops[i])
			}
			n++
			if cur, err = e.log.Prev(cur); err != nil {
				return fmt.Errorf("previous of %s: %w", rec.LSN, err)
			}
		}
		mb := btx.Bucket(bucketMeta)
		if _, err := capShared(mb, at); err != nil {
			return err
		}
		if !undoData {
			return putMarker(mb, keyTruncate, at)
		}
		if err := putApplied(mb, at, atRec.Next, atDec.gen); err != nil {
			return err
		}
		if err := dropGenStartsAfter(mb, at); err != nil {
			return err
		}
		if err := putDigest(mb, digest); err != nil {
			return err
		}
		if at.Less(m.ckpt) {
			if err := putCheckpoint(mb, at, atRec.Next); err != nil {
				return err
			}
		}
		return putMarker(mb, keyTruncate, at)
	})
	if err != nil {
		// Nothing changed: the bbolt transaction rolled back.
		return 0, fmt.Errorf("env: rollback to %s: %w", at, err)
	}
	if h := e.cfg.hooks; h != nil && h.afterRollbackCommit != nil {
		if err := h.afterRollbackCommit(); err != nil {
			return 0, e.fail(err)
		}
	}
	e.cutShared(at)
	// From here a failure leaves the marker set; Open finishes the job.
	e.newEpoch()
	if err := e.log.TruncateAfter(at); err != nil {
		return 0, e.fail(fmt.Errorf("env: rollback: truncate log after %s: %w", at, err))
	}
	if err := e.clearMarker(keyTruncate); err != nil {
		return 0, e.fail(err)
	}
	e.delayCut(at)
	e.ov.reset()
	e.gen = atDec.gen
	if !undoData {
		// The applier may have read past at: it goes on from where it
		// applied.
		e.ap.reset(applied, e.ap.next)
	} else {
		e.ap.reset(at, atRec.Next)
		e.amu.Lock()
		e.recent.cutAfter(at)
		e.amu.Unlock()
		e.publishApplied(at, atRec.Next, atDec.gen, digest)
	}
	e.st.rolledBack.Add(uint64(n))
	e.logger.Info("env: rolled back", "to", at, "transactions", n)
	return n, nil
}
