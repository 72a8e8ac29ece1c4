package elect

// agentState is the status-agent side of a group of two data sites and a
// witness: on the witness, when the holder's grant expires; on a data
// master, whether it is mirrored and the grant it holds.
type agentState struct {
	// witness
	expires uint64 // tick at which the holder's grant lapses
	// data master
	mirrored  bool   // the other data site is connected and caught up
	stamp     uint64 // request stamp of the newest OK grant
	has       bool   // stamp is valid
	nextReq   uint64 // tick of the next GRANT_REQ
	released  bool   // Release sent since last mirrored
	refusedBy SiteID // holder named by the last refusal (for the event)
}

func (a *agentState) resetMaster() {
	a.mirrored, a.stamp, a.has, a.nextReq, a.released, a.refusedBy = false, 0, false, 0, false, 0
}

// grantable applies the witness's grant rule to site req.
func (n *Node) grantable(req SiteID) bool {
	after := n.cfg.GrantAfterExpiry || n.hs.HolderTentative
	return Grantable(n.hs.Holder, req, n.agent.expires, n.now, after)
}

// grantByVote makes the site the witness votes for the (tentative)
// holder: it must not be outvoted by the other data site's grant request
// while it collects votes and confirms as master.
func (n *Node) grantByVote(hs *HardState, to SiteID) {
	if hs.Holder == to && !hs.HolderTentative {
		n.agent.expires = max(n.agent.expires, n.now+uint64(n.cfg.GrantTicks))
		return
	}
	hs.Holder, hs.HolderGen, hs.HolderTentative = to, hs.EGen, true
	n.agent.expires = n.now + uint64(n.cfg.ElectionTicks+n.cfg.GrantTicks)
}

// stepGrantReq is the witness answering a data master.
func (n *Node) stepGrantReq(m Message) {
	if !n.cfg.Witness || !n.cfg.agentGroup() || n.sites[m.From].Witness {
		n.stats.MsgsIgnored++
		return
	}
	hs := n.hs
	if m.Release {
		if hs.Holder == m.From {
			hs.Holder, hs.HolderGen, hs.HolderTentative = 0, 0, false
			n.setState(hs)
		}
		return
	}
	if m.Gen < n.gen || !n.grantable(m.From) {
		n.stats.GrantsRefused++
		holder := hs.Holder
		if holder == 0 || holder == m.From {
			holder = n.master // refused for an old generation: name the master
		}
		n.send(Message{Type: MsgGrant, To: m.From, Gen: m.Gen, Holder: holder})
		return
	}
	hs.Holder, hs.HolderGen, hs.HolderTentative = m.From, m.Gen, false
	n.setState(hs)
	n.agent.expires = n.now + uint64(n.cfg.GrantTicks)
	n.stats.GrantsGiven++
	n.send(Message{Type: MsgGrant, To: m.From, Gen: m.Gen, Stamp: m.Stamp, OK: true})
}

// stepGrant is a data master receiving the witness's answer.
func (n *Node) stepGrant(m Message) {
	if n.role != RoleMaster || m.Gen != n.gen || !n.sites[m.From].Witness {
		n.stats.MsgsIgnored++
		return
	}
	if !m.OK {
		n.agent.has = false
		if n.agent.refusedBy != m.Holder {
			n.agent.refusedBy = m.Holder
			n.event(EventGrantRefused, m.Holder, n.gen)
		}
		return
	}
	n.agent.refusedBy = 0
	if !n.agent.has || m.Stamp > n.agent.stamp {
		n.agent.stamp, n.agent.has = m.Stamp, true
	}
}

// Mirrored tells a data master of a two-data-site group whether the other
// data site is connected and keeping up (rep's view). Not mirrored, it may
// accept writes only while it holds the witness's grant; mirrored again,
// it gives the grant back.
func (n *Node) Mirrored(ok bool) {
	if n.agent.mirrored == ok {
		return
	}
	n.agent.mirrored = ok
	if ok {
		n.agent.released = false
	} else {
		n.agent.nextReq = n.now
	}
	if n.role == RoleMaster {
		n.tickAgent()
	}
}

// tickAgent keeps a not-mirrored master's grant fresh, and releases it
// once mirrored.
func (n *Node) tickAgent() {
	w := n.cfg.witnessID()
	if !n.cfg.agentGroup() || n.cfg.Witness || w == 0 {
		return
	}
	if n.agent.mirrored {
		if !n.agent.released {
			n.agent.released, n.agent.has = true, false
			n.send(Message{Type: MsgGrantReq, To: w, Gen: n.gen, Release: true})
		}
		return
	}
	if n.now >= n.agent.nextReq {
		n.stats.GrantReqsSent++
		n.send(Message{Type: MsgGrantReq, To: w, Gen: n.gen, Stamp: n.now})
		n.agent.nextReq = n.now + uint64(n.cfg.HeartbeatTicks)
	}
}

// agentOK reports whether the status agent lets this master write: always
// outside a two-data-site group; else mirrored, or holding the grant.
func (n *Node) agentOK() bool {
	if !n.cfg.agentGroup() || n.cfg.Witness || n.agent.mirrored {
		return true
	}
	return n.agent.has && GrantValid(n.agent.stamp, n.now, n.cfg.GrantTicks, n.cfg.ClockSkew)
}
