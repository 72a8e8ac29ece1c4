package env

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// Token names a commit: the LSN of its log record, and the record's
// identity (the generation of the master that wrote it and a checksum of
// generation and contents), as Berkeley DB's commit token does. Pass it
// to WaitApplied or ViewAt on any site of the group to read your own
// writes there: they wait until that very record is applied, and fail
// with ErrNeverApplied once the site holds another record at that LSN
// that no failover can undo. Token.String and ParseToken carry it as
// text. A token with only an LSN (ParseToken of "F/O") names a position,
// not a record: waiting on it only compares positions.
type Token struct {
	LSN      lsn.LSN
	Gen      uint64
	Checksum uint32
	// Permanent (replication only): the commit met the ack policy in
	// time. A commit that did not is still committed locally.
	Permanent bool
}

// Tx is a read-write transaction, valid only inside the function passed to
// Env.Update. Reads see the transaction's own writes, then every commit
// before it; transactions are serialized. Keys and values returned are
// copies, valid after the transaction.
//
// A bucket exists once a key was put in it; reading a bucket that never
// held a key finds nothing. A Tx is not safe for concurrent use.
type Tx struct {
	e      *Env
	closed bool
	mark   bool      // Mark: append a record even with no write
	writes *skiplist // own writes by composite key; nil until the first
	buf    []byte    // scratch for lookup keys

	// The bbolt read snapshot, opened on first need (the shared cached one,
	// rc, or a private btx), and the last user bucket looked up in it.
	applied lsn.LSN // the published applied LSN when the Tx started
	opened  bool
	rc      *readCache
	btx     *bolt.Tx
	data    *bolt.Bucket
	err     error
	bktName string
	bkt     *bolt.Bucket
	bktOK   bool
}

// Get returns the value of key in bucket, or nil if there is none. An
// existing empty value is returned as a non-nil empty slice.
func (tx *Tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := tx.check(bucket, key); err != nil {
		return nil, err
	}
	ck := tx.lookupKey(bucket, key)
	if tx.writes != nil {
		if n := tx.writes.get(ck); n != nil {
			if n.e.del {
				return nil, nil
			}
			return clone(n.e.value), nil
		}
	}
	v, ok, err := tx.below(ck, bucket, key)
	if err != nil || !ok {
		return nil, err
	}
	return clone(v), nil
}

// Put sets key in bucket to value. The value is copied.
func (tx *Tx) Put(bucket string, key, value []byte) error {
	if err := tx.check(bucket, key); err != nil {
		return err
	}
	if len(value) > tx.e.cfg.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, MaxValueSize is %d", ErrValueTooLarge, len(value), tx.e.cfg.MaxValueSize)
	}
	v := make([]byte, len(value)) // never nil: nil means absent
	copy(v, value)
	tx.write(bucket, key, entry{value: v})
	return nil
}

// Delete removes key from bucket. Deleting a missing key is not an error.
func (tx *Tx) Delete(bucket string, key []byte) error {
	if err := tx.check(bucket, key); err != nil {
		return err
	}
	tx.write(bucket, key, entry{del: true})
	return nil
}

// Scan calls fn for each key of bucket within r, in key order, merging the
// transaction's own writes, committed writes and the applied data lazily
// (memory does not grow with the bucket). An error from fn stops the scan
// and is returned. fn may call Put and Delete.
func (tx *Tx) Scan(bucket string, r Range, fn func(key, value []byte) error) error {
	if err := tx.checkBucket(bucket); err != nil {
		return err
	}
	bb, err := tx.bucket(bucket)
	if err != nil {
		return err
	}
	return scan(r, bucketPrefix(bucket), tx.writes, tx.e.ov.s, bb, func(k, v []byte) error {
		if tx.closed {
			return ErrTxClosed
		}
		return fn(k, v)
	})
}

func (tx *Tx) write(bucket string, key []byte, e entry) {
	if tx.writes == nil {
		tx.writes = newSkiplist()
	}
	tx.writes.set(ckey(bucket, key), e)
}

// lookupKey builds a composite key in the scratch buffer; the result is
// valid until the next call.
func (tx *Tx) lookupKey(bucket string, key []byte) string {
	b := binary.AppendUvarint(tx.buf[:0], uint64(len(bucket)))
	b = append(b, bucket...)
	b = append(b, key...)
	tx.buf = b
	return stringOf(b)
}

func (tx *Tx) check(bucket string, key []byte) error {
	if err := tx.checkBucket(bucket); err != nil {
		return err
	}
	return checkKey(key)
}

func (tx *Tx) checkBucket(bucket string) error {
	if tx.closed {
		return ErrTxClosed
	}
	return checkBucket(bucket)
}

func checkBucket(bucket string) error {
	switch {
	case bucket == "":
		return ErrEmptyBucket
	case len(bucket) > MaxKeySize:
		return fmt.Errorf("%w: bucket name of %d bytes, max %d", ErrKeyTooLarge, len(bucket), MaxKeySize)
	}
	return nil
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return ErrEmptyKey
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: key of %d bytes, max %d", ErrKeyTooLarge, len(key), MaxKeySize)
	}
	return nil
}

