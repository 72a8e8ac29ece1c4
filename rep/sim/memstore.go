package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

// memStorage is Storage over a rep.MemLog: the data is an installed
// snapshot (base) plus the log replayed over it. It is the reference the
// env-backed storage is compared with and the fast mode for the
// simulator's own tests.
type memStorage struct {
	log     *rep.MemLog
	base    map[string]string // data as of baseLSN (installed snapshot)
	baseLSN lsn.LSN
	baseGen uint64 // generation of the record at baseLSN
	durable lsn.LSN
	snapIn  []byte            // snapshot being received
	snaps   map[uint64][]byte // snapshots served
	snapID  uint64
	// writable and gen: local commits admitted, stamped with gen.
	writable bool
	gen      uint64
	damage   bool // DamageNextInstall
	shared   lsn.LSN
}

func newMemStorage(segmentSize uint32) *memStorage {
	return &memStorage{log: rep.NewMemLog(segmentSize), base: map[string]string{}, snaps: map[uint64][]byte{}}
}

// memReader is the LogReader: after an install with nothing appended
// since, the log's last position is the snapshot's LSN, as env reports.
type memReader struct{ s *memStorage }

func (r memReader) Read(at lsn.LSN) (rep.Record, error)    { return r.s.log.Read(at) }
func (r memReader) Next(after lsn.LSN) (rep.Record, error) { return r.s.log.Next(after) }
func (r memReader) Prev(at lsn.LSN) (lsn.LSN, error)       { return r.s.log.Prev(at) }
func (r memReader) First() lsn.LSN                         { return r.s.log.First() }
func (r memReader) Last() lsn.LSN                          { return lsn.Max(r.s.log.Last(), r.s.baseLSN) }

// Base is the record an installed snapshot ended with, while the log
// holds nothing after it (sitecore.BaseLog), as env.Replica.Base.
func (r memReader) Base() (lsn.LSN, uint64) {
	if !r.s.log.Last().IsZero() {
		return lsn.Zero, 0
	}
	return r.s.baseLSN, r.s.baseGen
}

func (s *memStorage) Log() rep.LogReader { return memReader{s} }

// encodeKVs is the mem payload: "key=value" lines.
func encodeKVs(w []KV) []byte {
	var b bytes.Buffer
	for _, kv := range w {
		fmt.Fprintf(&b, "%s=%s\n", kv.Key, kv.Value)
	}
	return b.Bytes()
}

func decodeKVs(p []byte) []KV {
	var out []KV
	for line := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out = append(out, KV{k, v})
		}
	}
	return out
}

func (s *memStorage) Carry(rd rep.Ready, send func(rep.Message)) ([]RecID, *Snap, error) {
	rolled, err := s.carry(rd)
	if err != nil {
		return rolled, nil, err
	}
	for _, m := range rd.Messages {
		send(m)
	}
	var snap *Snap
	if rd.TakeSnapshot {
		s.snapID++
		info, r, err := s.snapshot(s.snapID)
		if err != nil {
			return rolled, nil, err
		}
		snap = &Snap{Info: info, Reader: r}
	}
	for _, id := range rd.ReleaseSnapshots {
		s.Release(id)
	}
	return rolled, snap, nil
}

// carry does rep's storage steps of rd.
func (s *memStorage) carry(rd rep.Ready) ([]RecID, error) {
	var rolled []RecID
	if rb := rd.Rollback; rb != nil {
		if rb.To.Less(s.baseLSN) {
			return nil, fmt.Errorf("mem: rollback to %s before the installed snapshot %s", rb.To, s.baseLSN)
		}
		for _, r := range s.log.TruncateAfter(rb.To) {
			rolled = append(rolled, RecID{r.LSN, r.Gen, r.Checksum})
		}
		s.durable = lsn.Min(s.durable, rb.To)
		s.shared = lsn.Min(s.shared, rb.To)
	}
	for _, c := range rd.Chunks {
		if c.Offset == 0 {
			s.snapIn = nil
		}
		if int64(len(s.snapIn)) != c.Offset {
			return rolled, fmt.Errorf("mem: chunk at %d, have %d bytes", c.Offset, len(s.snapIn))
		}
		s.snapIn = append(s.snapIn, c.Data...)
	}
	if in := rd.Install; in != nil && s.damage {
		s.damage, s.snapIn = false, nil
		return rolled, fmt.Errorf("mem: %w: damaged by the simulation", env.ErrBadSnapshot)
	}
	if in := rd.Install; in != nil {
		if int64(len(s.snapIn)) != in.Snap.Size {
			return rolled, fmt.Errorf("mem: install of %d bytes, have %d", in.Snap.Size, len(s.snapIn))
		}
		s.base, s.baseGen = map[string]string{}, 0
		for _, kv := range decodeKVs(s.snapIn) {
			if kv.Key == "#gen" {
				s.baseGen, _ = strconv.ParseUint(kv.Value, 10, 64)
				continue
			}
			s.base[kv.Key] = kv.Value
		}
		s.snapIn = nil
		s.baseLSN = in.Snap.LSN
		s.log.Reset(in.Snap.LSN)
		s.durable = in.Snap.LSN
		s.shared = lsn.Min(s.shared, in.Snap.LSN)
	}
	for _, r := range rd.Append {
		if err := s.log.AppendAt(r); err != nil {
			return rolled, err
		}
	}
	return rolled, nil
}

func (s *memStorage) Admit(gen uint64) { s.writable, s.gen = true, gen }

func (s *memStorage) Shut() lsn.LSN {
	s.writable = false
	return s.Log().Last()
}

func (s *memStorage) Commit(w []KV) (Committed, error) {
	if !s.writable {
		return Committed{}, env.ErrNotWritable
	}
	r, err := s.commit(s.gen, w)
	return Committed{Rec: r}, err
}

