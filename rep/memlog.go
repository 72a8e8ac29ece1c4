package rep

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"

	"logship/wal/lsn"
)

// MemLog is an in-memory LogReader for tests and the simulator: a log of
// records at (file, offset) positions with segments of SegmentSize
// bytes. It also offers the write side a driver needs (Append on a
// master, AppendAt/TruncateAfter/Reset on a client, RemoveBefore for
// archival). It is not safe for concurrent use.
type MemLog struct {
	SegmentSize uint32
	recs        []Record
	end         lsn.LSN // where Append puts the next record
	removedTo   lsn.LSN // newest record no longer held (archived or before a Reset)
}

// NewMemLog returns an empty log with the given segment size.
func NewMemLog(segmentSize uint32) *MemLog {
	return &MemLog{SegmentSize: segmentSize, end: lsn.New(1, 0)}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is MemLog's record checksum: CRC-32C over gen and payload.
func Checksum(gen uint64, payload []byte) uint32 {
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	return crc32.Update(crc32.Checksum(g[:], castagnoli), castagnoli, payload)
}

func (l *MemLog) advance(r Record) {
	l.end = lsn.New(r.LSN.File, r.LSN.Offset+uint32(r.size()))
}

// Append writes a new record of generation gen at the end of the log,
// switching to a new segment when this one is full, and returns it with
// Perm set.
func (l *MemLog) Append(gen uint64, payload []byte) Record {
	sz := uint32(len(payload) + 24)
	at := l.end
	if at.Offset > 0 && l.SegmentSize > 0 && at.Offset+sz > l.SegmentSize {
		at = lsn.New(at.File+1, 0)
	}
	r := Record{LSN: at, Gen: gen, Checksum: Checksum(gen, payload), Payload: append([]byte(nil), payload...), Perm: true}
	l.recs = append(l.recs, r)
	l.advance(r)
	return r
}

// AppendAt writes a record received from the master at its LSN.
func (l *MemLog) AppendAt(r Record) error {
	if !l.Last().Less(r.LSN) || !l.removedTo.Less(r.LSN) {
		return fmt.Errorf("memlog: append at %s does not follow %s", r.LSN, l.Last())
	}
	r.Perm = false
	r.Payload = append([]byte(nil), r.Payload...)
	l.recs = append(l.recs, r)
	l.advance(r)
	return nil
}

// TruncateAfter removes every record after at and returns them.
func (l *MemLog) TruncateAfter(at lsn.LSN) []Record {
	i := sort.Search(len(l.recs), func(i int) bool { return at.Less(l.recs[i].LSN) })
	cut := append([]Record(nil), l.recs[i:]...)
	l.recs = l.recs[:i]
	if i > 0 {
		l.advance(l.recs[i-1])
	} else if at.IsZero() {
		l.end = lsn.New(1, 0)
	}
	return cut
}

// Reset empties the log; the next record follows after (snapshot install).
func (l *MemLog) Reset(after lsn.LSN) {
	l.recs = nil
	l.removedTo = after
	l.end = after
}

// RemoveBefore archives every record before at.
func (l *MemLog) RemoveBefore(at lsn.LSN) {
	i := sort.Search(len(l.recs), func(i int) bool { return !l.recs[i].LSN.Less(at) })
	if i > 0 {
		l.removedTo = l.recs[i-1].LSN
		l.recs = append([]Record(nil), l.recs[i:]...)
	}
}

// Records returns a copy of the records held.
func (l *MemLog) Records() []Record { return append([]Record(nil), l.recs...) }

func (l *MemLog) find(at lsn.LSN) int {
	return sort.Search(len(l.recs), func(i int) bool { return !l.recs[i].LSN.Less(at) })
}

// Read implements LogReader.
func (l *MemLog) Read(at lsn.LSN) (Record, error) {
	if i := l.find(at); i < len(l.recs) && l.recs[i].LSN == at {
		return l.recs[i], nil
	}
	if !at.IsZero() && !l.removedTo.Less(at) {
		return Record{}, ErrLogRemoved
	}
	return Record{}, ErrNotFound
}

// Next implements LogReader.
func (l *MemLog) Next(after lsn.LSN) (Record, error) {
	if after.Less(l.removedTo) {
		return Record{}, ErrLogRemoved
	}
	i := sort.Search(len(l.recs), func(i int) bool { return after.Less(l.recs[i].LSN) })
	if i == len(l.recs) {
		return Record{}, ErrNotFound
	}
	return l.recs[i], nil
}

// Prev implements LogReader.
func (l *MemLog) Prev(at lsn.LSN) (lsn.LSN, error) {
	i := l.find(at)
	if i == len(l.recs) || l.recs[i].LSN != at {
		return lsn.Zero, ErrNotFound
	}
	if i == 0 {
		return lsn.Zero, nil
	}
	return l.recs[i-1].LSN, nil
}

// First implements LogReader.
func (l *MemLog) First() lsn.LSN {
	if len(l.recs) == 0 {
		return lsn.Zero
	}
	return l.recs[0].LSN
}

// Last implements LogReader.
func (l *MemLog) Last() lsn.LSN {
	if len(l.recs) == 0 {
		return lsn.Zero
	}
	return l.recs[len(l.recs)-1].LSN
}

// End returns where Append puts the next record.
func (l *MemLog) End() lsn.LSN { return l.end }
