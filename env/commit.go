package env

// The two halves of a commit, for replication.
//
// Update runs a transaction, appends its record and waits until the
// record is durable. A replication runtime needs the record in between:
// it ships the record to the clients as soon as it is in the log, so the
// clients' fsyncs overlap the master's own. Append is the first half (it
// returns the appended record as a Pending) and Pending.Durable the
// second (the group commit). Between the two the runtime hands the
// record over; Update is exactly Append followed by Durable.
//
// A runtime also decides whether local commits are admitted at all:
// only on the master. Shut makes the store refuse them, under the writer
// mutex, so that once it returns no local record can reach the log
// behind the runtime's back; Admit lets them in again, stamped with the
// master's generation. A store opened alone admits them.

import (
	"context"
	"errors"
	"fmt"

	"logship/rep"
	"logship/wal/lsn"
)

// ErrNotWritable is what Update and Append return while the store does
// not admit local commits (Shut): on a replication site that is not the
// master.
var ErrNotWritable = errors.New("env: local commits are shut out (this site is not the master)")

// Pending is a commit whose record is in the log but not yet durable
// (Append). Call Durable exactly once: until then the group commit it
// belongs to waits for it. Each member's Durable waits for the others of
// its group, so one goroutine holding several Pendings calls their
// Durable concurrently, not one after the other.
type Pending struct {
	e *Env
	// Token names the record (zero when the transaction wrote nothing).
	Token Token
	// Payload is the record's payload, a copy the caller may keep.
	Payload []byte
	// Epoch is the log epoch the record was appended in; a rollback or
	// an install starts a new one (Env.Epoch), after which the record
	// may be gone.
	Epoch uint64
	// Seq numbers the records Append appended, 1, 2, 3... in log order
	// (0 when it appended none). Committers hand their records over
	// concurrently, in any order; Seq lets the runtime put them back in
	// the log's.
	Seq  uint64
	at   lsn.LSN // what Durable waits for: the record, or the last one the transaction read
	mark bool    // the record is a Mark: no writes, not counted as a commit
	err  error
	done bool
}

// Record returns the commit's record as rep ships it, Perm set: rep
// tracks it under the ack policy.
func (p *Pending) Record() rep.Record {
	return rep.Record{LSN: p.Token.LSN, Gen: p.Token.Gen, Checksum: p.Token.Checksum, Payload: p.Payload, Perm: true}
}

// Wrote reports whether the transaction appended a record.
func (p *Pending) Wrote() bool { return !p.Token.LSN.IsZero() }

// Durable waits until the record is durable, sharing the fsync with the
// other commits of its group, and returns the commit's token (for a
// transaction that wrote nothing, the last record it could read). It
// returns the first error of the commit, if any.
func (p *Pending) Durable() (Token, error) {
	if p.done {
		return p.token(), p.err
	}
	p.done = true
	e := p.e
	defer e.exit()
	err := e.endRun(p.at, p.Epoch, p.err)
	if err != nil {
		return Token{}, err
	}
	if p.Wrote() && !p.mark {
		e.st.commits.Add(1)
	}
	return p.token(), nil
}

func (p *Pending) token() Token {
	if p.Wrote() {
		return p.Token
	}
	return p.e.tokenOf(p.at)
}

// Append runs fn in a read-write transaction and appends its record, as
// Update does, but returns as soon as the record is in the log, before it
// is durable: call Durable on the result (exactly once, also after an
// error from fn). An error from fn, or a store that does not admit local
// commits (ErrNotWritable), is returned by Durable and appends nothing;
// Append itself fails only before the transaction starts (a closed or
// failed store, ctx ended while waiting for room in memory).
func (e *Env) Append(ctx context.Context, fn func(*Tx) error) (*Pending, error) {
	return e.begin(ctx, fn, true)
}

// begin is Append; keep says whether the Pending keeps a copy of the
// payload (Update does not need one).
func (e *Env) begin(ctx context.Context, fn func(*Tx) error, keep bool) (*Pending, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		e.exit()
		return nil, err
	}
	if err := e.waitRoom(ctx); err != nil {
		e.exit()
		return nil, err
	}
	p := &Pending{e: e}
	e.writers.Add(1) // joins the group commit run (see inRun)
	defer func() {
		if r := recover(); r != nil { // fn panicked: leave the run without stalling it
			if e.writers.Add(-1) == 0 {
				_ = e.syncAll()
			}
			e.exit()
			panic(r)
		}
	}()
	e.runLocked(p, fn, keep)
	return p, nil
}

// runLocked runs the transaction of p under the writer mutex, taken once
// the records received as a client are applied (lockCaughtUp). The mutex
// is released by a defer, so that a panic in fn leaves the store usable
// for whoever recovers it (begin leaves the group commit run).
func (e *Env) runLocked(p *Pending, fn func(*Tx) error, keep bool) {
	if err := e.lockCaughtUp(); err != nil {
		p.Epoch, p.err = e.epoch.Load(), err
		return
	}
	defer e.mu.Unlock()
	p.Epoch = e.epoch.Load()
	if !e.writable {
		p.err = ErrNotWritable
		return
	}
	p.Token, p.at, p.Payload, p.mark, p.err = e.runTxLocked(fn, keep)
	if keep && p.Wrote() {
		e.appendSeq++
		p.Seq = e.appendSeq
	}
}

// AppendSeq returns the Seq of the newest record Append appended (0 if
// none yet): a runtime starting over the store expects AppendSeq()+1
// next.
func (e *Env) AppendSeq() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.appendSeq
}

// Admit lets local commits in again, stamped with generation gen (the
// generation of the master this site now is). It lifts
// Config.MinApplyDelay: the whole log is applied at once, and the
// first transaction waits for it.
func (e *Env) Admit(gen uint64) {
	e.mu.Lock()
	e.writable, e.gen = true, gen
	e.delayOff()
	e.mu.Unlock()
}

// Shut shuts local commits out: once it returns, none appends until
// Admit, and a transaction in progress has appended (or failed). It
// returns the log's last record as it was then: records after the last
// one the runtime handed to replication were appended by commits that
// raced the shutting. With Config.MinApplyDelay, the records appended
// after that last one wait for their delay.
func (e *Env) Shut() lsn.LSN {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writable = false
	e.delayOn()
	return e.log.Last()
}

// Writable reports whether local commits are admitted.
func (e *Env) Writable() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writable
}

// Epoch returns the log epoch: it changes when a rollback or an install
// cuts the log, after which a Pending of an older epoch may be gone.
func (e *Env) Epoch() uint64 { return e.epoch.Load() }

// LastLocked returns the log's last record, read under the writer mutex
// so that every transaction admitted before has appended; ok is false if
// the mutex is busy (a transaction may hold it across an fsync): the
// caller asks again later rather than wait on the disk.
func (e *Env) LastLocked() (last lsn.LSN, ok bool) {
	if !e.mu.TryLock() {
		return lsn.Zero, false
	}
	defer e.mu.Unlock()
	return e.log.Last(), true
}

// Failure returns the error the environment failed with (a storage
// failure; see Fail), or nil.
func (e *Env) Failure() error { return e.failure() }

// Fail fails the environment with err, as a storage error does: every
// later operation returns it (wrapped with ErrFailed). It returns that
// error. A replication runtime calls it when carrying out replication
// against the store failed.
func (e *Env) Fail(err error) error { return e.fail(fmt.Errorf("env: %w", err)) }
