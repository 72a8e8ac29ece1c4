package site

import (
	"fmt"

	"logship/internal/sitecore"
	"logship/rep"
)

// publishInstalling shows, while the loop installs a received snapshot,
// that the copy is complete and the install under way. The core moves on
// to catch-up as the last chunk arrives, and the loop publishes only
// after carrying out the Ready that installs, so without this the status
// would show the copy a chunk short for as long as the install takes (a
// fsync and a swap of the whole data file). The next publish replaces
// the whole status, clearing Installing.
func (s *Site) publishInstalling(size int64) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.status.SyncState, s.status.Lockout = rep.SyncInit, true
	s.status.InitDone, s.status.InitTotal, s.status.Installing = size, size, true
}

// maxBadSnapshots is how many damaged snapshots in a row a client takes
// before it stops (as a storage failure, for an operator to look at):
// damage in transit or on this disk is rare, and an init costs the
// master a whole copy of its data each time.
const maxBadSnapshots = 3

// installFailed handles a snapshot found damaged once received
// (env.ErrBadSnapshot from Install): the Replica dropped it and changed
// nothing else, so the site is as it was before the init, and the init
// starts over from a new snapshot instead of halting the site. The rest
// of rd's replication effects (the ACK of the snapshot's position) are
// not carried out (nor are its replication events reported: they tell
// of the install); its election messages and events, and its commit
// outcomes, are carried out as carryOut does. It returns what
// carryOut returns: false once maxBadSnapshots were damaged in a row,
// when the site halts (rep has heard of that one too: it gives the init
// up, so its counts say no init was done).
func (s *Site) installFailed(rd sitecore.Ready, err error) bool {
	s.badSnapshots++
	halt := s.badSnapshots >= maxBadSnapshots
	if !halt {
		in := rd.Rep.Install
		s.log.Warn("rep: the snapshot of an internal init arrived damaged; it is dropped and the init starts over from a new one",
			"snapshot_lsn", in.Snap.LSN.String(), "bytes", in.Snap.Size, "err", err)
	}
	s.electAndOutcomes(rd)
	for _, ev := range rd.ElectEvents {
		s.electEvent(ev)
	}
	for _, e := range rd.Errors {
		s.log.Error("site: " + e.Error())
	}
	if !halt {
		s.c.InstallFailed(rd, s.r.Last(), s.r.Durable(), nil)
		return true
	}
	what := fmt.Sprintf("installing a snapshot (%d damaged in a row)", s.badSnapshots)
	s.c.InstallFailed(rd, s.r.Last(), s.r.Durable(), fmt.Errorf("%s: %w", what, err))
	return s.storageFailed(what, err)
}
