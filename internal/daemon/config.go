package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"logship/env"
	"logship/env/site"
	"logship/rep"
	"logship/rep/transport"
)

// Peers maps the other sites' ids to their replication addresses. As a flag
// or a TOML string it reads "id=host:port,id=host:port".
type Peers map[uint64]string

// String implements flag.Value.
func (p Peers) String() string {
	ids := make([]uint64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d=%s", id, p[id])
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value: it replaces the whole list.
func (p *Peers) Set(s string) error {
	m, err := parsePeers(s)
	if err != nil {
		return err
	}
	*p = m
	return nil
}

// UnmarshalText lets TOML read the same "id=host:port,..." string.
func (p *Peers) UnmarshalText(b []byte) error { return p.Set(string(b)) }

func parsePeers(s string) (Peers, error) {
	m := Peers{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not id=host:port", part)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(idStr), 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%q: site id must be a positive integer", part)
		}
		addr = strings.TrimSpace(addr)
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: address: %v", part, err)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("site %d listed twice", id)
		}
		m[id] = addr
	}
	return m, nil
}

// IDList is a list of site ids; as a flag or a TOML string it reads
// "id,id,...".
type IDList []uint64

// String implements flag.Value.
func (l IDList) String() string {
	parts := make([]string, len(l))
	for i, id := range l {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value: it replaces the whole list.
func (l *IDList) Set(s string) error {
	var out IDList
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.ParseUint(part, 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("%q: site id must be a positive integer", part)
		}
		if slices.Contains(out, id) {
			return fmt.Errorf("site %d listed twice", id)
		}
		out = append(out, id)
	}
	*l = out
	return nil
}

// UnmarshalText lets TOML read the same "id,id" string.
func (l *IDList) UnmarshalText(b []byte) error { return l.Set(string(b)) }

// Config is every setting of repnode. The toml tags are the flag names.
type Config struct {
	Dir    string `toml:"dir"`
	ID     uint64 `toml:"id"`
	Listen string `toml:"listen"`
	HTTP   string `toml:"http"`
	Peers  Peers  `toml:"peers"`
	Group  string `toml:"group"`

	Priority       uint   `toml:"priority"`
	Ack            string `toml:"ack"`
	Witness        bool   `toml:"witness"`
	WitnessPeers   IDList `toml:"witness-peers"`
	GrantAfterExp  bool   `toml:"witness-grant-after-expiry"`
	Leases         bool   `toml:"leases"`
	DelayClient    bool   `toml:"delay-client"`
	Peer           uint64 `toml:"peer"`
	NoWait         bool   `toml:"no-wait"`
	NoAutoInit     bool   `toml:"no-auto-init"`
	LogFileSize    int64  `toml:"log-file-size"`
	MaxValueSize   int    `toml:"max-value-size"`
	AutoRemoveLogs bool   `toml:"auto-remove-logs"`
	LogKeepBytes   int64  `toml:"log-keep-bytes"`

	// ApplyDelay: a delayed replica (delay.go; env.Config.MinApplyDelay).
	ApplyDelay time.Duration `toml:"apply-delay"`

	// MaxRollbackBytes: a sync that would discard more of this site's
	// own log (a rollback, or an internal init's discard) stops instead,
	// until repadmin allow-rollback (0 = no limit).
	MaxRollbackBytes int64 `toml:"max-rollback-bytes"`

	// What replication sends at once (site.Throttle): one LOG message,
	// one catch-up pass (Berkeley DB's rep_set_limit), the records a
	// client holds ahead of a gap, one internal-init chunk, and the log
	// kept for one internal init.
	BulkBytes          int   `toml:"bulk-bytes"`
	NoBulk             bool  `toml:"no-bulk"`
	ThrottleBytes      int   `toml:"throttle-bytes"`
	GapBufferBytes     int   `toml:"gap-buffer-bytes"`
	InitChunkBytes     int   `toml:"init-chunk-bytes"`
	InitRetainMaxBytes int64 `toml:"init-retain-max-bytes"`

	CheckpointInterval time.Duration `toml:"checkpoint-interval"`
	VerifyOnOpen       bool          `toml:"verify-on-open"`
	VerifyInterval     time.Duration `toml:"verify-interval"`

	Master   bool   `toml:"master"`
	Client   bool   `toml:"client"`
	MasterID uint64 `toml:"master-id"`

	TLSCert string `toml:"tls-cert"`
	TLSKey  string `toml:"tls-key"`
	TLSCA   string `toml:"tls-ca"`

	Heartbeat        time.Duration `toml:"heartbeat"`
	HeartbeatMonitor time.Duration `toml:"heartbeat-monitor"`
	ElectionTimeout  time.Duration `toml:"election-timeout"`
	ElectionRetry    time.Duration `toml:"election-retry"`
	VoteWait         time.Duration `toml:"vote-wait"`
	FullElection     time.Duration `toml:"full-election-timeout"`
	LeaseTimeout     time.Duration `toml:"lease-timeout"`
	ClockSkew        time.Duration `toml:"clock-skew"`
	FsyncStall       time.Duration `toml:"fsync-stall-timeout"`
	AckTimeout       time.Duration `toml:"ack-timeout"`
	RequestMin       time.Duration `toml:"request-min"`
	RequestMax       time.Duration `toml:"request-max"`
	ReadTimeout      time.Duration `toml:"read-timeout"`

	// The RESP (Redis protocol) listener, off while RESP is empty
	// (resp.go).
	RESP            string        `toml:"resp"`
	RESPPeers       Peers         `toml:"resp-peers"`
	RESPBucket      string        `toml:"resp-bucket"`
	RESPMaxConns    int           `toml:"resp-max-conns"`
	RESPIdleTimeout time.Duration `toml:"resp-idle-timeout"`

	Pprof     bool   `toml:"pprof"`
	LogFormat string `toml:"log-format"`
	LogLevel  string `toml:"log-level"`

	// Security: TLS and tokens on --http, server limits, replication
	// identity (security.go). Embedded: its keys are top-level.
	Security
	// Operations (operkit.go): the client address told to the peers, and
	// the lag bound of /readyz.
	AdvertiseHTTP    string `toml:"advertise-http"`
	ReadyMaxLagBytes int64  `toml:"ready-max-lag-bytes"`

	// Joining a running group (join.go).
	Join          string `toml:"join"`
	JoinTokenFile string `toml:"join-token-file"`
	JoinCA        string `toml:"join-ca"`
	JoinNonVoting bool   `toml:"join-non-voting"`
}

// DefaultConfig returns the defaults that --help shows.
func DefaultConfig() Config {
	return Config{
		Group:       "logship",
		Priority:    100,
		Ack:         "quorum",
		LogFileSize: env.DefaultConfig().LogFileSize,
		// Like PostgreSQL's wal_keep_size: a client down for a while
		// catches up from the log, not by a full copy.
		LogKeepBytes: env.DefaultConfig().LogKeepBytes,
		// rep's defaults, shown by --help.
		BulkBytes:          rep.DefaultConfig().BulkBytes,
		ThrottleBytes:      rep.DefaultConfig().ThrottleBytes,
		GapBufferBytes:     rep.DefaultConfig().GapBufferBytes,
		InitChunkBytes:     rep.DefaultConfig().InitChunkBytes,
		InitRetainMaxBytes: rep.DefaultConfig().InitRetainMaxBytes,
		// A daemon checkpoints by itself, as PostgreSQL does; Berkeley
		// DB leaves it to a db_checkpoint the operator runs.
		CheckpointInterval: time.Minute,
		ElectionTimeout:    500 * time.Millisecond,
		ElectionRetry:      300 * time.Millisecond,
		VoteWait:           100 * time.Millisecond,
		FullElection:       3 * time.Second,
		LeaseTimeout:       500 * time.Millisecond,
		ClockSkew:          20 * time.Millisecond,
		FsyncStall:         5 * time.Second,
		AckTimeout:         time.Second,
		RequestMin:         40 * time.Millisecond,
		RequestMax:         1280 * time.Millisecond,
		ReadTimeout:        30 * time.Second,
		RESPBucket:         "redis",
		RESPMaxConns:       1024,
		RESPIdleTimeout:    10 * time.Minute,
		LogFormat:          "text",
		LogLevel:           "info",
		Security:           defaultSecurity(),
	}
}

// Mode is how the site takes its first role.
type Mode int

const (
	ModeElect Mode = iota
	ModeMaster
	ModeClient
)

// Mode returns the start-up mode the flags ask for.
func (c Config) Mode() Mode {
	switch {
	case c.Master:
		return ModeMaster
	case c.Client:
		return ModeClient
	}
	return ModeElect
}

func (m Mode) String() string {
	switch m {
	case ModeMaster:
		return "master"
	case ModeClient:
		return "client"
	}
	return "elect"
}

// AckPolicy returns the parsed --ack.
func (c Config) AckPolicy() (site.AckPolicy, error) { return site.ParseAckPolicy(c.Ack) }

// ClientMaster is the master a --client site follows first: --master-id,
// or the only peer, or (several peers) the lowest id. A master of a newer
// generation announcing itself is followed whatever this says.
func (c Config) ClientMaster() uint64 {
	if c.MasterID != 0 {
		return c.MasterID
	}
	var best uint64
	for id := range c.Peers {
		if best == 0 || id < best {
			best = id
		}
	}
	return best
}

// EnvConfig returns the environment's configuration. With --max-value-size
// 0 the largest value is 1 MiB, or less when a smaller --log-file-size
// could not hold a record carrying two of them (the value and its
// before-image).
func (c Config) EnvConfig() env.Config {
	ecfg := env.DefaultConfig()
	ecfg.LogFileSize = c.LogFileSize
	ecfg.AutoRemoveLogs = c.AutoRemoveLogs
	ecfg.LogKeepBytes = c.LogKeepBytes
	ecfg.CheckpointInterval = c.CheckpointInterval
	ecfg.VerifyOnOpen = c.VerifyOnOpen
	ecfg.VerifyInterval = c.VerifyInterval
	ecfg.MinApplyDelay = c.ApplyDelay
	switch {
	case c.MaxValueSize > 0:
		ecfg.MaxValueSize = c.MaxValueSize
	default:
		const overhead = 4 * env.MaxKeySize
		if fit := (c.LogFileSize - overhead) / 2; fit > 0 && fit < int64(ecfg.MaxValueSize) {
			ecfg.MaxValueSize = int(fit)
		}
	}
	return ecfg
}

// Validate reports every bad setting, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.Dir == "" {
		bad("dir", "required: the site's data directory")
	}
	if c.ID == 0 {
		bad("id", "required: this site's id (a positive integer)")
	}
	checkAddr := func(name, addr string) {
		if addr == "" {
			bad(name, "required: host:port")
		} else if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(name, "%q: %v", addr, err)
		}
	}
	checkAddr("listen", c.Listen)
	checkAddr("http", c.HTTP)
	if _, ok := c.Peers[c.ID]; ok && c.ID != 0 {
		bad("peers", "lists this site's own id %d; list only the other sites", c.ID)
	}
	if c.Group == "" {
		bad("group", "must not be empty")
	}
	if c.Priority > 1<<32-1 {
		bad("priority", "%d is too large", c.Priority)
	}
	if _, err := c.AckPolicy(); err != nil {
		bad("ack", "%q: want none, one, one_peer, all, all_peers or quorum", c.Ack)
	}
	if c.Peer != 0 {
		if _, ok := c.Peers[c.Peer]; !ok {
			bad("peer", "site %d is not in --peers (%s)", c.Peer, c.Peers.String())
		}
	}
	if c.LogKeepBytes < 0 {
		bad("log-keep-bytes", "%d: must be >= 0 (0 = keep no log for lagging sites)", c.LogKeepBytes)
	}
	if c.CheckpointInterval < 0 {
		bad("checkpoint-interval", "%v: must be >= 0 (0 = no periodic checkpoints)", c.CheckpointInterval)
	}
	if c.VerifyInterval < 0 {
		bad("verify-interval", "%v: must be >= 0 (0 = only on POST /v1/admin/verify)", c.VerifyInterval)
	}
	if c.Master && c.Client {
		bad("master", "--master and --client exclude each other")
	}
	if c.MasterID != 0 {
		if !c.Client {
			bad("master-id", "only meaningful with --client")
		} else if _, ok := c.Peers[c.MasterID]; !ok {
			bad("master-id", "site %d is not in --peers (%s)", c.MasterID, c.Peers.String())
		}
	}
	if c.Client && len(c.Peers) == 0 && c.Join == "" {
		bad("client", "a client needs --peers naming its master")
	}
	for _, id := range c.WitnessPeers {
		switch {
		case c.Peers[id] == "":
			bad("witness-peers", "site %d is not in --peers (%s)", id, c.Peers.String())
		case id == c.Peer:
			bad("witness-peers", "site %d is also --peer, but a witness holds no log to serve", id)
		case id == c.MasterID:
			bad("witness-peers", "site %d is also --master-id, but a witness is never master", id)
		}
	}
	if c.Mode() != ModeElect {
		if len(c.WitnessPeers) > 0 {
			bad("witness-peers", "a witness takes part in elections only: drop --%s", c.Mode())
		}
		if c.Leases {
			bad("leases", "master leases need elections: drop --%s", c.Mode())
		}
	}
	if c.GrantAfterExp && !c.Witness {
		bad("witness-grant-after-expiry", "only meaningful with --witness")
	}
	if c.Witness {
		if c.Master || c.Client {
			bad("witness", "a witness holds no data and cannot be --master or --client")
		}
		if c.Priority != 0 && c.Priority != DefaultConfig().Priority {
			bad("witness", "a witness is never master: leave --priority unset or 0")
		}
	}
	if c.MaxRollbackBytes < 0 {
		bad("max-rollback-bytes", "%d: must be >= 0 (0 = no limit)", c.MaxRollbackBytes)
	}
	c.validateThrottle(bad)
	c.validateRESP(bad)
	if c.MaxValueSize < 0 {
		bad("max-value-size", "%d: must be >= 0 (0 = automatic)", c.MaxValueSize)
	} else if err := c.EnvConfig().Validate(); err != nil {
		name := "log-file-size"
		if c.MaxValueSize > 0 {
			name = "max-value-size"
		}
		bad(name, "%v", err)
	}
	tlsSet := 0
	for _, s := range []string{c.TLSCert, c.TLSKey, c.TLSCA} {
		if s != "" {
			tlsSet++
		}
	}
	if tlsSet != 0 && tlsSet != 3 {
		bad("tls-cert", "--tls-cert, --tls-key and --tls-ca go together (mutual TLS)")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"election-timeout", c.ElectionTimeout}, {"ack-timeout", c.AckTimeout},
		{"election-retry", c.ElectionRetry}, {"vote-wait", c.VoteWait},
		{"lease-timeout", c.LeaseTimeout}, {"clock-skew", c.ClockSkew},
		{"request-min", c.RequestMin}, {"request-max", c.RequestMax},
		{"read-timeout", c.ReadTimeout},
	} {
		if d.v <= 0 {
			bad(d.name, "%v: must be > 0", d.v)
		}
	}
	if c.FullElection < 0 {
		bad("full-election-timeout", "%v: must be >= 0 (0 = no full election at start-up)", c.FullElection)
	}
	if c.ClockSkew >= c.LeaseTimeout && c.LeaseTimeout > 0 {
		bad("clock-skew", "%v must be less than --lease-timeout %v", c.ClockSkew, c.LeaseTimeout)
	}
	if c.Leases && c.LeaseTimeout > 0 && c.Heartbeat >= 0 {
		hb := c.Heartbeat
		if hb == 0 {
			hb = site.ElectionHeartbeat
		}
		tick := site.DefaultConfig().Timing.Tick
		if least := 2*hb + c.ClockSkew + tick; c.LeaseTimeout < least {
			bad("lease-timeout", "%v is too short for --heartbeat %v: a master refreshes its lease every heartbeat, so a grant must outlast two of them plus --clock-skew %v and a tick (%v at least)",
				c.LeaseTimeout, hb, c.ClockSkew, least)
		}
	}
	if c.RequestMin > 0 && c.RequestMax > 0 && c.RequestMin > c.RequestMax {
		bad("request-max", "%v is less than --request-min %v", c.RequestMax, c.RequestMin)
	}
	if c.Heartbeat < 0 {
		bad("heartbeat", "%v: must be >= 0 (0 = automatic)", c.Heartbeat)
	}
	if c.HeartbeatMonitor < 0 {
		bad("heartbeat-monitor", "%v: must be >= 0 (0 = automatic)", c.HeartbeatMonitor)
	}
	if c.HeartbeatMonitor > 0 && c.Heartbeat > 0 && c.HeartbeatMonitor <= c.Heartbeat {
		bad("heartbeat-monitor", "%v must exceed --heartbeat %v", c.HeartbeatMonitor, c.Heartbeat)
	}
	c.Security.validate(c, bad)
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "%q: want text or json", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	c.validateOperations(bad)
	c.validateDelay(bad)
	c.validateJoin(bad)
	return errors.Join(errs...)
}

