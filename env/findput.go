package env

import "bytes"

// FindPut returns the value that the log record payload p puts at key in
// bucket, and whether it puts one there. A replication runtime reads its
// internal state (the group membership, env/site) from the records that
// carry it as they enter the log, before they are applied. A payload that
// does not decode holds nothing: it returns false. The bucket name is
// looked for in the raw bytes first, so the records that do not touch the
// bucket, nearly all, cost no decoding.
func FindPut(p []byte, bucket string, key []byte) ([]byte, bool) {
	if !bytes.Contains(p, []byte(bucket)) {
		return nil, false
	}
	r, err := decodeRecord(p)
	if err != nil {
		return nil, false
	}
	var val []byte
	found := false
	for _, o := range r.ops {
		if string(o.bucket) == bucket && bytes.Equal(o.key, key) {
			// The last write of the key in the record is what it leaves.
			val, found = o.value, o.kind == opPut
		}
	}
	if !found {
		return nil, false
	}
	return bytes.Clone(val), true
}
