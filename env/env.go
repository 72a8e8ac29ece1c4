package env

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/wal"
	"logship/wal/lsn"
)

// Env is an open environment: a log and the bbolt data file it is applied
// to. Its methods are safe for concurrent use.
type Env struct {
	dir    string
	cfg    Config
	logger *slog.Logger
	log    *wal.Log

	// dbMu guards the db pointer, which InstallSnapshot replaces: readers
	// of e.db outside the writer mutex and the applier lock hold it.
	dbMu sync.RWMutex
	db   *bolt.DB

	// ctl serializes the control operations (RollbackTo, Checkpoint,
	// RemoveLogs, InstallSnapshot). Lock order: ctl, mu, ap.mu, dbMu.
	ctl sync.Mutex

	rc readCache // the bbolt read transaction Updates share
	ts txSnaps   // snapshots served from read transactions (snaptx.go)

	// mu is the writer mutex. It serializes Update functions, the append
	// of their records (so log order is serialization order) and every
	// access to ov.
	mu      sync.Mutex
	ov      *overlay
	gen     uint64        // generation stamped on new records
	writers atomic.Int32  // Updates queued for or holding mu (group commit)
	epoch   atomic.Uint64 // bumped when RollbackTo or InstallSnapshot cut the log
	syncMu  sync.Mutex
	syncCh  chan struct{} // closed and replaced after a group sync someone waits for
	// syncWaited: a writer took syncCh to wait on it since it was made.
	// Under HTTP load most runs have one writer and nobody waits, so
	// syncs skip the close and the allocation.
	syncWaited bool
	encBuf     []byte   // reused record buffer
	lastTok    Token    // the last local commit's token (under mu)
	befores    []before // reused scratch for building records
	// remote is set (under mu) when records written elsewhere (a master's,
	// appended by Replica.Append) may be in the log unapplied. Those
	// never pass through the overlay, so a transaction must not start
	// before the applier has caught up with them: it would read stale
	// values and record stale before-images.
	remote bool

	// The applied position, published by the applier after each bbolt
	// commit. appliedCh is closed and replaced whenever it changes (and
	// when the environment fails or closes), waking the waiters.
	amu        sync.Mutex
	applied    lsn.LSN // last record applied
	appliedEnd lsn.LSN // where the next record to apply starts
	appliedGen uint64
	digest     uint64     // expected digest of the applied data (digest.go)
	recent     digestRing // digests after the last records applied
	appliedCh  chan struct{}

	ap      applier
	shared  atomic.Uint64 // the shared record to store, packed (shared.go)
	dl      delayState    // Config.MinApplyDelay (delay.go)
	waiters atomic.Int32  // callers who need the applier to catch up now
	kick    chan struct{} // wakes the applier (capacity 1)
	stop    chan struct{} // closed to stop the applier
	done    chan struct{} // closed when the applier has stopped

	// Life cycle. An operation enters (counted in ops) only while closed
	// is false; Close sets closed, wakes the waiters, then waits for ops.
	life    sync.RWMutex
	closed  bool
	closing chan struct{}
	// duties are the periodic checkpoints and verifications (every);
	// Close waits for them.
	duties  sync.WaitGroup
	ops     sync.WaitGroup
	failMu  sync.Mutex
	failErr error

	st counters

	// writable: local commits are admitted; appendSeq: the Seq of the
	// last record Append appended (both under mu; commit.go).
	writable  bool
	appendSeq uint64

	// Replication (replica.go): the storage layer a replication runtime
	// carries rep's work out through, the log a site must keep for the
	// sites it serves (Retain, KeepFor: keep.go), and the notice of a
	// group commit's fsync starting (SyncStarts).
	replicaOnce sync.Once
	replica     *Replica
	keep        keepState
	syncStartMu sync.Mutex
	syncStart   chan struct{}
	fsyncs      *fsyncHist // fed by the log (wal.Options.OnSync)
}

// counters are the Stats counters.
type counters struct {
	commits, readOnly, aborted                      atomic.Uint64
	batches, records, bytes, rolledBack, checkpoint atomic.Uint64
}

