package env

// Master leases in the replication driver (Berkeley DB DB_REP_CONF_LEASE).
//
// elect decides, in ticks, whether the master holds a majority of lease
// grants (package elect, "Master leases"). Writes already wait on elect's
// WriteErr, checked on the driver goroutine. A lease read must not queue
// behind that goroutine, so the driver publishes, after every tick and
// every Ready, a deadline: an instant on the monotonic clock until which
// the lease is certainly held. A reader compares time.Now against it, once
// before and once after running its function.
//
// The deadline is anchored on wall time, not on the tick count: the
// driver's ticker drops ticks when the goroutine is late, so the node's
// clock can lag real time, and a deadline computed as "now plus the ticks
// left" would then outlive the grantors' promises. Instead the driver
// remembers when each recent tick began and takes the deadline as the
// start of the tick that stamped the deciding request plus
// LeaseTicks-ClockSkew ticks of real time. The request left after that
// instant and each grantor counted its promise from when it received it,
// so the deadline is never later than the promise, however slow the
// master's goroutine or its clock.

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// Defaults for leases, as durations (elect.DefaultConfig counts them in
// ticks of elect.TickMillis).
const (
	defaultLeaseTimeout = 500 * time.Millisecond
)

// leaseClock maps the elect node's ticks to real time and holds the
// published lease deadline. The driver goroutine writes it; until is read
// by any goroutine.
type leaseClock struct {
	base  time.Time     // monotonic origin of the offsets below
	walls []int64       // start of tick t (ns since base) at t % len(walls)
	span  time.Duration // LeaseTicks-ClockSkew ticks
	valid uint64        // LeaseTicks-ClockSkew, in ticks
	until atomic.Int64  // ns since base; 0: no lease held
}

// newLeaseClock returns the clock for a node configured with ec (Leases
// on) ticking every tick, whose clock reads tick 0 now.
func newLeaseClock(ec elect.Config, tick time.Duration) *leaseClock {
	valid := max(ec.LeaseTicks-ec.ClockSkew, 0)
	lc := &leaseClock{
		base: time.Now(),
		// A grant older than LeaseTicks is void, so older ticks are never
		// looked up.
		walls: make([]int64, ec.LeaseTicks+1),
		span:  time.Duration(valid) * tick,
		valid: uint64(valid),
	}
	return lc
}

// mark records that the node's clock reached tick t at wall instant at.
func (lc *leaseClock) mark(t uint64, at time.Time) {
	lc.walls[t%uint64(len(lc.walls))] = int64(at.Sub(lc.base))
}

// publish sets the deadline from the node's promise of left more ticks
// at tick now.
func (lc *leaseClock) publish(now, left uint64) {
	if left == 0 || left > lc.valid {
		lc.until.Store(0)
		return
	}
	stamp := now + left - lc.valid // the tick that stamped the deciding request
	lc.until.Store(lc.walls[stamp%uint64(len(lc.walls))] + int64(lc.span))
}

// deadline returns the published deadline, the zero time if none.
func (lc *leaseClock) deadline() time.Time {
	u := lc.until.Load()
	if u == 0 {
		return time.Time{}
	}
	return lc.base.Add(time.Duration(u))
}

// held reports whether the lease is certainly held at the instant at.
func (lc *leaseClock) held(at time.Time) bool {
	u := lc.until.Load()
	return u != 0 && int64(at.Sub(lc.base)) < u
}

// electOptions sets the elect settings of leases and of a witness from c.
func (c ReplicationConfig) electOptions(ec *elect.Config) {
	toTicks := func(d time.Duration) int { return int((d + c.TickInterval - 1) / c.TickInterval) }
	ec.Leases = c.Leases
	timeout := c.LeaseTimeout
	if timeout <= 0 {
		timeout = defaultLeaseTimeout
	}
	ec.LeaseTicks = max(1, toTicks(timeout))
	if c.ClockSkew > 0 {
		ec.ClockSkew = toTicks(c.ClockSkew)
	} else {
		// elect's default is counted in its nominal ticks; keep the same
		// real time at another tick length.
		ec.ClockSkew = max(1, toTicks(time.Duration(ec.ClockSkew)*elect.TickMillis*time.Millisecond))
	}
	if c.witness {
		ec.Witness, ec.Priority, ec.GrantAfterExpiry = true, 0, c.WitnessGrantAfterExpiry
	}
}

// checkElectOptions validates the lease and witness settings, naming
// every bad field; repConfig and StartWitness call it.
func (c ReplicationConfig) checkElectOptions() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{rep.ErrBadConfig}, args...)...))
	}
	if c.Leases && !c.Elect && !c.witness {
		bad("Leases needs Elect: lease grants are part of the election protocol")
	}
	if c.LeaseTimeout < 0 {
		bad("LeaseTimeout (%v) must be >= 0", c.LeaseTimeout)
	}
	if c.ClockSkew < 0 {
		bad("ClockSkew (%v) must be >= 0", c.ClockSkew)
	}
	if c.WitnessGrantAfterExpiry && !c.witness {
		bad("WitnessGrantAfterExpiry is a witness setting (StartWitness); this site keeps data")
	}
	for i, s := range c.Sites {
		if !s.Witness {
			continue
		}
		if !c.Elect && !c.witness {
			bad("Sites[%d] (%d) is a witness: a witness needs Elect", i, s.ID)
		}
		if s.ID == c.Peer {
			bad("Peer (%d) is a witness, which keeps no log to sync from", c.Peer)
		}
	}
	return errors.Join(errs...)
}

