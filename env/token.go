package env

// Read tokens (read-your-writes across sites).
//
// An Update's token names its record: LSN, generation and checksum
// (Token). A site holds that record when its log has a record at that
// LSN with the same identity, or, once the log file is gone, when its
// applied data says the record there is of the token's generation (the
// generation table, meta.go): one master writes each generation, once,
// so generation and LSN name a record.
//
// A site whose record at the token's LSN is another one may still be
// out of date (a deposed master, a client cut off with it) and roll it
// back later, after which the token's record can arrive; but once that
// other record is at or before the site's commit point (durable on a
// majority of the electable sites: rep/commit.go) no failover undoes it,
// and the token's record will never be applied there: ErrNeverApplied,
// Berkeley DB's txn_applied answering DB_NOTFOUND. A read with a token
// therefore never succeeds on a site that holds another record at its
// LSN.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/wal"
	"logship/wal/lsn"
)

// String returns the token as text: "GEN:FILE/OFFSET:CHECKSUM" (the
// checksum in hex), or just "FILE/OFFSET" for a position-only token.
func (t Token) String() string {
	if !t.identified() {
		return t.LSN.String()
	}
	return strconv.FormatUint(t.Gen, 10) + ":" + t.LSN.String() + ":" + strconv.FormatUint(uint64(t.Checksum), 16)
}

// ParseToken reads Token.String's text. A bare LSN ("FILE/OFFSET")
// gives a position-only token.
func ParseToken(s string) (Token, error) {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		at, err := lsn.Parse(s)
		if err != nil {
			return Token{}, fmt.Errorf("env: token %q: %w", s, err)
		}
		return Token{LSN: at}, nil
	case 3:
		gen, err := strconv.ParseUint(parts[0], 10, 64)
		if err != nil {
			return Token{}, fmt.Errorf("env: token %q: generation: %w", s, err)
		}
		at, err := lsn.Parse(parts[1])
		if err != nil {
			return Token{}, fmt.Errorf("env: token %q: %w", s, err)
		}
		sum, err := strconv.ParseUint(parts[2], 16, 32)
		if err != nil {
			return Token{}, fmt.Errorf("env: token %q: checksum: %w", s, err)
		}
		t := Token{LSN: at, Gen: gen, Checksum: uint32(sum)}
		if !t.identified() || at.IsZero() {
			return Token{}, fmt.Errorf("env: token %q: names no record", s)
		}
		return t, nil
	}
	return Token{}, fmt.Errorf("env: token %q: want GEN:FILE/OFFSET:CHECKSUM or FILE/OFFSET", s)
}

// identified reports whether t names a record, not just a position.
func (t Token) identified() bool { return t.Gen != 0 || t.Checksum != 0 }

// tokenState is what a site holds at a token's LSN.
type tokenState int

const (
	tokenAbsent tokenState = iota // nothing there yet (or it cannot tell)
	tokenHeld                     // the token's record
	tokenOther                    // another record; final says no failover can undo it
)

// WaitApplied returns once the commit named by tok is visible to View
// here: its record is applied (and, for a token that names a record,
// is that very record). It fails with an error matching ErrNeverApplied
// when the site holds another record at the token's LSN that no
// failover can undo, and with ctx's error when ctx ends first. It makes
// the applier apply at once rather than wait for a fuller batch.
//
// Without replication a durable record is final. A replication site
// passes its commit point as final (WaitToken).
func (e *Env) WaitApplied(ctx context.Context, tok Token) error {
	return e.WaitToken(ctx, tok, durable{e})
}

// Finality says which records can never be undone on this site.
type Finality interface {
	// Final reports whether the record at at can never be undone here.
	Final(at lsn.LSN) bool
}

// durable is the finality of a store on its own: a durable record.
type durable struct{ e *Env }

func (d durable) Final(at lsn.LSN) bool { return at.Less(d.e.log.DurableEnd()) }

// WaitToken is WaitApplied with the finality a replication site knows:
// its commit point (records durable on a majority of the electable
// sites), since a record that is merely durable here may still be rolled
// back by a failover.
func (e *Env) WaitToken(ctx context.Context, tok Token, final Finality) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	if !tok.identified() {
		return e.waitApplied(ctx, tok.LSN)
	}
	return e.waitToken(ctx, tok, final)
}

// ViewAt runs fn like View once the commit named by tok is visible here
// (WaitToken with final), in a transaction that sees it: if a rollback
// removed it between the two, ViewAt waits again. It is the
// read-your-writes read on any site of a group.
func (e *Env) ViewAt(ctx context.Context, tok Token, final Finality, fn func(*ReadTx) error) error {
	for {
		if err := e.WaitToken(ctx, tok, final); err != nil {
			return err
		}
		held := false
		err := e.View(func(rt *ReadTx) error {
			ok, err := rt.Sees(tok)
			if err != nil || !ok {
				return err
			}
			held = true
			return fn(rt)
		})
		if err != nil || held {
			return err
		}
	}
}

