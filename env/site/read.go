package site

// Reads on a replication site.
//
// View on the master sees every commit that returned before it (env's
// View, since the store admits local commits only there); on a client it
// reads the applied data, which trails the master. ViewLease is the
// linearizable read of a master holding its lease (lease.go). A read
// token (WaitApplied, ViewAt) waits for the very record a write's token
// names; a record is final here once it is at or before the commit
// point, so a token naming another record at a final position fails with
// env.ErrNeverApplied.

import (
	"context"
	"fmt"
	"time"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

// View runs fn in a read-only transaction (env.Env.View): on the master
// it sees every commit that returned before View was called; on a client
// it reads the applied data, which trails the master's. It waits while a
// client is locked out by a sync (or fails with ErrLockout under NoWait).
func (s *Site) View(fn func(*env.ReadTx) error) error {
	if err := s.gate(context.Background(), false); err != nil {
		return err
	}
	return s.e.View(fn)
}

// WaitApplied returns once the commit named by tok is applied here, as
// env.Env.WaitApplied, with this site's commit point as what is final:
// it fails with an error matching env.ErrNeverApplied only once the site
// holds another record at the token's LSN that no failover can undo.
func (s *Site) WaitApplied(ctx context.Context, tok env.Token) error {
	if err := s.gate(ctx, false); err != nil {
		return err
	}
	return s.e.WaitToken(ctx, tok, commitPoint{s})
}

// ViewAt runs fn like View once the commit named by tok is applied here
// and in a transaction that sees it (env.Env.ViewAt, with this site's
// commit point as what is final): read-your-writes on any site.
func (s *Site) ViewAt(ctx context.Context, tok env.Token, fn func(*env.ReadTx) error) error {
	if err := s.gate(ctx, false); err != nil {
		return err
	}
	return s.e.ViewAt(ctx, tok, commitPoint{s}, fn)
}

// commitPoint is this site's finality for read tokens.
type commitPoint struct{ s *Site }

func (c commitPoint) Final(at lsn.LSN) bool {
	c.s.pmu.Lock()
	defer c.s.pmu.Unlock()
	return !c.s.status.CommitLSN.Less(at)
}

// ViewLease runs fn in a read transaction, like View on the master, but
// only while this site is the master holding its master lease
// (Config.Leases), and it answers only once everything fn could see is
// at or before the commit point: durable on a majority of the electable
// sites, so no failover rolls it back. The result is therefore
// linearizable: no other site can have accepted a write that fn does not
// see, and fn sees no write that is later undone. fn sees every write
// that returned before ViewLease was called, and the writes of commits
// still in flight; ViewLease then waits for those to reach the commit
// point, at most until the lease runs out. The lease is checked before fn
// runs and again after that wait; if ViewLease returns an error the
// caller must discard what fn read.
//
// It fails with a *NotMasterError (matching ErrNotMaster) on a site that
// is not the master, and with an error matching ErrLeaseExpired on a
// master without a valid lease: cut off from a majority, newly elected
// and still waiting out its predecessor's leases, or unable to get what
// it read acknowledged by a majority before its lease ran out. It never
// waits for the loop goroutine.
func (s *Site) ViewLease(fn func(*env.ReadTx) error) error {
	if s.lease == nil {
		return fmt.Errorf("%w: leases are off (Config.Leases)", ErrElections)
	}
	if err := s.leaseCheck(); err != nil {
		return err
	}
	var at lsn.LSN
	err := s.e.View(func(rt *env.ReadTx) error {
		at = rt.AppliedLSN()
		return fn(rt)
	})
	if err != nil {
		return err
	}
	if err := s.waitCommit(at); err != nil {
		return err
	}
	return s.leaseCheck()
}

// leaseCheck reports whether this site is the master holding its lease
// now.
func (s *Site) leaseCheck() error {
	s.pmu.Lock()
	st := s.status
	s.pmu.Unlock()
	if st.Role != rep.RoleMaster {
		return &NotMasterError{Master: st.Master}
	}
	if !s.lease.held(time.Now()) {
		return fmt.Errorf("site: lease read on site %d (master of generation %d): %w", s.cfg.ID, st.Gen, ErrLeaseExpired)
	}
	return nil
}

// waitCommit waits until the commit point reaches at, while this site is
// the master of the generation it is now, at most until the lease it
// holds now runs out: a read that late could not be served anyway.
func (s *Site) waitCommit(at lsn.LSN) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var gen uint64
	for {
		st, ch := s.watchCommit()
		if st.Role != rep.RoleMaster || gen != 0 && st.Gen != gen {
			return &NotMasterError{Master: st.Master}
		}
		gen = st.Gen
		if !st.CommitLSN.Less(at) {
			return nil
		}
		if timer == nil {
			left := time.Until(s.lease.deadline())
			if left <= 0 {
				break
			}
			timer = time.NewTimer(left)
		}
		select {
		case <-ch:
			continue
		case <-timer.C:
		case <-s.done:
			return ErrClosed
		}
		break
	}
	return fmt.Errorf("site: lease read on site %d: the lease ran out before %s was acknowledged by a majority: %w",
		s.cfg.ID, at, ErrLeaseExpired)
}
