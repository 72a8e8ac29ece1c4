package env

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// bbolt layout. Format constants: the data file written by one version must
// be read by the next.
var (
	bucketData = []byte("data") // format: one nested bucket per user bucket
	bucketMeta = []byte("meta") // format: the environment's own state

	keyApplied    = []byte("applied")        // format: LSN of the last record applied, then the position after it (16 bytes)
	keyAppliedGen = []byte("applied_gen")    // format: generation of that record (8 bytes)
	keyCheckpoint = []byte("checkpoint")     // format: applied LSN and end at the last checkpoint (16 bytes)
	keyTruncate   = []byte("truncate_after") // format: marker: the log must be truncated after this LSN (8 bytes)
	keyInstall    = []byte("install_reset")  // format: marker: the log must be reset to start at this LSN (8 bytes)
	keyShared     = []byte("shared")         // format: LSN of a log record known to be in every later master's history (8 bytes; shared.go)

	// format: "gen/" then an LSN (8 bytes) -> a generation (8 bytes):
	// the first applied record of each run of records of one generation,
	// in LSN order, so the generation of any applied record can be found
	// after its log file is gone (read tokens, token.go). Kept by the
	// applier, cut by a rollback, carried by a snapshot.
	keyGenPrefix = []byte("gen/")
)

// metaState is what the meta bucket holds.
type metaState struct {
	applied    lsn.LSN // last record applied; Zero if none
	appliedEnd lsn.LSN // where the record after it starts; Zero if none applied
	appliedGen uint64
	ckpt       lsn.LSN // applied LSN at the last checkpoint
	ckptEnd    lsn.LSN
	truncate   lsn.LSN // marker, valid when hasTruncate
	install    lsn.LSN // marker, valid when hasInstall
	shared     lsn.LSN // Zero if none kept

	hasTruncate, hasInstall bool
}

func putLSN(b []byte, l lsn.LSN) []byte {
	b = binary.BigEndian.AppendUint32(b, l.File)
	return binary.BigEndian.AppendUint32(b, l.Offset)
}

func getLSN(b []byte) lsn.LSN {
	return lsn.New(binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]))
}

// readMeta reads the meta bucket of a transaction.
func readMeta(tx *bolt.Tx) (metaState, error) {
	var m metaState
	mb := tx.Bucket(bucketMeta)
	if mb == nil {
		return m, fmt.Errorf("%w: data file has no meta bucket", ErrCorrupt)
	}
	pair := func(key []byte, a, b *lsn.LSN) error {
		v := mb.Get(key)
		switch len(v) {
		case 0:
		case 16:
			*a, *b = getLSN(v), getLSN(v[8:])
		default:
			return fmt.Errorf("%w: meta %s is %d bytes", ErrCorrupt, key, len(v))
		}
		return nil
	}
	one := func(key []byte, a *lsn.LSN, has *bool) error {
		v := mb.Get(key)
		switch len(v) {
		case 0:
		case 8:
			*a, *has = getLSN(v), true
		default:
			return fmt.Errorf("%w: meta %s is %d bytes", ErrCorrupt, key, len(v))
		}
		return nil
	}
	if err := pair(keyApplied, &m.applied, &m.appliedEnd); err != nil {
		return m, err
	}
	if err := pair(keyCheckpoint, &m.ckpt, &m.ckptEnd); err != nil {
		return m, err
	}
	if v := mb.Get(keyAppliedGen); len(v) == 8 {
		m.appliedGen = binary.BigEndian.Uint64(v)
	} else if len(v) != 0 {
		return m, fmt.Errorf("%w: meta %s is %d bytes", ErrCorrupt, keyAppliedGen, len(v))
	}
	if err := one(keyTruncate, &m.truncate, &m.hasTruncate); err != nil {
		return m, err
	}
	if err := one(keyInstall, &m.install, &m.hasInstall); err != nil {
		return m, err
	}
	var kept bool
	if err := one(keyShared, &m.shared, &kept); err != nil {
		return m, err
	}
	return m, nil
}

// putApplied stores the applied position in a read-write transaction.
func putApplied(mb *bolt.Bucket, applied, end lsn.LSN, gen uint64) error {
	var b [16]byte
	if err := mb.Put(keyApplied, putLSN(putLSN(b[:0], applied), end)); err != nil {
		return err
	}
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	return mb.Put(keyAppliedGen, g[:])
}

func putCheckpoint(mb *bolt.Bucket, at, end lsn.LSN) error {
	var b [16]byte
	return mb.Put(keyCheckpoint, putLSN(putLSN(b[:0], at), end))
}

func putMarker(mb *bolt.Bucket, key []byte, at lsn.LSN) error {
	var b [8]byte
	return mb.Put(key, putLSN(b[:0], at))
}

// initBuckets creates the top-level buckets of a new data file.
func initBuckets(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketData); err != nil {
		return err
	}
	_, err := tx.CreateBucketIfNotExists(bucketMeta)
	return err
}

// genKey is the meta key of a generation that starts at at.
func genKey(at lsn.LSN) []byte { return putLSN(append([]byte(nil), keyGenPrefix...), at) }

// putGenStart records that the applied record at at begins a run of
// generation gen.
func putGenStart(mb *bolt.Bucket, at lsn.LSN, gen uint64) error {
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	return mb.Put(genKey(at), g[:])
}

// genAt returns the generation of the applied record at at: that of the
// run it falls in. ok is false when no run starts at or before at (a data
// file older than the table, or at before every record).
func genAt(mb *bolt.Bucket, at lsn.LSN) (gen uint64, ok bool, err error) {
	c := mb.Cursor()
	k, v := c.Seek(genKey(at))
	if k == nil || string(k) != string(genKey(at)) {
		k, v = c.Prev()
	}
	if k == nil || len(k) != len(keyGenPrefix)+8 || string(k[:len(keyGenPrefix)]) != string(keyGenPrefix) {
		return 0, false, nil
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: meta %q is %d bytes", ErrCorrupt, k, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// dropGenStartsAfter removes the runs that start after at (a rollback).
func dropGenStartsAfter(mb *bolt.Bucket, at lsn.LSN) error {
	c := mb.Cursor()
	var doomed [][]byte
	for k, _ := c.Seek(genKey(at)); k != nil && len(k) > len(keyGenPrefix) && string(k[:len(keyGenPrefix)]) == string(keyGenPrefix); k, _ = c.Next() {
		if string(k) != string(genKey(at)) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
	}
	for _, k := range doomed {
		if err := mb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
