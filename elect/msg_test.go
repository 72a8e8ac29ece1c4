package elect

import (
	"errors"
	"reflect"
	"testing"

	"logship/wal/lsn"
)

func sampleMessages() []Message {
	return []Message{
		{Type: MsgVote1, From: 1, To: 2, EGen: 3, LastGen: 2, LastLSN: lsn.New(4, 4096), Priority: 100, Tiebreak: 77, Electability: Electable},
		{Type: MsgVote1, From: 1, To: 2, EGen: 3, Force: true, Target: 1},
		{Type: MsgVote2, From: 2, To: 1, EGen: 3, Electability: Unelectable},
		{Type: MsgMaster, From: 1, To: 3, EGen: 3, Gen: 3},
		{Type: MsgLeaseReq, From: 1, To: 3, EGen: 3, Gen: 3, Stamp: 1234},
		{Type: MsgLeaseGrant, From: 3, To: 1, EGen: 3, Gen: 3, Stamp: 1234},
		{Type: MsgGrantReq, From: 1, To: 3, EGen: 3, Gen: 3, Stamp: 9},
		{Type: MsgGrantReq, From: 1, To: 3, EGen: 3, Gen: 3, Release: true},
		{Type: MsgGrant, From: 3, To: 1, EGen: 3, Gen: 3, Stamp: 9, OK: true},
		{Type: MsgGrant, From: 3, To: 2, EGen: 3, Gen: 3, Holder: 1},
		{Type: MsgTransfer, From: 1, To: 2, EGen: 3, Gen: 3},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type.String(), func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			m.V = Version
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestUnmarshalRejectsMalformed(t *testing.T) {
	good, _ := Marshal(sampleMessages()[0])
	tests := []struct {
		name string
		m    Message
	}{
		{"unknown type", Message{Type: 200, From: 1, To: 2}},
		{"zero sender", Message{Type: MsgVote2, To: 2, EGen: 1}},
		{"to itself", Message{Type: MsgVote2, From: 2, To: 2, EGen: 1}},
		{"vote without election generation", Message{Type: MsgVote1, From: 1, To: 2}},
		{"target without force", Message{Type: MsgVote1, From: 1, To: 2, EGen: 1, Target: 1}},
		{"master without generation", Message{Type: MsgMaster, From: 1, To: 2, EGen: 1}},
		{"OK grant naming another holder", Message{Type: MsgGrant, From: 3, To: 1, OK: true, Holder: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Marshal(tt.m); !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Marshal = %v, want ErrBadMessage", err)
			}
		})
	}
	for _, b := range [][]byte{nil, {0xc1}, good[:len(good)/2], make([]byte, MaxMessageBytes+1)} {
		if _, err := Unmarshal(b); !errors.Is(err, ErrBadMessage) {
			t.Errorf("Unmarshal(%x...) = %v, want ErrBadMessage", b[:min(len(b), 8)], err)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		// Whatever decodes must encode again and decode to the same.
		b2, err := Marshal(m)
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", m, err)
		}
		m2, err := Unmarshal(b2)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode: %+v, %v; want %+v", m2, err, m)
		}
		_ = m.String()
	})
}

// FuzzStep feeds decoded messages to a node: it must never panic.
func FuzzStep(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := Marshal(m)
		f.Add(b, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, ticks uint8) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		h := newHarness(t, 3, withWitness(3), leases)
		h.startAll()
		for _, id := range h.ids {
			m.To = id
			if m.From == id {
				continue
			}
			h.node(id).n.Step(m)
			h.process(id)
		}
		h.ticks(int(ticks))
	})
}
