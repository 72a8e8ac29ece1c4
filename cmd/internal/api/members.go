package api

// Membership: the sites of the group, kept as replicated state in the
// log, and the admin requests that change it (docs/operations.md,
// "Changing the group").

// Member is one member of the group in GET /v1/members.
type Member struct {
	ID uint64 `json:"id"`
	// Addr is the member's replication address (its --listen); HTTPAddr
	// and RESPAddr its client addresses, as the membership records them
	// (else as the site advertised them; empty: not known).
	Addr     string `json:"addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	RESPAddr string `json:"resp_addr,omitempty"`
	// Voting: the member votes in elections and its acks count for the
	// ack policy. A member added but not caught up yet, or a read
	// replica, is non-voting.
	Voting  bool `json:"voting"`
	Witness bool `json:"witness,omitempty"`
	// Self marks the answering site's own row.
	Self bool `json:"self,omitempty"`
	// Connected and LagBytes are the answering site's view (the master's
	// is the one that counts): a connection is up; log bytes the member
	// has not acknowledged.
	Connected bool  `json:"connected"`
	LagBytes  int64 `json:"lag_bytes"`
}

// Members is the GET /v1/members answer: the membership as the answering
// site holds it.
type Members struct {
	// ID and Role are the answering site's; Master and MasterHTTP the
	// master it knows (0 and empty if none).
	ID         uint64 `json:"id"`
	Role       string `json:"role"`
	Master     uint64 `json:"master"`
	MasterHTTP string `json:"master_http,omitempty"`
	// LSN is the log record that set this membership ("0/0": the one
	// the founding sites were started with, --peers).
	LSN string `json:"lsn"`
	// Pending: a change is under way (a member added and not yet
	// promoted, or a change not yet applied everywhere).
	Pending bool     `json:"pending"`
	Members []Member `json:"members"`
}

// MemberRequest is the body of POST /v1/admin/members: the site to add.
// Voting (default true) asks the master to promote the site to a voting
// member once it caught up; false keeps it a non-voting read replica
// until POST /v1/admin/members/{id}/voting.
type MemberRequest struct {
	ID     uint64 `json:"id"`
	Addr   string `json:"addr"`
	HTTP   string `json:"http,omitempty"`
	RESP   string `json:"resp,omitempty"`
	Voting *bool  `json:"voting,omitempty"`
}

// VotingRequest is the body of POST /v1/admin/members/{id}/voting.
type VotingRequest struct {
	Voting *bool `json:"voting"`
}

// MemberChange answers a membership change: what was asked, and the
// membership after it (LSN is the record that made the change).
type MemberChange struct {
	OK      bool    `json:"ok"`
	Op      string  `json:"op"` // "add", "remove", "promote", "demote"
	ID      uint64  `json:"id"`
	Members Members `json:"members"`
	// Note says what happens next (say, "promoted once caught up").
	Note string `json:"note,omitempty"`
}

// Membership is the membership part of /v1/status.
type Membership struct {
	// State is this site's place in the group: "voting", "non_voting"
	// (a read replica, or a new member not yet promoted), "not_member"
	// (never added: an operator must run repadmin site add), "removed"
	// (removed at RemovedLSN), or "joining" (started with --join, not
	// yet holding the membership).
	State      string `json:"state"`
	LSN        string `json:"lsn"` // the record that set the membership this site holds
	Pending    bool   `json:"pending,omitempty"`
	Voters     int    `json:"voters"`
	Members    int    `json:"members"`
	RemovedLSN string `json:"removed_lsn,omitempty"`
	// Note tells an operator what to do about a state other than a
	// member's.
	Note string `json:"note,omitempty"`
}
