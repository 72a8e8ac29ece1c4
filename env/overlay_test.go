package env

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"logship/wal/lsn"
)

func TestSkiplistMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSkiplist()
	m := map[string]int{}
	for i := 0; i < 5000; i++ {
		k := fmt.Sprintf("k%03d", rng.IntN(300))
		switch rng.IntN(3) {
		case 0, 1:
			s.set(k, entry{value: []byte{byte(i)}})
			m[k] = i
		case 2:
			s.delete(k)
			delete(m, k)
		}
	}
	if s.len() != len(m) {
		t.Fatalf("len %d, want %d", s.len(), len(m))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var got []string
	for n := s.seek(""); n != nil; n = n.next[0] {
		got = append(got, n.key)
		if n.e.value[0] != byte(m[n.key]) {
			t.Fatalf("%s: value %d, want %d", n.key, n.e.value[0], byte(m[n.key]))
		}
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("order differs")
	}
	if n := s.seek("k150"); n != nil {
		i, _ := slices.BinarySearch(keys, "k150")
		if n.key != keys[i] {
			t.Fatalf("seek k150 = %s, want %s", n.key, keys[i])
		}
	}
}

func TestOverlayPrune(t *testing.T) {
	o := newOverlay()
	at := func(off uint32) lsn.LSN { return lsn.New(1, off) }
	o.add(ckey("b", []byte("x")), entry{value: []byte("1"), lsn: at(10)})
	o.add(ckey("b", []byte("y")), entry{value: []byte("1"), lsn: at(10)})
	o.add(ckey("b", []byte("x")), entry{value: []byte("2"), lsn: at(20)}) // supersedes
	o.add(ckey("c", []byte("z")), entry{del: true, lsn: at(30)})

	o.prune(at(10))
	if _, ok := o.get(ckey("b", []byte("y"))); ok {
		t.Error("y survived pruning at its LSN")
	}
	if e, ok := o.get(ckey("b", []byte("x"))); !ok || string(e.value) != "2" {
		t.Errorf("x = %v %v, want the write at 20", e, ok)
	}
	o.prune(at(25))
	if _, ok := o.get(ckey("b", []byte("x"))); ok {
		t.Error("x survived")
	}
	if e, ok := o.get(ckey("c", []byte("z"))); !ok || !e.del {
		t.Error("tombstone z lost")
	}
	o.prune(at(30))
	if !o.empty() || o.s.len() != 0 || o.bytes != 0 {
		t.Errorf("overlay not empty: %d keys, %d bytes", o.s.len(), o.bytes)
	}
}

func TestRangeBounds(t *testing.T) {
	cases := []struct {
		r      Range
		lo, hi string
	}{
		{Range{}, "", ""},
		{Range{Prefix: []byte("ab")}, "ab", "ac"},
		{Range{Prefix: []byte("a\xff")}, "a\xff", "b"},
		{Range{Prefix: []byte("\xff\xff")}, "\xff\xff", ""},
		{Range{Prefix: []byte("ab"), Start: []byte("abc"), End: []byte("abz")}, "abc", "abz"},
		{Range{Prefix: []byte("ab"), Start: []byte("a"), End: []byte("b")}, "ab", "ac"},
	}
	for _, c := range cases {
		lo, hi := c.r.bounds()
		if string(lo) != c.lo || string(hi) != c.hi {
			t.Errorf("%+v: bounds [%q, %q), want [%q, %q)", c.r, lo, hi, c.lo, c.hi)
		}
	}
}

func TestCompositeKeys(t *testing.T) {
	for _, c := range [][2]string{{"b", "k"}, {"bucket", ""}, {string(make([]byte, 300)), "key\x00x"}} {
		ck := ckey(c[0], []byte(c[1]))
		if b, k := splitCkey(ck); b != c[0] || k != c[1] {
			t.Errorf("split(ckey(%q, %q)) = %q, %q", c[0], c[1], b, k)
		}
		if !strings.HasPrefix(ck, bucketPrefix(c[0])) {
			t.Errorf("%q lacks its bucket prefix", ck)
		}
	}
	// Keys of different buckets never interleave: "a"+"zz" < "ab"+"a".
	if !(ckey("a", []byte("zz")) < ckey("ab", []byte("a"))) && !(ckey("ab", []byte("a")) < ckey("a", []byte("zz"))) {
		t.Error("incomparable")
	}
}
