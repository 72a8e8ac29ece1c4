package env

// Planned transfer of mastership (Berkeley DB-style handover; repadmin
// transfer --to ID).
//
// elect decides the protocol (elect/transfer.go): the master refuses
// writes, waits for the target to hold its whole log, tells it to
// campaign, and stands aside in the forced election that follows. The
// driver's part is what elect cannot see:
//
//   - no write admitted before the transfer may append after the target
//     was found caught up: update asks writeErr again under the writer
//     mutex, and the catch-up check reads the log end holding that mutex,
//     so every commit is either in the log the target acknowledged or
//     refused before it appends;
//   - the catch-up check compares the target's acknowledged LSN (rep's
//     Sites) with the real end of the log, not with what rep was handed,
//     so a commit appended but not yet taken by takeLocal keeps the
//     master waiting;
//   - elect's TransferDone / TransferFailed events end the caller's wait.

import (
	"context"
	"errors"
	"fmt"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// transferWait is a transfer the driver is carrying out and its caller.
// Driver goroutine only, except done.
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
// to an electable data site (known, not a witness, priority > 0).
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
func (e *Env) Transfer(ctx context.Context, to SiteID) error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	if d.el == nil {
		return fmt.Errorf("%w: elections are off (ReplicationConfig.Elect)", ErrReplication)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var x *transferWait
	if err := d.do(func() (err error) {
		x, err = d.startTransfer(to)
		return err
	}); err != nil {
		return err
	}
	select {
	case err := <-x.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return ErrClosed
	}
}

// startTransfer starts a transfer on the driver goroutine.
func (d *driver) startTransfer(to SiteID) (*transferWait, error) {
	st := d.n.Status()
	if err := d.el.n.Transfer(elect.SiteID(to)); err != nil {
		if errors.Is(err, elect.ErrNotLeader) {
			master := st.Master
			if master == d.cfg.ID {
				master = 0 // rep still master, but an election is on
			}
			return nil, fmt.Errorf("env: transfer to %d: %w", to, &NotMasterError{Master: master})
		}
		if errors.Is(err, elect.ErrUnknownSite) || errors.Is(err, elect.ErrWitness) {
			return nil, fmt.Errorf("env: transfer to %d: %w: %w", to, ErrBadTarget, err)
		}
		return nil, fmt.Errorf("env: transfer to %d: %w", to, err)
	}
	if prev := d.xfer; prev != nil {
		prev.finish(fmt.Errorf("env: transfer to %d: %w: superseded by a transfer to %d", prev.to, ErrTransferFailed, to))
	}
	d.xfer = &transferWait{to: to, gen: st.Gen, done: make(chan error, 1)}
	d.log.Info("elect: transfer started", "to", uint64(to), "gen", st.Gen)
	return d.xfer, nil
}

// checkTransfer tells elect when the transfer target has acknowledged
// the whole log. Called on each tick.
func (d *driver) checkTransfer() {
	x := d.xfer
	if x == nil || x.told || d.el == nil {
		return
	}
	if es := d.el.n.Status(); es.Role != elect.RoleMaster || es.TransferTo != elect.SiteID(x.to) {
		return // elect's events settle it
	}
	acked := d.targetAcked(x.to)
	// Under the writer mutex: every commit admitted before writes were
	// refused has appended by now, and none appends after (writeErr).
	// TryLock: a transaction may hold the mutex across an fsync (the
	// first one after a site becomes master syncs what it received), and
	// the driver must never wait on the disk; the next tick tries again.
	if !d.e.mu.TryLock() {
		return
	}
	end := d.e.log.Last()
	d.e.mu.Unlock()
	if acked.Less(end) {
		return
	}
	x.told = true
	d.log.Info("elect: transfer target caught up", "to", uint64(x.to), "lsn", end.String())
	d.el.n.TransferCaughtUp(elect.SiteID(x.to))
}

// targetAcked is the newest record site id acknowledged as durable at
// this master's generation (rep's view).
func (d *driver) targetAcked(id SiteID) lsn.LSN {
	for _, s := range d.n.Sites() {
		if s.ID == id {
			return s.Acked
		}
	}
	return lsn.Zero
}

// transferEvent ends the caller's wait on elect's verdict.
func (d *driver) transferEvent(ev elect.Event) {
	x := d.xfer
	if x == nil {
		return
	}
	switch ev.Type {
	case elect.EventTransferDone:
		if SiteID(ev.Site) != x.to {
			return
		}
		// elect carried out the client role (rep.BecomeClient) before
		// emitting its events.
		if st := d.n.Status(); st.Role != rep.RoleClient || st.Master != x.to || st.Gen <= x.gen {
			d.log.Warn("elect: transfer done but rep does not follow the target", "to", uint64(x.to),
				"role", st.Role.String(), "master", uint64(st.Master), "gen", st.Gen)
		}
		d.xferOutcome = func() { x.finish(nil) }
	case elect.EventTransferRefused:
		if SiteID(ev.Site) == x.to {
			x.refused = true
		}
		return
	case elect.EventTransferFailed:
		err := fmt.Errorf("env: transfer to %d: %w: the target did not become master in time", x.to, ErrTransferFailed)
		if x.refused {
			err = fmt.Errorf("env: transfer to %d: %w: %w: the target cannot stand (its priority is 0)", x.to, ErrTransferFailed, elect.ErrNotElectable)
		}
		d.xferOutcome = func() { x.finish(err) }
	default:
		return
	}
	d.xfer = nil
}

// finishTransfer tells the caller of Transfer its outcome, once process
// has published the status that goes with it: the caller reads it.
func (d *driver) finishTransfer() {
	if f := d.xferOutcome; f != nil {
		d.xferOutcome = nil
		f()
	}
}

// writeErr is gate's verdict on a write, without waiting. update asks it
// again under the writer mutex, right before the transaction runs: a
// commit gate admitted just before a transfer or a step-down then
// appends nothing, because the driver publishes that change before it
// takes the writer mutex to read the log end (checkTransfer).
func (d *driver) writeErr() error {
	d.pmu.Lock()
	st, estat := d.status, d.electStatus
	d.pmu.Unlock()
	if st.Role != rep.RoleMaster || !d.local.Load() {
		// The second: rep stopped being master after the status was
		// published (fenceLocal).
		return &NotMasterError{Master: st.Master}
	}
	if d.el != nil && estat.WriteErr != nil {
		return writeRefusal(st.Master, estat.WriteErr)
	}
	return nil
}
