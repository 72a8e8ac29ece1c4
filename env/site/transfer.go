package site

// Planned transfer of mastership (Berkeley DB-style handover; repadmin
// transfer --to ID).
//
// elect decides the protocol (elect/transfer.go): the master refuses
// writes, waits for the target to hold its whole log, tells it to
// campaign, and stands aside in the forced election that follows. The
// site's part is what elect cannot see:
//
//   - no write admitted before the transfer may append after the target
//     was found caught up: Update asks writeErr again under the writer
//     mutex, and the catch-up check reads the log end holding that mutex
//     (env.Env.LastLocked), so every commit is either in the log the target
//     acknowledged or refused before it appends;
//   - the catch-up check compares the target's acknowledged LSN with the
//     real end of the log, not with what rep was handed, so a commit
//     appended but not yet taken by takeLocal keeps the master waiting;
//   - elect's TransferDone / TransferFailed events end the caller's wait.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"logship/elect"
	"logship/rep"
	"logship/rep/transport"
)

// transferWait is a transfer the loop is carrying out and its caller.
// Loop goroutine only, except done.
type transferWait struct {
	to   SiteID
	gen  uint64 // the master's generation when it began
	told bool   // TransferCaughtUp called
	// refused: the target said it cannot stand (elect's
	// EventTransferRefused), the reason the failure that follows gives.
	refused bool
	done    chan error // buffered; receives the outcome once
}

func (x *transferWait) finish(err error) {
	select {
	case x.done <- err:
	default:
	}
}

