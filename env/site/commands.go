package site

import (
	"errors"
	"fmt"

	"logship/internal/sitecore"
	"logship/rep"
)

// StartMaster makes this site the master of generation gen (rep_start
// with DB_REP_MASTER): commits are stamped with gen and shipped. gen must
// exceed every generation the group used before. Elections off only.
func (s *Site) StartMaster(gen uint64) error {
	return s.do(func() error { return mapCoreErr(s.c.StartMaster(gen)) })
}

// StartClient makes this site a client of master (rep_start with
// DB_REP_CLIENT). It learns the master's generation from its NEWMASTER
// announcement and synchronises (verify, rollback, catch up), unless
// DelayClient holds it until Sync. Elections off only.
func (s *Site) StartClient(master SiteID) error {
	return s.do(func() error { return mapCoreErr(s.c.StartClient(master)) })
}

// Sync starts a delayed client's synchronisation with its master now
// (rep_sync), or retries a failed join or init.
func (s *Site) Sync() error { return s.do(func() error { return mapCoreErr(s.c.Sync()) }) }

// AllowRollback lets a client stopped in rollback_refused (its sync
// would discard more of its own log than Config.MaxRollbackBytes) go
// ahead once: it syncs again, and the rollback or init it was refused
// proceeds, keeping the discarded records in a rollback file. It fails
// with rep.ErrNoRollbackRefused when nothing was refused.
func (s *Site) AllowRollback() error {
	return s.do(func() error {
		switch err := s.c.AllowRollback(); {
		case errors.Is(err, rep.ErrNoRollbackRefused):
			return ErrNoRollbackRefused
		case errors.Is(err, rep.ErrNotClient):
			return fmt.Errorf("site: allow rollback: %w", err)
		case err != nil:
			return fmt.Errorf("site: allow rollback: %w", mapCoreErr(err))
		}
		s.log.Warn("rep: rollback allowed once by the operator")
		return nil
	})
}

// SetDelayClient turns delayed synchronisation on or off at run time
// (Config.DelayClient; repnode's POST /v1/admin/sync {"delay":bool}).
// Turning it on takes effect with the next new master this site
// follows: it then waits in SyncDelayed until Sync. Turning it off while
// the site waits in SyncDelayed starts the sync at once, as Sync does.
func (s *Site) SetDelayClient(on bool) error {
	return s.do(func() error {
		s.c.SetDelayClient(on)
		s.log.Info("rep: delayed sync changed", "delay", on)
		return nil
	})
}

// SetPriority changes this site's priority at run time (Berkeley DB
// rep_set_priority; 0 = never master). It applies to the next election
// this site enters and to the priority rep announces (NEWCLIENT,
// NEWMASTER). A master set to 0 keeps mastership until the next election,
// as in Berkeley DB: use Transfer to hand over now. How the group counts
// the site for acks and votes (its electability) stays the class fixed
// at its first start: a site set to 0 still votes only for a candidate
// whose log is at least as up to date as its own. A witness's priority
// must stay 0.
func (s *Site) SetPriority(p uint32) error {
	return s.do(func() error {
		if err := s.c.SetPriority(p); err != nil {
			return fmt.Errorf("site: set priority %d: %w", p, err)
		}
		s.log.Info("rep: priority changed", "priority", p)
		return nil
	})
}

// Elect holds an election now (repadmin elect; Berkeley DB rep_elect).
// A site that hears a current master does not join it, and the master
// answers it, so it cannot depose a live master.
func (s *Site) Elect() error { return s.do(func() error { return mapCoreErr(s.c.Campaign()) }) }

// mapCoreErr gives the core's refusals the site's sentinels.
func mapCoreErr(err error) error {
	switch {
	case errors.Is(err, sitecore.ErrElections):
		return fmt.Errorf("%w: %w", ErrElections, err)
	}
	return err
}
