package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TCP is the transport between sites in separate processes: one TCP (or
// TLS) connection per pair of sites, opened by the site with the lower ID.
// See the package documentation for the connection rule and queue policy.
type TCP struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	pmu   sync.RWMutex
	peers map[ID]*peer // guarded by pmu; see AddPeer, RemovePeer
	recv  chan Message
	// The TLS configurations new handshakes use: the dialing side's
	// (Config.TLS) and the accepting side's (its clone, client
	// certificates required); nil without TLS. SetTLS replaces them.
	clientTLS, serverTLS atomic.Pointer[tls.Config]
	// secrets: the group secret new handshakes prove and those they
	// accept (Config.GroupSecret, GroupSecretsAccepted); SetGroupSecret
	// replaces them.
	secrets atomic.Pointer[groupSecrets]

	ctx     context.Context // cancelled by Close; aborts dials in progress
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close; every goroutine selects on it
	once    sync.Once
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	sockets map[net.Conn]struct{} // every open socket, so Close can abort handshakes and I/O

	inboundRefused atomic.Uint64
	// handshaking counts inbound connections in their handshake
	// (Config.MaxHandshakes); overflowLogged is when a refusal for
	// being past it was last logged (unix ns), to log at most one a
	// second under a flood.
	handshaking    atomic.Int64
	overflowLogged atomic.Int64
	// hostShaking counts them by remote IP (Config.MaxHandshakesPerHost).
	hostMu      sync.Mutex
	hostShaking map[string]int
}

// peer is one configured site and its current connection, if any.
type peer struct {
	id    ID
	addr  string
	dials bool          // this site opens the connection (SelfID < id)
	stop  chan struct{} // closed when the peer is removed
	// knocked wakes the dial loop from its back-off: the peer, which
	// does not dial, knocked to say it is up (knock.go).
	knocked chan struct{}
	st      peerCounters

	mu      sync.Mutex
	cur     *conn
	lastErr string
	removed bool
}

var _ Transport = (*TCP)(nil)

// New validates cfg, starts listening and starts connecting to the peers
// this site dials. It returns without waiting for any connection.
func New(cfg Config) (*TCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return nil, fmt.Errorf("transport: listen on %s: %w", cfg.ListenAddr, err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &TCP{
		cfg:     cfg,
		log:     log.With("site", cfg.SelfID),
		ln:      ln,
		peers:   make(map[ID]*peer, len(cfg.Peers)),
		recv:    make(chan Message, cfg.RecvQueueLen),
		closing: make(chan struct{}),
		sockets: make(map[net.Conn]struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if cfg.TLS != nil {
		t.storeTLS(cfg.TLS)
	}
	t.secrets.Store(newGroupSecrets(cfg.GroupSecret, cfg.GroupSecretsAccepted))
	t.wg.Add(1)
	go t.acceptLoop()
	for id, addr := range cfg.Peers {
		t.AddPeer(id, addr)
	}
	return t, nil
}

// peer returns the peer with ID id, or nil.
func (t *TCP) peer(id ID) *peer {
	t.pmu.RLock()
	defer t.pmu.RUnlock()
	return t.peers[id]
}

// peerList returns the current peers.
func (t *TCP) peerList() []*peer {
	t.pmu.RLock()
	defer t.pmu.RUnlock()
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, p)
	}
	return ps
}

// known reports whether id is a current peer; the handshake uses it.
func (t *TCP) known(id ID) bool { return t.peer(id) != nil }

// SetGroupSecret makes secret the group secret the handshakes to come
// prove, and it or any of accepted the ones they accept from peers (a
// rotation: docs/security.md). Connections already up stay. A reload
// cannot turn the group secret on or off (peers of either kind would be
// refused until they all changed too: restart them instead), and a
// secret Config.Validate would refuse is refused; the ones in use then
// stay.
func (t *TCP) SetGroupSecret(secret []byte, accepted [][]byte) error {
	if (secret == nil) != (t.secrets.Load().present() == nil) {
		return errors.New("transport: SetGroupSecret cannot turn the group secret on or off; restart the site")
	}
	if ps := secretProblems(secret, accepted); len(ps) > 0 {
		return fmt.Errorf("transport: SetGroupSecret: %s", strings.Join(ps, "; "))
	}
	t.secrets.Store(newGroupSecrets(secret, accepted))
	return nil
}

// SetTLS replaces the TLS configuration of the handshakes to come, both
// sides (a reload of the group's CA or of a certificate): connections
// already up keep the one they were made with. It fails on a transport
// started without TLS, which cannot turn it on, and on a configuration
// Config.Validate would refuse; the one in use then stays.
func (t *TCP) SetTLS(c *tls.Config) error {
	if t.clientTLS.Load() == nil {
		return errors.New("transport: SetTLS on a transport started without TLS")
	}
	if c == nil {
		return errors.New("transport: SetTLS with no configuration: TLS cannot be turned off")
	}
	if ps := tlsProblems(c); len(ps) > 0 {
		return fmt.Errorf("transport: SetTLS: %s", strings.Join(ps, "; "))
	}
	t.storeTLS(c)
	return nil
}

// storeTLS makes c the configuration of the handshakes to come. Mutual
// authentication is not optional once TLS is on: a site without a
// certificate from the group's CA must get nothing.
func (t *TCP) storeTLS(c *tls.Config) {
	st := c.Clone()
	st.ClientAuth = tls.RequireAndVerifyClientCert
	if g := st.GetConfigForClient; g != nil {
		// Not even a per-handshake configuration may turn it off.
		st.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			pc, err := g(h)
			if pc != nil {
				pc = pc.Clone()
				pc.ClientAuth = tls.RequireAndVerifyClientCert
			}
			return pc, err
		}
	}
	t.clientTLS.Store(c.Clone())
	t.serverTLS.Store(st)
}

