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
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"logship/cmd/internal/buildinfo"
	"logship/env"
	"logship/env/site"
	"logship/internal/daemon"
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
const defaultGCPercent = daemon.DefaultGCPercent

// run is main without the process: it returns the exit status (0 after a
// clean shutdown, 1 on failure, 2 on a bad command line).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(stdout, buildinfo.Read().String("repnode"))
		return 0
	}
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

// Config is repnode's configuration (package daemon); UsageError and the
// start-up modes are daemon's too.
type (
	Config     = daemon.Config
	Mode       = daemon.Mode
	UsageError = daemon.UsageError
	Peers      = daemon.Peers
)

const (
	ModeElect  = daemon.ModeElect
	ModeMaster = daemon.ModeMaster
	ModeClient = daemon.ModeClient
)

// LoadConfig reads the command line and the TOML file it names.
func LoadConfig(args []string, out io.Writer) (Config, error) { return daemon.LoadConfig(args, out) }

// DefaultConfig returns the defaults --help shows.
func DefaultConfig() Config { return daemon.DefaultConfig() }

// node is a running site: what the HTTP handlers and metrics need.
type node struct {
	cfg     Config
	env     *env.Env      // nil on a witness
	site    *site.Site    // nil on a witness
	wit     *site.Witness // --witness only
	tr      *transport.TCP
	log     *slog.Logger
	metrics *metrics
	auth    *authz // nil: no credentials checked (auth.go)
	// The certificates and CAs a reload reads again (reload.go); nil
	// without TLS (httpCA: without --http-client-ca).
	httpCert, replCert *certFile
	httpCA, replCA     *caFile
	// everMember: this site has been a member since it started
	// (members.go), so leaving the membership is a removal.
	everMember atomic.Bool
}

