package main

// Election mode: without --master or --client, elections choose the
// master, at start-up and whenever the master is lost (daemon.Config's
// election settings become site.Config.Election). --witness runs a
// witness site instead (witness.go).

import (
	"fmt"

	"logship/cmd/internal/api"
)

// electNow holds an election now (POST /v1/admin/elect).
func electNow(n *node) error {
	if n.cfg.Mode() != ModeElect {
		return fmt.Errorf("elections are off on this site: it was started with --%s", modeName(n.cfg.Mode()))
	}
	return n.site.Elect()
}

func electionStatus(n *node) *api.Election {
	if n.cfg.Mode() != ModeElect {
		return nil
	}
	es, err := n.site.ElectStatus()
	if err != nil {
		return nil
	}
	info := &api.Election{EGen: es.EGen, Electing: es.Electing, VotedFor: uint64(es.VotedFor), Priority: es.Priority,
		Electability: es.Electability.String(), CanWrite: es.WriteErr == nil}
	if es.WriteErr != nil {
		info.WriteErr = es.WriteErr.Error()
	}
	return info
}
