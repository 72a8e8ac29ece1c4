package rep

import (
	"slices"
	"testing"
)

// Every snapshot the node stops serving must reach the driver, even when
// several are released before one Advance, or one is released while the
// driver carries out a Ready (SnapshotTaken is called between Ready and
// Advance): a lost release leaks a snapshot file.
func TestReadyDeliversEverySnapshotRelease(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID = 1
	cfg.Sites = []Site{{ID: 2}}
	cfg.Log = NewMemLog(1 << 20)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.out.releaseSnaps = append(n.out.releaseSnaps, 7, 8)
	rd := n.Ready()
	if !slices.Equal(rd.ReleaseSnapshots, []uint64{7, 8}) {
		t.Fatalf("Ready.ReleaseSnapshots = %v, want [7 8]", rd.ReleaseSnapshots)
	}
	n.out.releaseSnaps = append(n.out.releaseSnaps, 9) // while carrying out rd
	n.Advance(rd)
	if got := n.Ready().ReleaseSnapshots; !slices.Equal(got, []uint64{9}) {
		t.Fatalf("after Advance: %v, want [9]", got)
	}
}

// With StartDisconnected a site that never connected is reported so, and
// PeerUp marks it connected.
func TestStartDisconnectedUntilPeerUp(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID, cfg.Sites, cfg.Log = 1, []Site{{ID: 2}}, NewMemLog(1<<20)
	cfg.StartDisconnected = true
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := n.Sites(); len(s) != 1 || s[0].Connected {
		t.Fatalf("before PeerUp: %+v", s)
	}
	n.PeerUp(2)
	if s := n.Sites(); !s[0].Connected {
		t.Fatalf("after PeerUp: %+v", s)
	}
}
