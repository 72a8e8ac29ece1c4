package env

// The log kept for lagging replication sites, within a budget: a site
// that is down for a while catches up from the log instead of paying an
// internal init, as long as what it needs stays within
// Config.LogKeepBytes of the log's end (PostgreSQL's wal_keep_size and
// max_slot_wal_keep_size). The runtime says what each data site needs
// (KeepFor); checkpoints apply the budget (logKeepFrom), and a site past
// it is let go: its log may be removed, and it will need an init.

import (
	"slices"
	"sync"
	"sync/atomic"

	"logship/wal/lsn"
)

// SiteNeed is the log one data site of the group still needs: every
// record from From on (the last record it acknowledged, as far as this
// site knows). From Zero means not known (the site has not been heard of
// since this process started): the whole budget is kept for it.
type SiteNeed struct {
	Site uint64
	From lsn.LSN
}

// KeptSite is the log kept for one data site (LogKeep).
type KeptSite struct {
	Site uint64
	// From is the site's need (SiteNeed.From; Zero: unknown).
	From lsn.LSN
	// Needed is the log bytes from what it needs (unknown: from the
	// budget's start) to the end of the log, whether or not the log
	// still holds them.
	Needed int64
	// Kept is the bytes kept for it: Needed while within the budget (less
	// what the log no longer holds), 0 once it is let go.
	Kept int64
	// LetGo: Needed is past the budget; checkpoints may remove the log
	// the site needs, and it will then need an internal init.
	LetGo bool
	// KeepFrom is where the log is kept from for it: From, or for an
	// unknown site the budget's start; Zero once it is let go.
	KeepFrom lsn.LSN
}

// LogKeep is the log kept for lagging sites and the budget's headroom.
type LogKeep struct {
	Budget int64 // Config.LogKeepBytes
	// From is the oldest LSN kept for a site within the budget (Zero:
	// none): checkpoints keep the log file holding it and every later one.
	From     lsn.LSN
	Retained int64 // log bytes from From to the end of the log
	Headroom int64 // Budget - Retained
	Sites    []KeptSite
}

// keepState is the log a replication site must keep for others: for an
// internal init it serves (Retain) and for lagging sites (KeepFor).
type keepState struct {
	mu     sync.Mutex
	retain lsn.LSN
	needs  []SiteNeed
	// letGo holds the sites a checkpoint let go, so that it is said
	// once; a site back within the budget (after its init) leaves it.
	letGo    map[uint64]bool
	letGoCnt atomic.Uint64
}

// KeepFor tells checkpoints the log each data site of the group still
// needs, replacing what was said before; nil keeps nothing for anyone.
// They keep it while it is within Config.LogKeepBytes of the end of the
// log (0: keep nothing for lagging sites).
func (e *Env) KeepFor(needs []SiteNeed) {
	e.keep.mu.Lock()
	defer e.keep.mu.Unlock()
	if !slices.Equal(e.keep.needs, needs) {
		// In place: a master's acks move with every commit.
		e.keep.needs = append(e.keep.needs[:0], needs...)
	}
}

// LogKeep reports the log kept for lagging sites against the budget.
func (e *Env) LogKeep() LogKeep {
	e.keep.mu.Lock()
	needs := slices.Clone(e.keep.needs) // KeepFor reuses its slice
	e.keep.mu.Unlock()
	return e.planKeep(needs, e.log.First(), e.log.End())
}

// planKeep applies the budget to needs, for a log from first to end.
func (e *Env) planKeep(needs []SiteNeed, first, end lsn.LSN) LogKeep {
	budget := e.cfg.LogKeepBytes
	k := LogKeep{Budget: budget, Headroom: budget}
	if budget <= 0 || len(needs) == 0 {
		return k
	}
	floor := lsn.Max(e.budgetFloor(end), first)
	for _, n := range needs {
		ks := KeptSite{Site: n.Site, From: n.From}
		from := n.From
		if from.IsZero() {
			from = floor
		}
		ks.Needed = e.distance(from, end)
		if ks.Needed > budget {
			ks.LetGo = true
		} else {
			ks.Kept, ks.KeepFrom = e.distance(lsn.Max(from, first), end), from
			if k.From.IsZero() || from.Less(k.From) {
				k.From = from
			}
		}
		k.Sites = append(k.Sites, ks)
	}
	if !k.From.IsZero() {
		k.Retained = e.distance(lsn.Max(k.From, first), end)
	}
	k.Headroom = max(budget-k.Retained, 0)
	return k
}

// budgetFloor is the oldest LSN within the budget of end, rounded up to
// the start of a log file when it falls inside an older one: keeping a
// file keeps it whole, and the budget is not to be exceeded.
func (e *Env) budgetFloor(end lsn.LSN) lsn.LSN {
	budget, size := e.cfg.LogKeepBytes, e.cfg.LogFileSize
	if int64(end.Offset) >= budget {
		return lsn.LSN{File: end.File, Offset: end.Offset - uint32(budget)}
	}
	back := (budget - int64(end.Offset)) / size // whole files before end's
	if back >= int64(end.File) {
		return lsn.LSN{File: 1}
	}
	return lsn.LSN{File: end.File - uint32(back)}
}

// siteKeepFrom is where the log must be kept from for the lagging sites
// within the budget (Zero: nowhere). A checkpoint calls it: the sites it
// lets go are logged once and counted (Stats.LogKeepLetGo).
func (e *Env) siteKeepFrom() lsn.LSN {
	e.keep.mu.Lock()
	defer e.keep.mu.Unlock()
	k := e.planKeep(e.keep.needs, e.log.First(), e.log.End())
	for _, s := range k.Sites {
		switch {
		case s.LetGo && !e.keep.letGo[s.Site]:
			if e.keep.letGo == nil {
				e.keep.letGo = map[uint64]bool{}
			}
			e.keep.letGo[s.Site] = true
			e.keep.letGoCnt.Add(1)
			e.logger.Warn("env: a lagging site needs more log than the budget keeps; letting it go: once its log is removed it needs an internal init",
				"site", s.Site, "from", s.From, "needed_bytes", s.Needed, "log_keep_bytes", k.Budget)
		case !s.LetGo && e.keep.letGo[s.Site]:
			delete(e.keep.letGo, s.Site)
		}
	}
	return k.From
}
