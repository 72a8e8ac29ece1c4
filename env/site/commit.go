package site

// The master's commit path.
//
// Update runs the transaction through the store's first half of a commit
// (env.Append): the record is in the log, not yet durable. The record is
// handed to the loop (handOff) and shipped at once if the log is not
// fsyncing, else when the group commit starts the fsync that covers it
// (env.SyncStarts wakes the loop), so a group goes to each client in one
// message and the clients' fsyncs overlap the master's. The committer
// then takes part in the group commit (Pending.Durable), tells the loop
// its record is durable, and waits for one result: whether the core
// reported the commit permanent under the ack policy (Ready.Rep.Commits),
// or not (the ack timeout, a role change: Ready.Rejected, a fence).
//
// Local commits are admitted by the store only while the core says so
// (Ready.Admit, env.Admit and env.Shut): a commit that passed the gate
// before the site stopped being master either appended before the fence,
// and is then rolled back and reported not permanent, or is refused
// (env.ErrNotWritable) when it tries.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

// Update runs fn in a read-write transaction on the master and commits
// it (env.Env.Update), then waits for the ack policy: the returned token
// says whether the commit is permanent (Token.Permanent). A commit that
// does not meet its policy within the ack timeout is still committed on
// the master, reported not permanent. On a site that is not the master
// it fails with a *NotMasterError (or an error matching ErrNotMaster and
// saying why elect refuses: no lease, a transfer under way); on a client
// locked out by a sync it waits (or fails with ErrLockout under NoWait).
// ctx bounds the waits before the transaction and for the ack policy;
// once fn has run the commit completes regardless.
func (s *Site) Update(ctx context.Context, fn func(*env.Tx) error) (env.Token, error) {
	p, err := s.Append(ctx, fn)
	if err != nil {
		return env.Token{}, err
	}
	return p.Wait(ctx)
}

// madeDurable tells the loop that the local commit at at is durable.
func (s *Site) madeDurable(at lsn.LSN) {
	s.qmu.Lock()
	if s.durable.Less(at) {
		s.durable = at
	}
	s.qmu.Unlock()
	s.wake()
}

// handOff queues a local commit's record for the loop, which hands it to
// the core (takeLocal), and registers its committer's wait. While the
// log fsyncs, the record waits for the next fsync anyway: the group
// commit wakes the loop as it starts that one (env.SyncStarts), so the
// whole group goes to each client in one message. With no fsync running,
// ship now.
func (s *Site) handOff(p *env.Pending) *commit {
	c := &commit{rec: p.Record(), epoch: p.Epoch, ch: make(chan bool, 1)}
	s.qmu.Lock()
	s.pending[p.Seq] = c
	s.waiters[c.rec.LSN] = c
	s.qmu.Unlock()
	if s.e.SyncingSince().IsZero() {
		s.wake()
	}
	return c
}

// takeLocal hands the core the commits queued since the last call, in
// log order (a commit whose predecessor in the log is still on its way
// waits for it), and the newest local commit known durable. A commit appended in an older
// log epoch was cut by a rollback meanwhile (a fence): it is not
// permanent and must not reach rep, which would ship a record the log no
// longer holds.
func (s *Site) takeLocal() {
	s.qmu.Lock()
	var q []*commit
	for {
		c, ok := s.pending[s.next]
		if !ok {
			break
		}
		delete(s.pending, s.next)
		s.next++
		q = append(q, c)
	}
	durable := s.durable
	s.qmu.Unlock()
	if len(q) > 0 {
		epoch := s.e.Epoch()
		recs := make([]rep.Record, 0, len(q))
		for _, c := range q {
			if c.epoch != epoch {
				s.resolveCommit(c, false)
				continue
			}
			recs = append(recs, c.rec)
		}
		if len(recs) > 0 {
			s.appendLocal(recs)
			s.prog.appended(recs[len(recs)-1].LSN, time.Now())
		}
	}
	if !durable.IsZero() {
		s.c.Persisted(durable)
	}
}

// resolve ends the wait of the committer of the record at at.
func (s *Site) resolve(at lsn.LSN, perm bool) {
	s.qmu.Lock()
	c := s.waiters[at]
	delete(s.waiters, at)
	s.qmu.Unlock()
	if c != nil {
		c.ch <- perm
	}
}

