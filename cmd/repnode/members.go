package main

// Membership on the HTTP port: GET /v1/members (read role) and the
// changes, made by the master (admin role, under /v1/admin/). A client
// refuses a change with the 503 of a refused write, naming the master
// (master, master_http): the caller repeats it there, as repadmin and
// --join do. It does not forward: a forwarded change would carry the
// caller's credentials to another site, and an answer lost on the way
// would leave the caller not knowing where the change was made.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"logship/cmd/internal/api"
	"logship/env/site"
	"logship/rep/transport"
)

func (n *node) memberRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/members", n.handleMembers)
	mux.HandleFunc("POST /v1/admin/members", n.handleAddMember)
	mux.HandleFunc("DELETE /v1/admin/members/{id}", n.handleRemoveMember)
	mux.HandleFunc("POST /v1/admin/members/{id}/voting", n.handleSetVoting)
}

// members is the membership this site holds, as GET /v1/members shows it.
func (n *node) members() api.Members {
	st := n.site.Status()
	ms := n.site.Members()
	known := map[site.SiteID]site.SiteStatus{}
	for _, s := range st.Sites {
		known[s.ID] = s
	}
	addrs := n.site.PeerAddrs()
	out := api.Members{ID: n.cfg.ID, Role: st.Role.String(), Master: uint64(st.Master),
		MasterHTTP: n.httpAddrOf(uint64(st.Master)), LSN: ms.LSN.String(), Pending: ms.Pending || hasJoining(ms),
		Members: []api.Member{}}
	for _, m := range ms.Members {
		row := api.Member{ID: uint64(m.ID), Addr: m.Addr, HTTPAddr: m.HTTP, RESPAddr: m.RESP, Voting: m.Voting(), Witness: m.Witness}
		if a := addrs[m.ID]; row.HTTPAddr == "" {
			row.HTTPAddr = a.HTTP
		}
		if a := addrs[m.ID]; row.RESPAddr == "" {
			row.RESPAddr = a.RESP
		}
		if uint64(m.ID) == n.cfg.ID {
			row.Self, row.Addr = true, orElse(row.Addr, n.cfg.Listen)
			row.HTTPAddr = orElse(row.HTTPAddr, n.cfg.AdvertisedHTTP())
		} else {
			s := known[m.ID]
			row.Connected, row.LagBytes = s.Connected || n.tr.Connected(transportID(uint64(m.ID))), s.LagBytes
			row.Addr = orElse(row.Addr, n.cfg.Peers[uint64(m.ID)])
		}
		out.Members = append(out.Members, row)
	}
	return out
}

// hasJoining: a member added to vote is not promoted yet.
func hasJoining(ms site.Membership) bool {
	for _, m := range ms.Members {
		if m.Joining {
			return true
		}
	}
	return false
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (n *node) handleMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.members())
}

// memberChangeTimeout bounds a change's wait for its record to reach the
// commit point (a majority of the new membership's voters): a change
// that cannot get there in this time is answered 504 and may still take
// effect (GET /v1/members tells).
const memberChangeTimeout = 30 * time.Second

func (n *node) handleAddMember(w http.ResponseWriter, r *http.Request) {
	var req api.MemberRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.ID == 0 {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: `body: want {"id": N, "addr": "HOST:PORT", "http": "HOST:PORT", "resp": "HOST:PORT", "voting": true|false}`})
		return
	}
	for name, a := range map[string]string{"addr": req.Addr, "http": req.HTTP, "resp": req.RESP} {
		if a == "" && name != "addr" {
			continue
		}
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" || port == "0" || len(a) > 255 {
			writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: fmt.Sprintf("%s %q: want the HOST:PORT the other sites reach site %d at", name, a, req.ID)})
			return
		}
	}
	voting := req.Voting == nil || *req.Voting
	m := site.Member{ID: site.SiteID(req.ID), Addr: req.Addr, HTTP: req.HTTP, RESP: req.RESP, NonVoting: !voting}
	n.change(w, r, "add", req.ID, func(ctx context.Context) error { return n.site.AddMember(ctx, m) })
}

func (n *node) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	n.change(w, r, "remove", id, func(ctx context.Context) error { return n.site.RemoveMember(ctx, site.SiteID(id)) })
}

func (n *node) handleSetVoting(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req api.VotingRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Voting == nil {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: `body: want {"voting": true|false}`})
		return
	}
	op := "promote"
	if !*req.Voting {
		op = "demote"
	}
	n.change(w, r, op, id, func(ctx context.Context) error { return n.site.SetVoting(ctx, site.SiteID(id), *req.Voting) })
}

func pathID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeJSON(w, http.StatusBadRequest, api.ErrorBody{Error: fmt.Sprintf("site id %q: want a positive integer", r.PathValue("id"))})
		return 0, false
	}
	return id, true
}

