package env

// The fsync-stall rule: a master whose log fsync has been in progress
// longer than ReplicationConfig.FsyncStallTimeout steps down.
//
// A master that cannot make commits durable must not hold the group:
// every write it accepts waits, and as long as it heartbeats its clients
// elect nobody else. The commits' fsyncs run in the committers'
// goroutines (Env.syncAll -> wal.Log.Sync), never on the driver's, so
// the driver is free to notice: on each tick it asks the log when the
// fsync in progress began (wal.Log.SyncingSince). Past the timeout it
// steps down in both state machines: elect (StepDown: no campaigning or
// winning, votes only for a candidate as up to date as this site) and rep
// (StepDown: back to no role, so it sends nothing, its clients notice the
// silence and elect a new master, and it starts no sync the stalled log
// could not carry out). Commits waiting for their ack policy are
// reported not permanent. When that fsync completes, elect is told
// (Recovered); the site holds an election, the new master answers, and
// the site follows it as a client, rolling back what the new master
// lacks.
//
// The rule needs elections (ReplicationConfig.Elect): without them
// nothing would choose a replacement.

import (
	"fmt"
	"time"

	"logship/elect"
	"logship/rep"
)

// DefaultFsyncStallTimeout is ReplicationConfig.FsyncStallTimeout's
// default.
const DefaultFsyncStallTimeout = 5 * time.Second

// stallState is the driver's watch on the log's fsync. Driver goroutine
// only.
type stallState struct {
	timeout time.Duration // <= 0: off
	// syncing is the start (SyncingSince) of the fsync in progress when
	// last looked at, and seen when the driver first saw it: elapsed
	// time is measured on the monotonic clock from there, so a step of
	// the wall clock cannot fake a stall.
	syncing time.Time
	seen    time.Time
	stalled bool // stepped down for the fsync that began at syncing
}

// fsyncStallTimeout resolves and checks FsyncStallTimeout: 0 is the
// default, negative turns the rule off.
func (c ReplicationConfig) fsyncStallTimeout() (time.Duration, error) {
	switch t := c.FsyncStallTimeout; {
	case t == 0:
		return DefaultFsyncStallTimeout, nil
	case t < 0:
		return 0, nil
	case t < c.TickInterval:
		return 0, fmt.Errorf("%w: FsyncStallTimeout (%v) must be at least TickInterval (%v), 0 (default %v) or negative (off)",
			rep.ErrBadConfig, t, c.TickInterval, DefaultFsyncStallTimeout)
	default:
		return t, nil
	}
}

// checkStall applies the fsync-stall rule. Called on each tick.
func (d *driver) checkStall() {
	s := &d.stall
	if d.el == nil || s.timeout <= 0 {
		return
	}
	since := d.e.log.SyncingSince()
	if !since.Equal(s.syncing) {
		if s.stalled && d.e.failure() == nil {
			s.stalled = false
			d.log.Warn("env: the stalled log fsync completed; rejoining the group",
				"stalled_for", time.Since(s.seen).Round(time.Millisecond))
			d.el.n.Recovered()
		}
		s.syncing, s.seen = since, time.Now()
	}
	if since.IsZero() || s.stalled || time.Since(s.seen) < s.timeout {
		return
	}
	if d.el.n.Status().Role != elect.RoleMaster && d.n.Status().Role != rep.RoleMaster {
		return
	}
	s.stalled = true
	d.log.Error("env: log fsync stalled; master stepping down",
		"fsync_began", since, "timeout", s.timeout)
	d.el.n.StepDown()
	d.n.StepDown()
	// rep dropped the commits waiting for acks with its master state.
	d.failWaiters()
}
