package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are every flag of both modes.
type options struct {
	nodes     string
	spawn     int
	repnode   string
	ack       string
	extra     string
	keep      bool
	writers   int
	valueSize int
	duration  time.Duration
	warmup    time.Duration
	bucket    string
	variant   string
	lagEvery  time.Duration
	timeout   time.Duration
	proto     string
	pipeline  int
	respNodes string
	embedded  bool
	loadCmd   string

	runs    int
	tight   bool
	settle  time.Duration
	waitNew time.Duration
	freeze  bool

	resync resyncOptions
}

func newFlags(mode string, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("repbench "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.repnode, "repnode", "bin/repnode", "repnode binary for --spawn")
	fs.IntVar(&o.spawn, "spawn", 0, "start a local group of N repnode sites on 127.0.0.1 (temporary directories, removed at exit)")
	fs.StringVar(&o.ack, "ack", "quorum", "with --spawn: the sites' --ack policy")
	fs.StringVar(&o.extra, "repnode-args", "", "with --spawn: more repnode flags for every site, space-separated")
	fs.BoolVar(&o.keep, "keep", false, "with --spawn: keep the sites' directories and logs")
	fs.StringVar(&o.bucket, "bucket", "bench", "bucket to write to")
	fs.IntVar(&o.valueSize, "value-size", 128, "value size in bytes")
	fs.DurationVar(&o.timeout, "request-timeout", 30*time.Second, "longest one HTTP request may take")
	fs.StringVar(&benchToken, "token", os.Getenv("LOGSHIP_TOKEN"), "bearer token for sites with --auth-tokens (default $LOGSHIP_TOKEN)")
	switch mode {
	case "run":
		fs.StringVar(&o.nodes, "nodes", "", "the sites' HTTP addresses host:port,... (the master is found via /v1/status)")
		fs.IntVar(&o.writers, "writers", 1, "concurrent writers, one PUT (one key, one transaction) per request")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration")
		fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before measuring (not counted)")
		fs.StringVar(&o.variant, "variant", "", "variant label on the RESULT line (default: spawnN or nodes)")
		fs.DurationVar(&o.lagEvery, "lag-every", 100*time.Millisecond, "how often the master's /v1/status is sampled for lag_bytes (0 = never)")
		fs.StringVar(&o.proto, "proto", "http", "the writers' protocol: http (PUT /v1/kv) or resp (SET over the sites' --resp listeners; with --spawn each site gets one)")
		fs.IntVar(&o.pipeline, "pipeline", 1, "with --proto resp: SETs a writer sends before reading their answers")
		fs.StringVar(&o.respNodes, "resp-nodes", "", "with --nodes and --proto resp: the sites' RESP addresses, in the order of --nodes")
		fs.BoolVar(&o.embedded, "embedded", false, "with --spawn: open site 1 inside repbench (as repnode opens it, --master) and write through site.Update; the other sites are repnode processes (--client)")
		fs.StringVar(&o.loadCmd, "load-cmd", "", "with --spawn: instead of repbench's writers, run this command as the load once the group is up; {host}, {port} (the master's --proto address) and {http} are replaced; it is measured whole (RESULT from redis-benchmark --csv output, commits from the master's /metrics)")
		o.resync.flags(fs)
	case "failover":
		fs.IntVar(&o.runs, "runs", 5, "failover trials")
		fs.BoolVar(&o.tight, "tight", false, "start the sites with tight failure detection and election timeouts: "+strings.Join(tightFlags, " "))
		fs.DurationVar(&o.settle, "settle", time.Second, "steady writing before each kill")
		fs.DurationVar(&o.waitNew, "failover-timeout", 30*time.Second, "longest wait for a new master's first write")
		fs.BoolVar(&o.freeze, "freeze", false, "SIGSTOP the master instead of SIGKILL: a hung site whose connections stay open, found only by missed heartbeats")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage:\n  repbench [run] (--nodes HOST:PORT,... | --spawn N [--repnode BIN] [--ack POLICY]) [--writers N] [--proto http|resp [--pipeline N]] [flags]\n"+
			"  repbench --spawn N --embedded [--writers N] [flags]\n"+
			"  repbench --spawn N --proto resp --load-cmd 'redis-benchmark -h {host} -p {port} ...' [flags]\n"+
			"  repbench failover --spawn N [--runs 5] [--tight] [flags]\n"+
			"  repbench --resync catchup|init [--records 200000 | --data-bytes N] [--value-size 128] [--runs 3] [flags]\n\nFlags of %s:\n", mode)
		fs.PrintDefaults()
	}
	return fs
}