// waitToken waits until the token's record is applied here.
func (e *Env) waitToken(ctx context.Context, tok Token, final Finality) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, _, appliedCh := e.appliedPos()
		st, other, isFinal, err := e.tokenState(tok, final)
		if err != nil {
			return err
		}
		switch {
		case st == tokenHeld:
			if err := e.waitApplied(ctx, tok.LSN); err != nil {
				return err
			}
			// A rollback may have replaced it meanwhile: look again.
			if st, _, _, err := e.tokenState(tok, final); err != nil || st == tokenHeld {
				return err
			}
			continue
		case st == tokenOther && isFinal:
			return fmt.Errorf("env: commit %s will never be applied on this site: its record at %s is another one (generation %d), which no failover can undo: %w",
				tok, tok.LSN, other, ErrNeverApplied)
		}
		if err := e.failure(); err != nil {
			return err
		}
		e.kickApplier()
		select {
		case <-appliedCh:
		case <-tick.C:
		case <-ctx.Done():
			if st == tokenOther {
				return fmt.Errorf("env: commit %s not applied on this site: its record at %s is another one (generation %d), and this site may be out of date: %w",
					tok, tok.LSN, other, ctx.Err())
			}
			return ctx.Err()
		case <-e.closing:
			return ErrClosed
		}
	}
}

// tokenState reports what this site holds at tok.LSN: the token's record,
// another one (with its generation, and whether it is final: at or
// before the commit point), or nothing yet.
func (e *Env) tokenState(tok Token, f Finality) (st tokenState, gen uint64, final bool, err error) {
	final = f.Final(tok.LSN)
	first, last := e.log.First(), e.log.Last()
	switch {
	case last.IsZero() || last.Less(tok.LSN):
		return tokenAbsent, 0, false, nil
	case !first.IsZero() && !tok.LSN.Less(first):
		rec, err := e.log.Read(tok.LSN)
		switch {
		case errors.Is(err, wal.ErrNotRecordStart):
			return tokenOther, 0, final, nil
		case errors.Is(err, wal.ErrNotFound):
			return tokenAbsent, 0, false, nil // cut meanwhile
		case err != nil:
			return tokenAbsent, 0, false, fmt.Errorf("env: read %s for token %s: %w", tok.LSN, tok, err)
		}
		g, err := recordGen(rec.Payload)
		if err != nil {
			return tokenAbsent, 0, false, fmt.Errorf("env: record %s: %w", tok.LSN, err)
		}
		if g == tok.Gen && identity(g, rec.Payload) == tok.Checksum {
			return tokenHeld, g, final, nil
		}
		return tokenOther, g, final, nil
	}
	// Before the log's first record: archived, or before a snapshot.
	var ok bool
	err = e.readMeta(func(mb *bolt.Bucket, applied lsn.LSN) error {
		if applied.Less(tok.LSN) {
			return nil
		}
		gen, ok, err = genAt(mb, tok.LSN)
		return err
	})
	switch {
	case err != nil || !ok:
		return tokenAbsent, 0, false, err
	case gen == tok.Gen:
		return tokenHeld, gen, final, nil
	}
	return tokenOther, gen, final, nil
}

// readMeta runs fn over the applied data's meta bucket.
func (e *Env) readMeta(fn func(mb *bolt.Bucket, applied lsn.LSN) error) error {
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	return e.db.View(func(btx *bolt.Tx) error {
		m, err := readMeta(btx)
		if err != nil {
			return err
		}
		return fn(btx.Bucket(bucketMeta), m.applied)
	})
}

// Sees reports whether the read sees the commit named by tok: its LSN
// is at or before what the read reflects, and the record there is the
// token's (by the generation table of the read's snapshot, or, for a
// record the applier has not applied yet, which only a read through the
// writer's view sees, by the log).
func (rt *ReadTx) Sees(tok Token) (bool, error) {
	if rt.at.Less(tok.LSN) {
		return false, nil
	}
	if !tok.identified() {
		return true, nil
	}
	var mb *bolt.Bucket
	applied := rt.at
	switch {
	case rt.tx != nil:
		applied = rt.tx.applied
		if applied.Less(tok.LSN) {
			st, _, _, err := rt.tx.e.tokenState(tok, durable{rt.tx.e})
			return st == tokenHeld, err
		}
		if _, err := rt.tx.snapshot(); err != nil {
			return false, err
		}
		btx := rt.tx.btx
		if rt.tx.rc != nil {
			btx = rt.tx.rc.btx
		}
		mb = btx.Bucket(bucketMeta)
	default:
		mb = rt.btx.Bucket(bucketMeta)
	}
	gen, ok, err := genAt(mb, tok.LSN)
	return ok && gen == tok.Gen, err
}