// Stats is a snapshot of an environment's counters.
type Stats struct {
	Commits        uint64  // Updates that committed a record
	ReadOnly       uint64  // Updates that wrote nothing
	Aborted        uint64  // Updates whose function returned an error
	AppliedBatches uint64  // bbolt transactions of the applier
	AppliedRecords uint64  // records applied to bbolt
	AppliedBytes   uint64  // payload bytes of those records
	RolledBack     uint64  // transactions undone by RollbackTo
	Checkpoints    uint64  // checkpoints taken
	AppliedLSN     lsn.LSN // last record applied (not a counter)
	LastLSN        lsn.LSN // last record in the log (not a counter)
	LogKeepLetGo   uint64  // lagging sites let go past Config.LogKeepBytes
	// LogWalkedRecords: records the log read to tell an LSN inside a
	// record from damage (wal.Stats.WalkedRecords): what a master does
	// for each VERIFY_REQ of a client walking back a diverged log.
	LogWalkedRecords uint64

	// The log's fsyncs (one per group commit, on a master and a client
	// alike), with their latency, the write of the pending records
	// included: FsyncSeconds is the total, FsyncBucketCounts[i] how many
	// took at most FsyncBuckets[i] (cumulative, like a Prometheus
	// histogram). Commits / FsyncCount is the group commit's batch.
	FsyncCount        uint64
	FsyncSeconds      float64
	FsyncBucketCounts []uint64
}

// Sub returns the counters accumulated since prev; LSNs are s's.
func (s Stats) Sub(prev Stats) Stats {
	out := Stats{
		Commits:          s.Commits - prev.Commits,
		ReadOnly:         s.ReadOnly - prev.ReadOnly,
		Aborted:          s.Aborted - prev.Aborted,
		AppliedBatches:   s.AppliedBatches - prev.AppliedBatches,
		AppliedRecords:   s.AppliedRecords - prev.AppliedRecords,
		AppliedBytes:     s.AppliedBytes - prev.AppliedBytes,
		RolledBack:       s.RolledBack - prev.RolledBack,
		Checkpoints:      s.Checkpoints - prev.Checkpoints,
		LogKeepLetGo:     s.LogKeepLetGo - prev.LogKeepLetGo,
		LogWalkedRecords: s.LogWalkedRecords - prev.LogWalkedRecords,
		AppliedLSN:       s.AppliedLSN,
		LastLSN:          s.LastLSN,
		FsyncCount:       s.FsyncCount - prev.FsyncCount,
		FsyncSeconds:     s.FsyncSeconds - prev.FsyncSeconds,
	}
	if len(s.FsyncBucketCounts) == len(prev.FsyncBucketCounts) {
		out.FsyncBucketCounts = make([]uint64, len(s.FsyncBucketCounts))
		for i := range s.FsyncBucketCounts {
			out.FsyncBucketCounts[i] = s.FsyncBucketCounts[i] - prev.FsyncBucketCounts[i]
		}
	}
	return out
}

// Stats returns a snapshot of the counters.
func (e *Env) Stats() Stats {
	applied, _, _ := e.appliedPos()
	s := Stats{
		Commits:        e.st.commits.Load(),
		ReadOnly:       e.st.readOnly.Load(),
		Aborted:        e.st.aborted.Load(),
		AppliedBatches: e.st.batches.Load(),
		AppliedRecords: e.st.records.Load(),
		AppliedBytes:   e.st.bytes.Load(),
		RolledBack:     e.st.rolledBack.Load(),
		Checkpoints:    e.st.checkpoint.Load(),
		LogKeepLetGo:   e.keep.letGoCnt.Load(),
		AppliedLSN:     applied,
	}
	e.fsyncs.fill(&s)
	if e.enter() == nil {
		s.LastLSN = e.log.Last()
		s.LogWalkedRecords = e.log.Stats().WalkedRecords
		e.exit()
	}
	return s
}

// Update runs fn in a read-write transaction and commits it: when Update
// returns nil, the transaction's record is durable in the log and the
// returned token names it. If fn returns an error nothing is written and
// that error is returned. A transaction that wrote nothing appends no
// record; its token names the last record in the log (which is durable when
// Update returns, so nothing fn read can be lost).
//
// Transactions are serialized: fn runs with the writer mutex held, so it
// must not call Update (or anything that waits for the environment) itself,
// and should be short: concurrent commits share one fsync, made by the last
// writer of those queued for the mutex, so a slow fn also delays the
// acknowledgement of the commits queued before it. Update waits, respecting
// ctx, while more than Config.MaxUnappliedBytes of committed data awaits
// the applier; once fn has run, the commit completes regardless of ctx.
//
// On a replication site use the site's Update (package env/site), which
// also waits for the ack policy; this one then fails with ErrNotWritable
// except on the master.
func (e *Env) Update(ctx context.Context, fn func(*Tx) error) (Token, error) {
	p, err := e.begin(ctx, fn, false)
	if err != nil {
		return Token{}, err
	}
	return p.Durable()
}

