package main

// The RESP (Redis protocol) listener: --resp HOST:PORT.
//
// Every RESP key lives in one bucket, --resp-bucket (default "redis"), so
// SET k v writes the record that HTTP's PUT /v1/kv/redis/k writes. The
// commands are in resp_cmds.go; docs/operations.md ("RESP listener")
// says what each answers.
//
// Pipelining. redcon reads what a connection has sent (one read of the
// socket: a whole pipeline when the client sends it at once) and calls
// the handler for each command; the handler of the first takes the rest
// with ReadPipeline and runs the batch itself, on the connection's
// goroutine:
//   - a write runs its transaction and appends its record at once
//     (site.Append), in pipeline order, so two writes of one pipeline
//     take effect in the order sent, as in Redis; its wait for the fsync
//     and the acks (Pending.Wait) runs on its own goroutine, so the
//     writes of a pipeline share group commits and acks;
//   - any other command first waits for the writes before it, so a read
//     sees them and LOGSHIP.TOKEN names the last of them;
//   - answers are written strictly in order, each write's once it is
//     permanent (or failed).
//
// We chose this over Detach (our own read loop overlapping the next read
// with the previous batch's commits) because it keeps redcon's reader,
// idle deadline and close handling, and costs little: a connection that
// waits for its answers before sending more gains nothing from the
// overlap, and one that pipelines already commits a whole batch at once.
// One connection holds at most respMaxInFlight writes in flight; past
// that it waits for them before reading on, so a flood of pipelined
// writes is throttled by the commit rate, not buffered.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/redcon"

	"logship/env"
)

const (
	// respMaxInFlight bounds the writes one connection has committing
	// at once.
	respMaxInFlight = 1024
	// respFlushBytes: answers buffered past this are sent before the
	// batch ends, so a large MGET pipeline does not pile up in memory.
	respFlushBytes = 1 << 20
)

// respMaxReplyBytes bounds the values one MGET answers with: the keys
// of one command (up to --log-file-size of them) could otherwise name
// far more values than the site has memory for, since the answer is
// built before it is written. A variable for tests.
var respMaxReplyBytes = 64 << 20

// respServer is the RESP listener of a node.
type respServer struct {
	n       *node
	srv     *redcon.Server
	ln      net.Listener
	addr    string // where it listens (the port resolved)
	ctx     context.Context
	cancel  context.CancelFunc
	served  chan struct{} // closed when the accept loop ended
	servErr error         // why it ended, set before served closes
	conns   atomic.Int64
	nextID  atomic.Int64
	maxCmd  int64 // the most bytes one incomplete command may take
	mu      sync.Mutex
	closing bool
	running sync.WaitGroup // batches being run

	commands *prometheus.CounterVec
	counted  map[string]prometheus.Counter // commands' counters, looked up once
	errors   *prometheus.CounterVec
	refused  prometheus.Counter
}

// respConn is one client connection's state.
type respConn struct {
	s    *respServer
	id   int64
	nc   *cmdLimitConn
	tok  env.Token // the token of this connection's last write
	has  bool      // tok is set
	role role      // what AUTH (or the client certificate) allows; admin without credentials configured
	tls  bool      // the client certificate's role was looked up
	// The token AUTH gave, and the token load it was checked against:
	// after a reload it is checked again (resp_auth.go recheck).
	authTok  string
	authGen  uint64
	certRole role
	cert     *tls.ConnectionState // the verified client certificate's connection, if TLS
}