// resolveCommit ends c's wait.
func (s *Site) resolveCommit(c *commit, perm bool) {
	s.qmu.Lock()
	if s.waiters[c.rec.LSN] == c {
		delete(s.waiters, c.rec.LSN)
	}
	s.qmu.Unlock()
	select {
	case c.ch <- perm:
	default:
	}
}

// failWaiters reports every commit still waiting not permanent.
func (s *Site) failWaiters() {
	s.qmu.Lock()
	ws := s.waiters
	s.waiters = map[lsn.LSN]*commit{}
	s.qmu.Unlock()
	for _, c := range ws {
		select {
		case c.ch <- false:
		default:
		}
	}
}

// gate admits an operation: a write needs the master role and elect's
// agreement (writeErr); anything waits while a client is locked out (or
// fails with ErrLockout under NoWait); a stuck client (join failure) or a
// failed site fails.
func (s *Site) gate(ctx context.Context, write bool) error {
	for {
		s.pmu.Lock()
		st, ch := s.status, s.statusCh
		s.pmu.Unlock()
		if write {
			if err := s.writeCheck(st); err != nil {
				return err
			}
		}
		if st.Err != nil {
			if errors.Is(st.Err, rep.ErrJoinFailure) {
				return fmt.Errorf("%w: %w", ErrJoinFailure, st.Err)
			}
			if errors.Is(st.Err, rep.ErrRollbackRefused) {
				return fmt.Errorf("%w: %w", ErrRollbackRefused, st.Err)
			}
			return st.Err
		}
		if !st.Lockout {
			return nil
		}
		if s.cfg.NoWait {
			return fmt.Errorf("%w (sync state %s)", ErrLockout, st.SyncState)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// writeErr is gate's verdict on a write, without waiting.
func (s *Site) writeErr() error {
	s.pmu.Lock()
	st := s.status
	s.pmu.Unlock()
	return s.writeCheck(st)
}

// writeCheck admits a write on a site whose published status is st: the
// core's WriteErr, and with leases the published deadline too: the core
// counts its lease in ticks, and a late loop lets its clock fall behind
// real time, so it can still believe in a lease that the grantors' clocks
// have already ended.
func (s *Site) writeCheck(st Status) error {
	if st.WriteErr != nil {
		return writeRefusal(st.Master, st.WriteErr)
	}
	if s.lease != nil && !s.lease.held(time.Now()) {
		return writeRefusal(st.Master, ErrLeaseExpired)
	}
	return nil
}

// reportApplied tells a client's core what its readers see now, and
// returns the channel that closes when that changes (nil on other roles:
// a master's applier must not wake the loop for nothing).
func (s *Site) reportApplied() <-chan struct{} {
	if s.c.Status().Rep.Role != rep.RoleClient {
		return nil
	}
	applied, digest, ch := s.e.Applied()
	s.c.Applied(applied, digest)
	return ch
}

// markGeneration commits the first record of this master's generation,
// a record of no writes (env.Tx.Mark), as soon as the site accepts
// writes: rep counts only records of the master's own generation toward
// the commit point (rep/commit.go), so until one is on a majority, lease
// reads and read tokens cannot rely on the records the master inherited,
// and an idle group would wait for an application's write. The loop calls
// it after publishing; the commit runs on its own goroutine, since a
// committer waits for the loop. A marker that fails is tried again while
// this site is still master of that generation. A site alone needs none.
func (s *Site) markGeneration() {
	s.pmu.Lock()
	st := s.status
	s.pmu.Unlock()
	if st.Role != rep.RoleMaster || st.WriteErr != nil || s.marked.Load() == st.Gen || len(dataSites(s.cfg.Sites)) == 0 {
		return
	}
	gen := st.Gen
	s.marked.Store(gen)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ackTimeout())
		defer cancel()
		if _, err := s.Update(ctx, func(tx *env.Tx) error { tx.Mark(); return nil }); err != nil {
			s.log.Debug("rep: the first record of this generation was not committed", "gen", gen, "err", err)
			s.marked.CompareAndSwap(gen, 0)
			s.wake()
		}
	}()
}
