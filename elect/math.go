package elect

import (
	"cmp"
	"slices"

	"logship/wal/lsn"
)

// This file holds the pure arithmetic the node calls: vote comparison,
// thresholds, lease and grant validity. Each function is table-tested.

// Majority is the smallest number of sites that is more than half of n.
func Majority(n int) int { return n/2 + 1 }

// VotesNeeded is the number of votes (the winner's own included) a winner
// needs in a group of n sites. nvotes is Config.NVotes (0 = a majority).
// lone is true for a two-site group without a witness and without
// TwoSiteStrict: a lone site may then win with its own vote.
func VotesNeeded(n, nvotes int, lone bool) int {
	need := Majority(n)
	if nvotes > 0 {
		need = nvotes
	}
	if lone && n == 2 && nvotes == 0 {
		need = 1
	}
	return need
}

// ElectableVotesNeeded is how many of a winner's votes must come from
// electable sites (priority > 0, not a witness) in a group with e of them:
// the smallest number that meets every majority of the electable sites,
// which is the set rep's quorum ack policy waits for. Because an electable
// voter votes only for a candidate at least as up to date as itself, a
// winner that has this many electable voters holds every commit reported
// permanent under quorum. 0 when no site is electable.
func ElectableVotesNeeded(e int) int {
	if e <= 0 {
		return 0
	}
	return e - Majority(e) + 1
}

// Vote is a site's election information, as carried by VOTE1.
type Vote struct {
	Site SiteID
	// LastGen and LastLSN identify the site's last log record: the master
	// generation that wrote it, and its position.
	LastGen uint64
	LastLSN lsn.LSN
	// Priority 0: the site votes but can never win.
	Priority uint32
	// Electability: how the group counts the voter (its HardState's).
	Electability Electability
	// Tiebreak is drawn from Config.Rand for each election.
	Tiebreak uint64
}

// Electable reports whether v's site may win.
func (v Vote) Electable() bool { return v.Priority > 0 }

// CompareLogs orders two sites by how up to date their logs are: first by
// the generation of the last record, then by its LSN.
func CompareLogs(a, b Vote) int {
	if c := cmp.Compare(a.LastGen, b.LastGen); c != 0 {
		return c
	}
	return a.LastLSN.Compare(b.LastLSN)
}

// Better reports whether candidate a beats b: the more up-to-date log
// wins; at equal logs the transfer target (target, 0 = none), then the
// higher priority, then the higher tiebreaker, then the higher site ID.
// Eligibility (priority 0 never wins) is Best's business.
func Better(a, b Vote, target SiteID) bool {
	if c := CompareLogs(a, b); c != 0 {
		return c > 0
	}
	if target != 0 && (a.Site == target) != (b.Site == target) {
		return a.Site == target
	}
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if a.Tiebreak != b.Tiebreak {
		return a.Tiebreak > b.Tiebreak
	}
	return a.Site > b.Site
}

// Best returns the winning electable candidate among votes, and false if
// none is electable.
func Best(votes []Vote, target SiteID) (Vote, bool) {
	var best Vote
	found := false
	for _, v := range votes {
		if !v.Electable() {
			continue
		}
		if !found || Better(v, best, target) {
			best, found = v, true
		}
	}
	return best, found
}

// Wins reports whether a candidate with votes votes, electable of them
// from electable sites, has won: votes >= need and electable >=
// needElectable.
func Wins(votes, electable, need, needElectable int) bool {
	return votes >= need && electable >= needElectable
}

// LeaseValid reports whether a lease grant answering a request the master
// sent at tick stamp (master's clock) still counts at tick now: the
// grantor promised leaseTicks from when it received the request, which is
// after stamp; the master shortens that by the clock-skew allowance.
func LeaseValid(stamp, now uint64, leaseTicks, skew int) bool {
	return now < stamp+uint64(max(leaseTicks-skew, 0))
}

// LeaseHeld reports whether a master in a group of n sites holds its
// lease: itself plus the grants still valid at now reach a majority.
func LeaseHeld(stamps []uint64, now uint64, n, leaseTicks, skew int) bool {
	held := 1
	for _, s := range stamps {
		if LeaseValid(s, now, leaseTicks, skew) {
			held++
		}
	}
	return held >= Majority(n)
}

// LeaseWaitOver reports whether a master elected at tick wonAt may write
// at now: every lease the previous master could hold has expired, i.e.
// leaseTicks+skew ticks have passed.
func LeaseWaitOver(wonAt, now uint64, leaseTicks, skew int) bool {
	return now >= wonAt+uint64(leaseTicks+skew)
}

// Grantable is the witness's grant rule: the grant (and the witness's
// vote) may go to site req when nobody holds it, when req already holds
// it, or, if afterExpiry (availability), when the holder's grant expired
// (expires is the witness tick at which it does).
func Grantable(holder, req SiteID, expires, now uint64, afterExpiry bool) bool {
	switch {
	case holder == 0 || holder == req:
		return true
	case afterExpiry && now >= expires:
		return true
	}
	return false
}

// GrantValid reports whether the holder of a witness grant answering a
// request sent at stamp (holder's clock) may still rely on it at now.
func GrantValid(stamp, now uint64, grantTicks, skew int) bool {
	return LeaseValid(stamp, now, grantTicks, skew)
}

// RetryDelay is the randomised back-off after a failed election: a value
// in [base, 2*base) drawn from r.
func RetryDelay(base int, r uint64) int {
	if base <= 0 {
		return 0
	}
	return base + int(r%uint64(base))
}

// LeaseExpiry returns the tick at which a master in a group of n sites
// stops holding its lease unless another grant arrives: the expiry of the
// newest grants that, with the master itself, still make a majority
// (stamps are the request stamps granted, one per site). It returns 0 when
// there are too few grants to hold at all, and ^uint64(0) when the master
// alone is a majority, whose lease cannot lapse.
func LeaseExpiry(stamps []uint64, n, leaseTicks, skew int) uint64 {
	k := Majority(n) - 1 // grants needed besides the master's own
	if k <= 0 {
		return ^uint64(0)
	}
	if len(stamps) < k {
		return 0
	}
	// The k-th newest stamp decides: LeaseHeld counts the grants still
	// valid, and those lapse newest last.
	s := slices.Clone(stamps)
	slices.SortFunc(s, func(a, b uint64) int { return cmp.Compare(b, a) })
	return s[k-1] + uint64(max(leaseTicks-skew, 0))
}
