package rep

import (
	"reflect"

	"logship/wal/lsn"
)

// Stats are the node's counters, modeled on Berkeley DB's rep_stat. Every
// uint64 field is a monotonic counter unless its comment says gauge.
type Stats struct {
	// Messages.
	MsgsSent    uint64 // handed to the driver to send (st_msgs_sent)
	MsgsRecv    uint64 // stepped (st_msgs_processed)
	MsgsBadGen  uint64 // dropped for an old generation (st_msgs_badgen)
	MsgsIgnored uint64 // dropped as meaningless now, e.g. live records while syncing (st_msgs_recover)

	// Master side: shipping and serving.
	LogRecordsSent uint64 // records sent, live and served
	LogBytesSent   uint64 // payload bytes of those
	BulkTransfers  uint64 // LOG messages carrying more than one record (st_bulk_transfers)
	Throttles      uint64 // passes cut by ThrottleBytes (st_nthrottles)
	ReqsServed     uint64 // LOG_REQ answered with records
	ReqsMissed     uint64 // LOG_REQ answered LOG_NOTAVAIL
	// LogDamaged: requests that met a damaged record in the local log
	// (ErrLogDamaged): answered as if it were archived.
	LogDamaged     uint64
	HeartbeatsSent uint64
	AcksRecv       uint64
	Perms          uint64  // commits reported permanent
	PermFailed     uint64  // commits past AckTimeoutTicks (st_perm_failed)
	MaxPermLSN     lsn.LSN // gauge: newest permanent commit (st_max_perm_lsn)
	SnapshotsTaken uint64
	InitsServed    uint64 // UPDATE sent (by the master, or by a client to its peer)
	PagesSent      uint64
	PageBytesSent  uint64
	InitsAbandoned uint64 // inits whose log retention exceeded InitRetainMaxBytes

	// Client side: receiving and gap repair.
	LogRecords      uint64 // records appended in order (st_log_records)
	LogBytesRecv    uint64
	LogDuplicated   uint64 // duplicate or stale records ignored (st_log_duplicated)
	LogQueued       uint64 // records buffered ahead of a gap (st_log_queued_total)
	LogQueuedMax    uint64 // gauge: most records ever buffered at once (st_log_queued_max)
	LogQueueDropped uint64 // records dropped because the gap buffer was full
	Gaps            uint64 // gaps detected
	LogRequested    uint64 // LOG_REQ sent (st_log_requested)
	Retransmits     uint64 // requests re-sent after their back-off expired
	Rereqs          uint64 // requests re-sent to the master after the peer could not serve or did not answer (st_client_rerequests)
	StaleNotAvail   uint64 // LOG_NOTAVAIL answers to a request no longer outstanding, ignored
	ClientSvcReq    uint64 // requests received from other clients (st_client_svc_req)
	ClientSvcMiss   uint64 // of those, answered "cannot serve" (st_client_svc_miss)
	AcksSent        uint64
	MasterSilent    uint64

	// Client side: synchronisation.
	MasterChanges     uint64 // (st_master_changes)
	SyncsDelayed      uint64
	Syncs             uint64  // syncs with a master started
	VerifyRequests    uint64  // VERIFY_REQ sent (walk-back steps + 1 per sync)
	VerifySkipped     uint64  // records stepped over unasked: past the master's log end
	SyncPoint         lsn.LSN // gauge: the last sync point found
	Rollbacks         uint64
	StartupsDone      uint64
	Outdated          uint64 // the master no longer had our sync point (st_outdated)
	Inits             uint64 // internal inits started
	InitsDone         uint64
	JoinFailures      uint64
	PagesRecv         uint64 // snapshot chunks received (st_pg_records)
	PageBytesRecv     uint64
	PagesDuplicated   uint64 // (st_pg_duplicated)
	InitsFromPeer     uint64 // inits whose snapshot came from the peer (client-to-client)
	PageBytesFromPeer uint64 // snapshot bytes received from the peer
	InitsFailed       uint64 // inits stopped with ErrInitAbandoned
	InitsBadSnapshot  uint64 // snapshots found damaged at install (InstallFailed): the init started over, or was given up
	InitsResumed      uint64 // inits that went on from a partly received snapshot
	PageBytesResumed  uint64 // snapshot bytes not sent again thanks to a resume
	InitDiscards      uint64 // inits that discarded records of the local log (Install.Discard before its end)
	RollbacksRefused  uint64 // rollbacks or init discards refused by MaxRollbackBytes
	RollbacksAllowed  uint64 // of those, let through once by AllowRollback
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats { return n.stats }

// Sub returns the counters accumulated since prev; gauges keep s's value.
func (s Stats) Sub(prev Stats) Stats {
	out := s
	ov, pv := reflect.ValueOf(&out).Elem(), reflect.ValueOf(prev)
	for i := range ov.NumField() {
		f := ov.Field(i)
		if f.Kind() != reflect.Uint64 || isGauge(ov.Type().Field(i).Name) {
			continue
		}
		f.SetUint(f.Uint() - pv.Field(i).Uint())
	}
	return out
}

func isGauge(name string) bool { return name == "LogQueuedMax" }
