package rep

import (
	"fmt"

	"logship/wal/lsn"
)

// Discarding the client's own records.
//
// Two things throw away records of a client's log: a rollback to the
// sync point (Ready.Rollback: the records after it), and an internal
// init, whose Install replaces the data and resets the log. Neither is
// silent: the driver writes the records to a rollback file first. For a
// rollback the records are exactly those after the sync point. For an
// init rep names them with Install.Discard: the records after it are
// the client's own that the master may not hold. Which those are:
//
//   - A client that was synchronised with this master (catching up or
//     ready: its log past the sync point came from the master) holds
//     nothing the master lacks: Discard is its last record. So is a
//     client catching up after an earlier init.
//   - A client still verifying knows only what it knew before this
//     sync: the newest record of its log known to be in every later
//     master's history, shared, the commit point it last knew as master
//     or as a synchronised client (a committed record is never rolled
//     back, commit.go). The walk back found nothing matching (a match
//     would be a sync point), and the master no longer has the records
//     it asked about, so everything after shared may differ from what
//     the master has, records at or below the snapshot's LSN included.
//     A record the walk found different moves Discard below it even if
//     shared said otherwise.
//   - A site that restarted starts from the commit point it knew when
//     it stopped, as its driver kept it (Config.Shared; env stores it
//     with the applier's batches, so it may be a little older, never
//     wrong: a committed record stays in every later master's history).
//     Without one (a store from before this was kept), shared is Zero
//     and the whole log it still holds goes to the rollback file. That
//     keeps more than needed for a plain lagging client, never less.
//
// MaxRollbackBytes bounds both: a rollback or an init that would discard
// more is refused (SyncRollbackRefused) before anything is discarded or
// transferred, until AllowRollback lets it proceed once.

// noteShared raises shared to the commit point this site knows, before
// a role change or a new sync forgets it.
func (n *Node) noteShared() {
	if c := lsn.Min(n.Commit(), n.last); n.shared.Less(c) {
		n.shared = c
	}
}

// lowerShared caps shared at s: the log was cut back to s (rollback) or
// reset after s (install).
func (n *Node) lowerShared(s lsn.LSN) { n.shared = lsn.Min(n.shared, s) }

// discardPoint is Install.Discard for an init starting now: the records
// after it are the client's own that the master may not hold.
func (n *Node) discardPoint() lsn.LSN {
	if n.c.state == SyncCatchup || n.c.state == SyncReady {
		return n.last
	}
	n.noteShared()
	d := lsn.Min(n.shared, n.last)
	if n.c.diverged && n.c.divergedBelow.Less(d) {
		d = n.c.divergedBelow
	}
	return d
}

// refuseDiscard stops the client in SyncRollbackRefused when discarding
// its log after d (how: "roll back" or "internal init") would exceed
// MaxRollbackBytes and no AllowRollback is pending. It reports whether it
// refused.
func (n *Node) refuseDiscard(d lsn.LSN, how string) bool {
	limit := n.cfg.MaxRollbackBytes
	if limit <= 0 || !d.Less(n.last) {
		return false
	}
	bytes, recs, over := n.logBytesAfter(d, limit)
	if !over {
		return false
	}
	if n.allowRollback {
		n.allowRollback = false
		n.stats.RollbacksAllowed++
		return false
	}
	n.dropBuffer()
	n.clearRequest()
	n.c.state, n.c.afterInit = SyncRollbackRefused, false
	n.c.err = fmt.Errorf("%w: %s with master %d (gen %d) would discard this site's log after %s up to %s: more than %d bytes (%d counted in %d records before stopping); 'repadmin allow-rollback' lets it proceed once",
		ErrRollbackRefused, how, n.master, n.gen, d, n.last, limit, bytes, recs)
	n.stats.RollbacksRefused++
	n.event(Event{Type: EventRollbackRefused, Site: n.master, Gen: n.gen, LSN: d})
	return true
}

// logBytesAfter counts the bytes (Record.size) of the local log after
// d, newest first, stopping as soon as they exceed limit: a long tail is
// not read through just to be refused. Records the log no longer holds
// (archived here) are not counted: they cannot be discarded either.
func (n *Node) logBytesAfter(d lsn.LSN, limit int64) (bytes int64, recs int, over bool) {
	for cur := n.last; d.Less(cur); {
		r, err := n.log.Read(cur)
		if err != nil {
			break
		}
		bytes += int64(r.size())
		recs++
		if bytes > limit {
			return bytes, recs, true
		}
		if cur, err = n.log.Prev(cur); err != nil {
			break
		}
	}
	return bytes, recs, false
}

// AllowRollback lets a client stopped in SyncRollbackRefused proceed
// once: it syncs again at once, and the next rollback or init discard
// over MaxRollbackBytes goes ahead (writing its rollback file). It is
// ErrNoRollbackRefused on a client not so stopped, ErrNotClient on a
// site that is not a client.
func (n *Node) AllowRollback() error {
	if n.role != RoleClient {
		return ErrNotClient
	}
	if n.c.state != SyncRollbackRefused {
		return fmt.Errorf("%w (sync state %s)", ErrNoRollbackRefused, n.c.state)
	}
	n.allowRollback = true
	n.c.err = nil
	n.startSync()
	return nil
}