// run is main without the process: the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	mode := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "failover") {
		mode, args = args[0], args[1:]
	}
	var o options
	fs := newFlags(mode, &o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "repbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := o.validate(mode); err != nil {
		fmt.Fprintf(stderr, "repbench: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal kills repbench at once; the sites then die with
		// it (parent-death signal).
		<-ctx.Done()
		stop()
	}()
	var err error
	if mode == "failover" {
		err = runFailoverMode(ctx, o, stdout)
	} else if o.resync.kind != "" {
		err = runResync(ctx, o.resyncConfig(), stdout)
	} else {
		err = runLoadMode(ctx, o, stdout)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "repbench: interrupted; sites stopped")
			return 130
		}
		fmt.Fprintf(stderr, "repbench: %v\n", err)
		return 1
	}
	return 0
}

func (o *options) validate(mode string) error {
	switch {
	case o.valueSize < 0:
		return errors.New("--value-size must be >= 0")
	case o.spawn < 0:
		return errors.New("--spawn must be >= 0")
	}
	if mode == "failover" {
		if o.spawn < 3 {
			return errors.New("failover needs --spawn 3 or more (it kills and restarts sites)")
		}
		if o.runs < 1 {
			return errors.New("--runs must be >= 1")
		}
		return nil
	}
	if o.resync.kind != "" {
		return o.validateResync()
	}
	switch {
	case (o.nodes == "") == (o.spawn == 0):
		return errors.New("give exactly one of --nodes and --spawn")
	case o.writers < 1:
		return errors.New("--writers must be >= 1")
	case o.duration <= 0:
		return errors.New("--duration must be > 0")
	case o.warmup < 0:
		return errors.New("--warmup must be >= 0")
	}
	if o.nodes != "" {
		if _, err := parseNodes(o.nodes); err != nil {
			return err
		}
	}
	return o.validateProto()
}

func (o *options) validateProto() error {
	switch {
	case o.proto != "http" && o.proto != "resp":
		return fmt.Errorf("--proto %q: want http or resp", o.proto)
	case o.pipeline < 1:
		return errors.New("--pipeline must be >= 1")
	case o.pipeline > 1 && o.proto != "resp":
		return errors.New("--pipeline needs --proto resp")
	case o.embedded && o.spawn == 0:
		return errors.New("--embedded needs --spawn")
	case o.embedded && (o.proto != "http" || o.loadCmd != ""):
		return errors.New("--embedded writes in-process: no --proto resp, no --load-cmd")
	case o.loadCmd != "" && o.spawn == 0:
		return errors.New("--load-cmd needs --spawn (it measures the sites' CPU)")
	case o.respNodes != "" && (o.nodes == "" || o.proto != "resp"):
		return errors.New("--resp-nodes goes with --nodes and --proto resp")
	}
	if o.nodes != "" && o.proto == "resp" {
		rn, err := parseNodes(o.respNodes)
		if err != nil {
			return fmt.Errorf("--proto resp with --nodes needs --resp-nodes: %w", err)
		}
		if n, _ := parseNodes(o.nodes); len(n) != len(rn) {
			return fmt.Errorf("--resp-nodes lists %d addresses, --nodes %d", len(rn), len(n))
		}
	}
	return nil
}

// defaultVariant is the RESULT line's variant unless --variant names one.
func (o *options) defaultVariant() string {
	v := "nodes"
	if o.spawn > 0 {
		v = fmt.Sprintf("spawn%d", o.spawn)
	}
	switch {
	case o.embedded:
		v += "-embedded"
	case o.loadCmd != "":
		v += "-cmd"
	case o.proto == "resp" && o.pipeline > 1:
		v += fmt.Sprintf("-resp-p%d", o.pipeline)
	case o.proto == "resp":
		v += "-resp"
	}
	return v
}

