// Command repnode runs one site of a logship replication group: a
// replicated key/value store serving a client API, a replication port,
// an admin API and Prometheus metrics.
//
//	repnode --dir DIR --id N --listen HOST:PORT --http HOST:PORT \
//	        --peers ID=HOST:PORT,... [--master | --client] [flags]
//
// Run "repnode --help" for every flag and its default; --config FILE reads
// the same settings from TOML (keys are the flag names).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"logship/env"
	"logship/rep/transport"
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultGCPercent is the daemon's GOGC unless the environment sets one.
// A site's live heap is small (a few MiB: buffers, queues, the overlay of
// unapplied writes; the data is bbolt's mmap, not heap), so collecting
// when it has grown 4x instead of 2x costs little memory, and it buys
// CPU on the commit path: with three sites and the load generator on two
// cores, 16 writers, +2-3% commits/s and a lower p99 (docs/performance.md).
const defaultGCPercent = 400

// run is main without the process: it returns the exit status (0 after a
// clean shutdown, 1 on failure, 2 on a bad command line).
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := LoadConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "repnode: %v\nRun \"repnode --help\" for usage.\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("repnode failed", "err", err)
		fmt.Fprintf(stderr, "repnode: %v\n", err)
		var ue UsageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToLower(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h)
}

// node is a running site: what the HTTP handlers and metrics need.
type node struct {
	cfg     Config
	env     *env.Env     // nil on a witness
	wit     *env.Witness // --witness only
	tr      *transport.TCP
	log     *slog.Logger
	metrics *metrics
}

// serve runs the site until ctx ends, then shuts down: HTTP first, then the
// environment (which stops replication), then the transport.
func serve(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	n, err := openNode(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("--http %s: %w", cfg.HTTP, err)
	}
	handler := n.routes()
	if n.wit != nil {
		handler = n.witnessRoutes()
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	n.log.Info("repnode started", "dir", cfg.Dir, "listen", n.tr.Addr().String(), "http", ln.Addr().String(),
		"peers", cfg.Peers.String(), "ack", cfg.Ack, "mode", n.modeName())

	select {
	case <-ctx.Done():
		n.log.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		n.log.Warn("http shutdown", "err", err)
		srv.Close()
	}
	return nil
}

// openNode opens the environment and the transport, starts replication and
// takes the start-up role. close undoes it.
func openNode(cfg Config, base *slog.Logger) (_ *node, err error) {
	log := base.With("site", cfg.ID)
	ack, err := cfg.AckPolicy()
	if err != nil {
		return nil, UsageError{fmt.Errorf("--ack: %v", err)}
	}
	tlsConf, err := loadTLS(cfg)
	if err != nil {
		return nil, UsageError{err}
	}
	n := &node{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if !cfg.Witness {
		ecfg := cfg.EnvConfig()
		ecfg.Logger = base
		if n.env, err = env.Open(cfg.Dir, ecfg); err != nil {
			return nil, fmt.Errorf("open %s: %w", cfg.Dir, err)
		}
	}

	tcfg := transport.DefaultConfig()
	tcfg.GroupName = cfg.Group
	tcfg.SelfID = transport.ID(cfg.ID)
	tcfg.ListenAddr = cfg.Listen
	tcfg.Peers = map[transport.ID]string{}
	for id, addr := range cfg.Peers {
		tcfg.Peers[transport.ID(id)] = addr
	}
	tcfg.TLS = tlsConf
	tcfg.Logger = base
	n.tr, err = transport.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("replication transport on --listen %s: %w", cfg.Listen, err)
	}

	rcfg := env.DefaultReplicationConfig()
	rcfg.Transport = n.tr
	rcfg.ID = env.SiteID(cfg.ID)
	rcfg.Priority = uint32(cfg.Priority)
	for _, id := range sortedPeerIDs(cfg.Peers) {
		// Other sites' priorities are not configured here: each site
		// tells the others how to count it (rep.Electability).
		rcfg.Sites = append(rcfg.Sites, env.Site{ID: env.SiteID(id), Witness: slices.Contains(cfg.WitnessPeers, id)})
	}
	if cfg.Witness {
		rcfg.Priority = 0
		rcfg.HeartbeatInterval = cfg.Heartbeat
		rcfg.WitnessGrantAfterExpiry = cfg.GrantAfterExp
		rcfg.Logger = base
		configureElection(&rcfg, cfg)
		if n.wit, err = env.StartWitness(cfg.Dir, rcfg); err != nil {
			return nil, fmt.Errorf("start witness: %w", err)
		}
		log.Info("role: witness: votes, holds no data")
		n.metrics = newMetrics(n)
		return n, nil
	}
	rcfg.AckPolicy = ack
	rcfg.Peer = env.SiteID(cfg.Peer)
	rcfg.DelayClient = cfg.DelayClient
	rcfg.NoWait = cfg.NoWait
	rcfg.NoAutoInit = cfg.NoAutoInit
	rcfg.AckTimeout = cfg.AckTimeout
	rcfg.HeartbeatInterval = cfg.Heartbeat
	rcfg.HeartbeatMonitor = cfg.HeartbeatMonitor
	rcfg.RequestMin = cfg.RequestMin
	rcfg.RequestMax = cfg.RequestMax
	rcfg.Logger = base
	configureElection(&rcfg, cfg)
	if err := n.env.StartReplication(rcfg); err != nil {
		return nil, fmt.Errorf("start replication: %w", err)
	}
	if err := startRole(n.env, cfg, log); err != nil {
		return nil, err
	}
	n.metrics = newMetrics(n)
	return n, nil
}

// close closes the environment (which stops replication) and then the
// transport it reads from.
func (n *node) close() error {
	var errs []error
	if n.wit != nil {
		if err := n.wit.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close witness: %w", err))
		}
	}
	if n.env != nil {
		if err := n.env.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close environment: %w", err))
		}
	}
	if n.tr != nil {
		if err := n.tr.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", err))
		}
	}
	return errors.Join(errs...)
}

func modeName(m Mode) string {
	switch m {
	case ModeMaster:
		return "master"
	case ModeClient:
		return "client"
	}
	return "elect"
}

// startRole takes the start-up role the flags ask for (rep_start).
func startRole(e *env.Env, cfg Config, log *slog.Logger) error {
	switch cfg.Mode() {
	case ModeMaster:
		gen := e.Generation()
		if st, err := e.RepStatus(); err == nil && st.Gen > gen {
			gen = st.Gen
		}
		gen++
		if err := e.StartMaster(gen); err != nil {
			return fmt.Errorf("start as master (generation %d): %w", gen, err)
		}
		log.Info("role: master", "gen", gen)
	case ModeClient:
		m := cfg.ClientMaster()
		if cfg.MasterID == 0 && len(cfg.Peers) > 1 {
			log.Warn("--client without --master-id: following the lowest peer id until a master announces itself", "master", m)
		}
		if err := e.StartClient(env.SiteID(m)); err != nil {
			return fmt.Errorf("start as client of site %d: %w", m, err)
		}
		log.Info("role: client", "master", m)
	default:
		return startElection(e, cfg, log)
	}
	return nil
}

// loadTLS builds the mutual-TLS configuration from --tls-*, or nil.
func loadTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %v", err)
	}
	pem, err := os.ReadFile(cfg.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", cfg.TLSCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
