package elect

import (
	"testing"

	"logship/wal/lsn"
)

func TestMajority(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 4} {
		if got := Majority(n); got != want {
			t.Errorf("Majority(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestVotesNeeded(t *testing.T) {
	tests := []struct {
		name         string
		n, nvotes    int
		lone         bool
		want         int
		wantElectOf3 int
	}{
		{"majority of 3", 3, 0, false, 2, 0},
		{"majority of 5", 5, 0, false, 3, 0},
		{"explicit nvotes above majority", 5, 5, false, 5, 0},
		{"explicit minority (AllowMinorityVotes)", 5, 2, false, 2, 0},
		{"two sites strict", 2, 0, false, 2, 0},
		{"two sites lone allowed", 2, 0, true, 1, 0},
		{"lone flag ignored beyond two sites", 3, 0, true, 2, 0},
		{"explicit nvotes wins over lone", 2, 2, true, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VotesNeeded(tt.n, tt.nvotes, tt.lone); got != tt.want {
				t.Errorf("VotesNeeded(%d, %d, %t) = %d, want %d", tt.n, tt.nvotes, tt.lone, got, tt.want)
			}
		})
	}
}

func TestElectableVotesNeededMeetsEveryElectableMajority(t *testing.T) {
	for e, want := range map[int]int{0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3} {
		got := ElectableVotesNeeded(e)
		if got != want {
			t.Errorf("ElectableVotesNeeded(%d) = %d, want %d", e, got, want)
		}
		// got voters and any quorum-ack majority must overlap.
		if e > 0 && got+Majority(e) <= e {
			t.Errorf("e=%d: %d voters can miss a majority of %d", e, got, Majority(e))
		}
	}
}

func v(site SiteID, gen uint64, file, off uint32, pri uint32, tb uint64) Vote {
	return Vote{Site: site, LastGen: gen, LastLSN: lsn.New(file, off), Priority: pri, Tiebreak: tb}
}

func TestBetter(t *testing.T) {
	tests := []struct {
		name   string
		a, b   Vote
		target SiteID
		want   bool
	}{
		{"later LSN beats higher priority", v(1, 1, 1, 200, 1, 0), v(2, 1, 1, 100, 100, 0), 0, true},
		{"newer generation beats later LSN", v(1, 2, 1, 100, 1, 0), v(2, 1, 9, 0, 1, 0), 0, true},
		{"older generation loses", v(1, 1, 9, 0, 100, 0), v(2, 2, 1, 0, 1, 0), 0, false},
		{"equal logs: higher priority", v(1, 1, 1, 100, 5, 0), v(2, 1, 1, 100, 3, 9), 0, true},
		{"equal logs and priority: tiebreaker", v(1, 1, 1, 100, 5, 7), v(2, 1, 1, 100, 5, 3), 0, true},
		{"all equal: higher id", v(1, 1, 1, 100, 5, 3), v(2, 1, 1, 100, 5, 3), 0, false},
		{"equal logs: transfer target first", v(1, 1, 1, 100, 1, 0), v(2, 1, 1, 100, 9, 9), 1, true},
		{"target never beats a later log", v(1, 1, 1, 100, 1, 0), v(2, 1, 1, 200, 1, 0), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Better(tt.a, tt.b, tt.target); got != tt.want {
				t.Errorf("Better = %t, want %t", got, tt.want)
			}
			if tt.want && Better(tt.b, tt.a, tt.target) {
				t.Error("Better is not antisymmetric")
			}
		})
	}
}

func TestBestSkipsPriorityZero(t *testing.T) {
	tests := []struct {
		name   string
		votes  []Vote
		want   SiteID
		wantOK bool
	}{
		{"priority 0 with newest log never wins", []Vote{v(1, 1, 9, 0, 0, 0), v(2, 1, 1, 0, 1, 0), v(3, 1, 2, 0, 1, 0)}, 3, true},
		{"only priority 0", []Vote{v(1, 1, 9, 0, 0, 0), v(2, 1, 1, 0, 0, 0)}, 0, false},
		{"empty", nil, 0, false},
		{"single electable", []Vote{v(4, 0, 0, 0, 1, 0)}, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Best(tt.votes, 0)
			if ok != tt.wantOK || got.Site != tt.want {
				t.Errorf("Best = %d, %t; want %d, %t", got.Site, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestWins(t *testing.T) {
	tests := []struct {
		name                      string
		votes, elect, need, needE int
		want                      bool
	}{
		{"majority with electable", 2, 1, 2, 1, true},
		{"short of votes", 1, 1, 2, 1, false},
		{"enough votes, too few electable", 3, 1, 3, 2, false},
		{"enough of both", 3, 2, 3, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Wins(tt.votes, tt.elect, tt.need, tt.needE); got != tt.want {
				t.Errorf("Wins = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestLeaseValidWithClockSkew(t *testing.T) {
	tests := []struct {
		name        string
		stamp, now  uint64
		lease, skew int
		want        bool
	}{
		{"fresh", 100, 100, 50, 2, true},
		{"last valid tick", 100, 147, 50, 2, true},
		{"expired by skew allowance", 100, 148, 50, 2, false},
		{"no skew: full lease", 100, 149, 50, 0, true},
		{"no skew: expired", 100, 150, 50, 0, false},
		{"skew larger than lease", 100, 100, 2, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LeaseValid(tt.stamp, tt.now, tt.lease, tt.skew); got != tt.want {
				t.Errorf("LeaseValid = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestLeaseHeldCountsMasterAndMajority(t *testing.T) {
	tests := []struct {
		name   string
		stamps []uint64
		now    uint64
		n      int
		want   bool
	}{
		{"3 sites: one valid grant", []uint64{90, 0}, 100, 3, true},
		{"3 sites: grants expired", []uint64{10, 20}, 100, 3, false},
		{"5 sites: two valid", []uint64{90, 95, 10, 0}, 100, 5, true},
		{"5 sites: one valid", []uint64{90, 10, 10, 0}, 100, 5, false},
		{"1 site", nil, 100, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LeaseHeld(tt.stamps, tt.now, tt.n, 50, 2); got != tt.want {
				t.Errorf("LeaseHeld = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestLeaseWaitOver(t *testing.T) {
	if LeaseWaitOver(100, 151, 50, 2) {
		t.Error("wait over before LeaseTicks+ClockSkew")
	}
	if !LeaseWaitOver(100, 152, 50, 2) {
		t.Error("wait not over at LeaseTicks+ClockSkew")
	}
}

func TestGrantable(t *testing.T) {
	tests := []struct {
		name        string
		holder, req SiteID
		expires     uint64
		now         uint64
		after       bool
		want        bool
	}{
		{"nobody holds it", 0, 1, 0, 10, false, true},
		{"holder renews", 1, 1, 5, 10, false, true},
		{"other holds a live grant", 1, 2, 50, 10, true, false},
		{"other's grant expired: consistency refuses", 1, 2, 5, 10, false, false},
		{"other's grant expired: availability allows", 1, 2, 5, 10, true, true},
		{"expires exactly now: availability allows", 1, 2, 10, 10, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Grantable(tt.holder, tt.req, tt.expires, tt.now, tt.after); got != tt.want {
				t.Errorf("Grantable = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestRetryDelayIsRandomisedWithinBounds(t *testing.T) {
	seen := map[int]bool{}
	for r := range uint64(1000) {
		d := RetryDelay(30, r*7919)
		if d < 30 || d >= 60 {
			t.Fatalf("RetryDelay = %d, want [30, 60)", d)
		}
		seen[d] = true
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct delays", len(seen))
	}
}
