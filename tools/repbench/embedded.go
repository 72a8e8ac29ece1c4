package main

// --embedded: the writers run inside repbench, through the Go API, as
// Berkeley DB's and raft's harnesses run theirs inside the master's
// process. Site 1 is opened here from the very command line repbench would
// give its repnode process (parsed by internal/daemon, opened with the
// same env, transport and site configuration and start-up role), plus
// --master; the other sites are repnode processes started --client
// --master-id 1. Appointed roles rather than an election, so the master is
// the site in this process. The CPU per commit covers this process (the
// master and the writers) and the other sites' processes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"logship/env"
	"logship/env/site"
	"logship/internal/daemon"
	"logship/rep/transport"
)

// embeddedSite is a site opened in this process as repnode opens one.
type embeddedSite struct {
	env  *env.Env
	site *site.Site
	tr   *transport.TCP
	logf *os.File
}

// openEmbedded opens the environment, the transport and the replication
// runtime for cfg and takes its start-up role, as cmd/repnode's openNode
// does (without TLS, witness or HTTP). Its log goes to logPath.
func openEmbedded(cfg daemon.Config, logPath string) (_ *embeddedSite, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &embeddedSite{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.logf, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToLower(cfg.LogLevel)))
	log := slog.New(slog.NewTextHandler(e.logf, &slog.HandlerOptions{Level: lvl}))
	ecfg := cfg.EnvConfig()
	ecfg.Logger = log
	if e.env, err = env.Open(cfg.Dir, ecfg); err != nil {
		return nil, fmt.Errorf("open %s: %w", cfg.Dir, err)
	}
	if e.tr, err = transport.New(cfg.TransportConfig(nil, log)); err != nil {
		return nil, fmt.Errorf("replication transport on %s: %w", cfg.Listen, err)
	}
	scfg, err := cfg.SiteConfig(e.tr)
	if err != nil {
		return nil, err
	}
	scfg.Logger = log
	if e.site, err = site.Start(e.env, scfg); err != nil {
		return nil, fmt.Errorf("start replication: %w", err)
	}
	if err := daemon.StartRole(e.site, cfg, log.With("site", cfg.ID)); err != nil {
		return nil, err
	}
	return e, nil
}

// close stops replication, then closes the environment and the transport,
// in repnode's order.
func (e *embeddedSite) close() error {
	var errs []error
	if e.site != nil {
		errs = append(errs, e.site.Close())
	}
	if e.env != nil {
		errs = append(errs, e.env.Close())
	}
	if e.tr != nil {
		errs = append(errs, e.tr.Close())
	}
	if e.logf != nil {
		e.logf.Close()
	}
	return errors.Join(errs...)
}

// siteWriter writes through the in-process site.
type siteWriter struct {
	s       *site.Site
	bucket  string
	timeout time.Duration
}

func (w *siteWriter) batch(ctx context.Context, keys [][]byte, value []byte, out []reply) {
	for i, k := range keys {
		uctx, cancel := context.WithTimeout(ctx, w.timeout)
		tok, err := w.s.Update(uctx, func(tx *env.Tx) error { return tx.Put(w.bucket, k, value) })
		cancel()
		out[i] = reply{at: time.Now(), perm: tok.Permanent, err: err}
	}
}

func (w *siteWriter) close() {}

// siteLag is the lag sampler over the in-process master's status.
func siteLag(s *site.Site) func(context.Context) (int64, error) {
	return func(context.Context) (int64, error) {
		var m int64
		for _, x := range s.Status().Sites {
			m = max(m, x.LagBytes)
		}
		return m, nil
	}
}

// waitEmbeddedMaster waits until s is the master and every other site is
// connected, or d passes, or abort returns an error.
func waitEmbeddedMaster(ctx context.Context, s *site.Site, n int, d time.Duration, abort func() error) error {
	deadline := time.Now().Add(d)
	for {
		if err := abort(); err != nil {
			return err
		}
		st := s.Status()
		connected := 0
		for _, x := range st.Sites {
			if x.Connected {
				connected++
			}
		}
		if st.Role.String() == "master" && connected >= n-1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("embedded site: role %s, %d of %d other sites connected after %v", st.Role, connected, n-1, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func runEmbedded(ctx context.Context, o options, out io.Writer) (err error) {
	if os.Getenv("GOGC") == "" {
		// As repnode's main does: the master runs here.
		debug.SetGCPercent(daemon.DefaultGCPercent)
	}
	g, err := prepareGroup(o.groupConfig())
	if err != nil {
		return err
	}
	defer g.close()
	defer func() {
		var died *siteDiedError
		if dead := g.deadSites(); dead != nil && !errors.As(err, &died) {
			err = errors.Join(err, dead)
		}
	}()
	m := g.sites[0]
	cfg, err := daemon.LoadConfig(append(append([]string(nil), m.args...), "--master"), io.Discard)
	if err != nil {
		return fmt.Errorf("embedded site's command line %q: %w", m.args, err)
	}
	es, err := openEmbedded(cfg, m.logPath)
	if err != nil {
		return fmt.Errorf("embedded site: %w", err)
	}
	defer func() {
		if cerr := es.close(); cerr != nil && err == nil {
			err = fmt.Errorf("close embedded site: %w", cerr)
		}
	}()
	for _, p := range g.sites[1:] {
		p.args = append(p.args, "--client", "--master-id", "1")
		if err := g.start(p); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "embedded master (site 1) and %d repnode sites (--ack %s) in %s\n", o.spawn-1, o.ack, g.root)
	if err := waitEmbeddedMaster(ctx, es.site, o.spawn, 60*time.Second, g.deadSites); err != nil {
		return err
	}
	st := es.site.Status()
	lc := loadConfig{
		writers: o.writers, pipeline: 1, valueSize: o.valueSize, warmup: o.warmup, duration: o.duration,
		bucket: o.bucket, variant: o.variant, lagEvery: o.lagEvery, ack: o.ack, sites: o.spawn,
		master:    fmt.Sprintf("site 1 in this process (gen %d, site.Update)", st.Gen),
		newWriter: func(int) loadWriter { return &siteWriter{s: es.site, bucket: o.bucket, timeout: o.timeout} },
		lag:       siteLag(es.site),
		cpu:       &cpuMeter{pids: g.sitePIDs},
	}
	res, err := runLoad(ctx, lc, out)
	if err != nil {
		return err
	}
	res.report(out)
	return nil
}
