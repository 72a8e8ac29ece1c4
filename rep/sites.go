package rep

import "fmt"

// SetSites replaces the other members of the group (a membership
// change; see member.go and docs/protocol.md, "Membership changes"), and
// says whether this site is a voting member itself. It applies at once,
// to every record not yet permanent too: the driver calls it when the
// membership record enters the local log (the latest membership in the
// log rules, committed or not), and again, with the previous membership,
// when a rollback removes it.
//
// A site that stays keeps what the node knows of it (acks, connection,
// an init it is served); a new one starts disconnected when
// Config.StartDisconnected (the transport reports its connection) and
// with nothing acknowledged; a removed one is forgotten: nothing is
// shipped to it, its messages are dropped, and it no longer counts. On a
// master, the commits waiting for their policy are checked again at
// once: a removal can make them permanent.
func (n *Node) SetSites(sites []Site, selfVoting bool) error {
	seen := map[SiteID]bool{}
	for i, s := range sites {
		switch {
		case s.ID == 0:
			return fmt.Errorf("%w: SetSites: sites[%d].ID must be non-zero", ErrBadConfig, i)
		case s.ID == n.cfg.ID:
			return fmt.Errorf("%w: SetSites: sites[%d].ID (%d) is this site's own ID", ErrBadConfig, i, s.ID)
		case seen[s.ID]:
			return fmt.Errorf("%w: SetSites: site %d is listed twice", ErrBadConfig, s.ID)
		case s.Witness:
			return fmt.Errorf("%w: SetSites: site %d is a witness, which keeps no log", ErrBadConfig, s.ID)
		}
		seen[s.ID] = true
	}
	for id, st := range n.sites {
		if !seen[id] {
			n.forgetInFlight(st)
			delete(n.sites, id)
		}
	}
	for _, s := range sites {
		if st, ok := n.sites[s.ID]; ok {
			st.Site = s
			continue
		}
		n.sites[s.ID] = &siteState{Site: s, connected: !n.cfg.StartDisconnected}
	}
	n.cfg.Sites = append([]Site(nil), sites...)
	if n.cfg.Peer != 0 && !seen[n.cfg.Peer] {
		n.cfg.Peer = 0
	}
	n.selfOut = !selfVoting
	if n.role == RoleMaster {
		n.checkPerms()
	}
	return nil
}

// selfCounted says whether this site counts itself for acks and the
// commit point: it is electable and a voting member.
func (n *Node) selfCounted() bool { return n.selfElectable && !n.selfOut }

// Member says whether id is one of the other members rep knows.
func (n *Node) Member(id SiteID) bool { _, ok := n.sites[id]; return ok }

// OwnCommitted reports whether this master has a record of its own
// generation at or before its commit point. A new master changes the
// membership only then (Raft's rule, Ongaro 2015): a membership record
// of an older master that this one inherited but that is not yet
// permanent might otherwise be rolled back by a master elected under the
// older membership, while this one's change was permanent under its own.
func (n *Node) OwnCommitted() bool {
	return n.role == RoleMaster && !n.m.genStart.IsZero() && !n.m.commit.Less(n.m.genStart)
}
