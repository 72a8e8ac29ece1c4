package env

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/wal"
	"logship/wal/lsn"
)

const (
	// maxBatchBytes bounds the payload bytes one bbolt transaction applies
	// (the records are held in memory until it commits).
	maxBatchBytes = 8 << 20
	// fullBatchBytes is a batch big enough to apply without waiting out
	// ApplyDelay.
	fullBatchBytes = 1 << 20
	// applyDuty and maxApplyGap space batches without waiters: the next
	// starts no sooner than applyDuty times the last one's duration after
	// it (at most maxApplyGap), so on a slow disk batches grow rather than
	// multiply.
	applyDuty   = 8
	maxApplyGap = 250 * time.Millisecond
)

// applier is the state of the goroutine that applies durable log records to
// bbolt. Its fields are guarded by mu, which the goroutine holds while it
// reads and applies a batch; RollbackTo and InstallSnapshot hold it to keep
// the applier out while they change the data file and the log.
type applier struct {
	mu      sync.Mutex
	rd      *wal.Reader
	readPos lsn.LSN    // where rd (or a new reader) continues
	readAt  lsn.LSN    // the record that ends at readPos; Zero if unknown
	next    lsn.LSN    // where the next record to apply starts
	held    wal.Record // a record read before it was durable
	hasHeld bool
	batch   []wal.Record
	recs    []record
	digests []uint64 // scratch: the expected digest after each record of a batch
	// sharedSaved is the shared record as stored (shared.go).
	sharedSaved lsn.LSN
}

// reset positions the applier at next, the position after the record at
// `after` (after a rollback or an install, and at Open).
func (a *applier) reset(after, next lsn.LSN) {
	if a.rd != nil {
		_ = a.rd.Close()
		a.rd = nil
	}
	a.readPos, a.readAt, a.next = next, after, next
	a.held, a.hasHeld = wal.Record{}, false
}

// openReader returns a log reader whose first record is the one after the
// record at `after`, which ends at pos. The wal accepts only a record start
// or its End as a reader's start; when `after` is the last record of a full
// file, pos is neither (the next record starts the next file), so the
// reader starts at `after` and skips it.
func openReader(log *wal.Log, after, pos lsn.LSN) (*wal.Reader, error) {
	rd, err := log.NewReader(pos)
	if err == nil || after.IsZero() || !errors.Is(err, wal.ErrNotFound) {
		return rd, err
	}
	rd2, err2 := log.NewReader(after)
	if err2 != nil {
		return nil, err
	}
	if rec, err2 := rd2.Next(); err2 != nil || rec.LSN != after || rec.Next != pos {
		_ = rd2.Close()
		return nil, err
	}
	return rd2, nil
}

// nextDurable returns the next record if it is durable (its LSN is before
// durable). A record read but not yet durable is held for a later call.
func (a *applier) nextDurable(log *wal.Log, durable lsn.LSN) (wal.Record, bool, error) {
	if !a.hasHeld && !a.readPos.IsZero() && !a.readPos.Less(durable) {
		// Nothing durable to read: reading the next record would make
		// the log write out its buffer from this goroutine, beside the
		// committers' own writes.
		return wal.Record{}, false, nil
	}
	if !a.hasHeld {
		if a.rd == nil {
			rd, err := openReader(log, a.readAt, a.readPos)
			if err != nil {
				return wal.Record{}, false, fmt.Errorf("env: applier: log reader at %s: %w", a.readPos, err)
			}
			a.rd = rd
		}
		rec, err := a.rd.Next()
		if errors.Is(err, io.EOF) {
			return wal.Record{}, false, nil // a later Next sees later appends
		}
		if err != nil {
			return wal.Record{}, false, fmt.Errorf("env: applier: read log at %s: %w", a.readPos, err)
		}
		a.readPos, a.readAt = rec.Next, rec.LSN
		a.held, a.hasHeld = rec, true
	}
	if !a.held.LSN.Less(durable) {
		return wal.Record{}, false, nil
	}
	rec := a.held
	a.held, a.hasHeld = wal.Record{}, false
	return rec, true, nil
}

