package elect

import "fmt"

// transferState is a master's planned handover.
type transferState struct {
	to       SiteID
	deadline uint64 // no new master by then: give up, writes resume
	told     bool   // TRANSFER sent
}

// Transfer starts a planned handover of mastership to site to (repadmin
// transfer). The master stops accepting writes at once (WriteErr is
// ErrTransferring); the driver lets rep bring the target up to the
// master's end of log and calls TransferCaughtUp when the target has
// acknowledged it; the master then tells the target to campaign, and
// the target, being up to date and favoured at equal logs, wins. If the
// target is not master within transferTicks (two election timeouts for
// catching up, plus the longest election), the transfer fails
// (EventTransferFailed) and, if this site is still master, writes resume.
func (n *Node) Transfer(to SiteID) error {
	if n.role != RoleMaster {
		return ErrNotLeader
	}
	s, ok := n.sites[to]
	switch {
	case !ok:
		return fmt.Errorf("%w: transfer target %d", ErrUnknownSite, to)
	case s.Witness:
		return fmt.Errorf("%w: transfer target %d", ErrWitness, to)
	}
	n.xfer = transferState{to: to, deadline: n.now + n.transferTicks()}
	n.stats.Transfers++
	n.event(EventTransferStarted, to, n.gen)
	return nil
}

// transferTicks bounds a transfer: time for the target to catch up (one
// election span) and to win its election.
func (n *Node) transferTicks() uint64 { return 2*uint64(n.cfg.ElectionTicks) + n.maxElectionSpan() }

// TransferCaughtUp tells the master that the transfer target has
// acknowledged the master's end of log: it tells the target to campaign.
func (n *Node) TransferCaughtUp(to SiteID) {
	if n.role != RoleMaster || n.xfer.to != to || n.xfer.told {
		return
	}
	n.xfer.told = true
	n.send(Message{Type: MsgTransfer, To: to, Gen: n.gen})
}

func (n *Node) tickTransfer() {
	if n.xfer.to != 0 && n.now >= n.xfer.deadline {
		n.event(EventTransferFailed, n.xfer.to, n.gen)
		n.stats.TransfersFailed++
		n.xfer = transferState{}
	}
}

// stepTransfer: our master hands over to us; campaign with a forced
// election that sites join even though they know the master. A target
// that cannot stand (priority 0, stalled) refuses at once, and so does
// a master that gets the refusal: the transfer fails now rather than at
// its deadline.
func (n *Node) stepTransfer(m Message) {
	if n.role == RoleMaster && m.From == n.xfer.to && m.Refused && m.Gen == n.gen {
		n.event(EventTransferRefused, n.xfer.to, n.gen)
		n.event(EventTransferFailed, n.xfer.to, n.gen)
		n.stats.TransfersFailed++
		n.xfer = transferState{}
		return
	}
	if n.role != RoleClient || m.From != n.master || m.Gen != n.gen || m.Refused {
		n.stats.MsgsIgnored++
		return
	}
	if !n.electable() {
		n.send(Message{Type: MsgTransfer, To: m.From, Gen: m.Gen, Refused: true})
		return
	}
	n.started = true
	n.startElection(true, n.cfg.ID)
}
