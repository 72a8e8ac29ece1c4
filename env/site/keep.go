package site

import (
	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

// keepLog tells the environment the log each other data site still
// needs (env.KeepFor), for checkpoints to keep within the budget
// (env.Config.LogKeepBytes): what the site last acknowledged to this
// site as master. Any site may become master, so a client keeps too:
// the positions it learnt as master, if it was one since it started,
// else, like a master for a site it has not heard from since it started
// (rep forgets acks on a change of master), the whole budget (a Zero
// need): a position is not persisted, and the budget bounds the cost.
// Witnesses hold no data and need nothing (Sites lists data sites only).
func (s *Site) keepLog(rs rep.Status, sites []rep.SiteStatus) {
	if s.known == nil {
		s.known = map[SiteID]lsn.LSN{}
	}
	needs := s.needs[:0]
	for _, x := range sites {
		if rs.Role == rep.RoleMaster && !x.Acked.IsZero() {
			s.known[x.ID] = x.Acked
		}
		needs = append(needs, env.SiteNeed{Site: uint64(x.ID), From: s.known[x.ID]})
	}
	s.needs = needs
	s.e.KeepFor(needs)
}