// Addr returns the address the transport listens on.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Recv returns the channel of received messages and connection events. It
// is closed when Close returns.
func (t *TCP) Recv() <-chan Message { return t.recv }

// Send queues body for site to. It never blocks: when there is no
// connection or its queue is full, the message is dropped, counted, and an
// error returned. body must not be modified after the call.
func (t *TCP) Send(to ID, body []byte) error {
	p := t.peer(to)
	if p == nil {
		return fmt.Errorf("%w: site %d is not a configured peer", ErrUnknownSite, to)
	}
	return t.send(p, body, true)
}

// send queues body on p's connection. The drop paths return bare
// sentinels: they are hot when a peer is overloaded, and the caller knows
// which peer it sent to.
func (t *TCP) send(p *peer, body []byte, countNotConnected bool) error {
	select {
	case <-t.closing:
		return ErrClosed
	default:
	}
	if len(body) > t.cfg.MaxFrameSize {
		p.st.drops.Add(1)
		return fmt.Errorf("%w: %d bytes to site %d, limit %d", ErrFrameTooLarge, len(body), p.id, t.cfg.MaxFrameSize)
	}
	p.mu.Lock()
	c := p.cur
	p.mu.Unlock()
	if c == nil {
		if countNotConnected {
			p.st.drops.Add(1)
		}
		return ErrNotConnected
	}
	select {
	case c.queue <- body:
		return nil
	default:
		p.st.drops.Add(1)
		return ErrQueueFull
	}
}

// Broadcast queues body for every connected peer and returns how many
// accepted it. Peers without a connection are skipped, not counted as
// drops; peers whose queue is full count a drop.
func (t *TCP) Broadcast(body []byte) int {
	n := 0
	for _, p := range t.peerList() {
		if t.send(p, body, false) == nil {
			n++
		}
	}
	return n
}

// Connected reports whether a connection to id is up.
func (t *TCP) Connected(id ID) bool {
	p := t.peer(id)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil
}

// Stats returns a snapshot of the per-peer counters.
func (t *TCP) Stats() Stats {
	s := Stats{Peers: make(map[ID]PeerStats), InboundRefused: t.inboundRefused.Load()}
	for _, p := range t.peerList() {
		ps := p.st.snapshot()
		p.mu.Lock()
		ps.Connected, ps.LastError = p.cur != nil, p.lastErr
		p.mu.Unlock()
		s.Peers[p.id] = ps
	}
	return s
}