// change runs one membership change and answers it.
func (n *node) change(w http.ResponseWriter, r *http.Request, op string, id uint64, do func(context.Context) error) {
	if n.site == nil {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: "a witness holds no membership: ask the master"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), memberChangeTimeout)
	defer cancel()
	n.log.Info("admin: membership change", "op", op, "member", id)
	if err := do(ctx); err != nil {
		n.log.Warn("admin: membership change refused", "op", op, "member", id, "err", err)
		code := 0
		switch {
		case errors.Is(err, site.ErrMemberExists):
			code = http.StatusConflict
		case errors.Is(err, site.ErrUnknownMember):
			code = http.StatusNotFound
		case errors.Is(err, site.ErrBadMember), errors.Is(err, site.ErrUnsafeChange):
			code = http.StatusConflict
		case errors.Is(err, site.ErrChangePending):
			w.Header().Set("Retry-After", "1")
			code = http.StatusServiceUnavailable
		case errors.Is(err, site.ErrNotMember):
			code = http.StatusConflict
		}
		if code == 0 {
			n.writeError(w, err) // not the master (503 naming it), timeouts, shutting down
			return
		}
		writeJSON(w, code, api.ErrorBody{Error: err.Error()})
		return
	}
	out := api.MemberChange{OK: true, Op: op, ID: id, Members: n.members()}
	switch op {
	case "add":
		if m, ok := n.site.Members().Find(site.SiteID(id)); ok && m.Joining {
			out.Note = fmt.Sprintf("site %d is non-voting until it has caught up; then the master promotes it", id)
		} else {
			out.Note = fmt.Sprintf("site %d stays a non-voting read replica until promoted", id)
		}
	case "remove":
		out.Note = fmt.Sprintf("site %d no longer counts for elections or acks; stop it", id)
	}
	n.log.Info("admin: membership changed", "op", op, "member", id, "lsn", out.Members.LSN)
	writeJSON(w, http.StatusOK, out)
}

// membership is the membership part of /v1/status.
func (n *node) membership(st site.Status) *api.Membership {
	ms := st.Members
	out := &api.Membership{LSN: ms.LSN.String(), Pending: ms.Pending || hasJoining(ms), Members: len(ms.Members), Voters: ms.Voters()}
	m, in := ms.Find(site.SiteID(n.cfg.ID))
	refusers, others := n.refusedAsUnknown(ms)
	switch {
	case in && others > 0 && len(refusers) == others:
		// Every other member's transport refuses this site as unknown:
		// its own membership (the founding --peers) names it, theirs does
		// not. A site started with --peers that the group never added
		// would otherwise retry elections forever without saying why.
		out.State = "not_member"
		out.Note = fmt.Sprintf("site %d is not a member of the group: sites %s refuse it as unknown; ask an operator to run repadmin site add --id %d --addr %s",
			n.cfg.ID, joinIDs(refusers), n.cfg.ID, n.cfg.Listen)
	case in && m.Voting():
		out.State = "voting"
	case in:
		out.State = "non_voting"
		if m.Joining {
			out.Note = fmt.Sprintf("site %d is catching up; the master promotes it to voting once caught up", n.cfg.ID)
		}
	case n.cfg.Join != "" && ms.LSN.IsZero():
		out.State = "joining"
		out.Note = fmt.Sprintf("site %d is joining: it waits for the master to ship it the membership that names it", n.cfg.ID)
	case !ms.LSN.IsZero() && (n.cfg.Join == "" || n.everMember.Load()):
		out.State, out.RemovedLSN = "removed", ms.LSN.String()
		out.Note = fmt.Sprintf("site %d was removed from the group at LSN %s: stop it; to bring it back, wipe its --dir and start it with --join", n.cfg.ID, ms.LSN)
	default:
		out.State = "not_member"
		out.Note = fmt.Sprintf("site %d is not a member of the group: ask an operator to run repadmin site add --id %d --addr %s", n.cfg.ID, n.cfg.ID, n.cfg.Listen)
	}
	return out
}

// refusedAsUnknown returns the other members whose transport refused this
// site as unknown the last time they met, and how many other members
// there are.
func (n *node) refusedAsUnknown(ms site.Membership) (refusers []uint64, others int) {
	if n.tr == nil {
		return nil, 0
	}
	peers := n.tr.Stats().Peers
	for _, m := range ms.Members {
		if uint64(m.ID) == n.cfg.ID {
			continue
		}
		others++
		ps, ok := peers[transport.ID(m.ID)]
		if ok && !ps.Connected && strings.Contains(ps.LastError, transport.ErrUnknownSite.Error()) {
			refusers = append(refusers, uint64(m.ID))
		}
	}
	return refusers, others
}

// joinIDs is "1, 2 and 3".
func joinIDs(ids []uint64) string {
	var b strings.Builder
	for i, id := range ids {
		switch {
		case i == 0:
		case i == len(ids)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// watchMembership logs this site's place in the group when it changes:
// added, promoted, demoted, removed, or not a member at all, so the log
// says why a site takes no part.
func (n *node) watchMembership(ctx context.Context) {
	last := ""
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		st := n.site.Status()
		if _, in := st.Members.Find(site.SiteID(n.cfg.ID)); in {
			n.everMember.Store(true)
		}
		m := n.membership(st)
		if key := m.State; key != last {
			switch m.State {
			case "voting", "non_voting":
				n.log.Info("membership: this site is a "+m.State+" member", "lsn", m.LSN, "members", m.Members, "voters", m.Voters)
			case "joining":
				n.log.Info("membership: " + m.Note)
			default:
				n.log.Warn("membership: "+m.Note, "lsn", m.LSN)
			}
			last = key
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// peerIDs are the other members' ids, ascending: the membership this
// site holds (the founding --peers until a change), or --peers on a
// witness.
func (n *node) peerIDs() []uint64 {
	if n.site == nil {
		return sortedPeerIDs(n.cfg.Peers)
	}
	var ids []uint64
	for _, m := range n.site.Members().Members {
		if uint64(m.ID) != n.cfg.ID {
			ids = append(ids, uint64(m.ID))
		}
	}
	return ids
}