// startRESP listens on --resp and serves RESP until close.
func (n *node) startRESP() (*respServer, error) {
	tlsConf := httpTLS(n.httpCert, n.httpCA) // the HTTP port's certificate and client CA
	ln, err := net.Listen("tcp", n.cfg.RESP)
	if err != nil {
		return nil, fmt.Errorf("--resp %s: %w", n.cfg.RESP, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	s := &respServer{n: n, addr: ln.Addr().String(), served: make(chan struct{}),
		maxCmd: n.cfg.LogFileSize + 1<<20}
	s.ln = &cmdLimitListener{Listener: ln, s: s}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logship_resp_commands_total",
		Help: "Commands received on the RESP listener, by command (unknown ones as \"unknown\").",
	}, []string{"command"})
	s.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logship_resp_errors_total",
		Help: "RESP commands answered an error, by command and kind (the error's first word: ERR, READONLY, NOTPERMANENT...).",
	}, []string{"command", "kind"})
	s.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logship_resp_connections_refused_total",
		Help: "RESP connections refused because --resp-max-conns were open.",
	})
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "logship_resp_connections",
		Help: "RESP connections open now.",
	}, func() float64 { return float64(s.conns.Load()) })
	s.counted = map[string]prometheus.Counter{"unknown": s.commands.WithLabelValues("unknown")}
	for name := range respCmds {
		s.counted[name] = s.commands.WithLabelValues(name)
	}
	if err := n.metrics.reg.Register(s.commands); err != nil {
		ln.Close()
		return nil, fmt.Errorf("resp metrics: %w", err)
	}
	n.metrics.reg.MustRegister(s.errors, s.refused, conns)
	s.srv = redcon.NewServerNetwork("tcp", s.addr, s.handle, s.accept, s.closed)
	s.srv.SetIdleClose(n.cfg.RESPIdleTimeout)
	s.srv.AcceptError = func(err error) {
		// Out of descriptors, say: log it and let the condition pass
		// rather than spin.
		n.log.Warn("resp: accept", "err", err)
		time.Sleep(50 * time.Millisecond)
	}
	go func() {
		s.servErr = s.srv.Serve(s.ln)
		close(s.served)
	}()
	return s, nil
}

// close stops accepting, closes every connection, and waits (a few
// seconds at most) for the batches under way: their waits end with the
// server's context.
func (s *respServer) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	select {
	case <-s.served:
	default:
		if err := s.srv.Close(); err != nil {
			s.n.log.Warn("resp: close", "err", err)
		}
		<-s.served
	}
	// A read waiting out a client's lockout does not see the context
	// (site.View); it ends when the site closes, after this returns.
	idle := make(chan struct{})
	go func() {
		s.running.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-time.After(5 * time.Second):
		s.n.log.Warn("resp: commands still running at shutdown; closing the site under them")
	}
}

func (s *respServer) accept(c redcon.Conn) bool {
	if s.conns.Add(1) > int64(s.n.cfg.RESPMaxConns) {
		s.conns.Add(-1)
		s.refused.Inc()
		// Redis's words: clients know them.
		c.WriteError(fmt.Sprintf("ERR max number of clients reached (--resp-max-conns %d)", s.n.cfg.RESPMaxConns))
		return false // redcon flushes the error and closes
	}
	nc, _ := c.NetConn().(*cmdLimitConn)
	rc := &respConn{s: s, id: s.nextID.Add(1), nc: nc}
	if s.n.auth == nil {
		rc.role = roleAdmin // no credentials configured: everyone may do everything, as on --http
	}
	c.SetContext(rc)
	return true
}

func (s *respServer) closed(c redcon.Conn, err error) {
	s.conns.Add(-1)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.n.log.Debug("resp: connection closed", "remote", c.RemoteAddr(), "err", err)
	}
}

