package api

// WriteResult answers a committed write. Token names the write's record
// (generation, LSN, checksum): pass it as ?token= (or ?min_lsn=) to a GET
// on any site to read your own write there.
type WriteResult struct {
	LSN       string `json:"lsn"`
	Gen       uint64 `json:"gen"`
	Token     string `json:"token"`
	Permanent bool   `json:"permanent"`
}

// ErrorBody is every error answer. Master and MasterAddr are set when the
// site is not the master (503): the master's id and replication address.
type ErrorBody struct {
	Error      string `json:"error"`
	Master     uint64 `json:"master,omitempty"`
	MasterAddr string `json:"master_addr,omitempty"`
	// MasterHTTP is the master's client API address (its --advertise-http,
	// learned over replication), when known: retry the write there.
	MasterHTTP string `json:"master_http,omitempty"`
}

// Site is one other site in /v1/status. Beyond id, addr and connected,
// the fields are the master's view (zero LSNs and lags elsewhere), like
// PostgreSQL's pg_stat_replication. LSNs name records: a caught-up site
// has flushed_lsn = applied_lsn = the master's last_lsn.
type Site struct {
	ID        uint64 `json:"id"`
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
	LSN       string `json:"lsn"`       // what the site acknowledged durable (= flushed_lsn)
	LagBytes  int64  `json:"lag_bytes"` // log bytes from lsn to the master's last record

	SentLSN    string `json:"sent_lsn"`    // newest record shipped to the site
	FlushedLSN string `json:"flushed_lsn"` // newest record durable there
	AppliedLSN string `json:"applied_lsn"` // newest record its readers see ("0/0": not reported)
	// LagSeconds: how long ago the master appended the oldest record the
	// site has not made durable; 0 when caught up.
	LagSeconds float64 `json:"lag_seconds"`
	// CatchUpETASeconds: time to catch up at the site's recent flush
	// rate; 0 when caught up, -1 when it is not progressing.
	CatchUpETASeconds float64 `json:"catchup_eta_seconds"`
	// An internal init the master serves the site (absent when none):
	// snapshot bytes sent, its size, the copy's recent rate and the time
	// left at that rate (-1: not progressing or not measured yet).
	InitSentBytes  int64   `json:"init_sent_bytes,omitempty"`
	InitTotalBytes int64   `json:"init_total_bytes,omitempty"`
	InitRate       float64 `json:"init_bytes_per_second,omitempty"`
	InitETASeconds float64 `json:"init_eta_seconds,omitempty"`
	// Witness: the site is a witness (--witness-peers); it holds no data,
	// so its LSNs stay empty.
	Witness bool `json:"witness,omitempty"`
	// Electability (master's view): how the site said the group counts
	// it: "electable" (its acks count for one_peer, all_peers and
	// quorum), "unelectable" (first started with priority 0) or
	// "unknown" (not heard yet). Empty on a client.
	Electability string `json:"electability,omitempty"`
	// DataMismatchLSN (master's view): the record after which the site
	// reported a digest of its data that differs from the master's: its
	// data is damaged or diverged; rebuild it. Empty when its last
	// report matched.
	DataMismatchLSN string `json:"data_mismatch_lsn,omitempty"`
	// LogNeededBytes: log bytes from what the site last acknowledged to
	// this site as master (unknown since it started: the budget's start)
	// to the end of the log; LogKeptBytes the part of it kept for the
	// site (0 once it is let go: past log_keep_bytes, it will need an
	// internal init). 0 for a witness.
	LogNeededBytes int64 `json:"log_needed_bytes"`
	LogKeptBytes   int64 `json:"log_kept_bytes"`
	LogLetGo       bool  `json:"log_let_go,omitempty"`

	// HTTPAddr and RESPAddr are the site's client addresses as it
	// advertised them to this site (empty: not heard from yet, or none).
	HTTPAddr string `json:"http_addr,omitempty"`
	RESPAddr string `json:"resp_addr,omitempty"`
	// ApplyLagSeconds (master's view): how long ago the master appended
	// the oldest record the site has not applied (its readers do not see
	// yet), PostgreSQL's replay_lag; 0 when it applied the master's last
	// record, -1 when it does not report what it applied.
	ApplyLagSeconds float64 `json:"apply_lag_seconds"`
	// NonVoting: the site is a member that does not vote or count for
	// acks (a read replica, or a new member not yet promoted). Absent
	// from a repnode older than membership changes: every site voted.
	NonVoting bool `json:"non_voting,omitempty"`
}

