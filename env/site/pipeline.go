package site

// The two halves of Update, for pipelines.
//
// A caller with several writes that must take effect in a given order,
// but need not wait for each other's fsyncs and acks (a RESP client's
// pipeline), runs Append for each in that order from one goroutine: the
// transactions run and their records reach the log in that order. It
// then waits for each (Pending.Wait) concurrently, so they share group
// commits and acks. Update is Append followed by Wait.

import (
	"context"
	"errors"

	"logship/env"
)

// Pending is a write whose transaction ran and whose record is in the
// log, not yet durable (Append). Call Wait exactly once, and soon: the
// group commit it belongs to waits for it, so a caller holding several
// calls their Wait concurrently, not one after the other.
type Pending struct {
	s *Site
	p *env.Pending
	c *commit // nil when the transaction wrote nothing
}

// Append is the first half of Update: it admits the write (the master
// role, elect's agreement, no lockout), runs fn in a read-write
// transaction and appends its record, and returns without waiting for
// the record to be durable. Transactions appended one after another
// from one goroutine take effect in that order. An error from fn, or a
// refusal found under the writer mutex, is returned by Wait. ctx bounds
// the waits before the transaction.
func (s *Site) Append(ctx context.Context, fn func(*env.Tx) error) (*Pending, error) {
	if err := s.gate(ctx, true); err != nil {
		return nil, err
	}
	p, err := s.e.Append(ctx, func(tx *env.Tx) error {
		// Asked again under the writer mutex: a transfer or step-down
		// that began after the gate refuses the commit before it appends
		// (transfer.go reads the log end under that mutex).
		if err := s.writeErr(); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return nil, err
	}
	w := &Pending{s: s, p: p}
	if p.Wrote() {
		w.c = s.handOff(p)
	}
	return w, nil
}

// Wait is the second half of Update: it waits until the record is
// durable here, then for the ack policy, as Update does, and returns the
// commit's token (Token.Permanent) or the transaction's error. ctx
// bounds the wait for the ack policy; the commit completes regardless.
func (w *Pending) Wait(ctx context.Context) (env.Token, error) {
	s := w.s
	tok, err := w.p.Durable()
	if errors.Is(err, env.ErrNotWritable) {
		err = s.writeErr()
		if err == nil {
			err = &NotMasterError{Master: s.Status().Master}
		}
	}
	if err != nil || w.c == nil {
		return tok, err
	}
	// Durable locally: tell the loop, then wait for the ack policy.
	s.madeDurable(tok.LSN)
	select {
	case tok.Permanent = <-w.c.ch:
	case <-ctx.Done():
	case <-s.done:
	}
	return tok, nil
}

// Wrote reports whether the transaction appended a record (a write that
// changed nothing, say a delete of missing keys, appends none).
func (w *Pending) Wrote() bool { return w.c != nil }