// inRun runs f, which takes the writer mutex and returns the LSN it needs
// durable (its record, or the last record it read) and the log epoch, as
// one member of the current group commit: writers still queued for the
// writer mutex will append after this one; the last member of such a run
// syncs the log for all of them (one fsync), the others wait for it. A
// run ends whenever no member is queued, so nobody waits for one that is
// not coming. inRun returns once that LSN is durable, or f's error.
func (e *Env) inRun(f func() (lsn.LSN, uint64, error)) (lsn.LSN, error) {
	e.writers.Add(1)
	finished := false
	defer func() {
		if !finished { // f panicked: leave the run without stalling it
			if e.writers.Add(-1) == 0 {
				_ = e.syncAll()
			}
		}
	}()
	at, epoch, err := f()
	finished = true
	return at, e.endRun(at, epoch, err)
}

// endRun is the second half of a member of the group commit (inRun,
// Pending.Durable): the last member syncs the log for the run, the others
// wait until at, appended in epoch, is durable. It returns err unless the
// sync or the wait failed.
func (e *Env) endRun(at lsn.LSN, epoch uint64, err error) error {
	if e.writers.Add(-1) == 0 {
		if serr := e.syncAll(); serr != nil {
			return serr
		}
	} else if err == nil && !at.IsZero() {
		if werr := e.waitDurable(at, epoch); werr != nil {
			return werr
		}
	}
	return err
}

// tokenOf returns the token of the record at at: the last local commit's
// when it is that record, else read from the log (position only if it
// cannot be read).
func (e *Env) tokenOf(at lsn.LSN) Token {
	e.mu.Lock()
	last := e.lastTok
	e.mu.Unlock()
	switch {
	case at.IsZero():
		return Token{}
	case last.LSN == at:
		return Token{LSN: at, Gen: last.Gen, Checksum: last.Checksum}
	}
	rec, err := e.log.Read(at)
	if err != nil {
		return Token{LSN: at}
	}
	gen, err := recordGen(rec.Payload)
	if err != nil {
		return Token{LSN: at}
	}
	return Token{LSN: at, Gen: gen, Checksum: identity(gen, rec.Payload)}
}

// newEpoch is called, with the writer mutex held and every record durable,
// before the log is cut: writers waiting for their records to become
// durable stop waiting.
func (e *Env) newEpoch() {
	e.epoch.Add(1)
	e.lastTok = Token{} // the log is cut: its last record may be another
	e.wakeSyncWaiters()
}

// wakeSyncWaiters wakes the writers waiting in waitDurable, if any.
func (e *Env) wakeSyncWaiters() {
	e.syncMu.Lock()
	if e.syncWaited {
		close(e.syncCh)
		e.syncCh = make(chan struct{})
		e.syncWaited = false
	}
	e.syncMu.Unlock()
}

// syncAll makes every record appended so far durable, wakes the writers
// waiting for that, and wakes the applier.
func (e *Env) syncAll() error {
	var err error
	if last := e.log.Last(); !last.IsZero() && !last.Less(e.log.DurableEnd()) {
		err = e.log.Sync(last)
		if err != nil {
			err = e.fail(fmt.Errorf("env: log sync at %s: %w", last, err))
		}
	}
	// Wake the run's writers even if nothing needed syncing: another
	// Sync (a checkpoint's, say) may have made their records durable.
	e.wakeSyncWaiters()
	if err == nil {
		e.kickApplier()
	}
	return err
}

// waitDurable waits until the record at `at`, appended in the given log
// epoch, is durable, made so by the writer that ends the current run (see
// Update). RollbackTo and InstallSnapshot make every record durable before
// they cut the log and start a new epoch, so a record of an older epoch was
// durable.
func (e *Env) waitDurable(at lsn.LSN, epoch uint64) error {
	for {
		e.syncMu.Lock()
		ch := e.syncCh
		e.syncWaited = true
		e.syncMu.Unlock()
		if at.Less(e.log.DurableEnd()) || e.epoch.Load() != epoch {
			return nil
		}
		if err := e.failure(); err != nil {
			return err
		}
		<-ch
	}
}

