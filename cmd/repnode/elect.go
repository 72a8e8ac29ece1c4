package main

// Election mode: without --master or --client, elections (env's
// ReplicationConfig.Elect) choose the master, at start-up and whenever the
// master is lost. --witness runs a witness site instead (witness.go).

import (
	"fmt"
	"log/slog"

	"logship/cmd/internal/api"
	"logship/env"
)

// configureElection turns elections on in rcfg when the site starts in
// election mode.
func configureElection(rcfg *env.ReplicationConfig, cfg Config) {
	if cfg.Mode() != ModeElect {
		return
	}
	rcfg.Elect = true
	rcfg.ElectTimeout = cfg.ElectionTimeout
	rcfg.ElectRetry = cfg.ElectionRetry
	rcfg.ElectVoteWait = cfg.VoteWait
	rcfg.ElectFullTimeout = cfg.FullElection
	if cfg.FullElection == 0 {
		rcfg.ElectFullTimeout = -1 // env: negative = no full election
	}
	rcfg.Leases = cfg.Leases
	rcfg.LeaseTimeout = cfg.LeaseTimeout
	rcfg.ClockSkew = cfg.ClockSkew
	rcfg.FsyncStallTimeout = cfg.FsyncStall
}

// startElection: with Elect set the driver joins an election by itself at
// start-up; there is nothing to call.
func startElection(e *env.Env, cfg Config, log *slog.Logger) error {
	log.Info("role: electing at start-up", "priority", cfg.Priority)
	return nil
}

// electNow holds an election now (POST /v1/admin/elect).
func electNow(n *node) error {
	if n.cfg.Mode() != ModeElect {
		return fmt.Errorf("elections are off on this site: it was started with --%s", modeName(n.cfg.Mode()))
	}
	return n.env.Elect()
}

func electionStatus(n *node) *api.Election {
	if n.cfg.Mode() != ModeElect {
		return nil
	}
	es, err := n.env.ElectStatus()
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