// parseNodes splits --nodes into host:port addresses.
func parseNodes(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		a = strings.TrimPrefix(a, "http://")
		if i := strings.LastIndex(a, ":"); i <= 0 || i == len(a)-1 {
			return nil, fmt.Errorf("--nodes: %q is not host:port", a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("--nodes: no address")
	}
	return out, nil
}

func (o *options) groupConfig(extra ...string) groupConfig {
	return groupConfig{bin: o.repnode, n: o.spawn, ack: o.ack, extra: append(strings.Fields(o.extra), extra...), keep: o.keep}
}

func runLoadMode(ctx context.Context, o options, out io.Writer) (err error) {
	if o.variant == "" {
		o.variant = o.defaultVariant()
	}
	if o.embedded {
		return runEmbedded(ctx, o, out)
	}
	lc := loadConfig{
		writers: o.writers, pipeline: o.pipeline, valueSize: o.valueSize, warmup: o.warmup, duration: o.duration,
		bucket: o.bucket, variant: o.variant, lagEvery: o.lagEvery,
	}
	c := newHTTPClient(o.writers+4, o.timeout)
	var (
		addrs, respAddrs []string
		abort            func() error
		g                *group
	)
	if o.spawn > 0 {
		gc := o.groupConfig()
		gc.resp = o.proto == "resp"
		if g, err = startGroup(gc); err != nil {
			return err
		}
		defer g.close()
		defer func() {
			var died *siteDiedError
			if dead := g.deadSites(); dead != nil && !errors.As(err, &died) {
				// A site that died during the run makes the figures
				// meaningless; say so even if some writes succeeded.
				err = errors.Join(err, dead)
			}
		}()
		fmt.Fprintf(out, "spawned %d repnode sites (--ack %s) in %s\n", o.spawn, o.ack, g.root)
		addrs, respAddrs, abort = g.httpAddrs(), g.respAddrs(), g.deadSites
		lc.ack, lc.cpu = o.ack, &cpuMeter{pids: g.sitePIDs}
	} else {
		addrs, _ = parseNodes(o.nodes)
		respAddrs, _ = parseNodes(o.respNodes)
	}
	mi, mst, err := waitMaster(ctx, c, addrs, g != nil, 60*time.Second, abort)
	if err != nil {
		return err
	}
	if lc.ack == "" {
		lc.ack = mst.Ack
	}
	lc.sites = len(addrs)
	lc.lag = httpLag(c, addrs[mi])
	target := addrs[mi]
	if o.proto == "resp" {
		target = respAddrs[mi]
		lc.newWriter = func(int) loadWriter { return newRESPConn(target, o.timeout) }
	} else {
		lc.newWriter = func(int) loadWriter { return &httpWriter{kc: newKVConn(target, o.timeout), bucket: o.bucket} }
	}
	lc.master = fmt.Sprintf("site %d at %s (gen %d, %s)", mst.ID, target, mst.Gen, o.proto)
	if o.loadCmd != "" {
		return runLoadCmd(ctx, o, lc, g, c, addrs[mi], target, out)
	}
	res, err := runLoad(ctx, lc, out)
	if err != nil {
		return err
	}
	res.report(out)
	return nil
}

func runFailoverMode(ctx context.Context, o options, out io.Writer) error {
	var extra []string
	if o.tight {
		extra = tightFlags
	}
	g, err := startGroup(o.groupConfig(extra...))
	if err != nil {
		return err
	}
	defer g.close()
	fmt.Fprintf(out, "spawned %d repnode sites (--ack %s%s) in %s; %d failover trials\n",
		o.spawn, o.ack, map[bool]string{true: ", tight: " + strings.Join(tightFlags, " "), false: ""}[o.tight], g.root, o.runs)
	c := newHTTPClient(o.spawn+4, o.timeout)
	trials, err := runFailover(ctx, g, c, failoverConfig{
		runs: o.runs, tight: o.tight, settle: o.settle, timeout: o.waitNew, bucket: o.bucket, size: o.valueSize, freeze: o.freeze,
	}, out)
	if err != nil {
		return err
	}
	var write, elected []time.Duration
	for _, t := range trials {
		write = append(write, t.write)
		elected = append(elected, t.elected)
	}
	med, lo, hi := median(write)
	emed, _, _ := median(elected)
	how := "SIGKILL"
	if o.freeze {
		how = "SIGSTOP"
	}
	fmt.Fprintf(out, "failover (%s, %s timeouts): kill to first accepted write median %v [%v-%v] over %d trials; kill to a survivor answering role=master median %v\n",
		how, map[bool]string{true: "tight", false: "default"}[o.tight], med.Round(100*time.Microsecond), lo.Round(100*time.Microsecond), hi.Round(100*time.Microsecond), len(trials), emed.Round(100*time.Microsecond))
	fmt.Fprintln(out, failoverLine(o.tight, o.freeze, o.spawn, write, elected))
	return nil
}
