package main

// What a failed client operation tells its caller, whatever the protocol:
// the HTTP API (writeError) and the RESP listener (respError) both map
// env's and site's errors through describe, so they refuse the same
// operations for the same reasons and name the same master.

import (
	"context"
	"errors"
	"fmt"

	"logship/env"
	"logship/env/site"
)

// failKind is the class of a failed operation, neutral of protocol.
type failKind int

const (
	failInternal     failKind = iota // anything else
	failNotMaster                    // a write (or lease read) on a site that may not serve it: try the master
	failNoLease                      // a master refused by the election layer (no lease, a transfer under way)
	failLockout                      // a client synchronising with its master
	failUnavailable                  // a stuck client (join failure, a refused rollback)
	failNeverApplied                 // a read token's write was rolled back: it will never be applied here
	failBadRequest                   // the request itself is wrong (an empty or too long key)
	failTooLarge                     // a value or transaction too large
	failTimeout                      // a bound ran out
	failCanceled                     // the caller went away
	failClosed                       // the site is shutting down
)

// failure is a failed operation as a caller sees it.
type failure struct {
	kind failKind
	msg  string
	// The master this site knows (0 if none), when the caller should go
	// there: its site id and replication address.
	master     uint64
	masterAddr string
}

// describe classifies err and says it in words.
func (n *node) describe(err error) failure {
	var nm *site.NotMasterError
	switch {
	case errors.As(err, &nm):
		f := failure{kind: failNotMaster, msg: "not the master, and no master is known"}
		if nm.Master != 0 {
			f.msg = fmt.Sprintf("not the master; the master is site %d", nm.Master)
			f.master, f.masterAddr = uint64(nm.Master), n.masterAddr(uint64(nm.Master))
		}
		return f
	case errors.Is(err, site.ErrNotMaster), errors.Is(err, site.ErrLeaseExpired):
		// Refused by the election layer (say, no lease): name the master
		// this site knows, if any.
		f := failure{kind: failNoLease, msg: err.Error()}
		if errors.Is(err, site.ErrNotMaster) {
			f.kind = failNotMaster
		}
		if st := n.site.Status(); st.Master != 0 {
			f.master, f.masterAddr = uint64(st.Master), n.masterAddr(uint64(st.Master))
		}
		return f
	case errors.Is(err, site.ErrLockout):
		return failure{kind: failLockout, msg: "site is synchronising with its master (lockout): " + err.Error()}
	case errors.Is(err, env.ErrNeverApplied):
		return failure{kind: failNeverApplied, msg: err.Error()}
	case errors.Is(err, site.ErrJoinFailure), errors.Is(err, site.ErrRollbackRefused):
		return failure{kind: failUnavailable, msg: err.Error()}
	case errors.Is(err, env.ErrEmptyBucket), errors.Is(err, env.ErrEmptyKey), errors.Is(err, env.ErrKeyTooLarge):
		return failure{kind: failBadRequest, msg: err.Error()}
	case errors.Is(err, env.ErrValueTooLarge), errors.Is(err, env.ErrTxTooLarge):
		return failure{kind: failTooLarge, msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return failure{kind: failTimeout, msg: err.Error()}
	case errors.Is(err, context.Canceled):
		return failure{kind: failCanceled, msg: err.Error()}
	case errors.Is(err, env.ErrClosed), errors.Is(err, site.ErrClosed):
		return failure{kind: failClosed, msg: "shutting down"}
	}
	return failure{kind: failInternal, msg: err.Error()}
}

// masterAddr is the replication address of site id.
func (n *node) masterAddr(id uint64) string {
	if id == n.cfg.ID {
		return n.cfg.Listen
	}
	if n.site != nil {
		if m, ok := n.site.Members().Find(site.SiteID(id)); ok && m.Addr != "" {
			return m.Addr
		}
	}
	return n.cfg.Peers[id]
}

// respAddr is the RESP address of site id: the one it advertised to this
// site (env/site/addrs.go), else --resp-peers; "" if neither says.
func (n *node) respAddr(id uint64) string {
	if id == n.cfg.ID {
		return n.cfg.RESP
	}
	if a := n.peerAddrs()[site.SiteID(id)].RESP; a != "" {
		return a
	}
	return n.cfg.RESPPeers[id]
}
