package rep

import (
	"cmp"
	"fmt"
	"slices"

	"logship/wal/lsn"
)

// Member is one site of the group as a membership names it: its id,
// where the others reach it, and how it is counted. The zero value of
// every flag is a voting data site, so a membership derived from the
// configured sites (--peers) needs no flag.
type Member struct {
	ID SiteID
	// Addr is the replication address the others dial; HTTP and RESP are
	// where applications reach the site (informational; may be empty).
	Addr, HTTP, RESP string
	// NonVoting: a "view" (learner) site. It receives the log and serves
	// reads, but is never counted for acks or elections and is never a
	// candidate. A site added to a running group starts non-voting and is
	// promoted once caught up.
	NonVoting bool
	// Joining: a non-voting member added to become a voter; the master
	// promotes it (clears NonVoting and Joining) once it has caught up.
	// A non-voting member without it is a view and stays one.
	Joining bool
	// Witness: the site keeps no data; it only votes (package elect).
	Witness bool
}

// Voting says whether the member counts for acks (unless a witness) and
// elections.
func (m Member) Voting() bool { return !m.NonVoting }

// Membership is the group as a site knows it: the latest membership in
// its log, committed or not.
type Membership struct {
	// Members is every member, this site included, sorted by ID.
	Members []Member
	// LSN is the log record that set it; Zero for the primordial
	// membership (the configured sites), which no record has changed yet.
	LSN lsn.LSN
	// Pending: the record at LSN is not yet known permanent (the site's
	// commit point is before it). A master refuses another change while
	// it is (ErrChangePending).
	Pending bool
}

// Find returns the member with id, and whether there is one.
func (ms Membership) Find(id SiteID) (Member, bool) {
	i, ok := slices.BinarySearchFunc(ms.Members, id, func(m Member, id SiteID) int { return cmp.Compare(m.ID, id) })
	if !ok {
		return Member{}, false
	}
	return ms.Members[i], true
}

// Has says whether id is a member.
func (ms Membership) Has(id SiteID) bool { _, ok := ms.Find(id); return ok }

// Voters counts the voting members.
func (ms Membership) Voters() int {
	n := 0
	for _, m := range ms.Members {
		if m.Voting() {
			n++
		}
	}
	return n
}

// Clone returns a deep copy.
func (ms Membership) Clone() Membership {
	ms.Members = slices.Clone(ms.Members)
	return ms
}

// Validate checks a membership: ids non-zero and distinct, at least one
// voting data site, witnesses voting.
func (ms Membership) Validate() error {
	data := false
	for i, m := range ms.Members {
		switch {
		case m.ID == 0:
			return fmt.Errorf("%w: membership: member %d has id 0", ErrBadConfig, i)
		case i > 0 && ms.Members[i-1].ID >= m.ID:
			return fmt.Errorf("%w: membership: members not sorted by id, or site %d listed twice", ErrBadConfig, m.ID)
		case m.Witness && m.NonVoting:
			return fmt.Errorf("%w: membership: witness %d must vote: a witness does nothing else", ErrBadConfig, m.ID)
		case m.Joining && !m.NonVoting:
			return fmt.Errorf("%w: membership: site %d is joining, so it must not vote yet", ErrBadConfig, m.ID)
		}
		if m.Voting() && !m.Witness {
			data = true
		}
	}
	if !data {
		return fmt.Errorf("%w: membership: no voting data site", ErrBadConfig)
	}
	return nil
}
