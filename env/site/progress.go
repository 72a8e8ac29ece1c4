package site

// Per-site replication progress on the master, the clock-dependent half
// of PostgreSQL's pg_stat_replication: rep (pure) knows which records each
// site has (sent, flushed, applied); the loop, which has a clock, turns
// that into time behind and an estimated time to catch up.
//
// Time behind is the age of the oldest record the site has not made
// durable: the master remembers when it appended its records, as a small
// bounded ring of (LSN, time) samples. Samples never overstate how recent
// a record is: a batch appended soon after the previous one joins its
// sample (keeping the older time), and when the ring is full its two
// oldest samples merge the same way. So the lag shown is at most one
// sample's span too high for recent records, coarser for old ones, and
// never too low.

import (
	"fmt"
	"time"

	"logship/rep"
	"logship/wal/lsn"
)

const (
	// appendRingSize bounds the append-time samples the master keeps.
	appendRingSize = 1024
	// appendSampleSpan: appends closer together than this share a sample.
	appendSampleSpan = 10 * time.Millisecond
	// rateWindow: a site's flush rate is measured over at least this long.
	rateWindow = 250 * time.Millisecond
	// rateWeight is the weight of the newest window in the flush rate
	// (exponential moving average).
	rateWeight = 0.3
)

// appendSample: the records after the previous sample's LSN, up to LSN,
// were appended at At or later.
type appendSample struct {
	lsn lsn.LSN
	at  time.Time
}

// appendRing is the master's bounded memory of when it appended what.
type appendRing struct {
	buf   [appendRingSize]appendSample
	start int
	n     int
}

func (r *appendRing) at(i int) *appendSample { return &r.buf[(r.start+i)%appendRingSize] }

func (r *appendRing) reset() { r.start, r.n = 0, 0 }

// add records that the records up to last were appended by now.
func (r *appendRing) add(last lsn.LSN, now time.Time) {
	if r.n > 0 {
		tail := r.at(r.n - 1)
		if !tail.lsn.Less(last) {
			return
		}
		if now.Sub(tail.at) < appendSampleSpan {
			tail.lsn = last
			return
		}
	}
	if r.n == appendRingSize {
		// Merge the two oldest: the survivor keeps the older time.
		oldest := r.at(0).at
		r.start = (r.start + 1) % appendRingSize
		r.n--
		r.at(0).at = oldest
	}
	*r.at(r.n) = appendSample{lsn: last, at: now}
	r.n++
}