// handle runs the batch the first command of which is cmd (see the top
// of the file).
func (s *respServer) handle(c redcon.Conn, cmd redcon.Command) {
	rc, ok := c.Context().(*respConn)
	if !ok {
		c.WriteError("ERR internal: connection without state")
		c.Close()
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.WriteError("ERR shutting down")
		c.Close()
		return
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()
	defer s.recoverConn(c, "command")
	if rc.nc != nil {
		rc.nc.read.Store(0) // commands arrived: the bound is per command
	}
	batch := append([]redcon.Command{cmd}, c.ReadPipeline()...)
	rc.run(c, batch)
}

// recoverConn ends a connection whose command panicked, instead of the
// process: one bad command (a bug in its handler) must not take every
// other client's site down with it. The panic and its stack are logged
// and counted; the client gets an error and a closed connection, since
// what its pipeline's other commands did is not known. A panic inside a
// transaction leaves the store as it was (env undoes the transaction).
func (s *respServer) recoverConn(c redcon.Conn, what string) {
	r := recover()
	if r == nil {
		return
	}
	s.logPanic(what, r)
	c.WriteError("ERR internal error (logged by the site); closing the connection")
	c.Close()
}

// logPanic logs a recovered panic with its stack and counts it.
func (s *respServer) logPanic(what string, r any) {
	s.errors.WithLabelValues("panic", "ERR").Inc()
	s.n.log.Error("resp: panic in "+what+"; connection closed", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// respReply writes one answer.
type respReply func(c redcon.Conn)

// slot is one answer of a batch, in order: ready, or a write committing.
type slot struct {
	name    string // the command, for metrics
	reply   respReply
	errKind string // the error's first word, "" if none
	done    chan struct{}
	// A write's outcome, set before done closes.
	wrote bool
	tok   env.Token
}

// run runs a batch of commands and writes their answers in order.
func (rc *respConn) run(c redcon.Conn, batch []redcon.Command) {
	var slots []*slot
	flush := func() {
		for _, sl := range slots {
			if sl.done != nil {
				<-sl.done
			}
			if sl.wrote {
				rc.tok, rc.has = sl.tok, true
			}
			if sl.errKind != "" {
				rc.s.errors.WithLabelValues(sl.name, sl.errKind).Inc()
			}
			sl.reply(c)
		}
		slots = slots[:0]
		if w := redcon.BaseWriter(c); w != nil && len(w.Buffer()) > respFlushBytes {
			_ = w.Flush() // a broken connection shows at redcon's own flush
		}
	}
	for _, cmd := range batch {
		if len(cmd.Args) == 0 {
			continue
		}
		spec, name := lookupRESP(cmd.Args[0])
		rc.s.counted[name].Inc()
		if err := spec.checkArity(name, len(cmd.Args)); err != "" {
			slots = append(slots, errSlot(name, err))
			continue
		}
		if err := rc.allowed(spec, name); err != "" {
			slots = append(slots, errSlot(name, err))
			continue
		}
		if spec.write != nil {
			if len(slots) >= respMaxInFlight {
				flush()
			}
			slots = append(slots, rc.startWrite(name, spec, cmd.Args))
			continue
		}
		flush() // a read sees the writes before it; LOGSHIP.TOKEN names the last
		sl := &slot{name: name}
		sl.reply, sl.errKind = spec.run(rc, c, cmd.Args)
		slots = append(slots, sl)
		if spec.quit {
			flush()
			c.Close()
			return
		}
	}
	flush()
}

// errSlot is an error answer, known at once.
func errSlot(name, msg string) *slot {
	kind, _, _ := strings.Cut(msg, " ")
	return &slot{name: name, errKind: kind, reply: func(c redcon.Conn) { c.WriteError(msg) }}
}

// startWrite runs a write's transaction and appends its record now, and
// waits for its commit on another goroutine.
func (rc *respConn) startWrite(name string, spec *respCmd, args [][]byte) *slot {
	op, errMsg := spec.write(rc, args)
	if errMsg != "" {
		return errSlot(name, errMsg)
	}
	n := rc.s.n
	start := time.Now()
	p, err := n.site.Append(rc.s.ctx, op.fn)
	if err != nil {
		return errSlot(name, rc.s.errorText(err))
	}
	sl := &slot{name: name, done: make(chan struct{})}
	go func() {
		defer close(sl.done)
		defer func() {
			if r := recover(); r != nil {
				rc.s.logPanic("commit wait", r)
				sl.errKind = "ERR"
				sl.reply = func(c redcon.Conn) {
					c.WriteError("ERR internal error (logged by the site); the write's outcome is unknown")
					c.Close()
				}
			}
		}()
		tok, err := p.Wait(rc.s.ctx)
		if err != nil {
			msg := rc.s.errorText(err)
			sl.errKind, _, _ = strings.Cut(msg, " ")
			sl.reply = func(c redcon.Conn) { c.WriteError(msg) }
			return
		}
		if !p.Wrote() { // changed nothing (DEL of missing keys): nothing to wait for
			sl.reply = op.answer()
			return
		}
		n.metrics.observeCommit(op.op, tok.Permanent, time.Since(start))
		sl.wrote, sl.tok = true, tok
		if !tok.Permanent {
			msg := fmt.Sprintf("NOTPERMANENT committed at %s but not permanent under ack policy %s: a failover may lose it; token %s",
				tok.LSN, n.cfg.Ack, tok)
			sl.errKind = "NOTPERMANENT"
			sl.reply = func(c redcon.Conn) { c.WriteError(msg) }
			return
		}
		sl.reply = op.answer()
	}()
	return sl
}

// errorText is an env or site error as a RESP error: the first word
// says its kind (clients and their retry logic read Redis's: READONLY,
// TRYAGAIN, LOADING), the rest says what happened (describe).
func (s *respServer) errorText(err error) string {
	var re respError
	if errors.As(err, &re) {
		return string(re)
	}
	f := s.n.describe(err)
	switch f.kind {
	case failNotMaster:
		return "READONLY " + s.notMaster(f)
	case failNoLease:
		return "TRYAGAIN " + f.msg + s.masterHint(f)
	case failLockout:
		return "LOADING " + f.msg
	case failNeverApplied:
		return "NEVERAPPLIED " + f.msg
	case failTimeout:
		return "TIMEOUT " + f.msg
	}
	return "ERR " + f.msg
}

// notMaster says that this site is not the master, and names the master
// as a RESP client can reach it.
func (s *respServer) notMaster(f failure) string {
	why := ""
	if !strings.HasPrefix(f.msg, "not the master") {
		why = " (" + f.msg + ")" // refused by the election layer: say why
	}
	if f.master == 0 {
		return fmt.Sprintf("site %d is not the master%s, and no master is known", s.n.cfg.ID, why)
	}
	return fmt.Sprintf("site %d is not the master%s; the master is site %d", s.n.cfg.ID, why, f.master) + s.masterHint(f)
}

// masterHint names f's master's RESP address, or its replication
// address when this site does not know the RESP one.
func (s *respServer) masterHint(f failure) string {
	if f.master == 0 {
		return ""
	}
	if a := s.n.respAddr(f.master); a != "" {
		return fmt.Sprintf(" at %s (RESP)", a)
	}
	return fmt.Sprintf(" (replication address %s; its RESP address is unknown here: list it in --resp-peers)", f.masterAddr)
}

// respError is an answer a command's own check gives, already in RESP
// error form ("ERR ...").
type respError string

func (e respError) Error() string { return string(e) }

// cmdLimitListener hands out cmdLimitConns.
type cmdLimitListener struct {
	net.Listener
	s *respServer
}

func (l *cmdLimitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &cmdLimitConn{Conn: c, max: l.s.maxCmd}, nil
}

// cmdLimitConn bounds the bytes read while no command is complete: redcon
// grows its buffer until a command is whole, so without a bound a client
// announcing a huge argument would make it hold all it sends. handle
// resets the count whenever commands arrived.
type cmdLimitConn struct {
	net.Conn
	max  int64
	read atomic.Int64
}

func (c *cmdLimitConn) Read(b []byte) (int, error) {
	if c.read.Load() > c.max {
		// Say why before the connection closes (nothing else is being
		// written: redcon reads only once it flushed its answers).
		_, _ = c.Conn.Write([]byte(fmt.Sprintf("-ERR Protocol error: a command of more than %d bytes\r\n", c.max)))
		return 0, fmt.Errorf("resp: a command of more than %d bytes", c.max)
	}
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// view is a read on this site: a lease read where HTTP's GET would make
// one (readMode).
func (n *node) view(read func(*env.ReadTx) error) error {
	lease, err := n.readMode(false, false)
	if err != nil {
		return err
	}
	if lease {
		return n.site.ViewLease(read)
	}
	return n.site.View(read)
}
