package env

// Data digests: finding silent damage.
//
// bbolt keeps no checksum of its pages, so a byte changed on disk in
// data.db is served as the wrong value. Two digests find it.
//
// The expected digest is kept by the applier as it applies each record:
// the sum, modulo 2^64, of a hash of every key's bucket, key and value
// (entryHash). A sum of per-key terms does not depend on order, so each
// write updates it from the record alone: minus the term of the
// before-image, plus the term of the new value; a rollback undoes that.
// It is stored in the meta bucket with the applied LSN, in the same bbolt
// transaction, travels in a snapshot, and is the same on every site at
// the same LSN, since every site applies the same records.
//
// The actual digest is computed by reading every key of the data file
// (VerifyData). On a sound file the two agree; a page changed under bbolt
// makes them differ, without asking any other site. And since the
// expected digest depends only on the records, sites compare theirs at
// the same LSN: a client reports its digest with its applied LSN on each
// ACK, and the master compares it with its own at that LSN (the last
// recentDigests records), so data that diverged by any other path (a bug
// in apply or rollback, a file copied in by hand) is named too.

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// keyDigest is the meta key of the expected digest.
var keyDigest = []byte("digest") // format: the expected digest of the applied data (8 bytes, big-endian)

// entryHash is the digest term of one key: FNV-1a 64 over the bucket,
// key and value, each preceded by its length. Format: every site must
// compute the same term.
func entryHash(bucket, key, value []byte) uint64 {
	h := fnv.New64a()
	var n [binary.MaxVarintLen64]byte
	for _, b := range [][]byte{bucket, key, value} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	return h.Sum64()
}

// redoDigest returns d after o is applied.
func redoDigest(d uint64, o *op) uint64 {
	if o.existed {
		d -= entryHash(o.bucket, o.key, o.old)
	}
	if o.kind == opPut {
		d += entryHash(o.bucket, o.key, o.value)
	}
	return d
}

// undoDigest returns d after o is undone.
func undoDigest(d uint64, o *op) uint64 {
	if o.kind == opPut {
		d -= entryHash(o.bucket, o.key, o.value)
	}
	if o.existed {
		d += entryHash(o.bucket, o.key, o.old)
	}
	return d
}

func putDigest(mb *bolt.Bucket, d uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], d)
	return mb.Put(keyDigest, b[:])
}

// getDigest returns the stored expected digest; ok is false when the
// data file has none (written before digests were kept).
func getDigest(mb *bolt.Bucket) (d uint64, ok bool, err error) {
	v := mb.Get(keyDigest)
	switch len(v) {
	case 0:
		return 0, false, nil
	case 8:
		return binary.BigEndian.Uint64(v), true, nil
	}
	return 0, false, fmt.Errorf("%w: meta %s is %d bytes", ErrCorrupt, keyDigest, len(v))
}

// scanDigest computes the actual digest of the data in btx by reading
// every key.
func scanDigest(ctx context.Context, btx *bolt.Tx) (d uint64, keys int64, err error) {
	data := btx.Bucket(bucketData)
	err = data.ForEachBucket(func(name []byte) error {
		b := data.Bucket(name)
		if b == nil {
			return fmt.Errorf("%w: data bucket %q is not a bucket", ErrCorrupt, name)
		}
		return b.ForEach(func(k, v []byte) error {
			if keys++; keys%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			d += entryHash(name, k, v)
			return nil
		})
	})
	return d, keys, err
}

// initDigest stores the expected digest of a data file that has none, by
// reading it (a file written before digests were kept).
func (e *Env) initDigest() error {
	return e.boltUpdate(func(btx *bolt.Tx) error {
		mb := btx.Bucket(bucketMeta)
		if _, ok, err := getDigest(mb); ok || err != nil {
			return err
		}
		d, _, err := scanDigest(context.Background(), btx)
		if err != nil {
			return err
		}
		return putDigest(mb, d)
	})
}

