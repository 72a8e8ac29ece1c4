package rep

import (
	"errors"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"logship/wal/lsn"
)

// sampleMessages has one valid message of every type.
func sampleMessages() []Message {
	l := func(f, o uint32) lsn.LSN { return lsn.New(f, o) }
	snap := &SnapInfo{ID: 7, LSN: l(3, 100), Size: 1000}
	return []Message{
		{Type: MsgLog, From: 1, To: 2, Gen: 3, Last: l(2, 60), Records: []LogRecord{
			{LSN: l(2, 0), Prev: l(1, 900), Gen: 3, Checksum: 9, Payload: []byte("a")},
			{LSN: l(2, 30), Prev: l(2, 0), Gen: 3, Checksum: 10, Payload: []byte("b")}}},
		{Type: MsgLogReq, From: 2, To: 1, Gen: 3, LSN: l(1, 10), Until: l(2, 0), Anywhere: true},
		{Type: MsgLogMore, From: 1, To: 2, Gen: 3, LSN: l(2, 30), Last: l(9, 0)},
		{Type: MsgLogNotAvail, From: 1, To: 2, Gen: 3, LSN: l(1, 10), Outdated: true},
		{Type: MsgAck, From: 2, To: 1, Gen: 3, LSN: l(2, 30), Applied: l(2, 0), Electability: Electable},
		{Type: MsgVerifyReq, From: 2, To: 1, Gen: 3, LSN: l(2, 30)},
		{Type: MsgVerify, From: 1, To: 2, Gen: 3, LSN: l(2, 30), Found: true, RecGen: 2, Checksum: 77, Last: l(5, 5)},
		{Type: MsgVerifyFail, From: 1, To: 2, Gen: 3, LSN: l(1, 0)},
		{Type: MsgNewMaster, From: 1, To: 2, Gen: 3, Last: l(5, 5), Priority: 10},
		{Type: MsgNewClient, From: 2, To: 1, Gen: 3, LSN: l(5, 5), Priority: 1, Electability: Unelectable},
		{Type: MsgMasterReq, From: 2, To: 1},
		{Type: MsgHeartbeat, From: 1, To: 2, Gen: 3, Last: l(5, 5), Commit: l(5, 0)},
		{Type: MsgUpdateReq, From: 2, To: 1, Gen: 3},
		{Type: MsgUpdate, From: 1, To: 2, Gen: 3, Snap: snap},
		{Type: MsgPageReq, From: 2, To: 1, Gen: 3, Snap: snap, Offset: 100},
		{Type: MsgPage, From: 1, To: 2, Gen: 3, Snap: snap, Offset: 100, Data: []byte("chunk")},
	}
}

func TestEveryMessageTypeRoundTrips(t *testing.T) {
	seen := map[MsgType]bool{}
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
		seen[m.Type] = true
	}
	for ty := MsgLog; ty < msgTypeEnd; ty++ {
		if !seen[ty] {
			t.Errorf("no sample for %s", ty)
		}
	}
}

func TestUnmarshalRejectsMalformedInput(t *testing.T) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"garbage", []byte{0xc1, 0xff, 0x00}},
		{"truncated", func() []byte { b, _ := Marshal(sampleMessages()[0]); return b[:len(b)/2] }()},
		{"wrong version", enc(map[string]any{"v": 9, "t": 1, "f": 1})},
		{"unknown type", enc(map[string]any{"v": Version, "t": 200, "f": 1})},
		{"zero sender", enc(map[string]any{"v": Version, "t": int(MsgAck)})},
		{"bad lsn text", enc(map[string]any{"v": Version, "t": int(MsgAck), "f": 1, "l": "x/y"})},
		{"lsn of wrong kind", enc(map[string]any{"v": Version, "t": int(MsgAck), "f": 1, "l": 12})},
		{"records out of order", enc(map[string]any{"v": Version, "t": int(MsgLog), "f": 1,
			"r": []map[string]any{{"l": "1/50", "p": "1/0"}, {"l": "1/40", "p": "1/50"}}})},
		{"record before its prev", enc(map[string]any{"v": Version, "t": int(MsgLog), "f": 1,
			"r": []map[string]any{{"l": "1/0", "p": "1/50"}}})},
		{"records on an ack", enc(map[string]any{"v": Version, "t": int(MsgAck), "f": 1,
			"r": []map[string]any{{"l": "1/50", "p": "1/0"}}})},
		{"empty range", enc(map[string]any{"v": Version, "t": int(MsgLogReq), "f": 1, "l": "2/0", "u": "1/0"})},
		{"update without snapshot", enc(map[string]any{"v": Version, "t": int(MsgUpdate), "f": 1})},
		{"page past snapshot end", enc(map[string]any{"v": Version, "t": int(MsgPage), "f": 1,
			"s": map[string]any{"i": 1, "s": 2}, "of": 1, "d": []byte("abc")})},
		{"negative offset", enc(map[string]any{"v": Version, "t": int(MsgPageReq), "f": 1,
			"s": map[string]any{"i": 1, "s": 2}, "of": -1})},
		{"huge array header", []byte{0x85, 0xa1, 'r', 0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"applied after durable", enc(map[string]any{"v": Version, "t": int(MsgAck), "f": 1, "l": "1/50", "ap": "1/60"})},
		{"applied on a heartbeat", enc(map[string]any{"v": Version, "t": int(MsgHeartbeat), "f": 1, "ap": "1/60"})},
		{"electability on a heartbeat", enc(map[string]any{"v": Version, "t": int(MsgHeartbeat), "f": 1, "el": 1})},
		{"unknown electability", enc(map[string]any{"v": Version, "t": int(MsgAck), "f": 1, "el": 7})},
		{"commit on an ack", enc(map[string]any{"v": Version, "t": int(MsgAck), "f": 1, "cm": "1/60"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal(tt.in)
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("err = %v, want ErrBadMessage", err)
			}
		})
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
	f.Add([]byte{0x85, 0xa1, 'r', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add(mustEnc(f, map[string]any{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "l": "1/50"}))
	f.Add(mustEnc(f, map[string]any{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "l": "1/50", "ap": "1/60"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		// A valid message re-encodes and decodes to itself.
		b2, err := Marshal(m)
		if err != nil {
			t.Fatalf("re-marshal %+v: %v", m, err)
		}
		m2, err := Unmarshal(b2)
		if err != nil {
			t.Fatalf("re-unmarshal: %v", err)
		}
		if m2.Type != m.Type || m2.From != m.From || len(m2.Records) != len(m.Records) {
			t.Fatalf("unstable: %+v vs %+v", m, m2)
		}
	})
}

func mustEnc(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// An ACK from a site that predates the applied field still decodes: the
// field is optional and reads as Zero.
func TestAckWithoutAppliedDecodes(t *testing.T) {
	b := mustEnc(t, map[string]any{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "g": 3, "l": "2/30"})
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.LSN != lsn.New(2, 30) || !m.Applied.IsZero() {
		t.Fatalf("decoded %+v", m)
	}
}
