package api

// ArchiveRequest is the optional body of POST /v1/admin/archive. Empty,
// the site checkpoints and removes the log files nothing needs: neither
// recovery, nor an internal init it serves, nor a lagging site within
// --log-keep-bytes.
type ArchiveRequest struct {
	// DryRun: say what would be removed and kept, change nothing.
	DryRun bool `json:"dry_run"`
	// Force: remove also what lagging sites within the budget need; they
	// are let go and will need an internal init.
	Force bool `json:"force"`
}

// Archive answers POST /v1/admin/archive.
type Archive struct {
	CheckpointLSN string   `json:"checkpoint_lsn"` // taken (dry run: that would be)
	KeepFrom      string   `json:"keep_from"`      // the log is kept from here
	Removed       []string `json:"removed"`        // files removed (none on a dry run)
	DryRun        bool     `json:"dry_run"`
	Force         bool     `json:"force"`
	// WouldRemove (dry run): the files an archive with the same options
	// would remove.
	WouldRemove []string `json:"would_remove,omitempty"`
	// Kept: files kept only because lagging sites within the budget
	// need them (--force removes them), with those sites.
	Kept []KeptFile `json:"kept"`
	// LetGo (force): the sites within the budget whose log is removed
	// (on a dry run: would be); they will need an internal init.
	LetGo []uint64 `json:"let_go,omitempty"`
	// The budget, as in /v1/status.
	LogKeepBytes         int64 `json:"log_keep_bytes"`
	LogRetainedBytes     int64 `json:"log_retained_bytes"`
	LogKeepHeadroomBytes int64 `json:"log_keep_headroom_bytes"`
}

// KeptFile is a log file kept for lagging sites.
type KeptFile struct {
	File  string   `json:"file"`
	Sites []uint64 `json:"sites"`
}
