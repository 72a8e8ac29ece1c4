package sitecore

import (
	"errors"
	"fmt"
	"slices"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// Membership: the core holds the group's membership that the driver
// found in its log (the latest membership record, committed or not, or
// the configured membership before any) and gives rep and elect their
// views of it: rep every other data member, with whether it votes; elect
// the other voting members, witnesses included. See docs/protocol.md,
// "Membership changes".

var (
	// ErrChangePending refuses a membership change while the previous
	// one is not permanent, or before this master made a record of its
	// own generation permanent.
	ErrChangePending = errors.New("sitecore: a membership change is pending")
	// ErrNotMember: this site is not a member of the group.
	ErrNotMember = errors.New("sitecore: not a member of the group")
)

// SetMembership makes ms the group's membership (the driver found its
// record at ms.LSN in the log, or recomputed it after a rollback,
// internal init or restart). It applies at once to rep and elect.
//
// known names the other data sites this site is connected to or
// configured with that ms may lack (a removed site, until its
// connection is dropped; the current master, on a site whose log does
// not yet hold the record that added it): rep keeps them as non-voting
// (shipped to, heard, never counted), elect follows their master claims
// only.
func (c *Core) SetMembership(ms rep.Membership, known []rep.SiteID) error {
	if err := ms.Validate(); err != nil {
		return err
	}
	var rs []rep.Site
	var es []elect.Site
	var wits []rep.SiteID
	var others []elect.SiteID
	self, isMember := ms.Find(c.id)
	for _, m := range ms.Members {
		if m.ID == c.id {
			continue
		}
		if m.Witness {
			wits = append(wits, m.ID)
		} else {
			rs = append(rs, rep.Site{ID: m.ID, NonVoting: m.NonVoting})
		}
		if m.Voting() {
			es = append(es, elect.Site{ID: elect.SiteID(m.ID), Witness: m.Witness})
		} else {
			// Its master claims count: the record that promoted it (and
			// let it win) may not be in this site's log yet.
			others = append(others, elect.SiteID(m.ID))
		}
	}
	for _, id := range known {
		if id != c.id && !ms.Has(id) && !slices.Contains(c.witnesses, id) {
			rs = append(rs, rep.Site{ID: id, NonVoting: true})
			others = append(others, elect.SiteID(id))
		}
	}
	voting := isMember && self.Voting()
	if c.rep != nil {
		if err := c.rep.SetSites(rs, voting); err != nil {
			return fmt.Errorf("sitecore: membership at %v: %w", ms.LSN, err)
		}
	}
	if c.el != nil {
		if err := c.el.SetSites(es, others, voting); err != nil {
			return fmt.Errorf("sitecore: membership at %v: %w", ms.LSN, err)
		}
	}
	c.witnesses = wits
	if ms.LSN != c.members.LSN || !slices.Equal(ms.Members, c.members.Members) {
		c.membersDone = false
	}
	c.members, c.haveMembers = ms.Clone(), true
	c.settle()
	return nil
}

// Membership returns the membership the core uses, with Pending set from
// the commit point as this site knows it; ok is false until the driver
// set one (SetMembership).
//
// Once the site saw the record at its commit point it stays not pending,
// also after this site stops being master (its commit point as a client
// is unknown until it hears one): a record at a commit point is never
// rolled back.
func (c *Core) Membership() (ms rep.Membership, ok bool) {
	ms = c.members.Clone()
	if !ms.LSN.IsZero() && !c.membersDone && !c.commit().Less(ms.LSN) {
		c.membersDone = true
	}
	ms.Pending = !ms.LSN.IsZero() && !c.membersDone
	return ms, c.haveMembers
}

// IsMember says whether this site is a member of the membership in use
// (true before any was set).
func (c *Core) IsMember() bool { return !c.haveMembers || c.members.Has(c.id) }

// CanChangeMembership reports whether this site may write a membership
// record now: it is master, accepts writes, its last membership record
// is permanent, and so is a record of its own generation.
func (c *Core) CanChangeMembership() error {
	if c.rep == nil || c.rep.Role() != rep.RoleMaster {
		return ErrNotMaster
	}
	if err := c.WriteErr(); err != nil {
		return err
	}
	if !c.IsMember() {
		return ErrNotMember
	}
	ms, _ := c.Membership()
	switch {
	case ms.Pending:
		return fmt.Errorf("%w: the record at %v is not permanent yet", ErrChangePending, ms.LSN)
	case !c.rep.OwnCommitted() && c.othersVote():
		return fmt.Errorf("%w: no record of generation %d is permanent yet", ErrChangePending, c.rep.Gen())
	}
	return nil
}

// Promotion returns the joining member a master should promote to
// voting now, and the membership that does so: one that is connected,
// has acknowledged a record, is within lag bytes of the master's newest
// record (distance measures the log between two positions, env's
// Distance), and whose promotion passes CheckChange, the first in site
// order. ok is false when there is none or when no change may start
// (CanChangeMembership). The runtime (env/site) and the simulator both
// promote by it.
func (c *Core) Promotion(ms rep.Membership, lag int64, distance func(a, b lsn.LSN) int64) (id rep.SiteID, next rep.Membership, ok bool) {
	if c.CanChangeMembership() != nil {
		return 0, rep.Membership{}, false
	}
	last := c.rep.Last()
	for _, x := range c.Sites() {
		m, in := ms.Find(x.ID)
		if !in || !m.Joining || !x.Connected || x.Acked.IsZero() || distance(x.Acked, last) > lag {
			continue
		}
		next = ms.Clone()
		for i := range next.Members {
			if next.Members[i].ID == x.ID {
				next.Members[i].NonVoting, next.Members[i].Joining = false, false
			}
		}
		if c.CheckChange(ms, next) != nil {
			continue // it stays non-voting (the master's SetVoting says why)
		}
		return x.ID, next, true
	}
	return 0, rep.Membership{}, false
}

// othersVote says whether another site votes: a master alone commits
// on its own and needs no own-generation record first.
func (c *Core) othersVote() bool {
	for _, m := range c.members.Members {
		if m.ID != c.id && m.Voting() {
			return true
		}
	}
	return !c.haveMembers
}

// commit is the commit point as this site knows it.
func (c *Core) commit() lsn.LSN {
	if c.rep == nil {
		return lsn.Zero
	}
	return c.rep.Commit()
}

// Resign makes a master step down because it is no longer a voting
// member: with elections elect abdicates (and, not voting, stands in no
// election); without, rep stops acting as master.
func (c *Core) Resign() {
	switch {
	case c.el != nil:
		c.el.Resign()
	case c.rep != nil && c.rep.Role() == rep.RoleMaster:
		c.rep.StepDown()
	}
	c.settle()
}

// ErrUnsafeChange refuses a membership change whose majorities might not
// intersect those of the membership before it (CheckChange).
var ErrUnsafeChange = errors.New("sitecore: unsafe membership change")

// CheckChange reports whether the master may replace cur by next. At
// most one site may change whether it votes (Raft's single-server
// change: any majority of the old voters meets any majority of the new).
//
// The group's quorums are asymmetric, though: a commit needs a majority
// of the electable voters (rep), an election only enough electable votes
// to meet every such majority (e - Majority(e) + 1, elect), the rest of
// its majority from unelectable voters, which vote for any candidate. Two
// such quorums of electable sets that differ by one site need not meet
// (electable sets {1,3} then {1}: an election under the first with site
// 3's own vote and an unelectable site's, a commit under the second on
// site 1 alone). They do meet when both quorums are majorities of the
// voters, each of them electable: so a change of an electable voter (or
// of one whose electability this master has not heard) is allowed only
// when every other voter is known electable; a change of a known
// unelectable voter leaves the electable set, and so every quorum that
// matters, as it was.
func (c *Core) CheckChange(cur, next rep.Membership) error {
	if err := next.Validate(); err != nil {
		return err
	}
	var changed []rep.SiteID
	voter := func(ms rep.Membership, id rep.SiteID) bool { m, ok := ms.Find(id); return ok && m.Voting() }
	for _, ms := range []rep.Membership{cur, next} {
		for _, m := range ms.Members {
			if voter(cur, m.ID) != voter(next, m.ID) && !slices.Contains(changed, m.ID) {
				changed = append(changed, m.ID)
			}
		}
	}
	switch {
	case len(changed) == 0:
		return nil
	case len(changed) > 1:
		return fmt.Errorf("%w: sites %v change whether they vote; change one at a time", ErrUnsafeChange, changed)
	}
	x := changed[0]
	if c.el == nil || c.electability(x) == rep.Unelectable {
		return nil // no elections (appointed masters), or E unchanged
	}
	for _, m := range cur.Members {
		if m.ID == x || !m.Voting() || !voter(next, m.ID) {
			continue
		}
		if e := c.electability(m.ID); e != rep.Electable {
			return fmt.Errorf("%w: site %d votes and is %s, so the electable voters' majorities before and after a change of site %d need not meet; make it a non-voting member first", ErrUnsafeChange, m.ID, e, x)
		}
	}
	return nil
}

// electability is how this master counts id (itself by its class).
func (c *Core) electability(id rep.SiteID) rep.Electability {
	if id == c.id {
		return repElectability(c.el.Electability())
	}
	if s, ok := c.repSite(id); ok {
		return s.Electability
	}
	return rep.ElectabilityUnknown
}