// tickElect ticks the elect node, remembering when the tick began for the
// lease deadline. The instant is taken before the tick, and so before any
// request the tick stamps leaves: the deadline can only come early.
func (d *driver) tickElect() {
	el := d.el
	if el == nil {
		return
	}
	at := time.Now()
	el.n.Tick()
	if el.lease != nil {
		el.lease.mark(el.n.Now(), at)
	}
}

// publishLease publishes the lease deadline (driver goroutine).
func (d *driver) publishLease() {
	if el := d.el; el != nil && el.lease != nil {
		el.lease.publish(el.n.Now(), el.n.LeaseValidTicks())
	}
}

// writeCheck admits a write on a site whose elect node says werr (its
// WriteErr, nil if it may write). With leases the published deadline must
// hold too: the node counts its lease in ticks, and a late driver
// goroutine lets its clock fall behind real time, so the node can still
// believe in a lease that the grantors' clocks have already ended.
func (d *driver) writeCheck(master SiteID, werr error) error {
	if werr != nil {
		return writeRefusal(master, werr)
	}
	if lc := d.el.lease; lc != nil && !lc.held(time.Now()) {
		return writeRefusal(master, elect.ErrLeaseExpired)
	}
	return nil
}

// writeRefusal is the error a write gets on a site whose elect node
// refuses writes (werr, elect's WriteErr); it names the master it knows.
// Every refusal matches ErrNotMaster, so callers that send writes to the
// master need no other case; an expired lease also matches
// ErrLeaseExpired.
func writeRefusal(master SiteID, werr error) error {
	switch {
	case errors.Is(werr, elect.ErrNotLeader):
		return &NotMasterError{Master: master}
	case errors.Is(werr, elect.ErrLeaseExpired):
		return fmt.Errorf("%w: %w", ErrNotMaster, ErrLeaseExpired)
	}
	return fmt.Errorf("%w: %w", ErrNotMaster, werr)
}

// ViewLease runs fn in a read transaction, like View on the master, but
// only while this site is the master holding its master lease
// (ReplicationConfig.Leases), and it answers only once everything fn
// could see is at or before the commit point: durable on a majority of
// the electable sites, so no failover rolls it back. The result is
// therefore linearizable: no other site can have accepted a write that
// fn does not see, and fn sees no write that is later undone. fn sees
// every write that returned before ViewLease was called, and the writes
// of commits still in flight; ViewLease then waits for those to reach
// the commit point, at most until the lease runs out. The lease is
// checked before fn runs and again after that wait; if ViewLease returns
// an error the caller must discard what fn read.
//
// It fails with a *NotMasterError (matching ErrNotMaster) on a site that
// is not the master, and with an error matching ErrLeaseExpired on a
// master without a valid lease: cut off from a majority, newly elected
// and still waiting out its predecessor's leases, or unable to get what
// it read acknowledged by a majority before its lease ran out. It never
// waits for the driver goroutine.
func (e *Env) ViewLease(fn func(*ReadTx) error) error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	if d.el == nil || d.el.lease == nil {
		return fmt.Errorf("%w: leases are off (ReplicationConfig.Leases)", ErrReplication)
	}
	if err := d.leaseCheck(); err != nil {
		return err
	}
	at, err := e.viewLatest(fn)
	if err != nil {
		return err
	}
	if err := d.waitCommit(at); err != nil {
		return err
	}
	return d.leaseCheck()
}

// leaseCheck reports whether this site is the master holding its lease
// now.
func (d *driver) leaseCheck() error {
	d.pmu.Lock()
	st := d.status
	d.pmu.Unlock()
	if st.Role != rep.RoleMaster {
		return &NotMasterError{Master: st.Master}
	}
	if !d.el.lease.held(time.Now()) {
		return fmt.Errorf("env: lease read on site %d (master of generation %d): %w", d.cfg.ID, st.Gen, ErrLeaseExpired)
	}
	return nil
}

// waitCommit waits until the commit point reaches at, while this site is
// the master of the generation it is now, at most until the lease it
// holds now runs out: a read that late could not be served anyway.
func (d *driver) waitCommit(at lsn.LSN) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var gen uint64
	for {
		d.pmu.Lock()
		st := d.status
		ch := d.commitCh
		d.commitWaited = true
		d.pmu.Unlock()
		if st.Role != rep.RoleMaster || gen != 0 && st.Gen != gen {
			return &NotMasterError{Master: st.Master}
		}
		gen = st.Gen
		if !st.CommitLSN.Less(at) {
			return nil
		}
		if timer == nil {
			left := time.Until(d.el.lease.deadline())
			if left <= 0 {
				break
			}
			timer = time.NewTimer(left)
		}
		select {
		case <-ch:
			continue
		case <-timer.C:
		case <-d.done:
			return ErrClosed
		}
		break
	}
	return fmt.Errorf("env: lease read on site %d: the lease ran out before %s was acknowledged by a majority: %w",
		d.cfg.ID, at, ErrLeaseExpired)
}