// storedDigest returns the expected digest the data file keeps, first
// computing it for a file that has none.
func (e *Env) storedDigest() (uint64, error) {
	var (
		d  uint64
		ok bool
	)
	err := e.boltView(func(btx *bolt.Tx) (err error) {
		d, ok, err = getDigest(btx.Bucket(bucketMeta))
		return err
	})
	if err != nil || ok {
		return d, err
	}
	if err := e.initDigest(); err != nil {
		return 0, fmt.Errorf("env: compute the data digest: %w", err)
	}
	return e.storedDigest()
}

// DataCheck is what VerifyData found.
type DataCheck struct {
	// AppliedLSN is the last record the data reflects.
	AppliedLSN lsn.LSN
	// Digest is the digest of the data read from the file; Expected is
	// the one kept from the records applied. They differ when the file
	// was damaged.
	Digest, Expected uint64
	// Keys is the number of keys read.
	Keys int64
}

// OK reports whether the data file holds what the records say.
func (c DataCheck) OK() bool { return c.Digest == c.Expected }

// VerifyData reads every key of the data file, in one consistent
// snapshot, and compares its digest with the one the applier kept from
// the records (see digest.go). On a mismatch the environment fails, as on
// any storage failure: with replication a master steps down and a client
// stops, until the data file is repaired (rebuilt from a snapshot of
// another site) and the site restarted. The error then wraps ErrCorrupt
// and names the file. It reads the whole file: minutes for a large one.
func (e *Env) VerifyData(ctx context.Context) (DataCheck, error) {
	if err := e.enter(); err != nil {
		return DataCheck{}, err
	}
	defer e.exit()
	var c DataCheck
	err := e.boltView(func(btx *bolt.Tx) error {
		m, err := readMeta(btx)
		if err != nil {
			return err
		}
		exp, ok, err := getDigest(btx.Bucket(bucketMeta))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: no digest kept", ErrCorrupt)
		}
		c.AppliedLSN, c.Expected = m.applied, exp
		c.Digest, c.Keys, err = scanDigest(ctx, btx)
		return err
	})
	if err != nil {
		return c, err
	}
	if !c.OK() {
		return c, e.fail(fmt.Errorf("%w: data file %s: its data differs from what the log applied up to %s (digest %016x, expected %016x): repair it by rebuilding this site from another",
			ErrCorrupt, e.dataPath(), c.AppliedLSN, c.Digest, c.Expected))
	}
	return c, nil
}

// recentDigests is how many applied records' expected digests a site
// remembers for comparing with its clients'.
const recentDigests = 8192

// digestRing holds the expected digest after each of the last applied
// records, in LSN order. Guarded by Env.amu.
type digestRing struct {
	lsns    []lsn.LSN
	digests []uint64
}

// add records the digest after the record at at (at after every other).
func (r *digestRing) add(at lsn.LSN, d uint64) {
	if len(r.lsns) == recentDigests {
		copy(r.lsns, r.lsns[recentDigests/2:])
		copy(r.digests, r.digests[recentDigests/2:])
		r.lsns, r.digests = r.lsns[:recentDigests/2], r.digests[:recentDigests/2]
	}
	r.lsns = append(r.lsns, at)
	r.digests = append(r.digests, d)
}

// cutAfter forgets the records after at (a rollback; Zero: all).
func (r *digestRing) cutAfter(at lsn.LSN) {
	i := sort.Search(len(r.lsns), func(i int) bool { return at.Less(r.lsns[i]) })
	r.lsns, r.digests = r.lsns[:i], r.digests[:i]
}

// at returns the digest after the record at l, if remembered.
func (r *digestRing) at(l lsn.LSN) (uint64, bool) {
	i := sort.Search(len(r.lsns), func(i int) bool { return !r.lsns[i].Less(l) })
	if i < len(r.lsns) && r.lsns[i] == l {
		return r.digests[i], true
	}
	return 0, false
}

// DigestAt returns the expected digest of the data after the applied
// record at l, if it is among the last ones applied here; a site's
// digest at an LSN equals every other's at the same LSN.
func (e *Env) DigestAt(l lsn.LSN) (uint64, bool) {
	e.amu.Lock()
	defer e.amu.Unlock()
	return e.recent.at(l)
}
