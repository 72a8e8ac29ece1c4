package main

// Prometheus metrics. Everything but the commit latency histogram is read
// at scrape time from the environment's status and counters and from the
// transport's per-peer counters, so a scrape always sees one consistent
// snapshot of each and nothing is double-counted.
//
// An LSN is exported as one number that orders like it: file*2^32+offset
// (lsnValue), so that lag or progress can be graphed and compared.

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"logship/env"
	"logship/env/site"
	"logship/rep/transport"
	"logship/wal/lsn"
)

type metrics struct {
	reg     *prometheus.Registry
	commits *prometheus.HistogramVec
}

func newMetrics(n *node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.commits = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "logship_commit_duration_seconds",
		Help:    "Latency of HTTP and RESP writes (op resp_*) from the start of the transaction to its acknowledgement (durable locally and, when permanent, acknowledged per the ack policy).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 100µs .. 13s
	}, []string{"op", "permanent"})
	m.reg.MustRegister(m.commits, &collector{n: n},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observeCommit(op string, perm bool, d time.Duration) {
	m.commits.WithLabelValues(op, strconv.FormatBool(perm)).Observe(d.Seconds())
}

// lsnValue encodes an LSN as one number that orders like it: file * 2^32 +
// offset (exact in a float64 for files below 2^21).
func lsnValue(l lsn.LSN) float64 { return float64(uint64(l.File)<<32 | uint64(l.Offset)) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("logship_"+name, help, labels, nil)
}

var (
	dLSN       = desc("lsn", "LSN as file*2^32+offset; which = end (end of log: where the next record goes), last (newest record in the log), durable, applied, master (client: newest master LSN heard of), max_perm (newest permanent commit).", "which")
	dLSNFile   = desc("lsn_file", "Log file number of the LSN (which as in logship_lsn).", "which")
	dLSNOffset = desc("lsn_offset", "Byte offset in its log file of the LSN (which as in logship_lsn).", "which")
	dRole      = desc("role", "1 for this site's current role.", "role")
	dGen       = desc("generation", "Master generation this site knows.")
	dSync      = desc("sync_state", "1 for this site's current sync state.", "state")
	dLockout   = desc("lockout", "1 while the client is locked out (verify, init).")
	dIsMaster  = desc("master_id", "Site id of the master this site knows (0 = none).")
	dInit      = desc("init_bytes", "Internal init in progress: bytes received (kind=done) of the total (kind=total).", "kind")
	dSiteAck   = desc("site_acked_lsn", "Master: durable LSN each site acknowledged (file*2^32+offset).", "site")
	dSiteLag   = desc("site_lag_bytes", "Master: log bytes between what the site acknowledged and the newest record.", "site")
	dSiteConn  = desc("site_connected", "1 when the replication connection to the site is up.", "site")
	dSiteSent  = desc("site_sent_lsn", "Master: newest record shipped to each site (file*2^32+offset).", "site")
	dSiteFlush = desc("site_flushed_lsn", "Master: newest record each site made durable (file*2^32+offset; = site_acked_lsn).", "site")
	dSiteAppl  = desc("site_applied_lsn", "Master: newest record each site's readers see (file*2^32+offset; 0 if the site does not report it).", "site")
	dSiteLagS  = desc("site_lag_seconds", "Master: age of the oldest record the site has not made durable; 0 when caught up.", "site")
	dSiteInit  = desc("site_init_bytes", "Master: an internal init it serves the site: snapshot bytes sent (state=sent) and the snapshot's size (state=total); 0 when none.", "site", "state")
	dSiteInitE = desc("site_init_eta_seconds", "Master: estimated time for the internal init it serves the site to finish copying, at its recent rate; 0 when none, -1 when it is not progressing.", "site")
	dSiteETA   = desc("site_catchup_eta_seconds", "Master: estimated time for the site to catch up at its recent flush rate; 0 when caught up, -1 when it is not progressing.", "site")
	dBehind    = desc("behind_bytes", "Client: log bytes between its newest record and the newest master record it has heard of.")
	dFsync     = desc("fsync_duration_seconds", "Latency of the log fsyncs made for commits (the master's group commits and a client's received records).")
	dPeerBytes = desc("transport_bytes_total", "Message bytes on the replication connection to a site.", "site", "direction")
	dPeerDrops = desc("transport_drops_total", "Messages dropped on the way to a site (queue full, not connected).", "site")
	dPeerConns = desc("transport_connects_total", "Replication connections established to a site.", "site")
	dPeerDisc  = desc("transport_disconnects_total", "Replication connections to a site lost.", "site")
	dRefused   = desc("transport_inbound_refused_total", "Inbound replication connections refused (TLS, handshake, unknown site, or too many in their handshake at once).")
	dEGen      = desc("election_generation", "Election generation (election mode).")
	dElecting  = desc("electing", "1 while this site takes part in an election (election mode).")
	dCanWrite  = desc("can_write", "1 when this site accepts writes now (master, and elections agree).")
	dErr       = desc("up", "1 when the environment answers; 0 when it failed or closed.")
	dMismatch  = desc("site_data_mismatch", "1 when the site's last reported data digest differed from this master's at the same record (master only): its data is damaged or diverged.", "site")
	dStorage   = desc("storage_failed", "1 when the environment failed (a full disk, an I/O error, no file descriptors left) and this site stopped replicating until repaired and restarted.")
)

// counter describes one monotonic counter read from RepStats or Stats.
type counter struct {
	d   *prometheus.Desc
	get func(rs repStats, es envStats) uint64
}

var counters = []counter{
	{desc("commits_total", "Transactions committed on this site."), func(_ repStats, e envStats) uint64 { return e.Commits }},
	{desc("applied_records_total", "Log records applied to the data file."), func(_ repStats, e envStats) uint64 { return e.AppliedRecords }},
	{desc("checkpoints_total", "Checkpoints taken."), func(_ repStats, e envStats) uint64 { return e.Checkpoints }},
	{desc("log_walked_records_total", "Log records read to tell an LSN inside a record from damage: on a master, the cost of answering the VERIFY_REQs of clients walking back diverged logs (at most 8 KiB of records each)."), func(_ repStats, e envStats) uint64 { return e.LogWalkedRecords }},
	{desc("log_keep_let_go_total", "Lagging sites let go by a checkpoint: they needed more log than --log-keep-bytes keeps, and will need an internal init."), func(_ repStats, e envStats) uint64 { return e.LogKeepLetGo }},
	{desc("rolled_back_total", "Transactions undone by rollbacks."), func(_ repStats, e envStats) uint64 { return e.RolledBack }},
	{desc("perms_total", "Commits reported permanent under the ack policy."), func(r repStats, _ envStats) uint64 { return r.Perms }},
	{desc("perm_failed_total", "Commits that did not get the acks their policy needs in time (st_perm_failed)."), func(r repStats, _ envStats) uint64 { return r.PermFailed }},
	{desc("acks_received_total", "Acks received from clients."), func(r repStats, _ envStats) uint64 { return r.AcksRecv }},
	{desc("acks_sent_total", "Acks sent to the master."), func(r repStats, _ envStats) uint64 { return r.AcksSent }},
	{desc("messages_sent_total", "Replication messages sent."), func(r repStats, _ envStats) uint64 { return r.MsgsSent }},
	{desc("messages_received_total", "Replication messages processed."), func(r repStats, _ envStats) uint64 { return r.MsgsRecv }},
	{desc("messages_bad_total", "Replication messages rejected as malformed."), func(r repStats, _ envStats) uint64 { return r.BadMessages }},
	{desc("send_errors_total", "Replication messages the transport refused."), func(r repStats, _ envStats) uint64 { return r.SendErrors }},
	{desc("log_records_sent_total", "Log records shipped."), func(r repStats, _ envStats) uint64 { return r.LogRecordsSent }},
	{desc("log_bytes_sent_total", "Log payload bytes shipped."), func(r repStats, _ envStats) uint64 { return r.LogBytesSent }},
	{desc("log_records_received_total", "Log records received and appended in order."), func(r repStats, _ envStats) uint64 { return r.LogRecords }},
	{desc("log_bytes_received_total", "Log payload bytes received."), func(r repStats, _ envStats) uint64 { return r.LogBytesRecv }},
	{desc("log_gaps_total", "Gaps detected in the received log."), func(r repStats, _ envStats) uint64 { return r.Gaps }},
	{desc("log_requests_total", "Log requests sent (st_log_requested)."), func(r repStats, _ envStats) uint64 { return r.LogRequested }},
	{desc("log_retransmits_total", "Log requests re-sent after their back-off."), func(r repStats, _ envStats) uint64 { return r.Retransmits }},
	{desc("rerequests_total", "Requests re-sent to the master after the peer could not serve (st_client_rerequests)."), func(r repStats, _ envStats) uint64 { return r.Rereqs }},
	{desc("requests_served_total", "Log requests answered with records."), func(r repStats, _ envStats) uint64 { return r.ReqsServed }},
	{desc("requests_missed_total", "Log requests answered not available."), func(r repStats, _ envStats) uint64 { return r.ReqsMissed }},
	{desc("log_damaged_total", "Requests that met a damaged record in this site's log (served as if archived: the client is rebuilt by internal init); the site's log names the record and file."), func(r repStats, _ envStats) uint64 { return r.LogDamaged }},
	{desc("client_requests_served_total", "Requests received from other clients (client-to-client)."), func(r repStats, _ envStats) uint64 { return r.ClientSvcReq }},
	{desc("master_changes_total", "Master changes seen."), func(r repStats, _ envStats) uint64 { return r.MasterChanges }},
	{desc("syncs_total", "Synchronisations with a master started."), func(r repStats, _ envStats) uint64 { return r.Syncs }},
	{desc("rollbacks_total", "Rollbacks to a sync point."), func(r repStats, _ envStats) uint64 { return r.Rollbacks }},
	{desc("init_discards_total", "Internal inits that discarded this site's own log records (kept in a rollback file)."), func(r repStats, _ envStats) uint64 { return r.InitDiscards }},
	{desc("rollbacks_refused_total", "Rollbacks or init discards refused by --max-rollback-bytes."), func(r repStats, _ envStats) uint64 { return r.RollbacksRefused }},
	{desc("inits_total", "Internal initializations started."), func(r repStats, _ envStats) uint64 { return r.Inits }},
	{desc("inits_done_total", "Internal initializations completed."), func(r repStats, _ envStats) uint64 { return r.InitsDone }},
	{desc("inits_failed_total", "Internal initializations abandoned."), func(r repStats, _ envStats) uint64 { return r.InitsFailed }},
	{desc("inits_bad_snapshot_total", "Snapshots of internal initializations found damaged at install (the init started over, or was given up after three in a row)."), func(r repStats, _ envStats) uint64 { return r.InitsBadSnapshot }},
	{desc("inits_served_total", "Internal initializations served to other sites."), func(r repStats, _ envStats) uint64 { return r.InitsServed }},
	{desc("inits_resumed_total", "Internal initializations that went on from a partly received snapshot (after a restart, or a change of the site serving it)."), func(r repStats, _ envStats) uint64 { return r.InitsResumed }},
	{desc("init_bytes_received_total", "Snapshot bytes received by internal initializations."), func(r repStats, _ envStats) uint64 { return r.PageBytesRecv }},
	{desc("init_bytes_sent_total", "Snapshot bytes sent for internal initializations."), func(r repStats, _ envStats) uint64 { return r.PageBytesSent }},
	{desc("join_failures_total", "Joins refused: too far behind with --no-auto-init."), func(r repStats, _ envStats) uint64 { return r.JoinFailures }},
	{desc("heartbeats_sent_total", "Master heartbeats sent."), func(r repStats, _ envStats) uint64 { return r.HeartbeatsSent }},
	{desc("client_fsyncs_total", "Client log fsyncs made by the replication driver."), func(r repStats, _ envStats) uint64 { return r.Fsyncs }},
	{desc("loop_slow_turns_total", "Turns of the replication loop that took over 100 ms: heartbeats and acks waited meanwhile (each is logged)."), func(r repStats, _ envStats) uint64 { return r.SlowTurns }},
}

// electCounter describes one election counter (zero with elections off,
// so dashboards need not special-case a --master or --client site).
type electCounter struct {
	d   *prometheus.Desc
	get func(site.ElectStats) uint64
}

var electCounters = []electCounter{
	{desc("elections_total", "Elections this site took part in (st_elections)."), func(s site.ElectStats) uint64 { return s.Elections }},
	{desc("elections_won_total", "Elections this site won (st_elections_won)."), func(s site.ElectStats) uint64 { return s.ElectionsWon }},
	{desc("elections_failed_total", "Elections that timed out without a winner."), func(s site.ElectStats) uint64 { return s.ElectionsFailed }},
	{desc("election_votes_sent_total", "Votes cast for another site (VOTE2 sent)."), func(s site.ElectStats) uint64 { return s.Vote2Sent }},
	{desc("election_votes_received_total", "Votes received (VOTE2)."), func(s site.ElectStats) uint64 { return s.Vote2Recv }},
	{desc("election_master_changes_total", "Master changes the election layer saw."), func(s site.ElectStats) uint64 { return s.MasterChanges }},
	{desc("election_dup_masters_total", "Duplicate masters detected (st_dupmasters)."), func(s site.ElectStats) uint64 { return s.DupMasters }},
}

type (
	repStats = site.Stats
	envStats = env.Stats
)

type collector struct{ n *node }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dLSN, dLSNFile, dLSNOffset, dRole, dGen, dSync, dLockout, dIsMaster, dInit,
		dSiteAck, dSiteLag, dSiteConn, dSiteSent, dSiteFlush, dSiteAppl, dSiteLagS, dSiteETA, dSiteInit, dSiteInitE, dBehind, dFsync,
		dPeerBytes, dPeerDrops, dPeerConns, dPeerDisc, dRefused, dEGen, dElecting, dCanWrite, dErr, dStorage, dMismatch, dHolder, dWitDrops} {
		ch <- d
	}
	for _, d := range keepDescs {
		ch <- d
	}
	for _, d := range opsDescs {
		ch <- d
	}
	for _, d := range delayDescs {
		ch <- d
	}
	for _, k := range counters {
		ch <- k.d
	}
	for _, k := range electCounters {
		ch <- k.d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cnt := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	collectOperations(n, gauge)
	if n.wit != nil {
		collectWitness(n, gauge, cnt)
		return
	}
	st, rs := n.site.Status(), n.site.Stats()
	gauge(dErr, b2f(!st.StorageFailed))
	gauge(dStorage, b2f(st.StorageFailed))
	es := n.env.Stats()
	lsns := []struct {
		which string
		l     lsn.LSN
	}{{"end", endOfLog(st)}, {"last", st.LSN}, {"durable", st.DurableLSN}, {"applied", st.AppliedLSN}, {"master", st.MasterLSN}, {"max_perm", rs.MaxPermLSN}}
	for _, x := range lsns {
		gauge(dLSN, lsnValue(x.l), x.which)
		gauge(dLSNFile, float64(x.l.File), x.which)
		gauge(dLSNOffset, float64(x.l.Offset), x.which)
	}
	role := st.Role.String()
	gauge(dRole, 1, role)
	gauge(dGen, float64(st.Gen))
	gauge(dSync, 1, syncStateName(st))
	gauge(dLockout, b2f(st.Lockout))
	gauge(dIsMaster, float64(st.Master))
	gauge(dInit, float64(st.InitDone), "done")
	gauge(dInit, float64(st.InitTotal), "total")
	gauge(dBehind, float64(st.BehindBytes))
	for _, k := range counters {
		cnt(k.d, k.get(rs, es))
	}
	est := n.site.ElectStats() // zero with elections off
	for _, k := range electCounters {
		cnt(k.d, k.get(est))
	}
	ch <- fsyncHistogram(es)
	known := map[uint64]int{}
	for i, s := range st.Sites {
		known[uint64(s.ID)] = i
	}
	for _, id := range n.peerIDs() {
		sid := strconv.FormatUint(id, 10)
		if i, ok := known[id]; ok {
			s := st.Sites[i]
			gauge(dSiteAck, lsnValue(s.Acked), sid)
			gauge(dSiteLag, float64(s.LagBytes), sid)
			gauge(dSiteSent, lsnValue(s.SentLSN), sid)
			gauge(dSiteFlush, lsnValue(s.FlushedLSN), sid)
			gauge(dSiteAppl, lsnValue(s.AppliedLSN), sid)
			gauge(dSiteLagS, s.LagTime.Seconds(), sid)
			gauge(dSiteETA, etaSeconds(s.CatchUpETA), sid)
			gauge(dSiteInit, float64(s.InitSentBytes), sid, "sent")
			gauge(dSiteInit, float64(s.InitTotalBytes), sid, "total")
			initETA := 0.0
			if s.InitTotalBytes > 0 {
				initETA = etaSeconds(s.InitETA)
			}
			gauge(dSiteInitE, initETA, sid)
			gauge(dMismatch, b2f(!s.DataMismatch.IsZero()), sid)
		}
	}
	collectTransport(n, gauge, cnt)
	collectLogKeep(n, gauge)
	collectDelay(n, gauge)
	if ei := electionStatus(n); ei != nil {
		gauge(dEGen, float64(ei.EGen))
		gauge(dElecting, b2f(ei.Electing))
		gauge(dCanWrite, b2f(ei.CanWrite))
	} else {
		gauge(dCanWrite, b2f(st.Role.String() == "master"))
	}
}

