package transport

// The group secret. Without TLS nothing tied a connection to the site ID
// its hello claims: anyone who could reach the replication port could
// claim to be a configured site, pull the log and displace that site's
// connection. With Config.GroupSecret both ends prove they hold the
// group's secret, without sending it:
//
//	dialer D                                 acceptor A
//	hello{version, D, group, nD}   ------>   checks the hello
//	                               <------   hello{version, A, group, nA}
//	auth{mac(K, "dialer", ...)}    ------>   checks D's proof
//	                               <------   auth{mac(K, "acceptor", ...)} or reject
//
// mac is HMAC-SHA256 under the secret K of a label naming the direction,
// the group, both site IDs and both nonces (32 random bytes each, fresh
// per connection). The acceptor proves itself only after the dialer has:
// an impostor dialling in learns nothing it could use. A recorded
// handshake does not replay: the other side's nonce is new each time, so
// the recorded proof is for other nonces. The two directions use
// different labels, so a proof one side gives cannot be reflected back as
// the other's. A site that has no secret, or another one, is refused on
// both sides with ErrAuth.
//
// Knocks (knock.go) are answered before the proof: a knock only makes the
// lower site dial, which then runs the whole handshake.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	// nonceSize is the size of a handshake nonce. Format.
	nonceSize = 32
	// MinGroupSecret is the shortest secret Config.Validate accepts.
	MinGroupSecret = 16
	// authLabel starts every proof. Format: changing it refuses every
	// site built before the change.
	authLabel = "logship transport group-secret v1"
)

// newNonce returns nonceSize random bytes, or nil when the transport has
// no secret (a hello without a nonce).
func newNonce(secret []byte) []byte {
	if secret == nil {
		return nil
	}
	b := make([]byte, nonceSize)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

// direction says which end a proof comes from.
type direction byte

const (
	fromDialer   direction = 'D'
	fromAcceptor direction = 'A'
)

// proof is what the side dir sends: HMAC-SHA256(secret, label, dir, group,
// dialer ID, acceptor ID, dialer nonce, acceptor nonce).
func proof(secret []byte, dir direction, group string, dialer, acceptor ID, nd, na []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(authLabel))
	m.Write([]byte{byte(dir)})
	var b [8]byte
	binary.BigEndian.PutUint16(b[:2], uint16(len(group)))
	m.Write(b[:2])
	m.Write([]byte(group))
	binary.BigEndian.PutUint64(b[:], uint64(dialer))
	m.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(acceptor))
	m.Write(b[:])
	m.Write(nd)
	m.Write(na)
	return m.Sum(nil)
}

// checkSecretHello decides whether the peer's hello fits this site's
// secret setting: both have a secret (a nonce), or neither.
func checkSecretHello(secret []byte, h hello) error {
	switch {
	case secret != nil && h.Nonce == nil:
		return fmt.Errorf("%w: site %d has no group secret, this site requires one (--group-secret-file)", ErrAuth, h.ID)
	case secret == nil && h.Nonce != nil:
		return fmt.Errorf("%w: site %d uses a group secret, this site has none (--group-secret-file)", ErrAuth, h.ID)
	}
	return nil
}

// readProof reads the peer's auth frame (or its reject) and checks it
// against want.
func readProof(r io.Reader, peer ID, want []byte) error {
	typ, body, err := readFrame(r, maxHandshakeFrame)
	if err != nil {
		return fmt.Errorf("read group-secret proof: %w", err)
	}
	switch typ {
	case frameAuth:
		if !hmac.Equal(body, want) {
			return fmt.Errorf("%w: site %d does not know this group's secret (wrong --group-secret-file?)", ErrAuth, peer)
		}
		return nil
	case frameReject:
		code, reason, err := decodeReject(body)
		if err != nil {
			return err
		}
		return fmt.Errorf("refused by peer: %w (%s)", code.err(), reason)
	}
	return fmt.Errorf("%w: frame type %d where a group-secret proof belongs", ErrHandshake, typ)
}