// Close closes the listener and every connection, waits for every
// goroutine of the transport to end, then closes the Recv channel.
// Messages still queued are dropped. Close is idempotent.
func (t *TCP) Close() error {
	t.once.Do(func() {
		close(t.closing)
		t.cancel()
		t.ln.Close()
		t.mu.Lock()
		t.closed = true
		for s := range t.sockets {
			s.Close()
		}
		t.mu.Unlock()
		t.wg.Wait()
		close(t.recv)
	})
	return nil
}

// track registers an open socket so Close can abort it; false means the
// transport is closing and the socket has been closed.
func (t *TCP) track(s net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		s.Close()
		return false
	}
	t.sockets[s] = struct{}{}
	return true
}

func (t *TCP) untrack(s net.Conn) {
	s.Close()
	t.mu.Lock()
	delete(t.sockets, s)
	t.mu.Unlock()
}

// emit delivers m to the receive channel, giving up if the transport
// closes first.
func (t *TCP) emit(m Message) bool {
	select {
	case t.recv <- m:
		return true
	case <-t.closing:
		return false
	}
}

// setNoDelay turns Nagle's algorithm off. Go does this by default, but the
// protocol's latency depends on it (with Nagle, an ack waits ~40 ms for the
// peer's delayed ACK), so it is set explicitly and checked by a test.
func setNoDelay(c net.Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		return tc.SetNoDelay(true)
	}
	return nil
}

func (t *TCP) acceptLoop() {
	defer t.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		s, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				// Closed by someone else: no more inbound connections,
				// but outbound ones keep working.
				t.log.Error("transport: listener closed, no longer accepting", "err", err)
				return
			}
			// Out of file descriptors and the like: wait rather than spin.
			t.log.Warn("transport: accept failed", "err", err, "retry_in", backoff)
			if !t.sleep(backoff, nil) {
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		host := remoteHost(s)
		if why := t.startHandshake(host); why != "" {
			t.inboundRefused.Add(1)
			s.Close()
			if now := time.Now().UnixNano(); now-t.overflowLogged.Load() > int64(time.Second) {
				t.overflowLogged.Store(now)
				t.log.Warn("transport: too many connections in their handshake "+why+"; closing new ones until some finish",
					"limit", t.cfg.MaxHandshakes, "per_host", t.cfg.MaxHandshakesPerHost, "remote", s.RemoteAddr().String())
			}
			continue
		}
		if !t.track(s) {
			t.endHandshake(host)
			return
		}
		t.wg.Add(1)
		go t.serveInbound(s, host)
	}
}

// remoteHost is the IP address a connection comes from.
func remoteHost(s net.Conn) string {
	a := s.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// startHandshake counts an inbound connection from host into its
// handshake, or says why it is refused: past MaxHandshakes, or past
// MaxHandshakesPerHost from that host.
func (t *TCP) startHandshake(host string) string {
	if t.handshaking.Add(1) > int64(t.cfg.MaxHandshakes) {
		t.handshaking.Add(-1)
		return "in all"
	}
	if limit := t.cfg.MaxHandshakesPerHost; limit > 0 {
		t.hostMu.Lock()
		defer t.hostMu.Unlock()
		if t.hostShaking[host] >= limit {
			t.handshaking.Add(-1)
			return "from " + host
		}
		if t.hostShaking == nil {
			t.hostShaking = map[string]int{}
		}
		t.hostShaking[host]++
	}
	return ""
}

// endHandshake ends the count startHandshake began.
func (t *TCP) endHandshake(host string) {
	t.handshaking.Add(-1)
	if t.cfg.MaxHandshakesPerHost > 0 {
		t.hostMu.Lock()
		if t.hostShaking[host]--; t.hostShaking[host] <= 0 {
			delete(t.hostShaking, host)
		}
		t.hostMu.Unlock()
	}
}

// sleep waits d, or until the transport closes or stop (if not nil) is
// closed, and then returns false.
func (t *TCP) sleep(d time.Duration, stop <-chan struct{}) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-t.closing:
		return false
	case <-stop:
		return false
	}
}

