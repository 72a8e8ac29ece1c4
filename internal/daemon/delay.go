package daemon

// --apply-delay: a delayed replica (docs/operations.md, "Delayed
// replicas"), env.Config.MinApplyDelay.

import (
	"flag"
	"fmt"
)

func bindDelayFlags(fs *flag.FlagSet, c *Config) {
	fs.DurationVar(&c.ApplyDelay, "apply-delay", c.ApplyDelay, "delayed replica: apply each commit this long after its commit time on the master (the log is received, stored and acknowledged at once), so its data trails the master for recovery from a mistake; use with --priority 0 (0 = no delay)")
}

func (c Config) validateDelay(bad func(name, format string, args ...any)) {
	if c.ApplyDelay < 0 {
		bad("apply-delay", "%v: must be >= 0 (0 = no delay)", c.ApplyDelay)
	}
	if c.ApplyDelay == 0 {
		return
	}
	if c.Witness {
		bad("apply-delay", "a witness holds no data to delay: drop --apply-delay")
	}
	if c.Master {
		bad("apply-delay", "a delayed replica is never started as master (the delay holds only while it is a client): drop --master, and give it --priority 0")
	}
}

// DelayWarning is what repnode logs at start-up about --apply-delay, or
// "". A delayed replica with a priority can be elected master: it then
// applies its whole log at once and loses the old state it was kept for,
// so an operator keeping one for recovery gives it --priority 0. It is a
// warning, not a refusal: a group may choose to keep the delayed site as
// a last-resort master.
func (c Config) DelayWarning() string {
	if c.ApplyDelay <= 0 || c.Priority == 0 || c.Witness {
		return ""
	}
	return fmt.Sprintf("--apply-delay %v with --priority %d: this delayed replica can be elected master, and would then apply its whole log at once and lose the old state it keeps; give it --priority 0 to keep it for recovery", c.ApplyDelay, c.Priority)
}
