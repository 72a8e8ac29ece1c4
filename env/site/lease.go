package site

// Master leases on a site (Berkeley DB DB_REP_CONF_LEASE).
//
// elect decides, in ticks, whether the master holds a majority of lease
// grants (package elect, "Master leases"). Writes already wait on the
// core's WriteErr, published by the loop. A lease read must not queue
// behind that goroutine, so the loop publishes, after every tick and
// every Ready, a deadline: an instant on the monotonic clock until which
// the lease is certainly held. A reader compares time.Now against it, once
// before and once after running its function.
//
// The deadline is anchored on wall time, not on the tick count: the
// loop's ticker drops ticks when the goroutine is late, so the node's
// clock can lag real time (a master catches up once its loop runs again,
// ticksDue, but not while it is stalled), and a deadline computed as "now
// plus the ticks left" would then outlive the grantors' promises. Instead the driver
// remembers when each recent tick began and takes the deadline as the
// start of the tick that stamped the deciding request plus
// LeaseTicks-ClockSkew ticks of real time. The request left after that
// instant and each grantor counted its promise from when it received it,
// so the deadline is never later than the promise, however slow the
// master's goroutine or its clock.

import (
	"sync/atomic"
	"time"

	"logship/elect"
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

// publishLease publishes the lease deadline (loop goroutine).
func (s *Site) publishLease() {
	if s.lease != nil {
		s.lease.publish(s.c.LeaseTicks())
	}
}