// serveInbound runs the accepting side of the handshake, then the
// connection. It owns s, and the handshake count startHandshake took for
// host.
func (t *TCP) serveInbound(s net.Conn, host string) {
	defer t.wg.Done()
	defer t.untrack(s)
	shook := sync.OnceFunc(func() { t.endHandshake(host) })
	defer shook()
	remote := s.RemoteAddr().String()
	sec := t.secrets.Load() // one handshake, one set of secrets
	fail := func(msg string, err error) {
		t.inboundRefused.Add(1)
		t.log.Warn("transport: "+msg, "remote", remote, "reason", err)
	}
	if err := setNoDelay(s); err != nil {
		fail("set TCP_NODELAY on inbound connection", err)
		return
	}
	s.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	var c net.Conn = s
	if st := t.serverTLS.Load(); st != nil {
		tc := tls.Server(s, st)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			fail("TLS handshake failed, connection refused", err)
			return
		}
		c = tc
	}
	// Unarmed during the handshake, which has its own deadline.
	pr := &progressReader{c: c}
	br := bufio.NewReaderSize(pr, readBufSize)
	h, err := func() (hello, error) {
		typ, body, err := readFrame(br, maxHandshakeFrame)
		if err != nil {
			return hello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		if typ != frameHello {
			return hello{}, fmt.Errorf("%w: frame type %d before hello", ErrHandshake, typ)
		}
		h, err := decodeHello(body)
		if err != nil {
			return h, err
		}
		if err := checkHello(t.cfg.GroupName, t.cfg.SelfID, t.known, h, 0); err != nil {
			return h, err
		}
		if err := verifyIdentity(t.cfg.VerifyPeer, h.ID, c); err != nil {
			return h, err
		}
		if h.ID > t.cfg.SelfID {
			// Only the lower ID dials; accepting this would give the pair
			// two connections that keep replacing each other. A higher
			// ID knocks instead (knock.go): dial it now.
			return h, fmt.Errorf("%w: site %d dialled site %d, but the lower ID dials", errKnock, h.ID, t.cfg.SelfID)
		}
		return h, checkSecretHello(sec.present(), h)
	}()
	if errors.Is(err, errKnock) {
		t.knockedBy(h.ID)
		c.Write(appendFrame(nil, frameReject, encodeReject(codeOf(err), err.Error())))
		return
	}
	if err != nil {
		fail("connection refused", err)
		// Tell the peer why, so its operator sees the reason too.
		c.Write(appendFrame(nil, frameReject, encodeReject(codeOf(err), err.Error())))
		return
	}
	me := hello{Version: ProtocolVersion, ID: t.cfg.SelfID, Group: t.cfg.GroupName, Nonce: newNonce(sec.present())}
	if _, err := c.Write(appendFrame(nil, frameHello, me.encode())); err != nil {
		fail("write hello", err)
		return
	}
	if sec.present() != nil {
		// The dialer proves first (secret.go), then this side, under
		// the secret the dialer proved.
		i, err := readProof(br, h.ID, sec.proofs(fromDialer, t.cfg.GroupName, h.ID, t.cfg.SelfID, h.Nonce, me.Nonce))
		if err != nil {
			fail("connection refused", err)
			c.Write(appendFrame(nil, frameReject, encodeReject(codeOf(err), err.Error())))
			return
		}
		mine := proof((*sec)[i], fromAcceptor, t.cfg.GroupName, h.ID, t.cfg.SelfID, h.Nonce, me.Nonce)
		if _, err := c.Write(appendFrame(nil, frameAuth, mine)); err != nil {
			fail("write group-secret proof", err)
			return
		}
	}
	s.SetDeadline(time.Time{})
	p := t.peer(h.ID)
	if p == nil {
		fail("connection refused", fmt.Errorf("%w: site %d was removed during the handshake", ErrUnknownSite, h.ID))
		return
	}
	t.log.Info("transport: connection accepted", "peer", p.id, "remote", remote)
	shook()
	t.runConn(p, s, c, pr, br)
}