// UsageError is a bad command line or configuration: exit status 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// bindFlags registers every setting on fs, bound to c; --help shows c's
// values as the defaults.
func bindFlags(fs *flag.FlagSet, c *Config, configFile *string) {
	fs.StringVar(configFile, "config", "", "TOML file with the same settings as the flags (keys are the flag names); flags override it")
	fs.StringVar(&c.Dir, "dir", c.Dir, "site data directory (created if needed)")
	fs.Uint64Var(&c.ID, "id", c.ID, "this site's id (positive integer, unique in the group)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "replication address host:port")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "client, admin and /metrics HTTP address host:port")
	fs.Var(&c.Peers, "peers", "the other sites: id=host:port,... (their replication addresses)")
	fs.StringVar(&c.Group, "group", c.Group, "replication group name (sites of other groups are refused)")
	fs.UintVar(&c.Priority, "priority", c.Priority, "election priority (0 = never master)")
	fs.StringVar(&c.Ack, "ack", c.Ack, "ack policy: none|one|one_peer|all|all_peers|quorum")
	fs.BoolVar(&c.Witness, "witness", c.Witness, "witness: votes in elections, holds no data, never master (election mode)")
	fs.BoolVar(&c.GrantAfterExp, "witness-grant-after-expiry", c.GrantAfterExp, "with --witness: once the grant holder's grant expired, let the other data site become master (availability; its not-mirrored commits are lost) instead of waiting for the holder (consistency)")
	fs.Var(&c.WitnessPeers, "witness-peers", "ids from --peers that are witnesses (they vote but hold no data): id,...")
	fs.BoolVar(&c.Leases, "leases", c.Leases, "master leases: the master writes and serves reads only while a majority grants it a lease (every site must agree)")
	fs.DurationVar(&c.LeaseTimeout, "lease-timeout", c.LeaseTimeout, "how long one lease grant lasts (with --leases)")
	fs.DurationVar(&c.ClockSkew, "clock-skew", c.ClockSkew, "the most two sites' clocks may drift apart over --lease-timeout (with --leases)")
	fs.BoolVar(&c.DelayClient, "delay-client", c.DelayClient, "do not sync with a new master until POST /v1/admin/sync")
	fs.Uint64Var(&c.Peer, "peer", c.Peer, "client-to-client sync source: a site id from --peers (0 = the master)")
	fs.BoolVar(&c.NoWait, "no-wait", c.NoWait, "operations on a synchronising client fail at once (lockout) instead of waiting")
	fs.BoolVar(&c.NoAutoInit, "no-auto-init", c.NoAutoInit, "a client too far behind fails to join instead of internal initialization")
	fs.Int64Var(&c.LogFileSize, "log-file-size", c.LogFileSize, "log file size in bytes")
	fs.Int64Var(&c.MaxRollbackBytes, "max-rollback-bytes", c.MaxRollbackBytes, "a sync that would discard more than this many bytes of this site's own log (rollback, or internal init) stops until 'repadmin allow-rollback' (0 = no limit)")
	fs.IntVar(&c.MaxValueSize, "max-value-size", c.MaxValueSize, "largest value a PUT accepts, in bytes (0 = 1 MiB, or less to fit --log-file-size)")
	fs.BoolVar(&c.AutoRemoveLogs, "auto-remove-logs", c.AutoRemoveLogs, "remove log files a checkpoint no longer needs")
	fs.IntVar(&c.BulkBytes, "bulk-bytes", c.BulkBytes, "largest LOG message: records appended together travel in one message up to this many bytes")
	fs.BoolVar(&c.NoBulk, "no-bulk", c.NoBulk, "send one record per LOG message (Berkeley DB's bulk transfer off)")
	fs.IntVar(&c.ThrottleBytes, "throttle-bytes", c.ThrottleBytes, "catch-up rate limit: log bytes a site sends in answer to one request of a lagging client before the client asks again (Berkeley DB's rep_set_limit)")
	fs.IntVar(&c.GapBufferBytes, "gap-buffer-bytes", c.GapBufferBytes, "records a client holds ahead of a gap in its log while it asks for the missing ones")
	fs.IntVar(&c.InitChunkBytes, "init-chunk-bytes", c.InitChunkBytes, fmt.Sprintf("internal init: bytes of the snapshot in one message (at most %d)", rep.MaxChunkBytes))
	fs.Int64Var(&c.InitRetainMaxBytes, "init-retain-max-bytes", c.InitRetainMaxBytes, "internal init: the most log kept for one client from its snapshot until it caught up; past it the init is abandoned (0 = no bound)")
	fs.Int64Var(&c.LogKeepBytes, "log-keep-bytes", c.LogKeepBytes, "keep log for lagging sites (a client down for a while) up to this many bytes behind the end of the log, so they catch up from the log rather than by internal init; a site further behind is let go (0 = keep none)")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", c.CheckpointInterval, "take a checkpoint this often (0 = only on POST /v1/admin/archive)")
	fs.BoolVar(&c.VerifyOnOpen, "verify-on-open", c.VerifyOnOpen, "at start, read every key of data.db and check it against the log's digest (costs a read of the whole file); damage stops the start")
	fs.DurationVar(&c.VerifyInterval, "verify-interval", c.VerifyInterval, "read every key of data.db this often and check it against the log's digest; damage stops the site's replication (0 = only on POST /v1/admin/verify)")
	fs.BoolVar(&c.Master, "master", c.Master, "start as master, elections off (default: elections choose the master)")
	fs.BoolVar(&c.Client, "client", c.Client, "start as client, elections off (default: elections choose the master)")
	fs.Uint64Var(&c.MasterID, "master-id", c.MasterID, "with --client: the master to follow first (default: the only peer, else the lowest id; a newer master's announcement wins)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "replication TLS certificate (PEM); with --tls-key and --tls-ca turns on mutual TLS; the pair is re-read on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "replication TLS private key (PEM)")
	fs.StringVar(&c.TLSCA, "tls-ca", c.TLSCA, "the group's CA certificate (PEM)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", c.Heartbeat, "master heartbeat interval (0 = automatic: 1s, or 100ms in election mode)")
	fs.DurationVar(&c.HeartbeatMonitor, "heartbeat-monitor", c.HeartbeatMonitor, "a client that hears nothing from its master for this long considers it gone (0 = automatic: 3s, or 300ms in election mode)")
	fs.DurationVar(&c.ElectionTimeout, "election-timeout", c.ElectionTimeout, "an election with no winner after this long fails and is retried (election mode)")
	fs.DurationVar(&c.ElectionRetry, "election-retry", c.ElectionRetry, "after a failed election, wait a random time in [this, 2x this) before the next")
	fs.DurationVar(&c.VoteWait, "vote-wait", c.VoteWait, "how long an election collects votes before choosing, once a majority has been heard")
	fs.DurationVar(&c.FullElection, "full-election-timeout", c.FullElection, "the first election after start-up waits this long for every site (0 = only a majority)")
	fs.DurationVar(&c.FsyncStall, "fsync-stall-timeout", c.FsyncStall, "a master whose log fsync takes longer than this steps down (election mode; negative = never)")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", c.AckTimeout, "how long a commit waits for the acks its policy needs")
	fs.DurationVar(&c.RequestMin, "request-min", c.RequestMin, "first back-off before re-requesting missing log")
	fs.DurationVar(&c.RequestMax, "request-max", c.RequestMax, "longest back-off before re-requesting missing log")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "longest a GET with token or min_lsn waits")
	bindRESPFlags(fs, c)
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve Go profiles at /debug/pprof/ on --http (CPU cost only while a profile runs)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format on stderr: text|json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug|info|warn|error")
	bindSecurityFlags(fs, &c.Security)
	bindOperationsFlags(fs, c)
	bindDelayFlags(fs, c)
	bindJoinFlags(fs, c)
}

