package elect

// Step-down: a site whose log cannot be made durable.
//
// A master that cannot make its commits durable (the driver sees its log
// fsync stalled past a timeout) must not hold the group: every write it
// accepts waits forever, and its clients, hearing it, never elect another
// master. StepDown takes it out of the running until Recovered; the
// remaining sites elect a new master without it.

// StepDown tells the node that this site's log cannot be made durable
// now. A master steps down at once: it knows no master any more
// (RoleUnknown; the driver also stops rep acting as master, so its
// clients notice it is gone), emits EventSteppedDown, and a transfer it
// was making fails. Until Recovered the site is stalled:
//
//   - it neither campaigns (Campaign returns ErrStalled, a lost master or
//     a failed election starts nothing) nor wins: in an election it
//     stands as priority 0 and only votes;
//   - it votes only for a candidate whose log is at least as up to date
//     as its own, since its durable records may hold commits reported
//     permanent that the winner must have (see voteFloor);
//   - it follows no master it hears of: following means synchronising a
//     log it cannot write. A master it hears ends the election it was
//     voting in.
//
// StepDown on a site that is not master only marks it stalled.
func (n *Node) StepDown() {
	if n.stalled {
		return
	}
	n.stalled = true
	if n.el != nil {
		n.el.stepAside = true
		n.el.tally[n.cfg.ID] = n.ownVote()
	}
	if n.role != RoleMaster {
		return
	}
	n.abdicate()
}

// abdicate ends this site's mastership without following anyone
// (RoleUnknown; the driver stops rep acting as master).
func (n *Node) abdicate() {
	gen := n.gen
	if n.xfer.to != 0 {
		n.event(EventTransferFailed, n.xfer.to, gen)
		n.stats.TransfersFailed++
		n.xfer = transferState{}
	}
	n.lease = leaseState{}
	n.agent.resetMaster()
	n.retryAt = 0
	n.setRole(RoleUnknown, 0, gen)
	n.stats.MasterChanges++
	n.event(EventSteppedDown, n.cfg.ID, gen)
}

// Recovered tells the node that the stall StepDown reported is over: the
// site takes part again. One that knows no master and is in no election
// holds one at once; a live master answers it with MASTER, and the site
// follows it (rep then rolls back what the new master lacks).
func (n *Node) Recovered() {
	if !n.stalled {
		return
	}
	n.stalled = false
	if n.role == RoleUnknown && n.el == nil {
		n.started = true
		n.startElection(false, 0)
	}
}

// stalledMasterSeen: a stalled site hears a master. It does not follow
// it, but the election it was voting in is over once a master of that
// generation or a later one exists.
func (n *Node) stalledMasterSeen(gen uint64) {
	if n.el != nil && gen >= n.el.egen {
		n.el = nil
	}
}

// voteFloor keeps the candidates this site may vote for. The others count
// a site by the class it fixed at its first start (HardState.Electability:
// electable when its priority was > 0 then), and a winner needs
// enough electable votes to meet every majority that could have made a
// commit permanent; a standing site keeps that promise by counting its
// own log among the candidates. A site that does not stand now (stalled,
// handing over, or set to priority 0 at run time or at a restart) must keep it too: it
// votes only for a candidate at least as up to date as itself. What it
// stands as is what it announced in this election (its tally entry): a
// priority changed since takes effect in the next one.
func (n *Node) voteFloor(cands []Vote) []Vote {
	own, ok := n.el.tally[n.cfg.ID]
	if !ok {
		own = n.ownVote()
	}
	if n.cfg.Witness || !n.counted() || own.Electable() {
		return cands
	}
	out := make([]Vote, 0, len(cands))
	for _, c := range cands {
		if CompareLogs(c, own) >= 0 {
			out = append(out, c)
		}
	}
	return out
}
