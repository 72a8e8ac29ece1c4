package site

// A site whose storage failed.
//
// The environment fails for good on an error it cannot recover from
// consistently (env.Env.Failure: a log write or fsync that failed on a
// full disk or an I/O error, a bbolt commit of the applier that failed,
// no file descriptors left, a damaged data file). A master in that state
// must not keep the group: its heartbeats would stop the others from
// electing a master that can write. So, as for a stalled fsync
// (stall.go), the loop halts the core as soon as it sees the failure
// (sitecore.Core.Halt): rep stops acting as master (no more heartbeats;
// its clients notice the silence and elect another master) and takes no
// more part at all, so a client neither acknowledges nor starts a sync or
// an internal init onto a disk it cannot write; elect steps down for good
// (it votes only for a candidate at least as up to date as its durable
// log, which may hold commits reported permanent); the fence reports the
// commits waiting for their ack policy not permanent. The status says
// why (Status.StorageFailed and Err), and so do the log and the metrics.
// The site takes part again once the cause is repaired and it is
// restarted: Open recovers the log as after a crash.

import "fmt"

// checkFailed halts the core once the environment has failed. Called on
// each tick, and when carrying out replication failed.
func (s *Site) checkFailed() {
	if s.halted {
		return
	}
	err := s.e.Failure()
	if err == nil {
		return
	}
	s.halted = true
	s.log.Error("site: storage failed: this site stops replicating until it is repaired and restarted",
		"role", s.c.Status().Rep.Role.String(), "err", err)
	s.c.Halt()
}

// storageFailed fails the environment with err (what the site was doing)
// and halts the site (below).
func (s *Site) storageFailed(what string, err error) bool {
	if s.halted {
		// The loop tries the Ready again on every turn; it was said once.
		s.log.Debug("site: "+what+" failed again", "err", err)
		return false
	}
	s.log.Error("site: "+what+" failed", "err", err)
	_ = s.e.Fail(fmt.Errorf("replication: %s: %w", what, err))
	s.checkFailed()
	return false
}