// collectTransport exports the transport's per-peer counters.
func collectTransport(n *node, gauge func(*prometheus.Desc, float64, ...string), cnt func(*prometheus.Desc, uint64, ...string)) {
	ts := n.tr.Stats()
	for _, id := range n.peerIDs() {
		sid := strconv.FormatUint(id, 10)
		ps := ts.Peers[transportID(id)]
		gauge(dSiteConn, b2f(ps.Connected), sid)
		cnt(dPeerBytes, ps.BytesSent, sid, "sent")
		cnt(dPeerBytes, ps.BytesRecv, sid, "received")
		cnt(dPeerDrops, ps.Drops, sid)
		cnt(dPeerConns, ps.Connects, sid)
		cnt(dPeerDisc, ps.Disconnects, sid)
	}
	cnt(dRefused, ts.InboundRefused)
}

// fsyncHistogram exports env's fsync latency buckets as they are: env
// keeps them cumulative with Prometheus' bounds semantics (≤).
func fsyncHistogram(es envStats) prometheus.Metric {
	buckets := make(map[float64]uint64, len(env.FsyncBuckets))
	for i, ub := range env.FsyncBuckets {
		if i < len(es.FsyncBucketCounts) {
			buckets[ub] = es.FsyncBucketCounts[i]
		}
	}
	return prometheus.MustNewConstHistogram(dFsync, es.FsyncCount, es.FsyncSeconds, buckets)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedPeerIDs(p Peers) []uint64 {
	ids := make([]uint64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func transportID(id uint64) transport.ID { return transport.ID(id) }
