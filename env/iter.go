package env

import (
	"bytes"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Range selects the keys a Scan visits: those with Prefix that are >= Start
// and < End. A nil field does not restrict.
type Range struct {
	Prefix []byte // only keys beginning with Prefix
	Start  []byte // first key visited (inclusive)
	End    []byte // keys from End on are not visited (exclusive)
}

// bounds returns the effective [lo, hi) of r; hi == nil means unbounded.
func (r Range) bounds() (lo, hi []byte) {
	lo, hi = r.Start, r.End
	if len(r.Prefix) > 0 {
		if bytes.Compare(r.Prefix, lo) > 0 {
			lo = r.Prefix
		}
		if ph := prefixEnd(r.Prefix); ph != nil && (hi == nil || bytes.Compare(ph, hi) < 0) {
			hi = ph
		}
	}
	return lo, hi
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			end := append([]byte(nil), p[:i+1]...)
			end[i]++
			return end
		}
	}
	return nil
}

// scan merges, in key order, up to three layers: own writes (highest
// priority), the overlay, and a bbolt bucket (any may be nil). The two
// skiplists are keyed by composite key; prefix selects the bucket's part.
// For a key in several layers the highest wins; a tombstone hides the key.
// Each layer is walked with its own cursor, so memory does not depend on
// the range size. fn receives copies.
//
// Own writes may change while fn runs (fn may Put): a skiplist node keeps
// its forward pointers, so the walk sees keys inserted after the current
// one. The overlay and the bbolt snapshot do not change during a
// transaction.
func scan(r Range, prefix string, own, ov *skiplist, bb *bolt.Bucket, fn func(k, v []byte) error) error {
	lo, hi := r.bounds()
	seek := func(s *skiplist) *slnode {
		if s == nil || s.len() == 0 {
			return nil
		}
		return inBucket(s.seek(prefix+string(lo)), prefix)
	}
	on, vn := seek(own), seek(ov)
	var c *bolt.Cursor
	var bk, bv []byte
	if bb != nil {
		c = bb.Cursor()
		if len(lo) == 0 {
			bk, bv = c.First()
		} else {
			bk, bv = c.Seek(lo)
		}
	}
	p := len(prefix)
	for {
		// The smallest key among the heads.
		var key string
		have := false
		if on != nil {
			key, have = on.key[p:], true
		}
		if vn != nil && (!have || vn.key[p:] < key) {
			key, have = vn.key[p:], true
		}
		if bk != nil && (!have || string(bk) < key) {
			key, have = string(bk), true
		}
		if !have || (hi != nil && key >= string(hi)) {
			return nil
		}
		// The winner, and advance every layer positioned on key.
		var val []byte
		del, found := false, false
		if on != nil && on.key[p:] == key {
			val, del, found = on.e.value, on.e.del, true
			on = inBucket(on.next[0], prefix)
		}
		if vn != nil && vn.key[p:] == key {
			if !found {
				val, del, found = vn.e.value, vn.e.del, true
			}
			vn = inBucket(vn.next[0], prefix)
		}
		if bk != nil && string(bk) == key {
			if !found {
				val = bv
			}
			bk, bv = c.Next()
		}
		if del {
			continue
		}
		v := make([]byte, len(val)) // never nil: the key exists
		copy(v, val)
		if err := fn([]byte(key), v); err != nil {
			return err
		}
	}
}

// inBucket returns n if its key has the bucket prefix, else nil.
func inBucket(n *slnode, prefix string) *slnode {
	if n == nil || !strings.HasPrefix(n.key, prefix) {
		return nil
	}
	return n
}