// runApplier is the applier goroutine. It applies durable records in LSN
// order, in batches: when ApplyDelay has passed since it saw the first
// unapplied durable record, when a batch is full, or at once when someone
// waits (WaitApplied, Checkpoint, Snapshot, RollbackTo, Close). With
// MinApplyDelay it stops at the first record not yet due and sleeps
// until it is (delay.go).
func (e *Env) runApplier() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var since time.Time // when unapplied durable records were first seen
	// The last batch's end and duration: batches are spaced so that the
	// applier's bbolt commits (and their fsyncs, which compete with the
	// log's) take at most about 1/applyDuty of the time.
	var lastEnd time.Time
	var lastDur time.Duration
	for {
		stopping := false
		select {
		case <-e.kick:
		case <-timer.C:
		case <-e.stop:
			stopping = true
		}
		for e.failure() == nil {
			pending := e.pendingBytes()
			if pending == 0 {
				since = time.Time{}
				break
			}
			now := time.Now()
			if until, held := e.delayHeld(); held && now.Before(until) {
				// Nothing is due before until (delay.go).
				timer.Reset(until.Sub(now))
				break
			}
			if since.IsZero() {
				since = now
			}
			due := since.Add(e.cfg.ApplyDelay)
			if gap := min(applyDuty*lastDur, maxApplyGap); lastEnd.Add(gap).After(due) {
				due = lastEnd.Add(gap)
			}
			urgent := stopping || e.waiters.Load() > 0 || pending >= fullBatchBytes ||
				2*pending >= e.cfg.MaxUnappliedBytes || !now.Before(due)
			if !urgent {
				timer.Reset(due.Sub(now))
				break
			}
			if h := e.cfg.hooks; h != nil && h.beforeApply != nil {
				h.beforeApply()
			}
			start := time.Now()
			n, err := e.applyBatch()
			if err != nil {
				e.fail(err)
				break
			}
			lastEnd = time.Now()
			lastDur = lastEnd.Sub(start)
			since = time.Time{}
			if n == 0 {
				if until, held := e.delayHeld(); held {
					timer.Reset(max(time.Until(until), 0))
				}
				break
			}
		}
		if stopping {
			return
		}
	}
}

// pendingBytes estimates the durable log bytes not yet applied.
func (e *Env) pendingBytes() int64 {
	e.ap.mu.Lock()
	next := e.ap.next
	e.ap.mu.Unlock()
	return e.distance(next, e.log.DurableEnd())
}