// LoadConfig reads the command line (and the TOML file it names): defaults,
// then the file, then the flags given. A bad flag, file or setting is a
// UsageError naming it. flag.ErrHelp is returned after --help.
func LoadConfig(args []string, out io.Writer) (Config, error) {
	// Pass 1: syntax, and find --config.
	var file string
	scratch := DefaultConfig()
	fs1 := newFlagSet(&scratch, &file, io.Discard)
	if err := fs1.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs1.SetOutput(out)
			fs1.Usage()
			return Config{}, err
		}
		return Config{}, UsageError{err}
	}
	if fs1.NArg() > 0 {
		return Config{}, UsageError{fmt.Errorf("unexpected argument %q (flags only)", fs1.Arg(0))}
	}
	cfg := DefaultConfig()
	if file != "" {
		if err := decodeTOMLFile(file, &cfg); err != nil {
			return Config{}, UsageError{err}
		}
	}
	// Pass 2: the flags given override the file.
	fs2 := newFlagSet(&cfg, &file, io.Discard)
	if err := fs2.Parse(args); err != nil {
		return Config{}, UsageError{err}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, UsageError{err}
	}
	return cfg, nil
}

func newFlagSet(c *Config, file *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("repnode", flag.ContinueOnError)
	fs.SetOutput(out)
	bindFlags(fs, c, file)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: repnode --dir DIR --id N --listen HOST:PORT --http HOST:PORT --peers ID=HOST:PORT,... [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// decodeTOMLFile reads path into c; unknown keys are an error naming them.
func decodeTOMLFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %v", err)
	}
	return decodeTOML(string(b), path, c)
}

