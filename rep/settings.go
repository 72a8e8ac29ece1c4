package rep

// Settings an application may change while the node runs (Berkeley DB
// rep_set_priority, rep_set_config(DB_REP_CONF_DELAYCLIENT)), and the
// master's step-down.

// SetPriority changes the priority this site announces (0 = never
// master) in the next NEWCLIENT or NEWMASTER it sends. Electability is the
// election module's business (elect.Node.SetPriority). Permanence keeps
// counting this site by its configured priority, as the other sites'
// configurations and elections do: a site lowered to 0 at run time still
// only votes for a candidate at least as up to date as itself, so its
// copy of a commit still protects it.
func (n *Node) SetPriority(p uint32) { n.cfg.Priority = p }

// SetDelayClient turns delayed synchronisation on or off (DelayClient).
// Turning it on affects the next new master this client follows; turning
// it off while the client waits in SyncDelayed starts the sync at once,
// as Sync would.
func (n *Node) SetDelayClient(on bool) {
	n.cfg.DelayClient = on
	if !on && n.role == RoleClient && n.c.state == SyncDelayed {
		n.startSync()
	}
}

// StepDown makes a master stop acting as one without following anyone:
// the node goes back to RoleNone, keeping its generation, so it sends
// nothing (no heartbeat keeps its clients from noticing it is gone) and
// ignores every message until BecomeClient or BecomeMaster. The driver
// uses it when the local log can no longer be made durable (a stalled
// fsync): such a master must not hold the group, and as a client it
// could not sync either. Commits still waiting for their ack policy are
// reported not permanent (Ready.Commits).
// A no-op unless the node is master.
func (n *Node) StepDown() {
	if n.role != RoleMaster {
		return
	}
	n.role, n.master = RoleNone, 0
	n.abandonPending()
	n.m = masterState{}
	n.resetServing()
	n.stats.MasterChanges++
}
