package env

import "fmt"

// SetPriority changes this site's priority at run time (Berkeley DB
// rep_set_priority; 0 = never master). It applies to the next election
// this site enters and to the priority rep announces (NEWCLIENT,
// NEWMASTER). A master set to 0 keeps mastership until the next election,
// as in Berkeley DB: use Transfer to hand over now. A site set to 0 still
// votes, but only for a candidate whose log is at least as up to date as
// its own, since the other sites, configured with its old priority, still
// count its vote toward the electable quorum. A witness's priority must
// stay 0.
func (e *Env) SetPriority(p uint32) error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	return d.do(func() error {
		if d.el != nil {
			if err := d.el.n.SetPriority(p); err != nil {
				return fmt.Errorf("env: set priority %d: %w", p, err)
			}
		}
		d.n.SetPriority(p)
		d.log.Info("rep: priority changed", "priority", p)
		return nil
	})
}

// SetDelayClient turns delayed synchronisation on or off at run time
// (ReplicationConfig.DelayClient; repnode's POST /v1/admin/sync
// {"delay":true|false}). Turning it on takes effect with the next new
// master this site follows: it then waits in SyncDelayed until Sync.
// Turning it off while the site waits in SyncDelayed starts the sync at
// once, as Sync does.
func (e *Env) SetDelayClient(on bool) error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	return d.do(func() error {
		d.n.SetDelayClient(on)
		d.log.Info("rep: delayed sync changed", "delay", on)
		return nil
	})
}
