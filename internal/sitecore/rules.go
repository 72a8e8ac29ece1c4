package sitecore

import (
	"logship/elect"
	"logship/rep"
)

// MasterClaim reports whether m, received by site self, says that its
// sender is master of a generation (rep's NEWMASTER and HEARTBEAT): elect
// must hear it (elect.Node.MasterSeen).
func MasterClaim(self rep.SiteID, m rep.Message) (master elect.SiteID, gen uint64, ok bool) {
	if m.From == self || m.Gen == 0 {
		return 0, 0, false
	}
	if m.Type != rep.MsgNewMaster && m.Type != rep.MsgHeartbeat {
		return 0, 0, false
	}
	return elect.SiteID(m.From), m.Gen, true
}

// MasterLost reports whether rep's event ev, on a site whose rep status is
// st, means the site lost its master: elect holds an election
// (elect.Node.MasterLost).
func MasterLost(st rep.Status, ev rep.Event) bool {
	switch ev.Type {
	case rep.EventMasterSilent:
		return true
	case rep.EventConnectBroken:
		return st.Role == rep.RoleClient && st.Master == ev.Site
	}
	return false
}

// PromisedAway reports whether rep must not see m because this site voted
// in election promised (elect.Node.Promised), newer than m's master: rep
// must not follow or ack that master, even after a restart that reset
// rep's generation, or the master could count this site toward commits it
// reports permanent though the newer master lacks them. A client's
// NEWCLIENT and MASTER_REQ carry the client's own generation and pass.
func PromisedAway(promised uint64, m rep.Message) bool {
	return m.Gen != 0 && m.Gen < promised && m.Type != rep.MsgNewClient && m.Type != rep.MsgMasterReq
}

// AckPromisedAway reports whether an ACK rep sends must be withheld: its
// master is older than the election this site voted in, and rep may have
// taken that master's records in the round in which the site voted, before
// PromisedAway filtered them; the vote was cast without them, so they must
// not count toward that master's permanent commits.
func AckPromisedAway(promised uint64, m rep.Message) bool {
	return m.Type == rep.MsgAck && m.Gen < promised
}

// Action is what rep does for a role elect decided.
type Action int

const (
	// Nothing: rep already has the role.
	Nothing Action = iota
	// BecomeMaster: rep.Node.BecomeMaster(decision's Gen).
	BecomeMaster
	// StepDown: rep stops acting as master (rep.Node.StepDown); elect
	// stood down for a newer election.
	StepDown
	// BecomeClient: rep.Node.BecomeClient(decision's Master, Gen).
	BecomeClient
	// MasterHeard: rep already follows that master; elect decided to
	// follow it again after a silence rep reported, so rep's heartbeat
	// monitor starts over (rep.Node.MasterHeard), or a master that stays
	// silent would never be reported again.
	MasterHeard
)

func (a Action) String() string {
	return [...]string{"nothing", "become master", "step down", "become client", "master heard"}[a]
}

// RoleAction returns what rep, whose status is st, must do for elect's
// decision d.
func RoleAction(st rep.Status, d elect.RoleDecision) Action {
	switch d.Role {
	case elect.RoleMaster:
		if st.Role == rep.RoleMaster && st.Gen == d.Gen {
			return Nothing
		}
		return BecomeMaster
	case elect.RoleUnknown:
		if st.Role == rep.RoleMaster {
			return StepDown
		}
	case elect.RoleClient:
		if st.Role == rep.RoleClient && st.Master == rep.SiteID(d.Master) && st.Gen == d.Gen {
			return MasterHeard
		}
		return BecomeClient
	}
	return Nothing
}
