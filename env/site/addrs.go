package site

// Client addresses: each site tells every peer, when their connection
// comes up, where applications reach it (its HTTP and RESP addresses),
// so that a client site can name the master's HTTP address to an
// application it refuses a write, and tools can find every site from
// one. The message travels beside rep's and elect's, under its own
// envelope byte; neither protocol core sees it.
//
// Wire layout of the body (docs/protocol.md "Client addresses"):
//
//	'a' | version (1) | len(HTTP) uint8 | HTTP | len(RESP) uint8 | RESP
//
// A site that predates it drops the body as having no known envelope
// (counted in its BadMessages); nothing else changes.

import (
	"errors"
	"fmt"
	"maps"
	"sync"

	"logship/rep/transport"
)

// envelopeAddrs is the first byte of a client-addresses body; rep's is
// 'r' and elect's 'e' (sitecore).
const envelopeAddrs byte = 'a'

// addrsVersion is the layout version after the envelope byte.
const addrsVersion byte = 1

// maxAddrLen bounds each address, so the body stays a few hundred bytes.
const maxAddrLen = 255

// ClientAddrs are where applications reach a site: its HTTP API and
// its RESP listener, each "host:port" or empty when it has none.
type ClientAddrs struct {
	HTTP string
	RESP string
}

// errBadAddrs rejects a malformed client-addresses body.
var errBadAddrs = errors.New("site: malformed client-addresses message")

func (a ClientAddrs) validate() error {
	if len(a.HTTP) > maxAddrLen || len(a.RESP) > maxAddrLen {
		return fmt.Errorf("site: Advertise: an address is longer than %d bytes", maxAddrLen)
	}
	return nil
}

func encodeAddrs(a ClientAddrs) []byte {
	b := make([]byte, 0, 4+len(a.HTTP)+len(a.RESP))
	b = append(b, envelopeAddrs, addrsVersion, byte(len(a.HTTP)))
	b = append(b, a.HTTP...)
	b = append(b, byte(len(a.RESP)))
	return append(b, a.RESP...)
}

// decodeAddrs parses a body that starts with envelopeAddrs. A newer
// version may append fields: they are ignored.
func decodeAddrs(b []byte) (ClientAddrs, error) {
	if len(b) < 3 || b[0] != envelopeAddrs || b[1] < addrsVersion {
		return ClientAddrs{}, errBadAddrs
	}
	b = b[2:]
	field := func() (string, error) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", errBadAddrs
		}
		s := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return s, nil
	}
	var a ClientAddrs
	var err error
	if a.HTTP, err = field(); err != nil {
		return ClientAddrs{}, err
	}
	if a.RESP, err = field(); err != nil {
		return ClientAddrs{}, err
	}
	return a, nil
}

// addrBook holds what each peer advertised. A peer's entry outlives its
// connection: the last address heard is the best guess while it is
// away.
type addrBook struct {
	mu sync.Mutex
	m  map[SiteID]ClientAddrs
}

func (b *addrBook) set(id SiteID, a ClientAddrs) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[SiteID]ClientAddrs{}
	}
	b.m[id] = a
}

func (b *addrBook) all() map[SiteID]ClientAddrs {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.m)
}

// advertise sends own to a peer whose connection just came up. A lost
// message is not resent: the next connection sends it again.
func advertise(tr transport.Transport, to SiteID, own ClientAddrs) error {
	if own == (ClientAddrs{}) {
		return nil
	}
	return tr.Send(transport.ID(to), encodeAddrs(own))
}

// receiveAddrs takes a body if it is a client-addresses message: ok
// reports that it was (valid or not), so the caller does not hand it to
// the protocol core.
func (b *addrBook) receive(from SiteID, body []byte) (ok bool, err error) {
	if len(body) == 0 || body[0] != envelopeAddrs {
		return false, nil
	}
	a, err := decodeAddrs(body)
	if err != nil {
		return true, fmt.Errorf("%w from site %d (%d bytes)", err, from, len(body))
	}
	b.set(from, a)
	return true, nil
}

// PeerAddrs returns the client addresses each peer advertised, by site
// (a peer not heard from since this site started is absent).
func (s *Site) PeerAddrs() map[SiteID]ClientAddrs { return s.addrs.all() }

// PeerAddrs returns the client addresses each peer advertised.
func (w *Witness) PeerAddrs() map[SiteID]ClientAddrs { return w.addrs.all() }

// advertiseTo tells a peer whose connection just came up where
// applications reach this site.
func (s *Site) advertiseTo(id SiteID) {
	if err := advertise(s.tr, id, s.cfg.Advertise); err != nil {
		s.sendErrs.Add(1)
	}
}

// takeAddrs keeps a peer's client addresses; false if body is not that
// message (it is rep's or elect's).
func (s *Site) takeAddrs(from SiteID, body []byte) bool {
	ok, err := s.addrs.receive(from, body)
	if err != nil {
		s.log.Warn("site: dropped a message", "from", uint64(from), "err", err)
	}
	return ok
}