// Transfer hands mastership over to site to (a planned handover;
// repadmin transfer --to ID). This site must be the elected master and
// to a data site that can stand (known, not a witness, priority > 0).
//
// From the call on, writes here fail with an error wrapping ErrNotMaster
// (elect.ErrTransferring). A commit already admitted either completes
// before the target is found caught up, and is then in the target's log
// before it campaigns, or fails: no commit reported permanent is lost.
// Once the target has acknowledged the whole log it holds a forced
// election, which it wins unless a site with a more up-to-date log
// stands; this site then follows it as a client.
//
// Transfer returns nil once this site is a client of to at a newer
// generation; an error wrapping ErrTransferFailed if the target did not
// become master in time (writes here resume if this site is still
// master) or another site won; a *NotMasterError (wrapped) if this site
// is not the master; ErrBadTarget, wrapping elect's ErrUnknownSite or
// ErrWitness, for a bad target; ErrTransferFailed wrapping
// ErrNotElectable when the target refused (it has priority 0, which only
// it knows); ctx.Err() if ctx ends
// first, in which case the transfer goes on and may still complete.
func (s *Site) Transfer(ctx context.Context, to SiteID) error {
	if !s.cfg.Election.On {
		return fmt.Errorf("%w: elections are off (Config.Election.On)", ErrElections)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var x *transferWait
	if err := s.do(func() (err error) {
		x, err = s.startTransfer(to)
		return err
	}); err != nil {
		return err
	}
	select {
	case err := <-x.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
}

// startTransfer starts a transfer on the loop goroutine.
func (s *Site) startTransfer(to SiteID) (*transferWait, error) {
	st := s.c.Status().Rep
	if s.c.Status().Elect.Role == elect.RoleMaster && s.isDataPeer(to) && !s.tr.Connected(transport.ID(to)) {
		// A target this master cannot reach would only run out the
		// transfer's deadline with writes refused (several election
		// timeouts, the full-election wait among them): fail now.
		return nil, fmt.Errorf("site: transfer to %d: %w: the target is not connected to this master", to, ErrTransferFailed)
	}
	if err := s.c.Transfer(to); err != nil {
		if errors.Is(err, elect.ErrNotLeader) {
			master := st.Master
			if master == s.cfg.ID {
				master = 0 // rep still master, but an election is on
			}
			return nil, fmt.Errorf("site: transfer to %d: %w", to, &NotMasterError{Master: master})
		}
		if errors.Is(err, elect.ErrUnknownSite) || errors.Is(err, elect.ErrWitness) {
			return nil, fmt.Errorf("site: transfer to %d: %w: %w", to, ErrBadTarget, err)
		}
		return nil, fmt.Errorf("site: transfer to %d: %w", to, err)
	}
	if prev := s.xfer; prev != nil {
		prev.finish(fmt.Errorf("site: transfer to %d: %w: superseded by a transfer to %d", prev.to, ErrTransferFailed, to))
	}
	s.xfer = &transferWait{to: to, gen: st.Gen, done: make(chan error, 1)}
	s.log.Info("elect: transfer started", "to", uint64(to), "gen", st.Gen)
	return s.xfer, nil
}

// checkTransfer tells elect when the transfer target has acknowledged
// the whole log. Called on each tick.
func (s *Site) checkTransfer() {
	x := s.xfer
	if x == nil || x.told {
		return
	}
	if es := s.c.Status().Elect; es.Role != elect.RoleMaster || es.TransferTo != elect.SiteID(x.to) {
		return // elect's events settle it
	}
	acked := s.c.Acked(x.to)
	// Under the writer mutex: every commit admitted before writes were
	// refused has appended by now, and none appends after (writeErr).
	// LogEnd only tries the mutex: a transaction may hold it across an
	// fsync (the first one after a site becomes master syncs what it
	// received), and the loop must never wait on the disk; the next
	// tick tries again.
	end, ok := s.e.LastLocked()
	if !ok || acked.Less(end) {
		return
	}
	x.told = true
	s.log.Info("elect: transfer target caught up", "to", uint64(x.to), "lsn", end.String())
	s.c.TransferCaughtUp(x.to)
}

// transferEvent ends the caller's wait on elect's verdict.
func (s *Site) transferEvent(ev elect.Event) {
	x := s.xfer
	if x == nil {
		return
	}
	switch ev.Type {
	case elect.EventTransferDone:
		if SiteID(ev.Site) != x.to {
			return
		}
		// The core carried out the client role (rep.BecomeClient) before
		// the loop sees elect's events.
		if st := s.c.Status().Rep; st.Role != rep.RoleClient || st.Master != x.to || st.Gen <= x.gen {
			s.log.Warn("elect: transfer done but rep does not follow the target", "to", uint64(x.to),
				"role", st.Role.String(), "master", uint64(st.Master), "gen", st.Gen)
		}
		s.xferOutcome = func() { x.finish(nil) }
	case elect.EventTransferRefused:
		if SiteID(ev.Site) == x.to {
			x.refused = true
		}
		return
	case elect.EventTransferFailed:
		err := fmt.Errorf("site: transfer to %d: %w: %s", x.to, ErrTransferFailed, s.transferShortfall(x))
		if x.refused {
			err = fmt.Errorf("site: transfer to %d: %w: %w: the target cannot stand (its priority is 0)", x.to, ErrTransferFailed, elect.ErrNotElectable)
		}
		s.xferOutcome = func() { x.finish(err) }
	default:
		return
	}
	s.xfer = nil
}

// finishTransfer tells the caller of Transfer its outcome, once process
// has published the status that goes with it: the caller reads it.
func (s *Site) finishTransfer() {
	if f := s.xferOutcome; f != nil {
		s.xferOutcome = nil
		f()
	}
}

// isDataPeer reports whether id is a data site of the group (not a
// witness, not this site).
func (s *Site) isDataPeer(id SiteID) bool {
	return slices.ContainsFunc(s.cfg.Sites, func(m Member) bool { return m.ID == id && !m.Witness })
}

// transferShortfall says why a transfer ran out its deadline: the target
// never acknowledged the whole log, or it did and was told to stand but
// did not become master.
func (s *Site) transferShortfall(x *transferWait) string {
	conn := ""
	if !s.tr.Connected(transport.ID(x.to)) {
		conn = "; it is not connected now"
	}
	if !x.told {
		return fmt.Sprintf("the target did not catch up in time: it acknowledged the log to %s, short of its end%s", s.c.Acked(x.to), conn)
	}
	return "the target caught up and was told to stand, but did not become master in time (it lost its election, or its connection)" + conn
}