// runTxLocked runs fn under the writer mutex (held, every record
// received as a client applied: runLocked) and appends its record. It returns the record's token (zero if fn wrote nothing), the
// LSN to make durable (the record, or the last one in the log, which fn
// could read), with keep a copy of the payload, and whether the record
// is a Mark (no writes).
func (e *Env) runTxLocked(fn func(*Tx) error, keep bool) (Token, lsn.LSN, []byte, bool, error) {
	if err := e.failure(); err != nil {
		return Token{}, lsn.Zero, nil, false, err
	}
	applied, _, _ := e.appliedPos()
	e.ov.prune(applied) // before the Tx opens its bbolt snapshot
	tx := &Tx{e: e, applied: applied}
	defer tx.close()
	if err := fn(tx); err != nil {
		e.st.aborted.Add(1)
		return Token{}, lsn.Zero, nil, false, err
	}
	payload, nops, bs, err := tx.appendRecord(e.encBuf[:0], e.gen, time.Now().UnixNano(), e.befores)
	clear(bs)
	e.befores = bs[:0]
	if err != nil {
		e.st.aborted.Add(1)
		return Token{}, lsn.Zero, nil, false, err
	}
	if nops == 0 && !tx.mark {
		e.st.readOnly.Add(1)
		return Token{}, e.log.Last(), nil, false, nil
	}
	if size := int64(len(payload)); size+walReserve > e.cfg.LogFileSize {
		e.st.aborted.Add(1)
		return Token{}, lsn.Zero, nil, false, fmt.Errorf("%w: record of %d bytes, LogFileSize is %d", ErrTxTooLarge, size, e.cfg.LogFileSize)
	}
	at, err := e.log.Append(payload)
	var kept []byte
	if keep && err == nil {
		kept = append([]byte(nil), payload...)
	}
	tok := Token{LSN: at, Gen: e.gen, Checksum: identity(e.gen, payload)}
	if cap(payload) <= 64<<10 {
		e.encBuf = payload[:0]
	}
	if err != nil {
		e.st.aborted.Add(1)
		if errors.Is(err, wal.ErrTooLarge) {
			return Token{}, lsn.Zero, nil, false, fmt.Errorf("%w: %w", ErrTxTooLarge, err)
		}
		return Token{}, lsn.Zero, nil, false, e.fail(fmt.Errorf("env: log append: %w", err))
	}
	e.lastTok = tok
	if tx.writes == nil {
		return tok, at, kept, true, nil // a Mark
	}
	for n := tx.writes.seek(""); n != nil; n = n.next[0] {
		e.ov.add(n.key, entry{value: n.e.value, del: n.e.del, lsn: at})
	}
	return tok, at, kept, false, nil
}

// waitRoom waits until the unapplied part of the log is under
// MaxUnappliedBytes.
func (e *Env) waitRoom(ctx context.Context) error {
	for {
		_, end, ch := e.appliedPos()
		if e.distance(end, e.log.End()) < e.cfg.MaxUnappliedBytes {
			return nil
		}
		e.kickApplier()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closing:
			return ErrClosed
		}
		if err := e.failure(); err != nil {
			return err
		}
	}
}

// distance estimates the log bytes from a to b (0 if b <= a), counting
// every log file between them as full.
func (e *Env) distance(a, b lsn.LSN) int64 {
	if a.IsZero() {
		a = firstLSN // nothing yet: from where the first record goes
	}
	return lsn.Distance(a, b, e.cfg.LogFileSize)
}

// lockCaughtUp takes the writer mutex for a transaction or a read of the
// latest data on a master, once the records it received as a client are
// applied (remote), so that it reads what its former master wrote. It
// waits for the applier without the mutex: the runtime's loop takes the
// mutex to shut local commits out (Shut), and must not wait out a new
// master's backlog of records to apply, during which it would send no
// heartbeat and no ack. If local commits are shut out meanwhile it
// returns at once (the caller refuses a commit). On an error the mutex
// is not held.
func (e *Env) lockCaughtUp() error {
	for {
		e.mu.Lock()
		if !e.remote || !e.writable {
			return nil
		}
		last := e.log.Last()
		if applied, _, _ := e.appliedPos(); last.IsZero() || !applied.Less(last) {
			e.remote = false
			return nil
		}
		e.mu.Unlock()
		if err := e.syncAll(); err != nil {
			return err
		}
		if err := e.waitApplied(context.Background(), last); err != nil {
			return fmt.Errorf("env: apply records received before this transaction: %w", err)
		}
	}
}

