package env

import "logship/wal/lsn"

// overlay holds the writes of transactions that are committed (their record
// is in the log) but not yet applied to bbolt: for each bucket and key, the
// latest such value or tombstone and the LSN of the record that wrote it.
//
// The overlay invariant. Every method is called with the writer mutex held.
// A transaction takes the writer mutex, prunes the overlay to the published
// applied LSN P, and only then (lazily) opens its bbolt read transaction,
// whose snapshot reflects an applied LSN S >= P, because P is published only
// after the bbolt commit that applied it. While the transaction runs nobody
// else touches the overlay (the applier prunes only when it can take the
// writer mutex, with TryLock, or leaves the pruning to the next
// transaction). So for any key the transaction reads: a write with LSN > P
// is in the overlay (it was added under the writer mutex when its record was
// appended, and not pruned), and a write with LSN <= P <= S is in the bbolt
// snapshot. The overlay holds the latest committed write of a key, which
// wins over bbolt. No committed value is ever missed.
type overlay struct {
	s     *skiplist // composite key (see ckey) -> entry
	queue []pending // in LSN order: what to look at when pruning
	head  int       // queue[head:] is live
	bytes int64     // approximate memory held
}

// pending names one overlay write, for pruning.
type pending struct {
	lsn lsn.LSN
	ck  string
}

func newOverlay() *overlay { return &overlay{s: newSkiplist()} }

// get returns the overlay's entry for a composite key.
func (o *overlay) get(ck string) (entry, bool) {
	if o.s.n == 0 {
		return entry{}, false
	}
	if n := o.s.get(ck); n != nil {
		return n.e, true
	}
	return entry{}, false
}

// add records a committed write. Writes must be added in LSN order.
func (o *overlay) add(ck string, e entry) {
	if old, ok := o.s.set(ck, e); ok {
		o.bytes -= entrySize(ck, old)
	}
	o.queue = append(o.queue, pending{lsn: e.lsn, ck: ck})
	o.bytes += entrySize(ck, e)
}

// prune drops the entries whose write is at or before upTo: bbolt has them.
func (o *overlay) prune(upTo lsn.LSN) {
	for o.head < len(o.queue) {
		p := &o.queue[o.head]
		if upTo.Less(p.lsn) {
			break
		}
		if n := o.s.get(p.ck); n != nil && n.e.lsn == p.lsn {
			o.bytes -= entrySize(p.ck, n.e)
			o.s.delete(p.ck)
		}
		*p = pending{}
		o.head++
	}
	if o.head == len(o.queue) {
		o.queue = o.queue[:0]
		o.head = 0
	} else if o.head > 1024 && o.head > len(o.queue)/2 {
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue = o.queue[:n]
		o.head = 0
	}
}

// newest returns the LSN of the newest write held; call it only when the
// overlay is not empty.
func (o *overlay) newest() lsn.LSN { return o.queue[len(o.queue)-1].lsn }

// empty reports whether the overlay holds nothing.
func (o *overlay) empty() bool { return o.head == len(o.queue) }

// reset drops everything (after a rollback or a snapshot install, when the
// applier has caught up or the data was replaced).
func (o *overlay) reset() { *o = *newOverlay() }

// entrySize approximates the memory an overlay entry holds.
func entrySize(ck string, e entry) int64 { return int64(len(ck) + len(e.value) + 96) }
