package main

// Health, readiness and master discovery: /healthz, /readyz, and the
// client addresses (--advertise-http) the sites tell each other, which
// status and a client's 503 name.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"logship/env/site"
)

// Readiness is the /readyz answer.
type Readiness struct {
	Ready    bool   `json:"ready"`
	Role     string `json:"role"`
	Reason   string `json:"reason,omitempty"` // why not ready
	Master   uint64 `json:"master,omitempty"`
	LagBytes int64  `json:"lag_bytes"`         // a client's bytes behind its master
	MaxLag   int64  `json:"max_lag,omitempty"` // the bound applied (0: none)
}

// handleHealthz answers 200 while the process serves HTTP: a liveness
// probe (restart it if this fails), not a statement about replication.
func handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// handleReadyz answers 200 when the site can serve its role: it knows
// its role, its storage has not failed, and a client is synchronised with
// a known master and within the lag bound (--ready-max-lag-bytes, or
// ?max_lag=BYTES per request); 503 with the reason otherwise.
func (n *node) handleReadyz(w http.ResponseWriter, r *http.Request) {
	maxLag := n.cfg.ReadyMaxLagBytes
	if v := r.URL.Query().Get("max_lag"); v != "" {
		b, err := strconv.ParseInt(v, 10, 64)
		if err != nil || b < 0 {
			writeJSON(w, http.StatusBadRequest, Readiness{Reason: fmt.Sprintf("max_lag=%q: want a byte count >= 0 (0 = no bound)", v)})
			return
		}
		maxLag = b
	}
	rd := n.readiness(maxLag)
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}

func (n *node) readiness(maxLag int64) Readiness {
	if n.wit != nil {
		st := n.wit.Status()
		rd := Readiness{Ready: st.Err == nil, Role: "witness", Master: uint64(st.Master)}
		if st.Err != nil {
			rd.Reason = "witness failed: " + st.Err.Error()
		}
		return rd
	}
	st := n.site.Status()
	rd := Readiness{Role: st.Role.String(), Master: uint64(st.Master), LagBytes: st.BehindBytes, MaxLag: maxLag}
	switch {
	case st.StorageFailed:
		rd.Reason = "storage failed: " + errText(st.Err)
	case rd.Role == "master":
		rd.Ready, rd.LagBytes = true, 0
	case rd.Role != "client":
		rd.Reason = "no role yet (electing, or waiting to be started)"
	case st.Master == 0:
		rd.Reason = "client with no known master"
	case syncStateName(st) != "ready":
		rd.Reason = fmt.Sprintf("client synchronising with site %d (sync_state %s)", st.Master, syncStateName(st))
	case st.Lockout:
		rd.Reason = "client locked out while it synchronises"
	case maxLag > 0 && st.BehindBytes > maxLag:
		rd.Reason = fmt.Sprintf("client %d bytes behind its master, more than %d", st.BehindBytes, maxLag)
	default:
		rd.Ready = true
	}
	return rd
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// peerAddrs are the client addresses the peers advertised.
func (n *node) peerAddrs() map[site.SiteID]site.ClientAddrs {
	if n.wit != nil {
		return n.wit.PeerAddrs()
	}
	return n.site.PeerAddrs()
}

// httpAddrOf is site id's advertised HTTP address: this site's own
// (--advertise-http, else --http), or what the peer told it; "" if not
// known.
func (n *node) httpAddrOf(id uint64) string {
	if id == 0 {
		return ""
	}
	if id == n.cfg.ID {
		return n.cfg.AdvertisedHTTP()
	}
	return n.peerAddrs()[site.SiteID(id)].HTTP
}

// redirectWrite answers a write refused because this site is not the
// master with 307 to the master's HTTP address, when the request asks
// for it (?redirect=true) and the master's address is known; it reports
// whether it answered. Without ?redirect the answer stays the 503 of the
// external contract, which names the master (master, master_http).
func (n *node) redirectWrite(w http.ResponseWriter, r *http.Request, err error) bool {
	if r.URL.Query().Get("redirect") != "true" {
		return false
	}
	var nm *site.NotMasterError
	if !errors.As(err, &nm) || nm.Master == 0 || uint64(nm.Master) == n.cfg.ID {
		return false
	}
	addr := n.httpAddrOf(uint64(nm.Master))
	if addr == "" {
		return false
	}
	w.Header().Set("Location", "http://"+addr+r.URL.RequestURI())
	writeJSON(w, http.StatusTemporaryRedirect, map[string]any{"error": fmt.Sprintf("not the master; the master is site %d", nm.Master),
		"master": uint64(nm.Master), "master_http": addr})
	return true
}
