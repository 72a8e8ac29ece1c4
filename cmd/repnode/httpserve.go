package main

// The HTTP servers: --http with its TLS, credentials and limits, and
// --metrics-listen, which serves /metrics and /healthz and nothing else.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"logship/internal/daemon"
)

// front is the node's HTTP side: the main server and the optional
// metrics server.
type front struct {
	srv  *http.Server
	ln   net.Listener
	msrv *http.Server // nil without --metrics-listen
	mln  net.Listener
}

// maxHeaderWait bounds the request line and headers, whatever
// --http-read-timeout says: a client that cannot send its headers in
// this long is a slow-header attack or broken.
const maxHeaderWait = 10 * time.Second

// metricsMaxConns caps the metrics listener: scrapers are few.
const metricsMaxConns = 64

// listenHTTP opens --http (and --metrics-listen) with TLS, credentials
// and limits from cfg, in front of handler. Nothing is served until
// serve.
func (n *node) listenHTTP(cfg Config, handler http.Handler, log *slog.Logger) (_ *front, err error) {
	a := n.auth // openNode read the credentials
	tlsConf := httpTLS(n.httpCert, n.httpCA)
	f := &front{}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("--http %s: %w", cfg.HTTP, err)
	}
	f.ln = limitListener(f.ln, cfg.HTTPMaxConns)
	if tlsConf != nil {
		f.ln = tls.NewListener(f.ln, tlsConf)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	f.srv = newHTTPServer(cfg.Security, longRequests(a.wrap(handler)), errLog)
	if cfg.MetricsListen != "" {
		if f.mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("--metrics-listen %s: %w", cfg.MetricsListen, err)
		}
		f.mln = limitListener(f.mln, metricsMaxConns)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", n.metrics.handler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		f.msrv = newHTTPServer(cfg.Security, mux, errLog)
	}
	return f, nil
}

// newHTTPServer applies the --http-* limits.
func newHTTPServer(s daemon.Security, h http.Handler, errLog *stdlog.Logger) *http.Server {
	header := maxHeaderWait
	if s.HTTPReadTimeout > 0 && s.HTTPReadTimeout < header {
		header = s.HTTPReadTimeout
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: header,
		ReadTimeout:       s.HTTPReadTimeout,
		WriteTimeout:      s.HTTPWriteTimeout,
		IdleTimeout:       s.HTTPIdleTimeout,
		ErrorLog:          errLog,
	}
	return srv
}

// serve runs the servers; the channel gets the first one's failure.
func (f *front) serve() <-chan error {
	errs := make(chan error, 2)
	go func() { errs <- f.srv.Serve(f.ln) }()
	if f.msrv != nil {
		go func() { errs <- fmt.Errorf("--metrics-listen: %w", f.msrv.Serve(f.mln)) }()
	}
	return errs
}

// shutdown stops both servers, waiting for requests in flight until ctx
// ends, then closing what is left.
func (f *front) shutdown(ctx context.Context) error {
	var errs []error
	for _, s := range []*http.Server{f.srv, f.msrv} {
		if s == nil {
			continue
		}
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			s.Close()
		}
	}
	return errors.Join(errs...)
}

// close closes the listeners of servers never started.
func (f *front) close() {
	for _, ln := range []net.Listener{f.ln, f.mln} {
		if ln != nil {
			ln.Close()
		}
	}
}

// longRequests lifts the write deadline for POST /v1/admin/verify, which
// reads the whole data file before it answers (repadmin waits up to 30
// minutes): --http-write-timeout is for answers a slow reader holds up,
// not for this one.
func longRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/admin/verify" {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

// httpTLS is the HTTPS configuration of the HTTP and RESP ports from
// --http-tls-* (cert) and --http-client-ca (ca, nil if not set), or nil
// for plain HTTP. Each handshake reads the pair and the CA a reload
// read last.
func httpTLS(cert *certFile, ca *caFile) *tls.Config {
	if cert == nil {
		return nil
	}
	current := func() *tls.Config {
		c := &tls.Config{GetCertificate: cert.serve, MinVersion: tls.VersionTLS12}
		if ca != nil {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.cur.Load()
		}
		return c
	}
	c := current()
	if ca != nil {
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return current(), nil }
	}
	return c
}

// limitListener accepts at most max connections at once (0: no limit);
// the next waits in Accept (and the kernel's backlog) until one closes,
// as golang.org/x/net/netutil.LimitListener does.
func limitListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limited{Listener: ln, sem: make(chan struct{}, max), done: make(chan struct{})}
}

type limited struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limited) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limited) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