// applyBatch applies the durable records after the applied position, up to
// maxBatchBytes, in one bbolt transaction that also records the new applied
// position. It returns the number of records applied.
func (e *Env) applyBatch() (int, error) {
	e.ap.mu.Lock()
	defer e.ap.mu.Unlock()
	if e.failure() != nil {
		// A failed RollbackTo or InstallSnapshot may have left the data
		// file and the applier's position at odds: write nothing more.
		return 0, nil
	}
	durable := e.log.DurableEnd()
	gate, now := e.gate(), time.Now()
	var heldUntil time.Time
	batch, recs := e.ap.batch[:0], e.ap.recs[:0]
	defer func() {
		clear(batch)
		clear(recs)
		e.ap.batch, e.ap.recs = batch[:0], recs[:0]
	}()
	size := 0
	for size < maxBatchBytes {
		rec, ok, err := e.ap.nextDurable(e.log, durable)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		r, err := decodeRecord(rec.Payload)
		if err != nil {
			return 0, fmt.Errorf("env: applier: record %s: %w", rec.LSN, err)
		}
		if until, wait := gate.due(rec.LSN, r.time, now); wait {
			e.ap.unread(rec) // Config.MinApplyDelay: not yet (delay.go)
			heldUntil = until
			break
		}
		batch = append(batch, rec)
		recs = append(recs, r)
		size += len(rec.Payload)
	}
	if len(batch) == 0 {
		if !heldUntil.IsZero() {
			e.setHeld(e.ap.next, heldUntil)
		}
		return 0, nil
	}
	last := batch[len(batch)-1]
	gen := recs[len(recs)-1].gen
	e.amu.Lock()
	prevGen, first, digest := e.appliedGen, e.applied.IsZero(), e.digest
	e.amu.Unlock()
	digests := e.ap.digests[:0]
	var shared lsn.LSN
	err := e.boltUpdate(func(btx *bolt.Tx) error {
		data := btx.Bucket(bucketData)
		mb := btx.Bucket(bucketMeta)
		bc := bucketCache{data: data}
		for i := range recs {
			if first || recs[i].gen != prevGen {
				if err := putGenStart(mb, batch[i].LSN, recs[i].gen); err != nil {
					return err
				}
				prevGen, first = recs[i].gen, false
			}
			for j := range recs[i].ops {
				o := &recs[i].ops[j]
				if err := bc.apply(o); err != nil {
					return fmt.Errorf("record %s: %w", batch[i].LSN, err)
				}
				digest = redoDigest(digest, o)
			}
			digests = append(digests, digest)
		}
		if err := putDigest(mb, digest); err != nil {
			return err
		}
		var err error
		if shared, err = e.putShared(mb); err != nil {
			return err
		}
		return putApplied(mb, last.LSN, last.Next, gen)
	})
	e.ap.digests = digests[:0]
	if err != nil {
		return 0, fmt.Errorf("env: applier: %w", err)
	}
	e.ap.next = last.Next
	e.ap.sharedSaved = shared
	e.amu.Lock()
	for i := range batch {
		e.recent.add(batch[i].LSN, digests[i])
	}
	e.amu.Unlock()
	e.publishApplied(last.LSN, last.Next, gen, digest)
	if !heldUntil.IsZero() {
		e.setHeld(e.ap.next, heldUntil)
	}
	e.st.batches.Add(1)
	e.st.records.Add(uint64(len(batch)))
	e.st.bytes.Add(uint64(size))
	// Prune the overlay if no transaction runs; otherwise the next one
	// prunes it before opening its bbolt snapshot.
	if e.mu.TryLock() {
		e.ov.prune(last.LSN)
		e.mu.Unlock()
	}
	return len(batch), nil
}

// bucketCache applies ops to the nested buckets of "data", remembering the
// bucket handles within one bbolt transaction.
type bucketCache struct {
	data *bolt.Bucket
	last []byte
	b    *bolt.Bucket
	m    map[string]*bolt.Bucket
}

func (c *bucketCache) bucket(name []byte, create bool) (*bolt.Bucket, error) {
	if c.b != nil && string(c.last) == string(name) {
		return c.b, nil
	}
	b := c.m[string(name)]
	if b == nil {
		if create {
			var err error
			if b, err = c.data.CreateBucketIfNotExists(name); err != nil {
				return nil, err
			}
		} else if b = c.data.Bucket(name); b == nil {
			return nil, nil
		}
		if c.m == nil {
			c.m = make(map[string]*bolt.Bucket)
		}
		c.m[string(name)] = b
	}
	c.last, c.b = name, b
	return b, nil
}

// apply redoes o.
func (c *bucketCache) apply(o *op) error {
	return c.set(o.bucket, o.key, o.kind == opPut, o.value)
}

// undo applies o's before-image.
func (c *bucketCache) undo(o *op) error {
	return c.set(o.bucket, o.key, o.existed, o.old)
}

// set puts key = value when present, else deletes key.
func (c *bucketCache) set(bucket, key []byte, present bool, value []byte) error {
	b, err := c.bucket(bucket, present)
	if err != nil || b == nil {
		return err
	}
	if !present {
		return b.Delete(key)
	}
	if value == nil {
		value = []byte{}
	}
	return b.Put(key, value)
}

// waitApplying waits until the applied LSN is at least at, or until
// enough (if set) says the rest need not be waited for (waitDue: what is
// left is held by the delay). Waiting counts as a waiter, which makes the
// applier apply at once rather than batch.
func (e *Env) waitApplying(ctx context.Context, at lsn.LSN, enough func() bool) error {
	registered := false
	defer func() {
		if registered {
			e.waiters.Add(-1)
		}
	}()
	for {
		applied, _, ch := e.appliedPos()
		if !applied.Less(at) || enough != nil && enough() {
			return nil
		}
		if err := e.failure(); err != nil {
			return err
		}
		if !registered {
			registered = true
			e.waiters.Add(1)
		}
		e.kickApplier()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closing:
			return ErrClosed
		}
	}
}
