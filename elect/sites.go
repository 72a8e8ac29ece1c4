package elect

import "fmt"

// SetSites replaces the other voting members of the group (a membership
// change; the driver calls it when a membership record enters or leaves
// the local log), and says whether this site votes itself. Non-voting
// members are not given to elect as voters: they are never counted in a
// majority, their VOTE2s and lease grants are dropped. A site that is
// not a voting member in its own log (a non-voting member, or one
// removed or not yet added) never stands (its VOTE1 has priority 0, and
// it never counts itself a winner), but it still holds and answers
// elections like any site without a master, so that its VOTE1 carries
// the election it promised to a master older than it (which then stands
// down, stepVote1), and it follows the master it hears: as in Raft,
// whether a vote counts is the
// candidate's business, by the candidate's membership, so a site whose
// log holds a membership record the others lack (a removal of itself not
// yet committed) does not stall an election the others need it for. It
// applies at once, also to an election in progress: votes and grants of
// removed sites are forgotten.
//
// known names other sites (removed, non-voting, or not yet in this
// site's copy of the membership: a lagging site's log may not hold the
// record that added or promoted the current master) whose candidacies
// (VOTE1) this site considers and whose mastership it follows, as a Raft
// server answers any candidate and follows any leader of a current term
// (fromNonVoter): they are never counted for anything.
func (n *Node) SetSites(sites []Site, known []SiteID, selfVoting bool) error {
	seen := map[SiteID]bool{}
	for i, s := range sites {
		switch {
		case s.ID == 0:
			return fmt.Errorf("%w: SetSites: sites[%d].ID must be non-zero", ErrBadConfig, i)
		case s.ID == n.cfg.ID:
			return fmt.Errorf("%w: SetSites: sites[%d].ID (%d) is this site's own ID", ErrBadConfig, i, s.ID)
		case seen[s.ID]:
			return fmt.Errorf("%w: SetSites: site %d is listed twice", ErrBadConfig, s.ID)
		}
		seen[s.ID] = true
	}
	n.known = map[SiteID]bool{}
	for _, id := range known {
		if !seen[id] && id != n.cfg.ID {
			n.known[id] = true
		}
	}
	n.cfg.Sites = append([]Site(nil), sites...)
	n.sites = map[SiteID]Site{}
	for _, s := range sites {
		n.sites[s.ID] = s
	}
	if n.el != nil {
		for id := range n.el.tally {
			if id != n.cfg.ID && !seen[id] && !n.known[id] {
				delete(n.el.tally, id) // a known site's candidacy stays
			}
		}
		for id := range n.el.votes {
			if id != n.cfg.ID && !seen[id] {
				delete(n.el.votes, id) // only voters' votes count
			}
		}
	}
	for id := range n.lease.grants {
		if !seen[id] {
			delete(n.lease.grants, id)
		}
	}
	n.observer = !selfVoting
	return nil
}

// Voting says whether this site votes (SetSites).
func (n *Node) Voting() bool { return !n.observer }

// Resign ends this master's mastership without following anyone: a
// master removed from the group (or no longer voting) steps down once
// the record that removed it is permanent, and the remaining voters
// elect a master. A site that is not master ignores it.
func (n *Node) Resign() {
	if n.role == RoleMaster {
		n.abdicate()
	}
}