// bucket returns the user bucket in the transaction's bbolt snapshot (nil
// if it does not exist), opening the snapshot on first use. The snapshot is
// opened after the writer mutex was taken and the overlay pruned: see the
// overlay invariant.
func (tx *Tx) bucket(name string) (*bolt.Bucket, error) {
	if tx.bktOK && tx.bktName == name {
		return tx.bkt, nil
	}
	if _, err := tx.snapshot(); err != nil {
		return nil, err
	}
	var b *bolt.Bucket
	switch {
	case tx.rc != nil:
		b = tx.rc.bucket(name)
	case tx.data != nil:
		b = tx.data.Bucket(bytesOf(name))
	}
	tx.bktName, tx.bkt, tx.bktOK = name, b, true
	return b, nil
}

// snapshot opens the transaction's bbolt snapshot on first use and
// returns its data bucket.
func (tx *Tx) snapshot() (*bolt.Bucket, error) {
	if !tx.opened {
		tx.opened = true
		if err := tx.openRead(); err != nil {
			tx.err = fmt.Errorf("env: bbolt read transaction: %w", err)
		}
	}
	return tx.data, tx.err
}

// below reads a key through the layers below the transaction's own writes:
// the overlay of committed-unapplied writes, then bbolt. ck is the
// composite key of bucket and key. The bbolt slice is valid only until the
// transaction ends.
func (tx *Tx) below(ck, bucket string, key []byte) ([]byte, bool, error) {
	if e, ok := tx.e.ov.get(ck); ok {
		if e.del {
			return nil, false, nil
		}
		return e.value, true, nil
	}
	b, err := tx.bucket(bucket)
	if err != nil || b == nil {
		return nil, false, err
	}
	v := b.Get(key)
	return v, v != nil, nil
}

// before is one write of a transaction with its before-image, while the
// record is built.
type before struct {
	n       *slnode
	old     []byte
	existed bool
}

// Mark makes the transaction append a record even if it changes nothing.
// A replication master commits one as the first record of its
// generation: its commit point counts records of its own generation only
// (rep/commit.go), so an idle new master needs one before lease reads
// and read tokens can rely on what it inherited.
func (tx *Tx) Mark() { tx.mark = true }

// appendHeader encodes a commit record's header for n ops.
func appendHeader(dst []byte, gen uint64, now int64, n int) []byte {
	dst = append(dst, recordVersion, kindCommit)
	dst = binary.AppendUvarint(dst, gen)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(now))
	return binary.AppendUvarint(dst, uint64(n))
}

// appendRecord appends the transaction's commit record (see record.go for
// the format) to dst, reading each key's before-image through the layers
// below. A delete of a key that does not exist is dropped. It returns the
// number of ops: 0 for a transaction that changes nothing (dst is then
// unchanged, unless the transaction is a Mark: then dst holds a record
// of no ops). bs is scratch space, returned for reuse.
func (tx *Tx) appendRecord(dst []byte, gen uint64, now int64, bs []before) ([]byte, int, []before, error) {
	bs = bs[:0]
	if tx.writes == nil {
		if tx.mark {
			dst = appendHeader(dst, gen, now, 0)
		}
		return dst, 0, bs, nil
	}
	for n := tx.writes.seek(""); n != nil; n = n.next[0] {
		b, k := splitCkey(n.key)
		old, existed, err := tx.below(n.key, b, bytesOf(k))
		if err != nil {
			return dst, 0, bs, err
		}
		if n.e.del && !existed {
			continue
		}
		bs = append(bs, before{n: n, old: old, existed: existed})
	}
	if len(bs) == 0 && !tx.mark {
		return dst, 0, bs, nil
	}
	dst = appendHeader(dst, gen, now, len(bs))
	for i := range bs {
		n := bs[i].n
		b, k := splitCkey(n.key)
		if n.e.del {
			dst = append(dst, opDelete)
		} else {
			dst = append(dst, opPut)
		}
		dst = appendString(dst, b)
		dst = appendString(dst, k)
		if !n.e.del {
			dst = appendBytes(dst, n.e.value)
		}
		if bs[i].existed {
			dst = append(dst, beforePresent)
			dst = appendBytes(dst, bs[i].old)
		} else {
			dst = append(dst, beforeAbsent)
		}
	}
	return dst, len(bs), bs, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// close ends the transaction: later calls fail with ErrTxClosed.
func (tx *Tx) close() {
	tx.closed = true
	if tx.rc != nil {
		tx.rc.mu.Unlock()
		tx.rc = nil
	}
	if tx.btx != nil {
		_ = tx.btx.Rollback()
		tx.btx = nil
	}
	tx.data, tx.bkt, tx.bktOK = nil, nil, false
}

// clone copies b, keeping nil as nil and empty as non-nil empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
