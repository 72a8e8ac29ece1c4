package sitecore

import (
	"errors"
	"fmt"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// ErrElections refuses an appointment (StartMaster, StartClient) on a
// site whose master elections choose, and an election command on one
// without elections.
var ErrElections = errors.New("sitecore: not allowed with this site's election setting")

// StartMaster makes this site master of gen (Berkeley DB rep_start with
// DB_REP_MASTER); elections off only.
func (c *Core) StartMaster(gen uint64) error {
	if err := c.appointed(); err != nil {
		return err
	}
	err := c.rep.BecomeMaster(gen)
	c.settle()
	return err
}

// StartClient makes this site a client of master (rep_start with
// DB_REP_CLIENT); elections off only. It learns the master's generation
// from its announcement.
func (c *Core) StartClient(master rep.SiteID) error {
	if err := c.appointed(); err != nil {
		return err
	}
	err := c.rep.BecomeClient(master, c.rep.Status().Gen)
	c.settle()
	return err
}

func (c *Core) appointed() error {
	switch {
	case c.halted:
		return ErrHalted
	case c.el != nil:
		return fmt.Errorf("%w: elections choose the master", ErrElections)
	}
	return nil
}

func (c *Core) electing() error {
	switch {
	case c.el == nil:
		return fmt.Errorf("%w: elections are off", ErrElections)
	case c.halted:
		return ErrHalted
	}
	return nil
}

// Sync starts a delayed client's synchronisation with its master now, or
// retries a failed join or init (rep_sync).
func (c *Core) Sync() error {
	if c.rep == nil || c.halted {
		return ErrHalted
	}
	err := c.rep.Sync()
	c.settle()
	return err
}

// AllowRollback lets a client stopped in SyncRollbackRefused proceed
// once (rep.Node.AllowRollback).
func (c *Core) AllowRollback() error {
	if c.rep == nil || c.halted {
		return ErrHalted
	}
	err := c.rep.AllowRollback()
	c.settle()
	return err
}

// SetDelayClient turns delayed synchronisation on or off.
func (c *Core) SetDelayClient(on bool) {
	if c.rep != nil {
		c.rep.SetDelayClient(on)
		c.settle()
	}
}

// SetPriority changes this site's priority (rep_set_priority): whether
// it stands in elections, and what rep announces. How the group counts
// it (its electability) stays the class fixed at its first start.
func (c *Core) SetPriority(p uint32) error {
	if c.el != nil {
		if err := c.el.SetPriority(p); err != nil {
			return err
		}
	}
	if c.rep != nil {
		c.rep.SetPriority(p)
	}
	c.settle()
	return nil
}

// Campaign holds an election now (rep_elect).
func (c *Core) Campaign() error {
	if err := c.electing(); err != nil {
		return err
	}
	err := c.el.Campaign()
	c.settle()
	return err
}

// Transfer starts a planned handover of mastership to site to
// (elect.Node.Transfer): writes stop at once; the driver calls
// TransferCaughtUp once the target acknowledged the whole log.
func (c *Core) Transfer(to rep.SiteID) error {
	if err := c.electing(); err != nil {
		return err
	}
	err := c.el.Transfer(elect.SiteID(to))
	c.settle()
	return err
}

// TransferCaughtUp tells a master handing over that the target holds
// its whole log: the target is told to campaign.
func (c *Core) TransferCaughtUp(to rep.SiteID) {
	if c.el != nil {
		c.el.TransferCaughtUp(elect.SiteID(to))
		c.settle()
	}
}

// StepDown: this site's log cannot be made durable now (a stalled
// fsync). A master steps down (elect and rep) so the others elect one
// that can; until Recovered the site votes only for candidates as up to
// date as its durable log and stands for nothing.
func (c *Core) StepDown() {
	c.stalled = true
	if c.el != nil {
		c.el.StepDown()
	}
	if c.rep != nil {
		c.rep.StepDown()
	}
	c.settle()
}

// Recovered: the stall StepDown reported is over; the site takes part
// again (a halted site does not).
func (c *Core) Recovered() {
	if !c.stalled || c.halted {
		return
	}
	c.stalled = false
	if c.el != nil {
		c.el.Recovered()
	}
	c.settle()
}

// Halt stops replication for good: the site's storage failed (a full
// disk, an I/O error). A master steps down; rep takes no more messages
// or ticks, so a client neither acknowledges nor syncs (nor starts an
// internal init onto a disk it cannot write); elect steps down and votes
// only for candidates as up to date as its durable log. Restarting the
// site after the repair is the way back.
func (c *Core) Halt() {
	if c.halted {
		return
	}
	c.StepDown()
	c.halted = true
	c.settle()
}

// LeaseTicks reports, with leases on, elect's clock and how many more
// ticks this master certainly holds its lease (0: none). The driver maps
// them to wall time (see env/site's lease clock).
func (c *Core) LeaseTicks() (now, left uint64) {
	if c.el == nil {
		return 0, 0
	}
	return c.el.Now(), c.el.LeaseValidTicks()
}

// CanReadLease reports whether this master may serve a lease read now, in
// ticks (the driver also checks its wall-clock deadline).
func (c *Core) CanReadLease() bool { return c.el != nil && !c.halted && c.el.CanReadLease() }

// Acked is the durable LSN site id acknowledged at this master's
// generation (a transfer's catch-up check).
func (c *Core) Acked(id rep.SiteID) lsn.LSN {
	if s, ok := c.repSite(id); ok {
		return s.Acked
	}
	return lsn.Zero
}

// repSite is rep's view of site id, if rep has one.
func (c *Core) repSite(id rep.SiteID) (rep.SiteStatus, bool) {
	if c.rep == nil {
		return rep.SiteStatus{}, false
	}
	for _, s := range c.rep.Sites() {
		if s.ID == id {
			return s, true
		}
	}
	return rep.SiteStatus{}, false
}
