package rep

import "logship/wal/lsn"

// pendingCommit is a commit record waiting for its ack policy.
type pendingCommit struct {
	lsn      lsn.LSN
	deadline uint64 // tick after which it is reported not permanent
}

// ackCount is the input of the ack-policy math: the group's shape and
// how many of the other sites have acknowledged a given record.
type ackCount struct {
	Clients          int  // other sites in the group
	ElectableClients int  // of those, priority > 0
	Acked            int  // other sites whose acked LSN covers the record
	AckedElectable   int  // of those, priority > 0
	SelfElectable    bool // the master itself has priority > 0
}

// ackPolicyMet reports whether policy p is satisfied by c. The master's
// own durability is checked by the caller. Policies that name a kind of
// site the group does not have are met vacuously (a single-site group
// commits on its own fsync), except that quorum always requires a
// majority of the electable sites.
func ackPolicyMet(p AckPolicy, c ackCount) bool {
	switch p {
	case AckNone:
		return true
	case AckOne:
		return c.Clients == 0 || c.Acked >= 1
	case AckOnePeer:
		return c.ElectableClients == 0 || c.AckedElectable >= 1
	case AckAll:
		return c.Acked >= c.Clients
	case AckAllPeers:
		return c.AckedElectable >= c.ElectableClients
	case AckQuorum:
		electable, have := c.ElectableClients, c.AckedElectable
		if c.SelfElectable {
			electable++
			have++
		}
		return electable == 0 || have >= electable/2+1
	}
	return false
}

// permMet reports whether the record at at satisfies the ack policy.
//
// A site counts as electable as it says it is (Message.Electability).
// One not heard yet counts the way that can only make permanence harder:
// in the number of electable sites, but not among those that acked. The
// sites' elections count alike (elect: a voter not heard in an election
// counts toward the electable sites, its vote only if it says it is
// electable), so a majority the master counted here meets every winner's
// electable votes, whatever either side has heard so far.
func (n *Node) permMet(at lsn.LSN) bool {
	c := ackCount{SelfElectable: n.selfCounted()}
	for _, s := range n.cfg.Sites {
		if s.NonVoting {
			continue
		}
		st := n.sites[s.ID]
		c.Clients++
		if st.electable != Unelectable {
			c.ElectableClients++
		}
		if !st.acked.Less(at) {
			c.Acked++
			if st.electable == Electable {
				c.AckedElectable++
			}
		}
	}
	return ackPolicyMet(n.cfg.AckPolicy, c)
}

// checkPerms reports permanent every waiting commit, oldest first, that
// is durable locally and meets the policy. Satisfaction is monotone in
// the LSN, so the scan stops at the first one that does not.
func (n *Node) checkPerms() {
	n.advanceCommit()
	i := 0
	for ; i < len(n.m.pending); i++ {
		p := n.m.pending[i]
		if n.durable.Less(p.lsn) || !n.permMet(p.lsn) {
			break
		}
		n.out.commits = append(n.out.commits, CommitResult{LSN: p.lsn, Permanent: true})
		n.stats.Perms++
		n.stats.MaxPermLSN = p.lsn
	}
	n.m.pending = n.m.pending[i:]
}

// expirePerms reports not permanent every waiting commit past its
// deadline. Deadlines grow with the LSN, so only a prefix can expire.
func (n *Node) expirePerms() {
	i := 0
	for ; i < len(n.m.pending) && n.m.pending[i].deadline <= n.now; i++ {
		p := n.m.pending[i]
		n.out.commits = append(n.out.commits, CommitResult{LSN: p.lsn})
		n.stats.PermFailed++
		n.event(Event{Type: EventPermFailed, LSN: p.lsn, Gen: n.gen})
	}
	n.m.pending = n.m.pending[i:]
}

// abandonPending reports not permanent every commit still waiting for
// its ack policy: the site stops being master (or becomes master of a
// newer generation), and they can no longer become permanent here. A
// client that holds one may still keep it (the new master may have it).
func (n *Node) abandonPending() {
	for _, p := range n.m.pending {
		n.out.commits = append(n.out.commits, CommitResult{LSN: p.lsn})
		n.stats.PermFailed++
	}
	n.m.pending = nil
}
