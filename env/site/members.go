package site

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

// Group membership (issue #16). The group's members are replicated
// state: a membership record, written by the master, replaces the whole
// membership, one change at a time; every site uses the latest
// membership in its log, committed or not, so a rolled-back record
// reverts to the one before. Until the first record, the membership is
// the configured one (Config.ID and Config.Sites, all voting), derived
// identically on every site from the same --peers, so a group that never
// changes membership runs exactly as before. See docs/protocol.md,
// "Membership changes".

// Membership sentinel errors.
var (
	// ErrChangePending: a membership change on a master whose previous
	// change is not yet permanent, or which has not yet made a record of
	// its own generation permanent (a new master must, before it changes
	// membership). Retry later.
	ErrChangePending = errors.New("site: a membership change is pending")
	// ErrNotMember: this site is not a member of the group (it was never
	// added, or was removed); Status.MemberErr wraps it.
	ErrNotMember = errors.New("site: this site is not a member of the group")
	// ErrUnknownMember: RemoveMember or SetVoting of a site that is not a
	// member.
	ErrUnknownMember = errors.New("site: no such member")
	// ErrMemberExists: AddMember of a site already a member.
	ErrMemberExists = errors.New("site: already a member")
	// ErrBadMember: a change that would leave an invalid membership (an
	// id of 0, a non-voting witness, no voting data site left) or that
	// is not allowed on this member (removing the last voter).
	ErrBadMember = errors.New("site: invalid membership change")
	// ErrUnsafeChange: a change of a voter whose majorities might not
	// meet the previous membership's (sitecore.Core.CheckChange): in a
	// group with voting members of priority 0 (unelectable), an electable
	// voter can be added, promoted, demoted or removed only once those
	// are non-voting members; more than one voter changing at once.
	ErrUnsafeChange = errors.New("site: unsafe membership change")
	// ErrNotYet was returned by the first cut of this API; nothing
	// returns it now. Kept so code that named it still compiles.
	ErrNotYet = errors.New("site: membership changes not implemented yet")
)

// Members returns the membership this site uses now: the latest in its
// log (committed or not), or the configured one before any record. It
// is safe to call on any site, member or not.
func (s *Site) Members() Membership {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.members.Clone()
}

// AddMember adds m to the group as a non-voting member, with m.Addr the
// replication address every site dials. Unless m.NonVoting is set (a
// view: it stays non-voting), m joins to vote: it is added non-voting
// and Joining, and the master promotes it to voting by itself once it
// has caught up (connected, its acknowledged log within
// Config.PromoteLagBytes of the master's newest record) and the change
// is safe (CheckChange: no voting member of priority 0); Members shows
// when. A witness cannot be added (ErrBadMember). Master only:
// elsewhere it fails with ErrNotMaster (a *NotMasterError naming the
// master). It returns once the record is at the commit point: durable
// on a majority of the voters of the new membership (and permanent
// under the ack policy). Errors: ErrChangePending, ErrMemberExists,
// ErrBadMember (also: the group has a witness), or ctx's error (the
// record may still become permanent: look at Members).
//
// The new site itself is started with Config.Join (not yet a member;
// it takes the membership from the first master that ships to it) and
// the master as its only configured site (with its address in Addr).
func (s *Site) AddMember(ctx context.Context, m Member) error {
	if m.ID == 0 {
		return fmt.Errorf("%w: member id 0", ErrBadMember)
	}
	if m.Witness {
		return fmt.Errorf("%w: adding a witness at run time is not supported; configure it in --peers", ErrBadMember)
	}
	m.Joining = !m.NonVoting
	m.NonVoting = true
	return s.changeMembers(ctx, func(ms Membership) (Membership, error) {
		if ms.Has(m.ID) {
			return ms, fmt.Errorf("%w: site %d", ErrMemberExists, m.ID)
		}
		return withMember(ms, m), nil
	})
}

// RemoveMember removes the member id. Master only (ErrNotMaster). The
// removed site stops being counted from the record on, its connections
// are dropped once the record is permanent, and it says it is not a
// member (Status.MemberErr) if it hears the record. Removing the master
// itself is allowed: it steps down once the record is permanent, and the
// remaining voters elect a master. Errors: ErrUnknownMember,
// ErrChangePending, ErrBadMember (the last voting data site, a witness),
// ErrUnsafeChange (an electable voter while a voter has priority 0), or
// ctx's.
func (s *Site) RemoveMember(ctx context.Context, id SiteID) error {
	return s.changeMembers(ctx, func(ms Membership) (Membership, error) {
		m, ok := ms.Find(id)
		switch {
		case !ok:
			return ms, fmt.Errorf("%w: site %d", ErrUnknownMember, id)
		case m.Witness:
			return ms, fmt.Errorf("%w: removing a witness at run time is not supported", ErrBadMember)
		}
		return withoutMember(ms, id), nil
	})
}

