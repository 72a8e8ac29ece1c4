package wire

import (
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

var errBad = errors.New("test: malformed")

type msg struct {
	A int               `msgpack:"a"`
	B string            `msgpack:"b"`
	C []byte            `msgpack:"c"`
	D map[string][]uint `msgpack:"d"`
}

func TestDecodeRoundTrip(t *testing.T) {
	in := msg{A: 7, B: "x", C: []byte{1, 2}, D: map[string][]uint{"k": {1, 2, 3}}}
	b, err := msgpack.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out msg
	if err := Decode(b, 1<<10, &out, errBad); err != nil {
		t.Fatal(err)
	}
	if out.A != 7 || out.B != "x" || len(out.C) != 2 || len(out.D["k"]) != 3 {
		t.Fatalf("decoded %+v", out)
	}
}

func TestDecodeRejectsLyingLengthsBeforeAllocating(t *testing.T) {
	for name, b := range map[string][]byte{
		"bin32 of 4 GiB":   {0xc6, 0xff, 0xff, 0xff, 0xff},
		"str32 of 4 GiB":   {0xdb, 0xff, 0xff, 0xff, 0xff},
		"array32 of 4G":    {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 of 4G":      {0xdf, 0xff, 0xff, 0xff, 0xff},
		"map in map short": {0x81, 0xa1, 'a'},
		"trailing bytes":   {0x01, 0x02},
		"empty":            {},
	} {
		var out msg
		if err := Decode(b, 1<<10, &out, errBad); !errors.Is(err, errBad) {
			t.Errorf("%s: err = %v, want errBad", name, err)
		}
	}
}

func TestDecodeRejectsOversize(t *testing.T) {
	b, _ := msgpack.Marshal(&msg{B: "0123456789"})
	var out msg
	if err := Decode(b, len(b)-1, &out, errBad); !errors.Is(err, errBad) {
		t.Fatalf("err = %v", err)
	}
}

func TestDeepNestingRejected(t *testing.T) {
	b := make([]byte, 0, 64)
	for range 40 {
		b = append(b, 0x91) // array of one element
	}
	b = append(b, 0x00)
	if err := Check(b); err == nil {
		t.Fatal("40-deep nesting accepted")
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := msgpack.Marshal(&msg{A: 1, B: "b", D: map[string][]uint{"x": {1}}})
	f.Add(good)
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out msg
		_ = Decode(b, 1<<16, &out, errBad)
	})
}