func (s *memStorage) commit(gen uint64, w []KV) (rep.Record, error) {
	p := encodeKVs(w)
	if at := s.log.End(); !s.baseLSN.Less(at) {
		// MemLog.Reset leaves the next position at the snapshot's own
		// LSN; the first record after an install goes just past it.
		r := rep.Record{LSN: lsn.New(s.baseLSN.File, s.baseLSN.Offset+1), Gen: gen, Checksum: rep.Checksum(gen, p), Payload: p}
		if err := s.log.AppendAt(r); err != nil {
			return rep.Record{}, err
		}
		r.Perm = true
		return r, nil
	}
	return s.log.Append(gen, p), nil
}

func (s *memStorage) Sync() (lsn.LSN, error) {
	s.durable = s.Log().Last()
	return s.durable, nil
}

func (s *memStorage) Durable() lsn.LSN { return s.durable }

func (s *memStorage) DamageNextInstall() { s.damage = true }

// Distance counts as env's does, segments for log files.
func (s *memStorage) Distance(a, b lsn.LSN) int64 {
	if a.IsZero() {
		a = lsn.New(1, 0) // where MemLog's first record goes
	}
	return lsn.Distance(a, b, int64(s.log.SegmentSize))
}

// KeepShared keeps at as if stored at once: it survives Crash.
func (s *memStorage) KeepShared(at lsn.LSN) { s.shared = at }
func (s *memStorage) Shared() lsn.LSN       { return s.shared }

func (s *memStorage) snapshot(id uint64) (rep.SnapInfo, rep.SnapshotReader, error) {
	data, err := s.Data()
	if err != nil {
		return rep.SnapInfo{}, nil, err
	}
	b := encodeKVs(append([]KV{{"#gen", strconv.FormatUint(s.LastGen(), 10)}}, data...))
	s.snaps[id] = b
	return rep.SnapInfo{ID: id, LSN: s.Log().Last(), Size: int64(len(b))}, bytes.NewReader(b), nil
}

func (s *memStorage) Release(id uint64) { delete(s.snaps, id) }

func (s *memStorage) LastGen() uint64 {
	if r, err := s.log.Read(s.log.Last()); err == nil {
		return r.Gen
	}
	return s.baseGen
}

func (s *memStorage) Records() ([]RecID, error) {
	var out []RecID
	for _, r := range s.log.Records() {
		out = append(out, RecID{r.LSN, r.Gen, r.Checksum})
	}
	return out, nil
}

func (s *memStorage) Data() ([]KV, error) {
	m := make(map[string]string, len(s.base))
	for k, v := range s.base {
		m[k] = v
	}
	for _, r := range s.log.Records() {
		for _, kv := range decodeKVs(r.Payload) {
			m[kv.Key] = kv.Value
		}
	}
	out := make([]KV, 0, len(m))
	for k, v := range m {
		out = append(out, KV{k, v})
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (s *memStorage) Get(key string) (string, bool, lsn.LSN, error) {
	data, err := s.Data()
	if err != nil {
		return "", false, lsn.Zero, err
	}
	for _, kv := range data {
		if kv.Key == key {
			return kv.Value, true, s.Log().Last(), nil
		}
	}
	return "", false, s.Log().Last(), nil
}

// GetAt: mem storage keeps no read tokens.
func (s *memStorage) GetAt(env.Token, env.Finality, string) (string, bool, error) {
	return "", false, nil
}

// Fault: mem storage does not fail (env storage carries the faults).
func (s *memStorage) Fault(StorageFault, *rand.Rand) bool { return false }

func (s *memStorage) Failure() error { return nil }

func (s *memStorage) Fail(error) {}

func (s *memStorage) Crash(*rand.Rand) error {
	if s.log == nil {
		return errClosed
	}
	s.log.TruncateAfter(s.durable)
	s.snapIn = nil // the incoming snapshot file was never synced
	clear(s.snaps)
	s.writable = false
	return nil
}

func (s *memStorage) Reopen() error { return nil }

func (s *memStorage) Close() error { s.log = nil; return nil }

var errClosed = errors.New("sim: storage closed")

func (s *memStorage) Describe() string { return "" }

// Archive removes a random prefix of the log, keeping at least its last
// record, folding the removed records into the base data as a checkpoint
// into bbolt would.
func (s *memStorage) Archive(r *rand.Rand) (bool, error) {
	recs := s.log.Records()
	if len(recs) < 2 {
		return false, nil
	}
	k := 1 + r.IntN(len(recs)-1) // records removed
	// Only durable records can be checkpointed.
	for k > 0 && s.durable.Less(recs[k-1].LSN) {
		k--
	}
	if k == 0 {
		return false, nil
	}
	for _, rec := range recs[:k] {
		for _, kv := range decodeKVs(rec.Payload) {
			s.base[kv.Key] = kv.Value
		}
	}
	s.baseLSN, s.baseGen = recs[k-1].LSN, recs[k-1].Gen
	s.log.RemoveBefore(recs[k].LSN)
	return true, nil
}

func (s *memStorage) Members() ([]byte, lsn.LSN, error) {
	recs := s.log.Records()
	for i := len(recs) - 1; i >= 0; i-- {
		if v, ok := s.MembersIn(recs[i]); ok {
			return v, recs[i].LSN, nil
		}
	}
	if v, ok := s.base[membersKey]; ok {
		return []byte(v), s.baseLSN, nil
	}
	return nil, lsn.Zero, nil
}

func (s *memStorage) MembersIn(r rep.Record) ([]byte, bool) {
	var val []byte
	found := false
	for _, kv := range decodeKVs(r.Payload) {
		if kv.Key == membersKey {
			val, found = []byte(kv.Value), true
		}
	}
	return val, found
}
