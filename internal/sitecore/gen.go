package sitecore

// Impossible generations. A generation only grows by one per master
// start or election, and an election needs at least one round of
// messages. A message that claims a generation far beyond anything this
// site has seen is therefore not from an honest site, and following it
// would be a lock-out: rep drops every message of an older generation,
// so a site that followed a forged generation 2^64-1 ignored its real
// master until restarted, and no election could ever produce a newer
// generation to bring it back (docs/protocol.md, "Impossible
// generations").

import (
	"errors"
	"fmt"
	"math"

	"logship/elect"
	"logship/rep"
)

// MaxGenJump is how far beyond the newest generation a site knows a
// message may claim. Reaching it honestly takes 2^32 elections: at one
// every few hundred milliseconds (the fastest retry), decades. The same
// margin is kept below the top of the range, so that whatever a site
// accepts, the group can still elect past it.
const MaxGenJump = 1 << 32

// ErrImpossibleGen refuses a message whose generation no honest site can
// have reached.
var ErrImpossibleGen = errors.New("sitecore: impossible generation")

// ImpossibleGen reports whether gen, claimed by a message, is impossible
// for a site whose newest known generation is known: more than
// MaxGenJump beyond it, or within MaxGenJump of the largest value.
func ImpossibleGen(known, gen uint64) bool {
	return gen > math.MaxUint64-MaxGenJump || gen > known && gen-known > MaxGenJump
}

// checkGen refuses a generation impossible against the newest this site
// has seen or reached: rep's, its last record's, and elect's election and
// master generations. The cheap ones first: a message within MaxGenJump
// of them (every honest one) costs no elect status.
func (c *Core) checkGen(gens ...uint64) error {
	known := c.tailGen
	if c.rep != nil {
		known = max(known, c.rep.Gen())
	}
	for _, g := range gens {
		if !ImpossibleGen(known, g) {
			continue
		}
		if c.el != nil {
			st := c.el.Status()
			known = max(known, st.EGen, st.Gen, c.el.Promised())
		}
		if ImpossibleGen(known, g) {
			c.stats.ImpossibleGens++
			return fmt.Errorf("%w: %d, this site knows generation %d (a jump of more than %d, or too close to the largest value)", ErrImpossibleGen, g, known, uint64(MaxGenJump))
		}
	}
	return nil
}

// checkElectGen checks every generation an election message carries.
func (c *Core) checkElectGen(m elect.Message) error {
	if err := c.checkGen(m.EGen, m.Gen, m.LastGen); err != nil {
		return fmt.Errorf("%s from %d: %w", m.Type, m.From, err)
	}
	return nil
}

// checkRepGen checks a replication message's generation.
func (c *Core) checkRepGen(m rep.Message) error {
	if err := c.checkGen(m.Gen); err != nil {
		return fmt.Errorf("%s from %d: %w", m.Type, m.From, err)
	}
	return nil
}
