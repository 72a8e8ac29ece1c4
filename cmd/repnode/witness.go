package main

// Witness sites (--witness): a witness keeps only its election state,
// votes, counts toward the election majority and is the status agent of
// a group of two data sites (site.StartWitness). Its HTTP API is status
// and metrics; the key/value and admin paths answer that it holds no data.

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"logship/cmd/internal/api"
	"logship/env/site"
)

// modeName is the start-up mode as logged: master, client, elect or
// witness.
func (n *node) modeName() string {
	if n.wit != nil {
		return "witness"
	}
	return modeName(n.cfg.Mode())
}

func (n *node) witnessRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", n.handleWitnessStatus)
	mux.HandleFunc("GET /healthz", handleHealthz)
	mux.HandleFunc("GET /readyz", n.handleReadyz)
	mux.Handle("GET /metrics", n.metrics.handler())
	noData := func(w http.ResponseWriter, r *http.Request) {
		st := n.wit.Status()
		body := api.ErrorBody{Error: fmt.Sprintf("site %d is a witness: it holds no data", n.cfg.ID)}
		if st.Master != 0 {
			body.Master, body.MasterAddr = uint64(st.Master), n.masterAddr(uint64(st.Master))
			body.MasterHTTP = n.httpAddrOf(uint64(st.Master))
			body.Error += fmt.Sprintf("; the master is site %d", st.Master)
		}
		writeJSON(w, http.StatusServiceUnavailable, body)
	}
	mux.HandleFunc("/v1/kv/", noData)
	mux.HandleFunc("/v1/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("site %d is a witness: it has no log to sync, archive or hand over; ask a data site", n.cfg.ID)})
	})
	return mux
}

func (n *node) handleWitnessStatus(w http.ResponseWriter, r *http.Request) {
	st := n.wit.Status()
	out := api.Status{
		ID: n.cfg.ID, Role: "witness", Master: uint64(st.Master), Gen: st.Gen,
		LSN: "0/0", LastLSN: "0/0", EndLSN: "0/0", DurableLSN: "0/0", AppliedLSN: "0/0",
		SyncState: "none", Mode: "witness",
		Election: &api.Election{EGen: st.EGen, Electing: st.Electing, VotedFor: uint64(st.VotedFor)},
		Sites:    []api.Site{},
	}
	if st.Master != 0 {
		out.MasterAddr = n.masterAddr(uint64(st.Master))
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	up := map[uint64]bool{}
	for _, id := range st.Peers {
		up[uint64(id)] = true
	}
	out.HTTPAddr, out.MasterHTTP = n.cfg.AdvertisedHTTP(), n.httpAddrOf(uint64(st.Master))
	addrs := n.wit.PeerAddrs()
	for _, id := range sortedPeerIDs(n.cfg.Peers) {
		a := addrs[site.SiteID(id)]
		out.Sites = append(out.Sites, api.Site{ID: id, Addr: n.cfg.Peers[id], Connected: up[id], HTTPAddr: a.HTTP, RESPAddr: a.RESP})
	}
	writeJSON(w, http.StatusOK, out)
}

var (
	dHolder   = desc("witness_grant_holder", "Witness: the data site holding the status-agent grant (0 = none).")
	dWitDrops = desc("witness_rep_dropped_total", "Witness: replication messages received and dropped (a witness keeps no log).")
)

// collectWitness exports a witness's metrics: role, generations, the
// grant holder and the transport's per-peer counters.
func collectWitness(n *node, gauge func(*prometheus.Desc, float64, ...string), cnt func(*prometheus.Desc, uint64, ...string)) {
	st := n.wit.Status()
	gauge(dErr, b2f(st.Err == nil))
	gauge(dRole, 1, "witness")
	gauge(dGen, float64(st.Gen))
	gauge(dIsMaster, float64(st.Master))
	gauge(dEGen, float64(st.EGen))
	gauge(dElecting, b2f(st.Electing))
	gauge(dCanWrite, 0)
	gauge(dHolder, float64(st.Holder))
	cnt(dWitDrops, st.RepDropped)
	collectTransport(n, gauge, cnt)
}