// Status is the /v1/status answer.
type Status struct {
	ID         uint64 `json:"id"`
	Role       string `json:"role"`
	Master     uint64 `json:"master"`
	MasterAddr string `json:"master_addr,omitempty"`
	Gen        uint64 `json:"gen"`
	// LSN is the end of the log: its newest record, the LSN a write
	// answered with and the one applied_lsn reaches when the site has
	// applied everything ("0/0": empty). LastLSN says the same (kept for
	// repadmin and scripts that read it); EndLSN is where the next record
	// will be appended.
	LSN        string `json:"lsn"`
	LastLSN    string `json:"last_lsn"`
	EndLSN     string `json:"end_lsn"`
	DurableLSN string `json:"durable_lsn"`
	AppliedLSN string `json:"applied_lsn"`
	MasterLSN  string `json:"master_lsn,omitempty"`
	SyncState  string `json:"sync_state"`
	Lockout    bool   `json:"lockout"`
	InitDone   int64  `json:"init_done,omitempty"`
	InitTotal  int64  `json:"init_total,omitempty"`
	// Installing (client, sync_state "init"): the snapshot has arrived
	// whole (init_done = init_total) and the site is installing it.
	Installing bool `json:"installing,omitempty"`
	// BehindBytes (client): log bytes between its last record and the
	// newest master record it has heard of.
	BehindBytes int64 `json:"behind_bytes"`
	// StorageFailed: the site's storage failed (a full disk, an I/O
	// error, no file descriptors left; Error says which) and it stopped
	// replicating: a master steps down, a client stops syncing
	// (sync_state "storage_failed"). Repair it and restart the site.
	StorageFailed bool      `json:"storage_failed,omitempty"`
	Error         string    `json:"error,omitempty"`
	Ack           string    `json:"ack"`
	Mode          string    `json:"mode"`
	Election      *Election `json:"election,omitempty"`
	Sites         []Site    `json:"sites"`
	// LogKeepBytes is the budget of log kept for lagging sites
	// (--log-keep-bytes); LogRetainedBytes what is kept for them now
	// (from the oldest need within the budget to the end of the log);
	// LogKeepHeadroomBytes the budget left: at 0 the next site to fall
	// further behind is let go.
	LogKeepBytes         int64 `json:"log_keep_bytes"`
	LogRetainedBytes     int64 `json:"log_retained_bytes"`
	LogKeepHeadroomBytes int64 `json:"log_keep_headroom_bytes"`

	// HTTPAddr is this site's own client API address as it advertises it
	// (--advertise-http); MasterHTTP the master's, when known.
	HTTPAddr   string `json:"http_addr,omitempty"`
	MasterHTTP string `json:"master_http,omitempty"`

	// A delayed replica (--apply-delay; absent otherwise): ApplyDelay is
	// the delay as a Go duration ("1h0m0s"); ApplyDelayActive says it
	// holds now (false once the site is master: it applied everything);
	// AppliedCommitAgeSeconds is how long ago, on this site's clock, the
	// newest record it applied was committed on the master: how far its
	// data trails (about the delay while writes flow). lsn and
	// durable_lsn still reach the master's at once: only applied_lsn
	// trails.
	ApplyDelay              string  `json:"apply_delay,omitempty"`
	ApplyDelayActive        bool    `json:"apply_delay_active,omitempty"`
	AppliedCommitAgeSeconds float64 `json:"applied_commit_age_seconds,omitempty"`
	// Membership is this site's place in the group (members.go); nil
	// from a repnode older than membership changes.
	Membership *Membership `json:"membership,omitempty"`
}

// Election is the election part of /v1/status, nil when elections are off.
type Election struct {
	EGen     uint64 `json:"egen"`
	Electing bool   `json:"electing"`
	VotedFor uint64 `json:"voted_for"`
	Priority uint32 `json:"priority"`
	// Electability is how the group counts this site, fixed at its first
	// start ("electable" when its priority was above 0 then); a priority
	// set since only decides whether it stands in elections.
	Electability string `json:"electability"`
	CanWrite     bool   `json:"can_write"`
	WriteErr     string `json:"write_error,omitempty"`
}

// Stats is the /v1/stats answer: every counter of the site, by part
// (replication, election when elections are on, environment), keyed by
// snake_case name. Values are numbers, or strings for LSNs.
type Stats struct {
	ID          uint64         `json:"id"`
	Replication map[string]any `json:"replication"`
	Election    map[string]any `json:"election,omitempty"`
	Env         map[string]any `json:"env"`
}

// DataCheck answers POST /v1/admin/verify: the digest of the data read
// from data.db and the one kept from the log, as of AppliedLSN.
type DataCheck struct {
	AppliedLSN string `json:"applied_lsn"`
	Digest     string `json:"digest"`
	Expected   string `json:"expected"`
	Keys       int64  `json:"keys"`
	OK         bool   `json:"ok"`
}
