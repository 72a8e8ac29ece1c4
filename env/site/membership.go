package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"logship/env"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// The membership record: an ordinary env transaction that puts the whole
// membership (JSON) at membersKey in membersBucket, so that it is
// applied, checkpointed, snapshotted (internal init) and rolled back with
// the data, like Berkeley DB's replicated membership database. The
// bucket is reserved: applications must not write it.
const (
	membersBucket = "logship.members" // format
	membersKey    = "current"         // format
)

// membersValue is the record's value (format: JSON, additive fields only).
type membersValue struct {
	Members []rep.Member `json:"members"`
}

func encodeMembers(ms Membership) ([]byte, error) {
	return json.Marshal(membersValue{Members: ms.Members})
}

func decodeMembers(b []byte, at lsn.LSN) (Membership, error) {
	var v membersValue
	if err := json.Unmarshal(b, &v); err != nil {
		return Membership{}, fmt.Errorf("site: membership record at %v: %w", at, err)
	}
	ms := Membership{Members: v.Members, LSN: at}
	slices.SortFunc(ms.Members, func(a, b rep.Member) int { return int(a.ID) - int(b.ID) })
	if err := ms.Validate(); err != nil {
		return Membership{}, fmt.Errorf("site: membership record at %v: %w", at, err)
	}
	return ms, nil
}

// recordMembers returns the membership a log record sets, if any.
func recordMembers(r rep.Record) (Membership, bool, error) {
	b, ok := env.FindPut(r.Payload, membersBucket, []byte(membersKey))
	if !ok {
		return Membership{}, false, nil
	}
	ms, err := decodeMembers(b, r.LSN)
	return ms, err == nil, err
}

// loadMembership finds the membership in force in the local store: the
// latest membership record in the log, committed or not. The applied
// data holds the one of the records applied (restored with a snapshot by
// internal init, undone with the records a rollback removes); the log
// after the applied point can hold newer ones, which win. With neither,
// it is the configured membership. A membership known only from the
// applied data is stamped with the applied LSN: an upper bound of its
// record's, which can only make it look pending a little longer.
func loadMembership(e *env.Env, r *env.Replica, cfg Config) (Membership, error) {
	ms := configuredMembership(cfg)
	var val []byte
	var at lsn.LSN
	err := e.ViewApplied(func(tx *env.ReadTx) error {
		v, err := tx.Get(membersBucket, []byte(membersKey))
		if err != nil {
			return err
		}
		val, at = v, tx.AppliedLSN()
		return nil
	})
	if err != nil {
		return ms, fmt.Errorf("site: reading the membership: %w", err)
	}
	if val != nil {
		if ms, err = decodeMembers(val, at); err != nil {
			return ms, err
		}
	}
	last := r.Last()
	for pos := at; pos.Less(last); {
		rec, err := r.Next(pos)
		if err != nil {
			return ms, fmt.Errorf("site: scanning the log after %v for membership records: %w", pos, err)
		}
		if !pos.Less(rec.LSN) {
			break
		}
		pos = rec.LSN
		if m, ok, err := recordMembers(rec); err != nil {
			return ms, err
		} else if ok {
			ms = m
		}
	}
	return ms, nil
}

// startMembership loads the membership at start and gives it to the
// core's configuration, with the configured sites as the known ones.
func (s *Site) startMembership(cc *sitecore.Config) error {
	ms, err := loadMembership(s.e, s.r, s.cfg)
	if err != nil {
		return err
	}
	s.peers = map[SiteID]bool{}
	for _, m := range s.cfg.Sites {
		s.peers[m.ID] = true
	}
	s.addPeers(ms)
	cc.Members, cc.Known = &ms, s.knownPeers()
	return nil
}

