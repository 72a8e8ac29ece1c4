package env

import (
	"fmt"
	"time"

	"logship/wal/lsn"
)

// keepDiscarded writes the log's records after `after` to a new rollback
// file, oldest first, and makes it durable: an internal init is about to
// throw them away (rep.Install.Discard), and nothing committed locally is
// thrown away silently. Records the log no longer holds (archived here)
// are not in it; nor is anything when no record follows `after`. It
// returns the file's path ("" when nothing was kept) and the number of
// records in it.
func (r *Replica) keepDiscarded(after lsn.LSN) (string, int, error) {
	e := r.e
	last := e.log.Last()
	if !after.Less(last) {
		return "", 0, nil
	}
	var recs []RollbackRecord
	for cur := last; after.Less(cur); {
		w, err := e.log.Read(cur)
		if err == nil {
			g, _ := recordGen(w.Payload)
			recs = append(recs, RollbackRecord{LSN: w.LSN, Gen: g, Checksum: w.Checksum, Payload: w.Payload})
			cur, err = e.log.Prev(cur)
		}
		if err != nil {
			// A damaged log is one reason a client is rebuilt; what
			// cannot be read cannot be kept, and refusing the init
			// would not bring it back. Keep what can be read, and say
			// what could not.
			e.logger.Error("env: internal init: log records before this one cannot be read, and are not in the rollback file",
				"at", cur, "after", after, "err", err)
			break
		}
	}
	if len(recs) == 0 {
		return "", 0, nil
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	h := RollbackHeader{Site: r.site, Time: time.Now(), To: after, From: last, Count: uint32(len(recs))}
	path, err := writeRollbackFile(e.dir, h, recs)
	if err != nil {
		return "", 0, fmt.Errorf("env: internal init: %w", err)
	}
	return path, len(recs), nil
}
