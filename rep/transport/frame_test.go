package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 4096, 64 << 10} {
		body := bytes.Repeat([]byte{byte(n)}, n)
		var buf bytes.Buffer
		if err := WriteFrame(&buf, body); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != HeaderSize+n {
			t.Fatalf("frame of %d-byte body is %d bytes, want %d", n, buf.Len(), HeaderSize+n)
		}
		got, err := ReadFrame(&buf, 0)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: body differs", n)
		}
		if _, err := ReadFrame(&buf, 0); err != io.EOF {
			t.Fatalf("after the last frame: %v, want io.EOF", err)
		}
	}
}

func TestFrameStream(t *testing.T) {
	// Several frames back to back, as the coalescing writer sends them.
	var b []byte
	bodies := [][]byte{[]byte("a"), nil, []byte("hello world"), bytes.Repeat([]byte("x"), 1000)}
	for _, body := range bodies {
		b = appendFrame(b, frameData, body)
	}
	r := bytes.NewReader(b)
	for i, want := range bodies {
		got, err := ReadFrame(r, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %q, %v", i, got, err)
		}
	}
}

func TestReadFrameMalformed(t *testing.T) {
	good := appendFrame(nil, frameData, []byte("payload"))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty input", nil, 0, io.EOF},
		{"partial header", good[:5], 0, ErrTruncated},
		{"header only", good[:HeaderSize], 0, ErrTruncated},
		{"partial body", good[:len(good)-1], 0, ErrTruncated},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), 0, ErrBadMagic},
		{"future version", mut(func(b []byte) []byte { b[2] = FrameVersion + 1; return b }), 0, ErrFrameVersion},
		{"unknown type", mut(func(b []byte) []byte { b[3] = 200; return b }), 0, ErrFrameType},
		{"control frame", appendFrame(nil, frameHeartbeat, nil), 0, ErrFrameType},
		{"body bit flip", mut(func(b []byte) []byte { b[HeaderSize] ^= 1; return b }), 0, ErrChecksum},
		{"checksum bit flip", mut(func(b []byte) []byte { b[8] ^= 0x80; return b }), 0, ErrChecksum},
		{"over max", good, 6, ErrFrameTooLarge},
		// A 4 GiB length with a short body: refused by size, before
		// anything is allocated for it.
		{"huge length", mut(func(b []byte) []byte { b[4], b[5], b[6], b[7] = 0xff, 0xff, 0xff, 0xff; return b }), 0, ErrFrameTooLarge},
		// Length shrunk: the type/length are covered by the checksum.
		{"length shrunk", mut(func(b []byte) []byte { b[7]--; return b[:len(b)-1] }), 0, ErrChecksum},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in), tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestReadFrameNoAllocBeyondMax checks that an oversized length is refused
// without reading (let alone allocating) the body.
func TestReadFrameNoAllocBeyondMax(t *testing.T) {
	hdr := appendFrame(nil, frameData, make([]byte, 1<<20))[:HeaderSize]
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := ReadFrame(bytes.NewReader(hdr), 1024); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatal(err)
		}
	})
	// The error value allocates a little; a 1 MiB body would not fit in
	// a handful of allocations' worth of accounting anyway, so check bytes.
	if allocs > 8 {
		t.Fatalf("%v allocations for a refused frame", allocs)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, frameData, []byte("payload")))
	f.Add(appendFrame(nil, frameData, nil))
	f.Add(appendFrame(nil, frameHeartbeat, nil))
	f.Add(appendFrame(appendFrame(nil, frameData, []byte("a")), frameData, []byte("b")))
	f.Add([]byte("LS\x01\x00\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("LS"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			typ, body, err := readFrame(r, 4096)
			if err != nil {
				return
			}
			if len(body) > 4096 {
				t.Fatalf("body of %d bytes passed a 4096-byte limit", len(body))
			}
			// Whatever decodes must re-encode to the same bytes.
			enc := appendFrame(nil, typ, body)
			off := len(in) - r.Len() - len(enc)
			if off < 0 || !bytes.Equal(in[off:off+len(enc)], enc) {
				t.Fatalf("decoded frame does not re-encode to its input")
			}
		}
	})
}
