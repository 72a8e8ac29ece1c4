package rep

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"logship/internal/wire"
	"logship/wal/lsn"
)

// codecMessages are sampleMessages plus the shapes the fast codec must get
// exactly right: many records and fields (map16 and array16 headers), nil
// and empty payloads, large payloads (bin16, bin32), extreme integers.
func codecMessages(big bool) []Message {
	ms := sampleMessages()
	var recs []LogRecord
	prev := lsn.New(1, 0)
	for i := range 40 {
		at := lsn.New(1, uint32(100+i*300))
		var p []byte
		switch i % 4 {
		case 1:
			p = []byte{}
		case 2:
			p = bytes.Repeat([]byte{byte(i)}, 300)
		case 3:
			if big {
				p = bytes.Repeat([]byte{byte(i)}, 70000)
			}
		}
		recs = append(recs, LogRecord{LSN: at, Prev: prev, Gen: uint64(i) << 40, Checksum: ^uint32(i), Payload: p})
		prev = at
	}
	ms = append(ms,
		Message{Type: MsgLog, From: ^SiteID(0), To: 1, Gen: ^uint64(0), Last: lsn.New(^uint32(0), ^uint32(0)), Records: recs},
		// Every omitempty field set at once: more than 15 fields.
		Message{Type: MsgVerify, From: 1, To: 2, Gen: 3, LSN: lsn.New(4, 5), Until: lsn.New(6, 7), Last: lsn.New(8, 9),
			Anywhere: true, Outdated: true, Abandoned: true, Found: true, RecGen: 10, Checksum: 11, Priority: 12,
			Offset: 1 << 40, Data: []byte("data"), NotAvail: true},
		Message{Type: MsgAck, From: 2, To: 1, Gen: 1, LSN: lsn.New(1, 32)},
		Message{Type: MsgAck, From: 2, To: 1, Gen: 1, LSN: lsn.New(1, 32), Applied: lsn.New(1, 16), Electability: Unelectable},
		Message{Type: MsgNewClient, From: 2, To: 1, Gen: 1, LSN: lsn.New(1, 32), Priority: 5, Electability: Electable},
		Message{Type: MsgHeartbeat, From: 1, To: 2, Gen: 4, Last: lsn.New(3, 64), Commit: lsn.New(3, 32)},
		Message{Type: MsgLog, From: 1, To: 2, Gen: 4, Last: lsn.New(3, 64), Commit: lsn.New(2, 32), Records: recs[:1]},
	)
	return ms
}

// libUnmarshal is Unmarshal without the fast path.
func libUnmarshal(b []byte) (Message, error) {
	return wire.Unmarshal[Message](b, MaxMessageBytes, ErrBadMessage)
}

// TestCodecMatchesLibrary: the fast encoder writes the very bytes the
// msgpack library writes for every message shape, and the fast decoder
// reads them back to what the library decodes.
func TestCodecMatchesLibrary(t *testing.T) {
	for _, m := range codecMessages(true) {
		m.V = Version
		want, err := msgpack.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendMessage(nil, &m)
		if m.Snap != nil {
			if ok {
				t.Fatalf("%s: encoded a snapshot description", m.Type)
			}
			continue
		}
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%s: fast encoding differs from the library's\n got %x\nwant %x", m.Type, got, want)
		}
		var fast Message
		if !decodeMessage(want, &fast) {
			t.Fatalf("%s: fast decoder refused the library's encoding", m.Type)
		}
		lib, err := libUnmarshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, lib) {
			t.Fatalf("%s: decoders differ\nfast %+v\n lib %+v", m.Type, fast, lib)
		}
		if !reflect.DeepEqual(lib, m) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", m.Type, lib, m)
		}
	}
}

// TestCodecFallsBack: what the fast decoder does not read goes to the
// library, with the same result as the library alone.
func TestCodecFallsBack(t *testing.T) {
	for _, in := range []map[string]any{
		{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "l": "1/50", "future": "field"},
		{"v": Version, "t": int(MsgAck), "f": int8(2), "o": 1, "l": "1/50"}, // a signed form
		{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "l": "01/050"},
		{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "l": "/50"},
		{"v": Version, "t": int(MsgAck), "f": 2, "o": 1, "l": nil},
		{"v": 300, "t": int(MsgAck), "f": 2, "o": 1, "l": "1/50"},
		{"v": Version, "t": int(MsgHeartbeat), "f": 1, "o": 2, "e": "1/50", "a": nil},
	} {
		b, err := msgpack.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		got, gerr := Unmarshal(b)
		want, werr := libUnmarshal(b)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: Unmarshal = %+v, %v; the library alone = %+v, %v", in, got, gerr, want, werr)
		}
	}
}

// FuzzCodec holds the fast path to the library on arbitrary input: the
// same verdict and the same message, and for every message it accepts, the
// same encoding.
func FuzzCodec(f *testing.F) {
	// Seeds stay small: the fuzzer crawls through megabyte inputs.
	for _, m := range codecMessages(false) {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := Unmarshal(b)
		want, werr := libUnmarshal(b)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("Unmarshal error %v; the library's %v", gerr, werr)
		}
		if gerr != nil {
			if !errors.Is(gerr, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", gerr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoders differ\nfast %+v\n lib %+v", got, want)
		}
		enc, err := Marshal(got)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		got.V = Version
		lib, err := msgpack.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, lib) {
			t.Fatalf("encodings differ\nfast %x\n lib %x", enc, lib)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	m := Message{Type: MsgLog, From: 1, To: 2, Gen: 3, Last: lsn.New(7, 4096), Records: []LogRecord{
		{LSN: lsn.New(7, 3900), Prev: lsn.New(7, 3700), Gen: 3, Checksum: 42, Payload: []byte(strings.Repeat("v", 180))}}}
	enc, _ := Marshal(m)
	b.Run("marshal/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Marshal(m)
		}
	})
	b.Run("marshal/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mm := m
			mm.V = Version
			msgpack.Marshal(&mm)
		}
	})
	b.Run("unmarshal/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Unmarshal(enc)
		}
	})
	b.Run("unmarshal/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			libUnmarshal(enc)
		}
	})
}
