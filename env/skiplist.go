package env

import (
	"encoding/binary"
	"strings"
	"unsafe"

	"logship/wal/lsn"
)

// entry is a pending write: a value or a tombstone, and (in the overlay) the
// LSN of the record that wrote it.
type entry struct {
	value []byte
	del   bool
	lsn   lsn.LSN
}

// ckey returns the composite key of key in bucket: the bucket name's length
// (uvarint), the name, then the key. The keys of one bucket are contiguous
// and in key order, so one ordered map serves every bucket.
func ckey(bucket string, key []byte) string {
	var b strings.Builder
	b.Grow(binary.MaxVarintLen32 + len(bucket) + len(key))
	var n [binary.MaxVarintLen64]byte
	b.Write(n[:binary.PutUvarint(n[:], uint64(len(bucket)))])
	b.WriteString(bucket)
	b.Write(key)
	return b.String()
}

// bucketPrefix returns the prefix every composite key of bucket starts with.
func bucketPrefix(bucket string) string { return ckey(bucket, nil) }

// splitCkey returns the bucket and key of a composite key.
func splitCkey(ck string) (bucket, key string) {
	var n uint64
	var shift uint
	i := 0
	for i < len(ck) {
		b := ck[i]
		i++
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			break
		}
		shift += 7
	}
	return ck[i : i+int(n)], ck[i+int(n):]
}

// bytesOf returns the bytes of s without copying, for passing a string to a
// function that only reads its argument during the call (bbolt lookups).
// The result must never be written to or kept.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// stringOf returns b as a string without copying, for a lookup key that is
// neither kept nor used after b changes.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

const maxLevel = 24

// skiplist is an ordered map from composite key to entry, used for a
// transaction's own writes and for the overlay. It is not safe for
// concurrent use: both users guard it with the writer mutex (or own it).
//
// Nodes removed by delete are unlinked but keep their forward pointers, so
// an iterator positioned on a node stays usable across inserts; deletes only
// happen when no iterator exists (overlay pruning runs under the writer
// mutex, which a transaction and its iterators hold).
type skiplist struct {
	head  slnode
	links [maxLevel]*slnode // head.next
	level int
	n     int
	rnd   uint64
}

type slnode struct {
	key   string
	e     entry
	next  []*slnode
	tower [2]*slnode // next's storage for the common low levels
}

func newSkiplist() *skiplist {
	s := &skiplist{level: 1, rnd: 0x9e3779b97f4a7c15}
	s.head.next = s.links[:]
	return s
}

func (s *skiplist) randomLevel() int {
	// xorshift64: a deterministic, cheap source; quality hardly matters.
	x := s.rnd
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	s.rnd = x
	l := 1
	for l < maxLevel && x&3 == 0 {
		l++
		x >>= 2
	}
	return l
}

// findGE fills prev (if non-nil) with the last node before key on each level
// and returns the first node with key >= key.
func (s *skiplist) findGE(key string, prev *[maxLevel]*slnode) *slnode {
	x := &s.head
	for i := s.level - 1; i >= 0; i-- {
		for x.next[i] != nil && x.next[i].key < key {
			x = x.next[i]
		}
		if prev != nil {
			prev[i] = x
		}
	}
	return x.next[0]
}

// get returns the node holding key, or nil.
func (s *skiplist) get(key string) *slnode {
	if n := s.findGE(key, nil); n != nil && n.key == key {
		return n
	}
	return nil
}

// set inserts or replaces key's entry; it returns the entry replaced.
func (s *skiplist) set(key string, e entry) (old entry, replaced bool) {
	var prev [maxLevel]*slnode
	if n := s.findGE(key, &prev); n != nil && n.key == key {
		old, n.e = n.e, e
		return old, true
	}
	lvl := s.randomLevel()
	if lvl > s.level {
		for i := s.level; i < lvl; i++ {
			prev[i] = &s.head
		}
		s.level = lvl
	}
	n := &slnode{key: key, e: e}
	if lvl <= len(n.tower) {
		n.next = n.tower[:lvl]
	} else {
		n.next = make([]*slnode, lvl)
	}
	for i := 0; i < lvl; i++ {
		n.next[i] = prev[i].next[i]
		prev[i].next[i] = n
	}
	s.n++
	return entry{}, false
}

// delete removes key if present.
func (s *skiplist) delete(key string) {
	var prev [maxLevel]*slnode
	n := s.findGE(key, &prev)
	if n == nil || n.key != key {
		return
	}
	for i := 0; i < len(n.next); i++ {
		prev[i].next[i] = n.next[i]
	}
	for s.level > 1 && s.head.next[s.level-1] == nil {
		s.level--
	}
	s.n--
}

// seek returns the first node with key >= key.
func (s *skiplist) seek(key string) *slnode { return s.findGE(key, nil) }

// len returns the number of keys.
func (s *skiplist) len() int { return s.n }
