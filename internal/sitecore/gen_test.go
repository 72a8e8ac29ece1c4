package sitecore

import (
	"errors"
	"math"
	"testing"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

func TestImpossibleGen(t *testing.T) {
	for _, c := range []struct {
		known, gen uint64
		want       bool
	}{
		{0, 1, false},
		{5, 3, false},
		{5, 5 + MaxGenJump, false},
		{5, 6 + MaxGenJump, true},
		{0, math.MaxUint64, true},
		{math.MaxUint64 - MaxGenJump, math.MaxUint64 - MaxGenJump, false},
		{math.MaxUint64 - MaxGenJump, math.MaxUint64 - MaxGenJump + 1, true},
		{math.MaxUint64, math.MaxUint64, true}, // the top can never be incremented
	} {
		if got := ImpossibleGen(c.known, c.gen); got != c.want {
			t.Errorf("ImpossibleGen(%d, %d) = %t, want %t", c.known, c.gen, got, c.want)
		}
	}
}

// TestForgedGenerationDoesNotLockOut: a member (site 3) sends the client
// a NEWMASTER, and an election message, claiming generation 2^64-1. The
// client refuses both and goes on following the real master: its next
// commit reaches the client, and the client does not call or join an
// election it could never finish. Before, the client followed the forged
// master and dropped every message of the real one until restarted.
func TestForgedGenerationDoesNotLockOut(t *testing.T) {
	h := newHarness(t, 3, nil)
	m := h.waitMaster(200)
	client, forger := m%3+1, (m+1)%3+1
	h.commit(m, "before")
	h.tick(5)
	s := h.sites[client]
	gen := s.c.Status().Rep.Gen
	if st := s.c.Status().Rep; st.Master != m {
		t.Fatalf("site %d follows %d, want %d", client, st.Master, m)
	}

	forged, err := Encode(rep.Message{V: rep.Version, Type: rep.MsgNewMaster, From: forger, To: client, Gen: math.MaxUint64})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.c.Receive(forger, forged); !errors.Is(err, ErrImpossibleGen) {
		t.Fatalf("forged NEWMASTER: Receive = %v, want ErrImpossibleGen", err)
	}
	h.process(client)
	vote, err := EncodeElect(elect.Message{V: elect.Version, Type: elect.MsgVote1, From: elect.SiteID(forger), To: elect.SiteID(client),
		EGen: math.MaxUint64, LastGen: math.MaxUint64, LastLSN: lsn.New(99, 0), Priority: 1, Electability: elect.Electable})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.c.Receive(forger, vote); !errors.Is(err, ErrImpossibleGen) {
		t.Fatalf("forged VOTE1: Receive = %v, want ErrImpossibleGen", err)
	}
	h.process(client)
	if n := s.c.Stats().ImpossibleGens; n != 2 {
		t.Errorf("ImpossibleGens = %d, want 2", n)
	}

	r := h.commit(m, "after")
	h.tick(5)
	st := s.c.Status()
	if st.Rep.Master != m || st.Rep.Gen != gen {
		t.Fatalf("after the forged messages site %d follows %d at gen %d, want %d at gen %d", client, st.Rep.Master, st.Rep.Gen, m, gen)
	}
	if st.Elect.EGen >= math.MaxUint64-MaxGenJump || s.state.Promised >= math.MaxUint64-MaxGenJump {
		t.Fatalf("elect took the forged generation: %+v, promised %d", st.Elect, s.state.Promised)
	}
	if last := s.log.Last(); last.Less(r.LSN) {
		t.Fatalf("site %d's log ends at %s: the real master's commit at %s did not arrive", client, last, r.LSN)
	}
}