// knownPeers lists the transport's peers: the sites rep and elect hear even
// when the membership lacks them (sitecore.Core.SetMembership).
func (s *Site) knownPeers() []SiteID {
	out := make([]SiteID, 0, len(s.peers))
	for id := range s.peers {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// setMembers makes ms the site's membership: the transport's peers
// first (a new member is dialled), then the core's.
func (s *Site) setMembers(ms Membership) {
	before, _ := s.c.Membership()
	had := maps.Clone(s.peers)
	s.addPeers(ms)
	if err := s.c.SetMembership(ms, s.knownPeers()); err != nil {
		s.log.Error("site: membership not applied", "lsn", ms.LSN.String(), "err", err)
		return
	}
	// The core learns a new site's connection now: the transport reported
	// it up before the core knew the site, and will not again.
	for _, m := range ms.Members {
		if m.ID != s.cfg.ID && !before.Has(m.ID) && !had[m.ID] && s.tr.Connected(transport.ID(m.ID)) {
			s.c.PeerUp(m.ID)
		}
	}
	s.log.Info("site: membership", "lsn", ms.LSN.String(), "members", len(ms.Members), "voters", ms.Voters(),
		"member", ms.Has(s.cfg.ID))
}

// reloadMembers recomputes the membership from the store after a
// rollback or an internal init changed the log under it.
func (s *Site) reloadMembers() {
	ms, err := loadMembership(s.e, s.r, s.cfg)
	if err != nil {
		s.log.Error("site: membership not reloaded", "err", err)
		return
	}
	if cur, _ := s.c.Membership(); cur.LSN == ms.LSN && slices.Equal(cur.Members, ms.Members) {
		return
	}
	s.setMembers(ms)
}

// afterLog follows the membership through what a Ready did to the log:
// the records it appended (a client's), or, after a rollback or an
// internal init, the store's membership afresh.
func (s *Site) afterLog(rd sitecore.Ready) {
	if rd.Rollback != nil || rd.Rep.Rollback != nil || rd.Rep.Install != nil {
		s.reloadMembers()
		return
	}
	s.noteMembers(rd.Rep.Append)
}

// noteMembers applies the membership records among recs, just entered
// the local log, in order.
func (s *Site) noteMembers(recs []rep.Record) {
	for _, r := range recs {
		ms, ok, err := recordMembers(r)
		if err != nil {
			s.log.Error("site: bad membership record", "lsn", r.LSN.String(), "err", err)
		}
		if ok {
			s.setMembers(ms)
		}
	}
}

// appendLocal hands the core this master's new records. A membership
// record takes effect as it enters the log, for itself too: the records
// before it are counted under the old membership, it and those after
// under the new one.
func (s *Site) appendLocal(recs []rep.Record) {
	from := 0
	for i, r := range recs {
		ms, ok, err := recordMembers(r)
		if err != nil {
			s.log.Error("site: bad membership record", "lsn", r.LSN.String(), "err", err)
		}
		if !ok {
			continue
		}
		if from < i {
			s.c.Appended(recs[from:i])
		}
		s.setMembers(ms)
		from = i
	}
	s.c.Appended(recs[from:])
}

// peerSet is the part of a transport that changes its peers at run time
// (transport.TCP has it; a transport without it keeps its peers).
type peerSet interface {
	AddPeer(id transport.ID, addr string) error
	RemovePeer(id transport.ID) error
}

// addPeers makes the transport dial every member with an address that
// is not yet a peer.
func (s *Site) addPeers(ms Membership) {
	ps, ok := s.tr.(peerSet)
	for _, m := range ms.Members {
		if m.ID == s.cfg.ID || s.peers[m.ID] || m.Addr == "" {
			continue
		}
		if ok {
			if err := ps.AddPeer(transport.ID(m.ID), m.Addr); err != nil {
				s.log.Warn("site: peer not added", "peer", uint64(m.ID), "addr", m.Addr, "err", err)
			}
		}
		s.peers[m.ID] = true
	}
}

// checkMembers runs after each turn. Once the latest membership record
// is permanent, a site that it removed is dropped from the transport (it
// could hear the record until then: rep kept shipping to it, uncounted)
// and forgotten; and a master that is no longer a voting member steps
// down. A site that is not a member itself keeps its peers.
func (s *Site) checkMembers() {
	ms, ok := s.c.Membership()
	if !ok || ms.Pending {
		return
	}
	if m, in := ms.Find(s.cfg.ID); s.c.Status().Rep.Role == rep.RoleMaster && (!in || !m.Voting()) {
		s.log.Warn("site: this master is no longer a voting member; stepping down", "lsn", ms.LSN.String())
		s.c.Resign()
		for range 100 {
			if !s.c.HasReady() || !s.carryOut(s.c.Ready()) {
				break
			}
		}
		s.publish()
	}
	if !ms.Has(s.cfg.ID) {
		return
	}
	s.promote(ms)
	ps, canRemove := s.tr.(peerSet)
	var gone []SiteID
	for id := range s.peers {
		if !ms.Has(id) {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	for _, id := range gone {
		delete(s.peers, id)
		if canRemove {
			if err := ps.RemovePeer(transport.ID(id)); err != nil {
				s.log.Debug("site: peer not removed", "peer", uint64(id), "err", err)
			}
		}
		s.log.Info("site: removed site dropped", "peer", uint64(id))
	}
	if err := s.c.SetMembership(ms, s.knownPeers()); err != nil {
		s.log.Error("site: membership not applied", "lsn", ms.LSN.String(), "err", err)
	}
}

// publishedMembers is the membership and Status.MemberErr to publish.
func (s *Site) publishedMembers() (Membership, error) {
	ms, ok := s.c.Membership()
	if !ok {
		ms = configuredMembership(s.cfg)
	}
	return ms, s.memberErr(ms)
}

// memberErr is Status.MemberErr: nil for a member.
func (s *Site) memberErr(ms Membership) error {
	if ms.Has(s.cfg.ID) {
		return nil
	}
	if s.cfg.Join && ms.LSN.IsZero() {
		return fmt.Errorf("%w: joining; not yet added by the master", ErrNotMember)
	}
	if !ms.LSN.IsZero() {
		return fmt.Errorf("%w: not in the membership set by the record at %v", ErrNotMember, ms.LSN)
	}
	return ErrNotMember
}

// mapChangeErr maps the core's refusal of a membership change.
func mapChangeErr(master SiteID, err error) error {
	switch {
	case errors.Is(err, sitecore.ErrChangePending):
		return fmt.Errorf("%w: %w", ErrChangePending, err)
	case errors.Is(err, sitecore.ErrNotMember):
		return ErrNotMember
	case errors.Is(err, rep.ErrNotMaster):
		return writeRefusal(master, err)
	}
	return err
}

// defaultPromoteLag is Config.PromoteLagBytes's default.
const defaultPromoteLag = 1 << 20

// promote starts the promotion of a joining member that has caught up
// (sitecore.Core.Promotion, the simulator's rule too), on its own
// goroutine (a change waits for the loop), one at a time.
func (s *Site) promote(ms Membership) {
	if s.promoting.Load() {
		return
	}
	lag := s.cfg.PromoteLagBytes
	if lag <= 0 {
		lag = defaultPromoteLag
	}
	if id, _, ok := s.c.Promotion(ms, lag, s.e.Distance); ok {
		s.promoting.Store(true)
		go func() {
			defer s.promoting.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 4*s.cfg.ackTimeout())
			defer cancel()
			if err := s.SetVoting(ctx, id, true); err != nil {
				s.log.Info("site: joining member not promoted yet", "site", uint64(id), "err", err)
				return
			}
			s.log.Info("site: joining member promoted to voting", "site", uint64(id))
		}()
	}
}
