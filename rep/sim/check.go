package sim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// quiescent: the master is up and accepts writes, every data site is its
// client at the current generation, caught up and durable to the
// master's last record, and every site's elect agrees.
func (s *Sim) quiescent() bool {
	if s.g.Elect && !s.electedMaster() {
		return false
	}
	if !s.masterOK() {
		return false
	}
	ms := s.site(s.master)
	m := ms.core.Status().Rep
	if m.Durable != m.Last {
		return false
	}
	for _, st := range s.sites {
		if st.id == s.master {
			continue
		}
		if !st.up() || st.halted {
			return false
		}
		cs := st.core.Status()
		if s.g.Elect {
			if e := cs.Elect; e.Role != elect.RoleClient || rep.SiteID(e.Master) != s.master || e.Gen != s.gen {
				return false
			}
		}
		if st.witness {
			continue
		}
		c := cs.Rep
		if c.Role != rep.RoleClient || c.Gen != s.gen || c.Master != s.master ||
			c.SyncState != rep.SyncReady || c.Last != m.Last || c.Durable != c.Last {
			return false
		}
	}
	if s.g.Elect {
		// elect agrees, and the master accepts writes.
		if e := ms.core.Status().Elect; e.Role != elect.RoleMaster || e.Gen != s.gen || ms.writableSince == 0 {
			return false
		}
	}
	return true
}

func (s *Sim) describe() string {
	var parts []string
	for _, m := range s.sites {
		if !m.up() {
			parts = append(parts, fmt.Sprintf("site %d down", m.id))
			continue
		}
		c := m.core.Status().Rep
		d := fmt.Sprintf("site %d %s of %d g%d %s last=%s durable=%s", m.id, c.Role, c.Master, c.Gen, c.SyncState, c.Last, c.Durable)
		if m.witness {
			d = fmt.Sprintf("site %d witness", m.id)
		}
		if m.halted {
			d += " halted"
		}
		parts = append(parts, d+electDescribe(m))
	}
	return fmt.Sprintf("master %d gen %d; ", s.master, s.gen) + strings.Join(parts, "; ")
}

// ---- invariants ---------------------------------------------------------

// checkHasPermanent: a master holds every commit a promise covers, and
// every final record, in its log, or before it (an installed snapshot,
// an archived file).
func (s *Sim) checkHasPermanent(m *member, what string) {
	if len(s.perm) == 0 && len(s.final) == 0 {
		return
	}
	recs, err := m.store.Records()
	if err != nil {
		s.storageFailed(m, "reading the log", err)
		return
	}
	have := make(map[lsn.LSN]RecID, len(recs))
	for _, r := range recs {
		have[r.LSN] = r
	}
	first, last := m.store.Log().First(), m.store.Log().Last()
	held := func(r RecID) (RecID, bool) {
		if r.LSN.Less(first) || first.IsZero() && !last.IsZero() {
			return r, true // before the log: checked through the data at the end
		}
		got, ok := have[r.LSN]
		return got, ok && got == r
	}
	for _, c := range s.sortedPerm() {
		if got, ok := held(c.rec); !ok {
			s.violate("%s site %d lacks commit %d at %s (g%d) reported permanent by site %d under --ack %s (has %+v)",
				what, m.id, c.id, c.rec.LSN, c.rec.Gen, c.site, s.g.Ack, got)
		}
	}
	for _, r := range s.sortedFinal() {
		if got, ok := held(r); !ok {
			s.violate("%s site %d lacks the record at %s (g%d), which was final: %s (has %+v)", what, m.id, r.LSN, r.Gen, s.final[r], got)
		}
	}
}

func (s *Sim) sortedPerm() []*commit {
	out := make([]*commit, 0, len(s.perm))
	for _, c := range s.perm {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *commit) int { return a.id - b.id })
	return out
}

func (s *Sim) sortedFinal() []RecID {
	out := make([]RecID, 0, len(s.final))
	for r := range s.final {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RecID) int { return a.LSN.Compare(b.LSN) })
	return out
}

// checkEnd checks the invariants of a quiescent group.
func (s *Sim) checkEnd() {
	if !s.masterOK() {
		return
	}
	m := s.site(s.master)
	mrecs, err := m.store.Records()
	s.must(err, "site %d: records", m.id)
	at := make(map[lsn.LSN]RecID, len(mrecs))
	for _, r := range mrecs {
		at[r.LSN] = r
	}
	mfirst := m.store.Log().First()
	// (1) every client's log is a prefix of the master's.
	for _, st := range s.sites {
		if st == m || st.witness {
			continue
		}
		recs, err := st.store.Records()
		s.must(err, "site %d: records", st.id)
		for _, r := range recs {
			if r.LSN.Less(mfirst) {
				continue
			}
			if got, ok := at[r.LSN]; !ok || got != r {
				s.violate("site %d log not a prefix of master %d's: has %s g%d crc %08x, master %+v",
					st.id, m.id, r.LSN, r.Gen, r.Checksum, got)
				break
			}
		}
	}
	// (2) identical data.
	mdata, err := m.store.Data()
	s.must(err, "site %d: data", m.id)
	for _, st := range s.sites {
		if st == m || st.witness {
			continue
		}
		d, err := st.store.Data()
		s.must(err, "site %d: data", st.id)
		if diff := diffData(mdata, d); diff != "" {
			s.violate("site %d data differs from master %d's: %s", st.id, m.id, diff)
		}
	}
	// (3) every commit a promise covers, and every final record, survived.
	s.checkHasPermanent(m, "final master")
	vals := make(map[string]string, len(mdata))
	for _, kv := range mdata {
		vals[kv.Key] = kv.Value
	}
	for _, c := range s.sortedPerm() {
		if c.key == "" {
			continue // a generation's first record: in the log check above
		}
		if v, ok := vals[c.key]; !ok || v != c.val {
			s.violate("commit %d (%s=%s at %s g%d) reported permanent by site %d under --ack %s is lost: master %d has %s=%q",
				c.id, c.key, c.val, c.rec.LSN, c.rec.Gen, c.site, s.g.Ack, m.id, c.key, v)
		}
	}
	sum := fnv.New64a()
	for _, kv := range mdata {
		fmt.Fprintf(sum, "%s=%s\n", kv.Key, kv.Value)
	}
	s.tracef("end master %d gen %d last %s data %d keys %016x", m.id, s.gen, m.store.Log().Last(), len(mdata), sum.Sum64())
}

func diffData(a, b []KV) string {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Key < b[j].Key:
			return fmt.Sprintf("master has %s=%s, site lacks it", a[i].Key, a[i].Value)
		case i == len(a) || b[j].Key < a[i].Key:
			return fmt.Sprintf("site has %s=%s, master lacks it", b[j].Key, b[j].Value)
		case a[i].Value != b[j].Value:
			return fmt.Sprintf("%s: master %q, site %q", a[i].Key, a[i].Value, b[j].Value)
		}
		i++
		j++
	}
	return ""
}
