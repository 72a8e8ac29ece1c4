package sitecore

import (
	"fmt"
	"slices"

	"logship/elect"
	"logship/rep"
)

// Status is the core's externally visible state.
type Status struct {
	ID rep.SiteID
	// Rep is rep's status (zero on a witness), Elect elect's (zero with
	// elections off).
	Rep   rep.Status
	Elect elect.Status
	// Elections: elections choose the master; Witness: this site is a
	// witness (elect only).
	Elections, Witness bool
	// WriteErr is nil when a local write may be admitted now (see
	// Core.WriteErr).
	WriteErr error
	// Halted: Halt was called (the storage failed). Stalled: StepDown
	// was called and Recovered not yet.
	Halted, Stalled bool
	// Witnesses are the group's witnesses and whether each is connected.
	Witnesses []Peer
}

// Peer is a site and whether it is connected.
type Peer struct {
	ID        rep.SiteID
	Connected bool
}

// Status returns the core's current status.
func (c *Core) Status() Status {
	st := Status{ID: c.id, Elections: c.el != nil, Witness: c.rep == nil, WriteErr: c.WriteErr(),
		Halted: c.halted, Stalled: c.stalled}
	if c.rep != nil {
		st.Rep = c.rep.Status()
	}
	if c.el != nil {
		st.Elect = c.el.Status()
	}
	for _, id := range c.witnesses {
		st.Witnesses = append(st.Witnesses, Peer{ID: id, Connected: c.witUp[id]})
	}
	return st
}

// WriteErr reports whether a local write may be admitted now: nil on a
// master whose local commits are admitted and whose elections agree (a
// lease held, no transfer under way); an error matching ErrNotMaster
// otherwise (wrapping elect's reason when elect refuses).
func (c *Core) WriteErr() error {
	if c.halted {
		return ErrHalted
	}
	if c.rep == nil {
		return fmt.Errorf("%w: a witness keeps no data", ErrNotMaster)
	}
	if c.rep.Role() != rep.RoleMaster || !c.admitted || c.fencing {
		return fmt.Errorf("%w: the master is site %d", ErrNotMaster, c.rep.Master())
	}
	if c.el != nil {
		if err := c.el.WriteErr(); err != nil {
			return fmt.Errorf("%w: %w", ErrNotMaster, err)
		}
	}
	return nil
}

// Sites returns rep's view of the other data sites (nil on a witness).
func (c *Core) Sites() []rep.SiteStatus {
	if c.rep == nil {
		return nil
	}
	return c.rep.Sites()
}

// Stats returns the core's counters.
func (c *Core) Stats() Stats { return c.stats }

// RepStats returns rep's counters (zero on a witness).
func (c *Core) RepStats() rep.Stats {
	if c.rep == nil {
		return rep.Stats{}
	}
	return c.rep.Stats()
}

// ElectStats returns elect's counters (zero with elections off).
func (c *Core) ElectStats() elect.Stats {
	if c.el == nil {
		return elect.Stats{}
	}
	return c.el.Stats()
}

// mirror is, in a group of two data sites and one witness, a master's
// view of whether it is mirrored: the other data site is connected and
// has acknowledged the master's whole log (once; it stays mirrored until
// the connection drops). Not mirrored, the master needs the witness's
// grant to write (package elect, "Witness and status agent").
type mirror struct {
	agent    bool
	other    rep.SiteID
	mirrored bool
	gen      uint64 // generation mirrored was established in
}

func newMirror(ec elect.Config, witnesses []rep.SiteID) mirror {
	if ec.Witness || len(witnesses) != 1 || len(ec.Sites) != 2 {
		return mirror{}
	}
	for _, s := range ec.Sites {
		if !slices.Contains(witnesses, rep.SiteID(s.ID)) {
			return mirror{agent: true, other: rep.SiteID(s.ID)}
		}
	}
	return mirror{}
}

// noteMirrored tells elect whether this master is mirrored.
func (c *Core) noteMirrored() {
	w := &c.mirror
	if !w.agent || c.rep == nil {
		return
	}
	if c.rep.Role() != rep.RoleMaster {
		w.mirrored, w.gen = false, 0
		return
	}
	if gen := c.rep.Gen(); gen != w.gen {
		w.mirrored, w.gen = false, gen
	}
	for _, s := range c.rep.Sites() {
		if s.ID != w.other {
			continue
		}
		switch {
		case !s.Connected:
			w.mirrored = false
		case !w.mirrored && !s.Acked.Less(c.rep.Last()):
			w.mirrored = true
		}
	}
	c.el.Mirrored(w.mirrored)
}
