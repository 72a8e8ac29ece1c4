package rep

import (
	"slices"

	"logship/wal/lsn"
)

// The commit point.
//
// A record durable on a majority of the electable sites (the master
// included when it is electable) is in the log of every site that can
// win an election from now on: a winner needs electable votes from every
// such majority, and an electable voter votes only for a candidate at
// least as up to date as itself (package elect). Such a record is never
// rolled back. The newest such record is the master's commit point,
// whatever the ack policy: with a weaker policy than quorum, commits are
// reported permanent before they reach it.
//
// Only a record of the master's own generation counts (Raft's rule for
// committing, Ongaro's thesis 3.6.2). A record of an older generation
// that a new master finds in its log and replicates to a majority is not
// safe yet: a site holding a record of a generation between the two,
// which that majority lacks, beats it in an election (candidates compare
// their last records by generation first), and would roll it back. Once
// a record the master wrote in its generation is on a majority, so is
// every record before it, and no site without them can win. So a new
// master's commit point stays where it was (zero) until its first own
// record is on a majority (Site commits a marker record at once, so an
// idle group does not wait for an application's write). A master no
// other site could replace needs none of this.
//
// Readers rely on it. A lease read on the master answers only once its
// snapshot is at or before the commit point, so it never returns a write
// that a failover then rolls back; a client, told the commit point on
// LOG and HEARTBEAT (Message.Commit), knows which of its records are
// final, so a read token naming another record at one of those
// positions will never be applied there (Status.Commit).

// commitPoint computes the master's commit point from the acks: the
// newest record durable here and on a majority of the electable sites,
// counted as permMet counts them (a site not heard yet is electable but
// has acked nothing). With no electable site at all no election can take
// place, and the master's durable log is final.
func (n *Node) commitPoint() lsn.LSN {
	e := 0
	acks := make([]lsn.LSN, 0, len(n.cfg.Sites)+1)
	if n.selfCounted() {
		e++
		acks = append(acks, n.durable)
	}
	for _, s := range n.cfg.Sites {
		if s.NonVoting {
			continue
		}
		st := n.sites[s.ID]
		if st.electable != Unelectable {
			e++
		}
		if st.electable == Electable {
			acks = append(acks, st.acked)
		}
	}
	if e == 0 {
		return n.durable
	}
	need := e/2 + 1
	if len(acks) < need {
		return lsn.Zero
	}
	slices.SortFunc(acks, func(a, b lsn.LSN) int { return b.Compare(a) })
	return lsn.Min(acks[need-1], n.durable)
}

// advanceCommit moves the master's commit point forward (it never moves
// back within a generation: an ack, once counted, stays), to records of
// its own generation only.
func (n *Node) advanceCommit() {
	own := !n.m.genStart.IsZero()
	if c := n.commitPoint(); n.m.commit.Less(c) && (own && !c.Less(n.m.genStart) || !n.othersElectable()) {
		n.m.commit = c
	}
}

// othersElectable reports whether another site could win an election
// (it is electable, or has not said): if none can, no failover can roll
// anything back, and the own-generation rule is moot.
func (n *Node) othersElectable() bool {
	for _, s := range n.cfg.Sites {
		if !s.NonVoting && n.sites[s.ID].electable != Unelectable {
			return true
		}
	}
	return false
}

// sentCommit is the commit point a message carries: the master's; a
// client serving its peer sends none (its peer hears it from the master).
func (n *Node) sentCommit() lsn.LSN {
	if n.role == RoleMaster {
		return n.m.commit
	}
	return lsn.Zero
}

// heardCommit records a commit point from this client's master.
func (n *Node) heardCommit(c lsn.LSN) {
	if n.c.commit.Less(c) {
		n.c.commit = c
	}
}

// Commit returns the commit point as this site knows it: on the master
// its own; on a synchronised client (catching up or ready) the master's
// last heard, up to its own last record, since its log is then a prefix
// of the master's. Zero when unknown (a client verifying, in init, or
// delayed; no role).
func (n *Node) Commit() lsn.LSN {
	switch n.role {
	case RoleMaster:
		return n.m.commit
	case RoleClient:
		if n.c.state == SyncCatchup || n.c.state == SyncReady {
			return lsn.Min(n.c.commit, n.last)
		}
	}
	return lsn.Zero
}
