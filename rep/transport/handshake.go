package transport

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// ProtocolVersion is the version of the transport protocol (handshake,
// frame types and their meaning) that this build speaks. Both ends of a
// connection must speak the same one.
const ProtocolVersion uint16 = 1

// hello is the handshake each side sends first on a new connection: the
// dialer sends its hello, the acceptor checks it and answers with its own
// hello or with a reject frame.
//
// Wire layout (big-endian), carried in a frameHello frame:
//
//	0        2                10       12             12+len(g)
//	+--------+----------------+--------+----------------+-----------------+
//	|version |    site ID     | len(g) | group name ... | [nonce, 32 B]   |
//	+--------+----------------+--------+----------------+-----------------+
//
// The nonce is there only when the site has a group secret (secret.go):
// without one a hello is byte for byte what it was before secrets
// existed, so a group without a secret upgrades in place.
type hello struct {
	Version uint16
	ID      ID
	Group   string
	Nonce   []byte // nil, or nonceSize bytes: the site has a group secret
}

const helloFixed = 12 // bytes before the group name

// maxHandshakeFrame bounds hello and reject frames, which are read before
// the peer is known and so must not be allowed to claim much memory.
const maxHandshakeFrame = 1024

func (h hello) encode() []byte {
	b := make([]byte, helloFixed, helloFixed+len(h.Group))
	binary.BigEndian.PutUint16(b[0:2], h.Version)
	binary.BigEndian.PutUint64(b[2:10], uint64(h.ID))
	binary.BigEndian.PutUint16(b[10:12], uint16(len(h.Group)))
	b = append(b, h.Group...)
	return append(b, h.Nonce...)
}

// decodeHello parses a hello body; it rejects trailing bytes so that one
// hello has exactly one encoding.
func decodeHello(b []byte) (hello, error) {
	if len(b) < helloFixed {
		return hello{}, fmt.Errorf("%w: hello is %d bytes, need at least %d", ErrHandshake, len(b), helloFixed)
	}
	h := hello{
		Version: binary.BigEndian.Uint16(b[0:2]),
		ID:      ID(binary.BigEndian.Uint64(b[2:10])),
	}
	n := int(binary.BigEndian.Uint16(b[10:12]))
	if n > maxGroupName {
		return hello{}, fmt.Errorf("%w: group name of %d bytes, limit %d", ErrHandshake, n, maxGroupName)
	}
	switch len(b) {
	case helloFixed + n:
	case helloFixed + n + nonceSize:
		h.Nonce = append([]byte(nil), b[helloFixed+n:]...)
	default:
		return hello{}, fmt.Errorf("%w: hello is %d bytes, header says %d (or %d with a nonce)", ErrHandshake, len(b), helloFixed+n, helloFixed+n+nonceSize)
	}
	h.Group = string(b[helloFixed : helloFixed+n])
	return h, nil
}

// rejectCode says why a connection was refused; it travels in a reject
// frame so the refused side gets a typed error, not just a closed socket.
type rejectCode uint8

const (
	rejectMalformed   rejectCode = 1
	rejectUnknownSite rejectCode = 2
	rejectWrongGroup  rejectCode = 3
	rejectVersion     rejectCode = 4
	rejectClosing     rejectCode = 5
	rejectIdentity    rejectCode = 6
	rejectAuth        rejectCode = 7
)

func (c rejectCode) err() error {
	switch c {
	case rejectUnknownSite:
		return ErrUnknownSite
	case rejectWrongGroup:
		return ErrWrongGroup
	case rejectVersion:
		return ErrVersion
	case rejectClosing:
		return ErrClosed
	case rejectIdentity:
		return ErrIdentity
	case rejectAuth:
		return ErrAuth
	}
	return ErrHandshake
}

func codeOf(err error) rejectCode {
	switch {
	case errors.Is(err, ErrUnknownSite):
		return rejectUnknownSite
	case errors.Is(err, ErrWrongGroup):
		return rejectWrongGroup
	case errors.Is(err, ErrVersion):
		return rejectVersion
	case errors.Is(err, ErrClosed):
		return rejectClosing
	case errors.Is(err, ErrIdentity):
		return rejectIdentity
	case errors.Is(err, ErrAuth):
		return rejectAuth
	}
	return rejectMalformed
}

// maxReason bounds the human-readable reason in a reject frame.
const maxReason = 512

// encodeReject lays out a reject body: one code byte, then the reason text.
func encodeReject(code rejectCode, reason string) []byte {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	return append([]byte{byte(code)}, reason...)
}

func decodeReject(b []byte) (rejectCode, string, error) {
	if len(b) == 0 {
		return 0, "", fmt.Errorf("%w: empty reject", ErrHandshake)
	}
	if len(b) > 1+maxReason {
		return 0, "", fmt.Errorf("%w: reject reason of %d bytes, limit %d", ErrHandshake, len(b)-1, maxReason)
	}
	return rejectCode(b[0]), string(b[1:]), nil
}

// checkHello decides whether a peer's hello is acceptable. want is the site
// the dialer expected at that address, or 0 on the accepting side, where
// any configured peer may connect.
func checkHello(group string, self ID, known func(ID) bool, h hello, want ID) error {
	if h.Version != ProtocolVersion {
		return fmt.Errorf("%w: site %d speaks version %d, this site speaks %d", ErrVersion, h.ID, h.Version, ProtocolVersion)
	}
	if h.Group != group {
		return fmt.Errorf("%w: site %d is in group %q, this site is in %q", ErrWrongGroup, h.ID, h.Group, group)
	}
	if want != 0 && h.ID != want {
		return fmt.Errorf("%w: expected site %d, got site %d", ErrWrongSite, want, h.ID)
	}
	if h.ID == self || !known(h.ID) {
		return fmt.Errorf("%w: site %d is not a configured peer of site %d", ErrUnknownSite, h.ID, self)
	}
	return nil
}

// readHandshake reads the peer's answer to a hello: its own hello, or a
// reject turned into the matching sentinel error.
func readHandshake(r io.Reader) (hello, error) {
	typ, body, err := readFrame(r, maxHandshakeFrame)
	if err != nil {
		return hello{}, fmt.Errorf("read handshake: %w", err)
	}
	switch typ {
	case frameHello:
		return decodeHello(body)
	case frameReject:
		code, reason, err := decodeReject(body)
		if err != nil {
			return hello{}, err
		}
		return hello{}, fmt.Errorf("refused by peer: %w (%s)", code.err(), reason)
	}
	return hello{}, fmt.Errorf("%w: frame type %d during handshake", ErrHandshake, typ)
}

// verifyIdentity runs Config.VerifyPeer, if any, on a TLS connection.
func verifyIdentity(verify func(ID, tls.ConnectionState) error, id ID, c net.Conn) error {
	tc, ok := c.(*tls.Conn)
	if verify == nil || !ok {
		return nil
	}
	if err := verify(id, tc.ConnectionState()); err != nil {
		return fmt.Errorf("%w: site %d: %w", ErrIdentity, id, err)
	}
	return nil
}