// dialLoop keeps a connection to p open, redialling with back-off. It runs
// only for peers with a higher ID than this site.
func (t *TCP) dialLoop(p *peer) {
	defer t.wg.Done()
	backoff := t.cfg.ReconnectMin
	for {
		select {
		case <-t.closing:
			return
		case <-p.stop:
			return
		default:
		}
		up, err := t.dialOnce(p)
		if err != nil {
			p.st.dialFailures.Add(1)
			p.mu.Lock()
			repeated := p.lastErr == err.Error()
			p.lastErr = err.Error()
			p.mu.Unlock()
			// Log a new failure loudly and a repeated one quietly, so a
			// peer that is down for an hour does not flood the log.
			level := slog.LevelWarn
			if repeated {
				level = slog.LevelDebug
			}
			t.log.Log(t.ctx, level, "transport: cannot connect", "peer", p.id, "addr", p.addr, "err", err)
		}
		if up {
			backoff = t.cfg.ReconnectMin
			// A knock from before or during that connection is stale.
			select {
			case <-p.knocked:
			default:
			}
		}
		// Jitter of up to a quarter keeps restarted sites from dialling in
		// lock-step.
		wait := backoff + rand.N(backoff/4+1)
		knocked, ok := t.sleepOrKnock(wait, p)
		if !ok {
			return
		}
		switch {
		case knocked:
			backoff = t.cfg.ReconnectMin
		case !up:
			backoff = min(2*backoff, t.cfg.ReconnectMax)
		}
	}
}

// dialOnce dials p, runs the dialer side of the handshake and then the
// connection until it fails. up reports whether the connection was
// established; err is why it could not be.
func (t *TCP) dialOnce(p *peer) (up bool, err error) {
	sec := t.secrets.Load() // one handshake, one set of secrets
	s, c, me, err := t.dialHello(p, sec)
	if s != nil {
		defer t.untrack(s)
	}
	if err != nil {
		return false, err
	}
	// Unarmed during the handshake, which has its own deadline.
	pr := &progressReader{c: c}
	br := bufio.NewReaderSize(pr, readBufSize)
	h, err := readHandshake(br)
	if err != nil {
		return false, err
	}
	if err := checkHello(t.cfg.GroupName, t.cfg.SelfID, t.known, h, p.id); err != nil {
		return false, err
	}
	if err := verifyIdentity(t.cfg.VerifyPeer, h.ID, c); err != nil {
		return false, err
	}
	if err := checkSecretHello(sec.present(), h); err != nil {
		return false, err
	}
	if sec.present() != nil {
		mine := proof(sec.present(), fromDialer, t.cfg.GroupName, t.cfg.SelfID, h.ID, me.Nonce, h.Nonce)
		if _, err := c.Write(appendFrame(nil, frameAuth, mine)); err != nil {
			return false, fmt.Errorf("write group-secret proof: %w", err)
		}
		// The acceptor answers under the secret it accepted ours as,
		// which is the one we proved with.
		want := proof(sec.present(), fromAcceptor, t.cfg.GroupName, t.cfg.SelfID, h.ID, me.Nonce, h.Nonce)
		if _, err := readProof(br, h.ID, [][]byte{want}); err != nil {
			return false, err
		}
	}
	s.SetDeadline(time.Time{})
	t.log.Info("transport: connected", "peer", p.id, "addr", p.addr)
	t.runConn(p, s, c, pr, br)
	return true, nil
}

// dialHello dials p, runs TLS if configured and sends this site's hello,
// all within DialTimeout: the dialer's side of the handshake up to the
// answer. s is the socket (tracked: the caller untracks it), c the
// connection to use (TLS over s, or s). The hello carries a nonce when
// sec has a secret.
func (t *TCP) dialHello(p *peer, sec *groupSecrets) (s, c net.Conn, me hello, err error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
	defer cancel()
	dial := t.cfg.Dial
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	s, err = dial(ctx, p.addr)
	if err != nil {
		return nil, nil, me, err
	}
	if !t.track(s) {
		return nil, nil, me, ErrClosed
	}
	if err := setNoDelay(s); err != nil {
		return s, nil, me, fmt.Errorf("set TCP_NODELAY: %w", err)
	}
	s.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	c = s
	if base := t.clientTLS.Load(); base != nil {
		cfg := base.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(p.addr)
		}
		tc := tls.Client(s, cfg)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			return s, nil, me, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	me = hello{Version: ProtocolVersion, ID: t.cfg.SelfID, Group: t.cfg.GroupName, Nonce: newNonce(sec.present())}
	if _, err := c.Write(appendFrame(nil, frameHello, me.encode())); err != nil {
		return s, nil, me, fmt.Errorf("write hello: %w", err)
	}
	return s, c, me, nil
}

// errTransportClosed distinguishes a shutdown from a connection failure in
// logs.
var errTransportClosed = errors.New("transport closing")