func decodeTOML(data, name string, c *Config) error {
	md, err := toml.Decode(data, c)
	if err != nil {
		return fmt.Errorf("--config %s: %v", name, err)
	}
	if err := checkTOMLDurations(md, data); err != nil {
		return fmt.Errorf("--config %s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("--config %s: unknown setting(s) %s", name, strings.Join(keys, ", "))
	}
	return nil
}

// SiteConfig returns the replication site's configuration for these
// settings, over the transport tr (carrying the replication messages to
// the --peers): what repnode runs, and what the simulator builds its
// sites with. Other sites' priorities are not configured here: each
// site says itself how the group counts it.
func (c Config) SiteConfig(tr transport.Transport) (site.Config, error) {
	ack, err := c.AckPolicy()
	if err != nil {
		return site.Config{}, fmt.Errorf("--ack: %w", err)
	}
	sc := site.DefaultConfig()
	sc.Transport, sc.ID, sc.Priority = tr, site.SiteID(c.ID), uint32(c.Priority)
	for _, id := range c.Peers.IDs() {
		sc.Sites = append(sc.Sites, site.Member{ID: site.SiteID(id), Addr: c.Peers[id], Witness: slices.Contains(c.WitnessPeers, id)})
	}
	sc.Timing.Heartbeat, sc.Timing.HeartbeatMonitor = c.Heartbeat, c.HeartbeatMonitor
	sc.Advertise = c.Advertised()
	if c.Witness {
		sc.Priority = 0
		sc.Witness.GrantAfterExpiry = c.GrantAfterExp
		c.electionConfig(&sc)
		return sc, nil
	}
	sc.AckPolicy, sc.Peer = ack, site.SiteID(c.Peer)
	sc.DelayClient, sc.NoWait, sc.NoAutoInit = c.DelayClient, c.NoWait, c.NoAutoInit
	sc.MaxRollbackBytes = c.MaxRollbackBytes
	sc.Throttle = site.Throttle{BulkBytes: c.BulkBytes, NoBulk: c.NoBulk, ThrottleBytes: c.ThrottleBytes,
		GapBufferBytes: c.GapBufferBytes, InitChunkBytes: c.InitChunkBytes, InitRetainMaxBytes: c.InitRetainMaxBytes}
	if c.InitRetainMaxBytes == 0 {
		sc.Throttle.InitRetainMaxBytes = -1 // site: negative = no bound; the flag's 0 says "no bound"
	}
	sc.Timing.AckTimeout, sc.Timing.RequestMin, sc.Timing.RequestMax = c.AckTimeout, c.RequestMin, c.RequestMax
	if c.Mode() == ModeElect {
		c.electionConfig(&sc)
	}
	return sc, nil
}

// electionConfig turns elections on in sc with the election and lease
// settings.
func (c Config) electionConfig(sc *site.Config) {
	sc.Election = site.Election{On: true, Timeout: c.ElectionTimeout, Retry: c.ElectionRetry,
		VoteWait: c.VoteWait, FullTimeout: c.FullElection}
	if c.FullElection == 0 {
		sc.Election.FullTimeout = -1 // site: negative = no full election
	}
	sc.Leases = site.Leases{On: c.Leases, Timeout: c.LeaseTimeout, ClockSkew: c.ClockSkew}
	sc.Timing.FsyncStall = c.FsyncStall
}

// IDs returns the peers' ids, ascending.
func (p Peers) IDs() []uint64 {
	ids := make([]uint64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// validateThrottle checks the sizes of what replication sends at once: a
// LOG message and an init chunk must fit one transport frame.
func (c Config) validateThrottle(bad func(name, format string, args ...any)) {
	frame := transport.DefaultMaxFrameSize - 64<<10 // room for the message's other fields
	if c.BulkBytes < 1 || c.BulkBytes > frame {
		bad("bulk-bytes", "%d: must be in [1, %d]", c.BulkBytes, frame)
	}
	if c.ThrottleBytes < 1 {
		bad("throttle-bytes", "%d: must be > 0", c.ThrottleBytes)
	}
	if c.GapBufferBytes < 1 {
		bad("gap-buffer-bytes", "%d: must be > 0", c.GapBufferBytes)
	}
	if c.InitChunkBytes < 1 || c.InitChunkBytes > rep.MaxChunkBytes {
		bad("init-chunk-bytes", "%d: must be in [1, %d]", c.InitChunkBytes, rep.MaxChunkBytes)
	}
	if c.InitRetainMaxBytes < 0 {
		bad("init-retain-max-bytes", "%d: must be >= 0 (0 = no bound)", c.InitRetainMaxBytes)
	}
}
