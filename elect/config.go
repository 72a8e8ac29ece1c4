package elect

import (
	"errors"
	"fmt"
)

// SiteID names a site in the replication group; the same numbering as
// rep.SiteID. Zero means "no site".
type SiteID uint64

// TickMillis is the tick length the defaults assume: the env driver calls
// [Node.Tick] every 10 ms, as it does rep's. A driver with another tick
// length must scale every *Ticks field.
const TickMillis = 10

// Rand is the source of election jitter (randomised retry back-off and
// the vote tiebreaker). Inject a seeded source: *math/rand/v2.Rand
// satisfies it. elect never reads global randomness.
type Rand interface {
	Uint64() uint64
}

// Site describes another member of the group. Whether it counts as
// electable is not configured here: each site says so in its votes
// ([Electability]).
type Site struct {
	ID SiteID
	// Witness: the site keeps no data, votes, counts toward the majority
	// and never becomes master.
	Witness bool
}

// Electability is whether the group counts a site as electable: its
// vote counts toward the electable quorum ([ElectableVotesNeeded]), which
// it earns by voting only for candidates at least as up to date as
// itself, and rep counts its acks for the one_peer, all_peers and quorum
// policies. A site's electability is fixed at its first start, from its
// priority then ([HardState].Electability): later priorities, at run time
// or at a restart, change only whether it stands in elections.
type Electability uint8

const (
	// ElectabilityUnknown: not said (a site not heard in this election;
	// counted electable in the number of electable sites, never for its
	// vote).
	ElectabilityUnknown Electability = iota
	// Electable: counted.
	Electable
	// Unelectable: not counted (a witness, or a site whose first start
	// had priority 0).
	Unelectable
)

var electabilityNames = [...]string{"unknown", "electable", "unelectable"}

func (e Electability) String() string {
	if int(e) < len(electabilityNames) {
		return electabilityNames[e]
	}
	return fmt.Sprintf("Electability(%d)", uint8(e))
}

// Config configures a Node. Start from DefaultConfig, set ID, Sites and
// Rand, then call Validate (New does). Defaults in ticks of TickMillis:
// with them a group fails over in about a second after the master is
// declared lost (phase 1 up to 100 ms, a few message round trips, and at
// worst one retry of 300-600 ms after a split vote); TightConfig halves
// that to a few hundred milliseconds. Berkeley DB's defaults are 2 s for
// an election and 10 s before a retry.
type Config struct {
	// ID is this site's id, non-zero.
	ID SiteID
	// Sites are the other members of the group (not this site).
	Sites []Site
	// Priority of this site: 0 = never master (Berkeley DB
	// rep_set_priority). SetPriority changes it at run time.
	Priority uint32
	// Witness: this site keeps no data, votes and never campaigns;
	// Priority must be 0. In a group of two data sites and this witness
	// it is also the status agent (see package doc).
	Witness bool

	// NVotes is the number of votes a winner needs, this site's own
	// included. 0 = a simple majority of the group. Values below a
	// majority are rejected unless AllowMinorityVotes is set.
	NVotes int
	// AllowMinorityVotes lets NVotes go below a majority, and then also
	// drops the electable-quorum rule. The operator accepts duplicate
	// masters and lost commits in a partition. Default off.
	AllowMinorityVotes bool
	// TwoSiteStrict (Berkeley DB DB_REPMGR_CONF_2SITE_STRICT): in a group
	// of exactly two sites and no witness, a lone site does not elect
	// itself. Off, a lone site may win with its own vote (availability at
	// the risk of a duplicate master). Default on.
	TwoSiteStrict bool

	// VoteWaitTicks is phase 1 of an election: how long a site collects
	// VOTE1 before casting its VOTE2 when it has not yet heard from every
	// site. Default 10 (100 ms).
	VoteWaitTicks int
	// ElectionTicks: an election with no winner this long after this site
	// joined it fails (EventElectionFailed). Default 50 (500 ms).
	ElectionTicks int
	// FullElectionTicks: the first election after start-up waits this
	// long for VOTE1 from every site before settling for a majority
	// (Berkeley DB DB_REP_FULL_ELECTION_TIMEOUT), so a slow-booting site
	// with the newest log gets its chance. Default 300 (3 s). 0 = no
	// full election.
	FullElectionTicks int
	// RetryTicks: after a failed election a site waits a random time in
	// [RetryTicks, 2*RetryTicks) before trying again, so sites do not
	// keep colliding. Default 30 (300 ms).
	RetryTicks int
	// HeartbeatTicks is the master's refresh interval for lease and
	// witness-grant requests; set it to rep's HeartbeatTicks. Default 10
	// (100 ms).
	HeartbeatTicks int

	// Leases turns master leases on (Berkeley DB DB_REP_CONF_LEASE). All
	// sites of a group must agree, and on LeaseTicks and ClockSkew.
	Leases bool
	// LeaseTicks is how long one lease grant lasts. Default 50 (500 ms).
	LeaseTicks int
	// ClockSkew is the most ticks two sites' clocks may drift apart over
	// LeaseTicks (or GrantTicks). The master counts a grant ClockSkew
	// ticks shorter; a new master waits LeaseTicks+ClockSkew before
	// writing. Default 2.
	ClockSkew int

	// GrantTicks is how long a witness's status-agent grant lasts unless
	// refreshed. Default 50 (500 ms).
	GrantTicks int
	// GrantAfterExpiry (witness only) chooses availability: once the
	// holder's grant has expired the witness grants the other data site,
	// whose log may lack the holder's not-mirrored commits. Off
	// (consistency, the default): the witness refuses the other data site
	// until the holder comes back mirrored or releases the grant.
	GrantAfterExpiry bool

	// Rand supplies election jitter. Required.
	Rand Rand
}

