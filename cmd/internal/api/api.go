package api

// WriteResult answers a committed write.
type WriteResult struct {
	LSN       string `json:"lsn"`
	Permanent bool   `json:"permanent"`
}

// ErrorBody is every error answer. Master and MasterAddr are set when the
// site is not the master (503): the master's id and replication address.
type ErrorBody struct {
	Error      string `json:"error"`
	Master     uint64 `json:"master,omitempty"`
	MasterAddr string `json:"master_addr,omitempty"`
}

// Site is one other site in /v1/status.
type Site struct {
	ID        uint64 `json:"id"`
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
	LSN       string `json:"lsn"`
	LagBytes  int64  `json:"lag_bytes"`
}

// Status is the /v1/status answer.
type Status struct {
	ID         uint64    `json:"id"`
	Role       string    `json:"role"`
	Master     uint64    `json:"master"`
	MasterAddr string    `json:"master_addr,omitempty"`
	Gen        uint64    `json:"gen"`
	LSN        string    `json:"lsn"`
	DurableLSN string    `json:"durable_lsn"`
	AppliedLSN string    `json:"applied_lsn"`
	MasterLSN  string    `json:"master_lsn,omitempty"`
	SyncState  string    `json:"sync_state"`
	Lockout    bool      `json:"lockout"`
	InitDone   int64     `json:"init_done,omitempty"`
	InitTotal  int64     `json:"init_total,omitempty"`
	Error      string    `json:"error,omitempty"`
	Ack        string    `json:"ack"`
	Mode       string    `json:"mode"`
	Election   *Election `json:"election,omitempty"`
	Sites      []Site    `json:"sites"`
}

// Election is the election part of /v1/status, nil when elections are off.
type Election struct {
	EGen     uint64 `json:"egen"`
	Electing bool   `json:"electing"`
	VotedFor uint64 `json:"voted_for"`
	Priority uint32 `json:"priority"`
	CanWrite bool   `json:"can_write"`
	WriteErr string `json:"write_error,omitempty"`
}