// applyRemote makes every record in the log durable and waits until the
// applier has applied them, so that a transaction on a site that was just
// a client reads what its former master wrote. The caller holds mu; the
// applier never waits for mu. A read of the latest data needs it only
// when local commits were shut out after lockCaughtUp let it go.
func (e *Env) applyRemote() error {
	last := e.log.Last()
	if !last.IsZero() {
		if err := e.syncAll(); err != nil {
			return err
		}
		if err := e.waitApplied(context.Background(), last); err != nil {
			return fmt.Errorf("env: apply records received before this transaction: %w", err)
		}
	}
	e.remote = false
	return nil
}

// waitApplied waits until the applied LSN is at least at.
func (e *Env) waitApplied(ctx context.Context, at lsn.LSN) error { return e.waitApplying(ctx, at, nil) }

// appliedPos returns the published applied position and the channel closed
// at its next change.
func (e *Env) appliedPos() (applied, end lsn.LSN, ch chan struct{}) {
	e.amu.Lock()
	defer e.amu.Unlock()
	return e.applied, e.appliedEnd, e.appliedCh
}

// publishApplied sets the applied position, with the expected digest of
// the data there, and wakes its waiters.
func (e *Env) publishApplied(applied, end lsn.LSN, gen, digest uint64) {
	e.amu.Lock()
	e.applied, e.appliedEnd, e.appliedGen, e.digest = applied, end, gen, digest
	close(e.appliedCh)
	e.appliedCh = make(chan struct{})
	e.amu.Unlock()
}

// wakeWaiters wakes everyone waiting on the applied position without
// changing it (the environment failed).
func (e *Env) wakeWaiters() {
	e.amu.Lock()
	close(e.appliedCh)
	e.appliedCh = make(chan struct{})
	e.amu.Unlock()
}

func (e *Env) kickApplier() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// enter admits an operation unless the environment is closed or failed.
func (e *Env) enter() error {
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.failure(); err != nil {
		return err
	}
	e.ops.Add(1)
	return nil
}

func (e *Env) exit() { e.ops.Done() }

// fail records the first unrecoverable error; every later operation
// returns it, wrapped with ErrFailed. It returns the wrapped error.
func (e *Env) fail(err error) error {
	e.failMu.Lock()
	if e.failErr == nil {
		e.failErr = fmt.Errorf("%w: %w", ErrFailed, err)
		e.logger.Error("env: failed", "err", err)
	}
	ferr := e.failErr
	e.failMu.Unlock()
	e.wakeWaiters()
	return ferr
}

// failure returns the error the environment failed with, or nil.
func (e *Env) failure() error {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	return e.failErr
}

// setGeneration sets the generation stamped on the records of later
// commits. Replication sets it to the master's generation.
func (e *Env) setGeneration(gen uint64) {
	e.mu.Lock()
	e.gen = gen
	e.mu.Unlock()
}

// Close waits for the operations in progress, lets the applier apply what
// is durable, and closes the data file and the log. Calls after Close
// return ErrClosed; waiters in WaitApplied return ErrClosed at once.
func (e *Env) Close() error {
	e.life.Lock()
	if e.closed {
		e.life.Unlock()
		return ErrClosed
	}
	e.closed = true
	close(e.closing)
	e.life.Unlock()
	e.duties.Wait() // a duty in progress ends: its context ended with closing
	e.ops.Wait()
	close(e.stop)
	<-e.done
	e.endServed()
	e.rc.drop()
	var errs []error
	if err := e.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("env: close data file: %w", err))
	}
	if err := e.log.Close(); err != nil && !errors.Is(err, wal.ErrFailed) {
		errs = append(errs, fmt.Errorf("env: close log: %w", err))
	}
	return errors.Join(errs...)
}

// Dir returns the environment's directory.
func (e *Env) Dir() string { return e.dir }