// DefaultConfig returns the defaults documented on each field. ID, Sites
// and Rand must still be set.
func DefaultConfig() Config {
	return Config{
		TwoSiteStrict:     true,
		VoteWaitTicks:     10,
		ElectionTicks:     50,
		FullElectionTicks: 300,
		RetryTicks:        30,
		HeartbeatTicks:    10,
		LeaseTicks:        50,
		ClockSkew:         2,
		GrantTicks:        50,
	}
}

// TightConfig returns DefaultConfig with timeouts for a fast, reliable
// network: failover in a few hundred milliseconds.
func TightConfig() Config {
	c := DefaultConfig()
	c.VoteWaitTicks = 5
	c.ElectionTicks = 20
	c.RetryTicks = 10
	c.HeartbeatTicks = 5
	c.LeaseTicks = 20
	c.GrantTicks = 20
	return c
}

// Validate reports every bad field, naming it; it never mutates c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	if c.ID == 0 {
		bad("ID must be non-zero")
	}
	if c.Rand == nil {
		bad("Rand must be set")
	}
	seen := map[SiteID]bool{}
	witnesses := 0
	for i, s := range c.Sites {
		switch {
		case s.ID == 0:
			bad("Sites[%d].ID must be non-zero", i)
		case s.ID == c.ID:
			bad("Sites[%d].ID (%d) is this site's own ID", i, s.ID)
		case seen[s.ID]:
			bad("Sites[%d].ID (%d) is listed twice", i, s.ID)
		}
		seen[s.ID] = true
		if s.Witness {
			witnesses++
		}
	}
	if c.Witness {
		witnesses++
		if c.Priority != 0 {
			bad("Priority (%d) must be 0 on a witness", c.Priority)
		}
	}
	if witnesses == len(c.Sites)+1 {
		bad("Sites: every site is a witness; at least one must keep data")
	}
	n := len(c.Sites) + 1
	switch {
	case c.NVotes < 0 || c.NVotes > n:
		bad("NVotes (%d) must be in [0, %d]", c.NVotes, n)
	case c.NVotes > 0 && c.NVotes < Majority(n) && !c.AllowMinorityVotes:
		bad("NVotes (%d) is below a majority of %d sites (%d); set AllowMinorityVotes to allow it", c.NVotes, n, Majority(n))
	}
	atLeast := func(name string, v, min int) {
		if v < min {
			bad("%s (%d) must be >= %d", name, v, min)
		}
	}
	atLeast("VoteWaitTicks", c.VoteWaitTicks, 1)
	atLeast("ElectionTicks", c.ElectionTicks, 1)
	atLeast("FullElectionTicks", c.FullElectionTicks, 0)
	atLeast("RetryTicks", c.RetryTicks, 1)
	atLeast("HeartbeatTicks", c.HeartbeatTicks, 1)
	atLeast("ClockSkew", c.ClockSkew, 0)
	atLeast("GrantTicks", c.GrantTicks, 1)
	if c.ElectionTicks <= c.VoteWaitTicks {
		bad("ElectionTicks (%d) must be > VoteWaitTicks (%d)", c.ElectionTicks, c.VoteWaitTicks)
	}
	if c.Leases {
		// A grant must outlive two refresh intervals after the skew
		// allowance, or one lost request expires the lease.
		if min := 2*c.HeartbeatTicks + c.ClockSkew + 1; c.LeaseTicks < min {
			bad("LeaseTicks (%d) must be >= 2*HeartbeatTicks+ClockSkew+1 (%d)", c.LeaseTicks, min)
		}
	}
	if min := 2*c.HeartbeatTicks + c.ClockSkew + 1; c.GrantTicks < min && witnesses > 0 {
		bad("GrantTicks (%d) must be >= 2*HeartbeatTicks+ClockSkew+1 (%d)", c.GrantTicks, min)
	}
	if c.GrantAfterExpiry && !c.Witness {
		bad("GrantAfterExpiry is a witness setting; this site is not a witness")
	}
	return errors.Join(errs...)
}

// size is the number of voting sites in the group, this one included.
func (c *Config) size() int { return len(c.Sites) + 1 }

// agentGroup reports whether the group is two data sites and one witness:
// the witness is then the status agent.
func (c *Config) agentGroup() bool {
	if len(c.Sites) != 2 {
		return false
	}
	w := 0
	if c.Witness {
		w++
	}
	for _, s := range c.Sites {
		if s.Witness {
			w++
		}
	}
	return w == 1
}

// witnessID returns the witness of the group, or 0.
func (c *Config) witnessID() SiteID {
	if c.Witness {
		return c.ID
	}
	for _, s := range c.Sites {
		if s.Witness {
			return s.ID
		}
	}
	return 0
}
