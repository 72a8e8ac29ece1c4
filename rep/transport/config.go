package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"time"
)

// Config configures a TCP transport. Start from DefaultConfig.
type Config struct {
	// GroupName names the replication group; a site of another group is
	// refused at the handshake.
	GroupName string
	// SelfID is this site's ID (non-zero).
	SelfID ID
	// ListenAddr is the replication address this site accepts peers on,
	// e.g. "127.0.0.1:5001". Ignored when Listener is set.
	ListenAddr string
	// Listener, if set, is used instead of listening on ListenAddr (tests
	// and socket activation). The transport closes it on Close.
	Listener net.Listener
	// Dial, if set, opens connections instead of a net.Dialer (tests over
	// in-memory pipes, proxies). It must honour ctx, which carries
	// DialTimeout.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Peers maps every other site of the group to its replication
	// address. Connections from sites not listed are refused.
	Peers map[ID]string
	// TLS, when set, turns on TLS with mutual authentication: the server
	// side requires and verifies client certificates against ClientCAs, the
	// client side verifies the server against RootCAs. Both pools must be
	// set (normally to the group's CA).
	TLS *tls.Config
	// VerifyPeer, if set (TLS only), is called on both sides once the
	// handshake has passed, with the site ID the peer claims and its
	// verified TLS state; an error refuses the connection. Without it any
	// certificate from the group's CA may claim any configured site ID;
	// with it, certificates can be bound to IDs (say CommonName "site-3").
	VerifyPeer func(id ID, cs tls.ConnectionState) error
	// GroupSecret, if set, is a secret every site of the group holds.
	// Both ends of a connection prove they know it in the handshake
	// (HMAC-SHA256 over fresh nonces from both; it never crosses the
	// wire), so without TLS a site cannot claim another's ID, and with
	// TLS it is a second lock. Every site must have the same one.
	GroupSecret []byte
	// GroupSecretsAccepted are more secrets a peer may prove, for a
	// rotation without a restart: a site proves GroupSecret, and accepts
	// it or any of these (TCP.SetGroupSecret; docs/security.md).
	GroupSecretsAccepted [][]byte

	// DialTimeout bounds a dial plus the TLS and transport handshakes.
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the back-off between dial
	// attempts; it doubles after each failure and resets after a
	// connection that came up.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// HeartbeatInterval is how often an idle connection sends a keepalive
	// frame; HeartbeatTimeout is how long a connection may go without
	// receiving a byte, or a write of up to 256 KiB may take, before the
	// connection is declared dead and dropped.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration

	// SendQueueLen bounds each connection's queue of unsent messages. When
	// it is full, Send drops the message and counts it rather than block.
	SendQueueLen int
	// RecvQueueLen is the capacity of the channel returned by Recv. When
	// the consumer falls behind, readers stop reading and TCP flow control
	// pushes back on the senders, whose queues then drop.
	RecvQueueLen int
	// MaxFrameSize bounds a message body, checked on send and on receive.
	MaxFrameSize int
	// MaxHandshakes bounds the inbound connections still in their
	// handshake (TLS, hello, group-secret proof; each lasts at most
	// DialTimeout). Past it a new connection is closed at once and
	// counted in Stats.InboundRefused, so that a flood of connections
	// that never finish costs a bounded number of goroutines and
	// descriptors. Established connections are not counted: there is
	// one per peer.
	MaxHandshakes int
	// MaxHandshakesPerHost bounds those from one remote IP address, so
	// that one host holding connections open in their handshake cannot
	// take every slot from members connecting from the others. 0: only
	// MaxHandshakes bounds them.
	MaxHandshakesPerHost int

	// Logger receives connection events and refusals; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every tunable set; the caller fills in
// GroupName, SelfID, ListenAddr and Peers.
func DefaultConfig() Config {
	return Config{
		DialTimeout:       2 * time.Second,
		ReconnectMin:      50 * time.Millisecond,
		ReconnectMax:      2 * time.Second,
		HeartbeatInterval: 250 * time.Millisecond,
		HeartbeatTimeout:  1500 * time.Millisecond,
		SendQueueLen:      4096,
		RecvQueueLen:      4096,
		MaxFrameSize:      DefaultMaxFrameSize,
		MaxHandshakes:     64,
		// A member has one connection to a site, two while a
		// reconnection races the old one's end.
		MaxHandshakesPerHost: 8,
	}
}

// maxGroupName bounds the group name so the hello frame stays small.
const maxGroupName = 255

// Validate reports every bad field, by name. It does not modify c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.GroupName == "" {
		bad("GroupName is empty")
	} else if len(c.GroupName) > maxGroupName {
		bad("GroupName is %d bytes, limit %d", len(c.GroupName), maxGroupName)
	}
	if c.SelfID == 0 {
		bad("SelfID is 0")
	}
	if c.Listener == nil && c.ListenAddr == "" {
		bad("ListenAddr is empty and Listener is nil")
	}
	for _, id := range slices.Sorted(maps.Keys(c.Peers)) {
		addr := c.Peers[id]
		switch {
		case id == 0:
			bad("Peers has site ID 0")
		case id == c.SelfID:
			bad("Peers lists SelfID (%d)", id)
		case addr == "":
			bad("Peers[%d] has an empty address", id)
		}
	}
	if c.TLS != nil {
		for _, p := range tlsProblems(c.TLS) {
			bad("%s", p)
		}
	}
	for _, p := range secretProblems(c.GroupSecret, c.GroupSecretsAccepted) {
		bad("%s", p)
	}
	if c.VerifyPeer != nil && c.TLS == nil {
		bad("VerifyPeer is set but TLS is nil")
	}
	if c.DialTimeout <= 0 {
		bad("DialTimeout (%v) must be > 0", c.DialTimeout)
	}
	if c.ReconnectMin <= 0 {
		bad("ReconnectMin (%v) must be > 0", c.ReconnectMin)
	}
	if c.ReconnectMax < c.ReconnectMin {
		bad("ReconnectMax (%v) must be >= ReconnectMin (%v)", c.ReconnectMax, c.ReconnectMin)
	}
	if c.HeartbeatInterval <= 0 {
		bad("HeartbeatInterval (%v) must be > 0", c.HeartbeatInterval)
	}
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		bad("HeartbeatTimeout (%v) must be > HeartbeatInterval (%v)", c.HeartbeatTimeout, c.HeartbeatInterval)
	}
	if c.MaxHandshakes <= 0 {
		bad("MaxHandshakes (%d) must be > 0", c.MaxHandshakes)
	}
	if c.MaxHandshakesPerHost < 0 {
		bad("MaxHandshakesPerHost (%d) must be >= 0 (0 = only MaxHandshakes)", c.MaxHandshakesPerHost)
	}
	if c.SendQueueLen <= 0 {
		bad("SendQueueLen (%d) must be > 0", c.SendQueueLen)
	}
	if c.RecvQueueLen <= 0 {
		bad("RecvQueueLen (%d) must be > 0", c.RecvQueueLen)
	}
	if c.MaxFrameSize < minMaxFrameSize || c.MaxFrameSize > 1<<31-1 {
		bad("MaxFrameSize (%d) must be in [%d, %d]", c.MaxFrameSize, minMaxFrameSize, 1<<31-1)
	}
	return errors.Join(errs...)
}

// minMaxFrameSize keeps MaxFrameSize above what the handshake needs.
const minMaxFrameSize = 1024

// tlsProblems lists what keeps c from mutual authentication (Config.TLS,
// TCP.SetTLS).
func tlsProblems(c *tls.Config) []string {
	var ps []string
	if len(c.Certificates) == 0 && c.GetCertificate == nil {
		ps = append(ps, "TLS has no certificate")
	}
	if c.ClientCAs == nil {
		ps = append(ps, "TLS.ClientCAs is nil (mutual authentication needs the group CA)")
	}
	if c.RootCAs == nil {
		ps = append(ps, "TLS.RootCAs is nil (mutual authentication needs the group CA)")
	}
	return ps
}