// serve runs the site until ctx ends, then shuts down: HTTP first, then the
// environment (which stops replication), then the transport.
func serve(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	if cfg.Join != "" {
		// The group adds this site first (join.go); cfg then names the
		// master as the one site it starts with.
		if cfg, err = joinGroup(ctx, cfg, log.With("site", cfg.ID)); err != nil {
			return err
		}
	}
	n, err := openNode(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	handler := n.routes()
	if n.wit != nil {
		handler = n.witnessRoutes()
	}
	// TLS, credentials and limits on the HTTP port (httpserve.go).
	f, err := n.listenHTTP(cfg, handler, log)
	if err != nil {
		return err
	}
	var rs *respServer
	var respServed <-chan struct{} // nil (never ready) without --resp
	if cfg.RESP != "" && n.site != nil {
		if rs, err = n.startRESP(); err != nil {
			f.close()
			return err
		}
		defer rs.close()
		respServed = rs.served
		n.log.Info("resp listener started", "resp", rs.addr, "bucket", cfg.RESPBucket)
	}
	if n.site != nil {
		wctx, wcancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { defer close(watched); n.watchMembership(wctx) }()
		defer func() { wcancel(); <-watched }()
	}
	served := f.serve()
	// SIGHUP reads the credentials and the group secret again (reload.go).
	hup, hupDone := make(chan os.Signal, 1), make(chan struct{})
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hupDone) }()
	go func() {
		for {
			select {
			case <-hup:
				n.reload()
			case <-hupDone:
				return
			}
		}
	}()
	n.log.Info("repnode started", "dir", cfg.Dir, "listen", n.tr.Addr().String(), "http", f.ln.Addr().String(),
		"peers", cfg.Peers.String(), "ack", cfg.Ack, "mode", n.modeName(), "http_tls", cfg.HTTPTLSCert != "",
		"http_auth", n.auth != nil, "tls_id_from", cfg.TLSIDFrom, "group_secret", cfg.GroupSecretFile != "")

	select {
	case <-ctx.Done():
		n.log.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-respServed:
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = f.shutdown(sctx)
		return fmt.Errorf("resp listener stopped: %v", rs.servErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.shutdown(sctx); err != nil {
		n.log.Warn("http shutdown", "err", err)
	}
	return nil
}

// openNode opens the environment and the transport, starts replication and
// takes the start-up role. close undoes it.
func openNode(cfg Config, base *slog.Logger) (_ *node, err error) {
	log := base.With("site", cfg.ID)
	if _, err := cfg.AckPolicy(); err != nil {
		return nil, UsageError{Err: fmt.Errorf("--ack: %v", err)}
	}
	tlsConf, replCert, replCA, err := loadTLS(cfg)
	if err != nil {
		return nil, UsageError{Err: err}
	}
	secret, accepted, err := loadGroupSecret(cfg.Security)
	if err != nil {
		return nil, UsageError{Err: err}
	}
	n := &node{cfg: cfg, log: log, replCert: replCert, replCA: replCA}
	if cfg.HTTPTLSCert != "" {
		// One pair and one client CA for the HTTP and RESP ports, read
		// again by a reload.
		if n.httpCert, err = loadCertFile("--http-tls-cert/--http-tls-key", cfg.HTTPTLSCert, cfg.HTTPTLSKey); err != nil {
			return nil, UsageError{Err: err}
		}
		if cfg.HTTPClientCA != "" {
			if n.httpCA, err = loadCAFile("--http-client-ca", cfg.HTTPClientCA); err != nil {
				return nil, UsageError{Err: err}
			}
		}
	}
	// Credentials for --http (and the RESP port's AUTH): auth.go.
	if n.auth, err = newAuthz(cfg.Security); err != nil {
		return nil, UsageError{Err: err}
	}
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
		if w := cfg.DelayWarning(); w != "" {
			log.Warn(w)
		}
	}

	tcfg := cfg.TransportConfig(tlsConf, base)
	tcfg.VerifyPeer = peerVerifier(cfg.TLSIDFrom) // peerid.go
	if tlsConf != nil && tcfg.VerifyPeer == nil {
		log.Warn("replication TLS without --tls-id-from: any certificate of the group's CA may claim any site id (docs/security.md)")
	}
	tcfg.GroupSecret, tcfg.GroupSecretsAccepted = secret, accepted
	n.tr, err = transport.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("replication transport on --listen %s: %w", cfg.Listen, err)
	}

	scfg, err := cfg.SiteConfig(n.tr)
	if err != nil {
		return nil, UsageError{Err: err}
	}
	scfg.Logger = base
	scfg.Join = cfg.Join != "" // ignored once the log holds the membership (join.go)
	if cfg.Witness {
		if n.wit, err = site.StartWitness(cfg.Dir, scfg); err != nil {
			return nil, fmt.Errorf("start witness: %w", err)
		}
		log.Info("role: witness: votes, holds no data")
		n.metrics = newMetrics(n)
		return n, nil
	}
	if n.site, err = site.Start(n.env, scfg); err != nil {
		return nil, fmt.Errorf("start replication: %w", err)
	}
	if err := startRole(n.site, cfg, log); err != nil {
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
	if n.site != nil {
		if err := n.site.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close replication: %w", err))
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

func modeName(m Mode) string { return m.String() }

// startRole takes the start-up role the flags ask for (rep_start).
func startRole(s *site.Site, cfg Config, log *slog.Logger) error {
	return daemon.StartRole(s, cfg, log)
}

// loadTLS builds the mutual-TLS configuration from --tls-*, or nil; its
// certificate and CA are read again by a reload (reload.go).
func loadTLS(cfg Config) (*tls.Config, *certFile, *caFile, error) {
	if cfg.TLSCert == "" {
		return nil, nil, nil, nil
	}
	cf, err := loadCertFile("--tls-cert/--tls-key", cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := loadCAFile("--tls-ca", cfg.TLSCA)
	if err != nil {
		return nil, nil, nil, err
	}
	return replTLS(cf, ca.cur.Load()), cf, ca, nil
}

// replTLS is the replication port's TLS configuration: cf's pair on
// both sides, pool for both checks.
func replTLS(cf *certFile, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		GetCertificate:       cf.serve,
		GetClientCertificate: cf.present,
		RootCAs:              pool,
		ClientCAs:            pool,
		ClientAuth:           tls.RequireAndVerifyClientCert,
		MinVersion:           tls.VersionTLS12,
	}
}
