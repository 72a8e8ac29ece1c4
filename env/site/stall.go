package site

// The fsync-stall rule: a master whose log fsync has been in progress
// longer than Timing.FsyncStall steps down.
//
// A master that cannot make commits durable must not hold the group:
// every write it accepts waits, and as long as it heartbeats its clients
// elect nobody else. The commits' fsyncs run in the committers'
// goroutines (group commit), never on the loop's, so the loop is free
// to notice: on each tick it asks the store when the fsync in progress
// began (env.Env.SyncingSince). Past the timeout the core steps down
// (sitecore.Core.StepDown): elect no longer campaigns or wins and votes
// only for a candidate as up to date as this site; rep goes back to no
// role, so it sends nothing, its clients notice the silence and elect a
// new master, and it starts no sync the stalled log could not carry out.
// Commits waiting for their ack policy are reported not permanent. When
// that fsync completes, the core is told (Recovered); the site holds an election, the new master answers, and
// the site follows it as a client, rolling back what the new master
// lacks.
//
// The rule needs elections (Config.Election.On): without them nothing
// would choose a replacement.

import (
	"time"

	"logship/elect"
	"logship/rep"
)

// stallState is the loop's watch on the log's fsync.
type stallState struct {
	timeout time.Duration // <= 0: off
	// syncing is the start (SyncingSince) of the fsync in progress when
	// last looked at, and seen when the loop first saw it: elapsed time
	// is measured on the monotonic clock from there, so a step of the
	// wall clock cannot fake a stall.
	syncing time.Time
	seen    time.Time
	stalled bool // stepped down for the fsync that began at syncing
}

// fsyncStall resolves Timing.FsyncStall (Validate checked it): 0 is the
// default, negative turns the rule off.
func (c Config) fsyncStall() time.Duration {
	switch t := c.Timing.FsyncStall; {
	case !c.Election.On || t < 0:
		return 0
	case t == 0:
		return DefaultFsyncStall
	default:
		return t
	}
}

// checkStall applies the fsync-stall rule. Called on each tick.
func (s *Site) checkStall() {
	w := &s.stall
	if w.timeout <= 0 {
		return
	}
	since := s.e.SyncingSince()
	if !since.Equal(w.syncing) {
		if w.stalled && s.e.Failure() == nil {
			w.stalled = false
			s.log.Warn("site: the stalled log fsync completed; rejoining the group",
				"stalled_for", time.Since(w.seen).Round(time.Millisecond))
			s.c.Recovered()
		}
		w.syncing, w.seen = since, time.Now()
	}
	if since.IsZero() || w.stalled || time.Since(w.seen) < w.timeout {
		return
	}
	if st := s.c.Status(); st.Elect.Role != elect.RoleMaster && st.Rep.Role != rep.RoleMaster {
		return
	}
	w.stalled = true
	s.log.Error("site: log fsync stalled; master stepping down", "fsync_began", since, "timeout", w.timeout)
	s.c.StepDown() // the fence reports the commits waiting for acks not permanent
}

// slowTurn: a turn of the loop this long is logged (a third of the
// election-mode heartbeat monitor).
const slowTurn = 100 * time.Millisecond

// watchTurn logs a turn of the loop (a burst of messages and the work
// they made) that took long enough to delay heartbeats: the master's
// silence is what starts elections, so a slow turn is worth a line.
func (s *Site) watchTurn(began time.Time) {
	d := time.Since(began)
	var most turnStep
	for _, st := range s.steps {
		if st.took > most.took {
			most = st
		}
	}
	s.steps = s.steps[:0]
	if d < slowTurn {
		return
	}
	s.slowTurns.Add(1)
	s.log.Warn("site: one turn of the replication loop took long; heartbeats and acks waited meanwhile",
		"took", d.Round(time.Millisecond).String(), "role", s.c.Status().Rep.Role.String(),
		"slowest_step", most.String(), "step_took", most.took.Round(time.Millisecond).String(), "step_times", most.n)
}

// turnStep is a kind of step of a turn of the loop that may wait on
// storage, how many times the turn took it and how long it took in all:
// a turn that steps 256 messages at 2 ms each is slow for them, though
// none of them is.
type turnStep struct {
	name string
	msg  bool // name is a message type: the step stepped one
	n    int
	took time.Duration
}

// String names the step for the log.
func (t turnStep) String() string {
	if t.msg {
		return "stepping " + t.name
	}
	return t.name
}

// timed runs one step of a turn, adding its time to its kind's.
func (s *Site) timed(name string, f func() error) error {
	start := time.Now()
	err := f()
	s.addStep(name, false, time.Since(start))
	return err
}

// addStep adds a step of kind name (a message type if msg) that took d
// to the turn's. It allocates nothing once the kind is known: it runs
// for every message.
func (s *Site) addStep(name string, msg bool, d time.Duration) {
	for i := range s.steps {
		if s.steps[i].name == name && s.steps[i].msg == msg {
			s.steps[i].n++
			s.steps[i].took += d
			return
		}
	}
	s.steps = append(s.steps, turnStep{name, msg, 1, d})
}
