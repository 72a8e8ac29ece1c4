package main

// A delayed replica (--apply-delay, docs/operations.md "Delayed
// replicas"): its status fields and metrics.

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"logship/cmd/internal/api"
)

var (
	dApplyDelay  = desc("apply_delay_seconds", "The configured --apply-delay: this site applies a record that long after its commit time while it is a client (0: not delayed).")
	dDelayActive = desc("apply_delay_active", "1 while --apply-delay holds back what this site applies (a delayed client), 0 otherwise (not delayed, or master).")
	dAppliedAge  = desc("applied_commit_age_seconds", "How long ago, on this site's clock, the newest record this site applied was committed on its master: on a delayed replica about --apply-delay when it keeps up; it grows while no writes arrive; -1 when unknown (nothing applied, or its record no longer in the log).")

	// delayDescs are this file's metrics, for Describe.
	delayDescs = []*prometheus.Desc{dApplyDelay, dDelayActive, dAppliedAge}
)

// collectDelay exports the apply delay and the age of the data.
func collectDelay(n *node, gauge func(*prometheus.Desc, float64, ...string)) {
	if n.env == nil {
		return
	}
	ds := n.env.DelayStatus()
	gauge(dApplyDelay, ds.Delay.Seconds())
	gauge(dDelayActive, b2f(ds.Active && ds.Delay > 0))
	age := -1.0
	if !ds.AppliedCommitTime.IsZero() {
		age = time.Since(ds.AppliedCommitTime).Seconds()
	}
	gauge(dAppliedAge, age)
}

// addApplyDelay fills the delayed replica's fields of /v1/status.
func (n *node) addApplyDelay(out *api.Status) {
	if n.env == nil || n.cfg.ApplyDelay <= 0 {
		return
	}
	ds := n.env.DelayStatus()
	out.ApplyDelay = ds.Delay.String()
	out.ApplyDelayActive = ds.Active
	if !ds.AppliedCommitTime.IsZero() {
		out.AppliedCommitAgeSeconds = time.Since(ds.AppliedCommitTime).Seconds()
	}
}