// SetVoting promotes (voting true) or demotes a member. Master only
// (ErrNotMaster). Demoting the master itself is refused (ErrBadMember):
// transfer mastership first. Setting what the member already is writes
// no record. Errors: ErrUnknownMember, ErrChangePending, ErrBadMember (a
// witness, or the last voting data site), ErrUnsafeChange (an electable
// member while a voter has priority 0), or ctx's.
func (s *Site) SetVoting(ctx context.Context, id SiteID, voting bool) error {
	return s.changeMembers(ctx, func(ms Membership) (Membership, error) {
		m, ok := ms.Find(id)
		switch {
		case !ok:
			return ms, fmt.Errorf("%w: site %d", ErrUnknownMember, id)
		case m.Witness:
			return ms, fmt.Errorf("%w: site %d is a witness, which always votes", ErrBadMember, id)
		case !voting && id == s.cfg.ID:
			return ms, fmt.Errorf("%w: the master cannot demote itself; transfer mastership first", ErrBadMember)
		}
		m.NonVoting, m.Joining = !voting, false
		return withMember(withoutMember(ms, id), m), nil
	})
}

// changeMembers is the common path of the three changes: on the loop,
// check that this master may change the membership now and compute the
// new one; then commit the record (an ordinary transaction on the
// reserved bucket, which takes effect as it enters the log: appendLocal)
// and wait until it is permanent under its policy and at or before the
// commit point, which counts the voters of the new membership. chMu
// keeps a second change from this site from starting meanwhile; the
// check on the loop refuses one while the previous record is not at the
// commit point, after a restart or a failover too.
func (s *Site) changeMembers(ctx context.Context, change func(Membership) (Membership, error)) error {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	var next Membership
	var gen uint64
	same := false
	err := s.do(func() error {
		if err := s.c.CanChangeMembership(); err != nil {
			return mapChangeErr(s.c.Status().Rep.Master, err)
		}
		cur, _ := s.c.Membership()
		for _, m := range cur.Members {
			if m.Witness {
				// The witness's status-agent role (two data sites and a
				// witness) is fixed by the configured group.
				return fmt.Errorf("%w: membership changes in a group with a witness are not supported yet", ErrBadMember)
			}
		}
		n, err := change(cur)
		if err != nil {
			return err
		}
		if err := n.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadMember, err)
		}
		if err := s.c.CheckChange(cur, n); err != nil {
			return fmt.Errorf("%w: %w", ErrUnsafeChange, err)
		}
		next, same, gen = n, slices.Equal(n.Members, cur.Members), s.c.Status().Rep.Gen
		return nil
	})
	if err != nil || same {
		return err
	}
	b, err := encodeMembers(next)
	if err != nil {
		return fmt.Errorf("site: encoding the membership: %w", err)
	}
	tok, err := s.Update(ctx, func(tx *env.Tx) error {
		// The check above held in generation gen; a site that lost and
		// regained mastership since must check again (a record of its new
		// generation permanent first), so it is refused.
		if st := s.Status(); st.Role != rep.RoleMaster || st.Gen != gen {
			return fmt.Errorf("%w: mastership changed since the check", ErrChangePending)
		}
		return tx.Put(membersBucket, []byte(membersKey), b)
	})
	if err != nil {
		return fmt.Errorf("site: membership change: %w", err)
	}
	return s.waitMembersCommitted(ctx, tok.LSN)
}

// waitMembersCommitted waits until the commit point, as this site knows
// it, reaches the membership record at at.
func (s *Site) waitMembersCommitted(ctx context.Context, at lsn.LSN) error {
	for {
		st, ch := s.watchCommit()
		if ms := st.Members; !st.CommitLSN.Less(at) || ms.LSN == at && !ms.Pending {
			return nil
		}
		if st.Role != rep.RoleMaster {
			return fmt.Errorf("site: membership record at %v: %w", at, &NotMasterError{Master: st.Master})
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("site: membership record at %v not yet at the commit point: %w", at, ctx.Err())
		case <-s.done:
			return ErrClosed
		}
	}
}

// withMember returns ms with m added, kept sorted.
func withMember(ms Membership, m Member) Membership {
	out := Membership{LSN: ms.LSN, Pending: ms.Pending}
	added := false
	for _, x := range ms.Members {
		if !added && m.ID < x.ID {
			out.Members, added = append(out.Members, m), true
		}
		out.Members = append(out.Members, x)
	}
	if !added {
		out.Members = append(out.Members, m)
	}
	return out
}

// withoutMember returns ms without id.
func withoutMember(ms Membership, id SiteID) Membership {
	out := Membership{LSN: ms.LSN, Pending: ms.Pending}
	for _, x := range ms.Members {
		if x.ID != id {
			out.Members = append(out.Members, x)
		}
	}
	return out
}

// configuredMembership is the primordial membership: this site and
// Config.Sites, all voting. Every site started with the same --peers
// derives the same one.
func configuredMembership(c Config) Membership {
	ms := Membership{}
	if !c.Join {
		ms = withMember(ms, rep.Member{ID: c.ID, Witness: c.witness})
	}
	for _, m := range c.Sites {
		ms = withMember(ms, m)
	}
	return ms
}