// appendedAt returns when the oldest record after flushed was appended
// (at the latest); false when the ring knows no record after flushed.
func (r *appendRing) appendedAt(flushed lsn.LSN) (time.Time, bool) {
	lo, hi := 0, r.n
	for lo < hi {
		mid := (lo + hi) / 2
		if flushed.Less(r.at(mid).lsn) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == r.n {
		return time.Time{}, false
	}
	return r.at(lo).at, true
}

// siteRate tracks one site's flush rate.
type siteRate struct {
	pos  lsn.LSN   // flushed LSN at the start of the window
	at   time.Time // start of the window
	rate float64   // bytes per second, moving average; 0 = unknown
}

// progress is the loop's clock-dependent view of the sites. Loop
// goroutine only.
type progress struct {
	gen   uint64 // the generation the ring is for (0: not master)
	ring  appendRing
	rates map[SiteID]*siteRate
	inits map[SiteID]*copyRate // internal inits served
}

// copyRate tracks the rate of one snapshot copy.
type copyRate struct {
	pos  int64     // bytes sent at the start of the window
	at   time.Time // start of the window
	rate float64   // bytes per second, moving average; 0 = unknown
}

// initCopy fills the rate and time left of an internal init the master
// serves the site (rs.InitSentBytes, rs.InitTotalBytes set).
func (p *progress) initCopy(rs *SiteStatus, now time.Time) {
	if rs.InitTotalBytes == 0 || p.gen == 0 {
		delete(p.inits, rs.ID)
		return
	}
	if p.inits == nil {
		p.inits = map[SiteID]*copyRate{}
	}
	r := p.inits[rs.ID]
	if r == nil || rs.InitSentBytes < r.pos {
		r = &copyRate{pos: rs.InitSentBytes, at: now}
		p.inits[rs.ID] = r
	}
	if dt := now.Sub(r.at); dt >= rateWindow {
		inst := float64(rs.InitSentBytes-r.pos) / dt.Seconds()
		if r.rate == 0 {
			r.rate = inst
		} else {
			r.rate = rateWeight*inst + (1-rateWeight)*r.rate
		}
		r.pos, r.at = rs.InitSentBytes, now
	}
	rs.InitRate = r.rate
	rs.InitETA = catchUpETA(rs.InitTotalBytes-rs.InitSentBytes, r.rate)
}

// appended notes that this master appended records up to last.
func (p *progress) appended(last lsn.LSN, now time.Time) {
	if p.gen != 0 {
		p.ring.add(last, now)
	}
}

// observe brings the view up to date with the node's status: a new
// master generation starts over, remembering its log end as appended
// now, so a site behind it shows lag counted from the election.
func (p *progress) observe(s rep.Status, now time.Time) {
	if s.Role != rep.RoleMaster {
		p.gen = 0
		return
	}
	if p.gen != s.Gen {
		p.gen = s.Gen
		p.ring.reset()
		p.rates = map[SiteID]*siteRate{}
		if !s.Last.IsZero() {
			p.ring.add(s.Last, now)
		}
	}
}

// site fills the lag and catch-up estimate of one site whose flushed
// LSN and lag in bytes are set, against the master's last record.
func (p *progress) site(rs *SiteStatus, last lsn.LSN, now time.Time, dist func(a, b lsn.LSN) int64) {
	if p.gen == 0 {
		return
	}
	r := p.rates[rs.ID]
	if r == nil {
		r = &siteRate{pos: rs.FlushedLSN, at: now}
		p.rates[rs.ID] = r
	}
	if dt := now.Sub(r.at); dt >= rateWindow {
		if rs.FlushedLSN.Less(r.pos) {
			r.rate = 0 // the site went back (a new sync): measure afresh
		} else {
			inst := float64(dist(r.pos, rs.FlushedLSN)) / dt.Seconds()
			if r.rate == 0 {
				r.rate = inst
			} else {
				r.rate = rateWeight*inst + (1-rateWeight)*r.rate
			}
		}
		r.pos, r.at = rs.FlushedLSN, now
	}
	rs.ApplyLagTime = p.ageAfter(rs.AppliedLSN, last, now)
	if !rs.FlushedLSN.Less(last) {
		rs.LagTime, rs.CatchUpETA = 0, 0
		return
	}
	if t, ok := p.ring.appendedAt(rs.FlushedLSN); ok && now.After(t) {
		rs.LagTime = now.Sub(t)
	}
	rs.CatchUpETA = catchUpETA(rs.LagBytes, r.rate)
}

// ageAfter is how long ago the oldest record after pos was appended: 0
// when pos reaches last, -1 when pos is not known (zero).
func (p *progress) ageAfter(pos, last lsn.LSN, now time.Time) time.Duration {
	switch {
	case pos.IsZero():
		return -1
	case !pos.Less(last):
		return 0
	}
	if t, ok := p.ring.appendedAt(pos); ok && now.After(t) {
		return now.Sub(t)
	}
	return 0
}

// catchUpETA estimates how long lag bytes take at rate bytes per second:
// 0 when nothing is missing, -1 when the site is not progressing (or not
// measured yet).
func catchUpETA(lag int64, rate float64) time.Duration {
	switch {
	case lag <= 0:
		return 0
	case rate < 1:
		return -1
	}
	secs := float64(lag) / rate
	if secs > float64(365*24*time.Hour/time.Second) {
		return -1
	}
	return time.Duration(secs * float64(time.Second))
}

// compareDigest checks a client's reported data digest against this
// master's at the same record (digest.go), and remembers the result in
// rs.DataMismatch: the first record at which they differed, until a
// later report matches again (a rebuilt site). The first mismatch of a
// site is logged as an error.
func (s *Site) compareDigest(rs *SiteStatus, x rep.SiteStatus) {
	if x.AppliedDigest == 0 || x.Applied.IsZero() {
		rs.DataMismatch = s.mismatch[x.ID]
		return
	}
	own, ok := s.e.DigestAt(x.Applied)
	switch {
	case !ok:
	case own == x.AppliedDigest:
		delete(s.mismatch, x.ID)
	case s.mismatch[x.ID].IsZero():
		s.mismatch[x.ID] = x.Applied
		s.log.Error("env: a site's data differs from this master's: it is damaged or diverged; rebuild it",
			"peer", uint64(x.ID), "lsn", x.Applied.String(), "digest", fmt.Sprintf("%016x", x.AppliedDigest),
			"master_digest", fmt.Sprintf("%016x", own))
	}
	rs.DataMismatch = s.mismatch[x.ID]
}
