package main

// The flags of --resync (they belong to the default mode's flag set, so
// `repbench --resync init` needs no subcommand).

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

type resyncOptions struct {
	kind        string
	records     int
	dataBytes   int64
	starts      string
	loaders     int
	logFileSize int64
	poll        time.Duration
	timeout     time.Duration
	profileDir  string
	profileSecs int
	runs        int
	clientDials bool
}

// defaultInitLogFileSize is the sites' --log-file-size in init mode: small
// files, so an archive leaves the master only the newest few MiB of log
// and a client must be initialised.
const defaultInitLogFileSize = 4 << 20

func (r *resyncOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&r.kind, "resync", "", "measure a client's re-sync instead of a load: catchup (from the master's log) or init (log archived: internal init); spawns its own 2 sites")
	fs.IntVar(&r.records, "records", 200000, "with --resync: records loaded into the master (one key each)")
	fs.Int64Var(&r.dataBytes, "data-bytes", 0, "with --resync: load this many bytes of values instead of --records (records = data-bytes / value-size, rounded up)")
	fs.StringVar(&r.starts, "starts", "fresh,lagged", "with --resync: which clients to time: fresh (empty directory), lagged (synced, stopped before the load, restarted)")
	fs.IntVar(&r.loaders, "load-writers", 16, "with --resync: concurrent writers that load the master")
	fs.Int64Var(&r.logFileSize, "log-file-size", -1, fmt.Sprintf("with --resync: the sites' --log-file-size (default: repnode's for catchup, %d for init)", defaultInitLogFileSize))
	fs.DurationVar(&r.poll, "poll", 10*time.Millisecond, "with --resync: how often the client's /v1/status is polled")
	fs.DurationVar(&r.timeout, "resync-timeout", 10*time.Minute, "with --resync: longest one re-sync may take")
	fs.StringVar(&r.profileDir, "profile", "", "with --resync: a directory for CPU profiles of the client and the master, taken from the client's start for --profile-seconds (the sites run with --pprof)")
	fs.IntVar(&r.profileSecs, "profile-seconds", 5, "with --profile: length of each CPU profile")
	fs.IntVar(&r.runs, "runs", 3, "with --resync: trials of each start")
	fs.BoolVar(&r.clientDials, "client-dials", false, "with --resync: give the client the lower site id, so it opens the connection at start (as Berkeley DB's client dials its helper) instead of waiting for the master's next reconnect attempt")
}

// startsList splits --starts; every entry must be fresh or lagged.
func startsList(s string) ([]string, error) {
	var out []string
	for _, x := range strings.Split(s, ",") {
		x = strings.TrimSpace(x)
		switch x {
		case "":
			continue
		case "fresh", "lagged":
			out = append(out, x)
		default:
			return nil, fmt.Errorf("--starts: %q: want fresh or lagged", x)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--starts: none given")
	}
	return out, nil
}

// recordCount is --records, or --data-bytes in --value-size records.
func (o *options) recordCount() int {
	if o.resync.dataBytes > 0 && o.valueSize > 0 {
		return int((o.resync.dataBytes + int64(o.valueSize) - 1) / int64(o.valueSize))
	}
	return o.resync.records
}

func (o *options) validateResync() error {
	r := &o.resync
	switch {
	case r.kind != "catchup" && r.kind != "init":
		return fmt.Errorf("--resync %q: want catchup or init", r.kind)
	case o.nodes != "" || o.spawn != 0:
		return errors.New("--resync starts its own two sites: drop --nodes and --spawn")
	case r.dataBytes < 0:
		return errors.New("--data-bytes must be >= 0")
	case r.dataBytes > 0 && o.valueSize < 1:
		return errors.New("--data-bytes needs --value-size >= 1")
	case o.recordCount() < 1:
		return errors.New("--records must be >= 1")
	case r.loaders < 1:
		return errors.New("--load-writers must be >= 1")
	case r.runs < 1:
		return errors.New("--runs must be >= 1")
	case r.poll <= 0:
		return errors.New("--poll must be > 0")
	case r.timeout <= 0:
		return errors.New("--resync-timeout must be > 0")
	case r.profileDir != "" && r.profileSecs < 1:
		return errors.New("--profile-seconds must be >= 1")
	case r.logFileSize == 0 || r.logFileSize < -1:
		return errors.New("--log-file-size must be > 0")
	}
	_, err := startsList(r.starts)
	return err
}

// resyncConfig turns validated options into a series' config.
func (o *options) resyncConfig() resyncConfig {
	r := o.resync
	starts, _ := startsList(r.starts)
	lfs := r.logFileSize
	if lfs < 0 {
		lfs = 0
		if r.kind == "init" {
			lfs = defaultInitLogFileSize
		}
	}
	return resyncConfig{
		kind: r.kind, starts: starts, runs: r.runs, records: o.recordCount(), valueSize: o.valueSize,
		writers: r.loaders, logFileSize: lfs, poll: r.poll, timeout: r.timeout,
		profileDir: r.profileDir, profileSecs: r.profileSecs, clientDials: r.clientDials, bucket: o.bucket,
		group: groupConfig{bin: o.repnode, extra: strings.Fields(o.extra), keep: o.keep},
	}
}
