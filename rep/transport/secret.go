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
// A rotation without a restart: a site proves with its secret and
// accepts it or any of Config.GroupSecretsAccepted. The acceptor answers
// with a proof under the secret the dialer proved, so a connection comes
// up whenever the acceptor accepts the secret the dialer proves,
// whichever secret the acceptor itself proves when it dials. Rotating from
// old to new takes three reloads of every site (docs/security.md):
// accept new, present new (still accepting old), drop old.
//
// Knocks (knock.go) are answered before the proof: a knock only makes the
// lower site dial, which then runs the whole handshake.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
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

// groupSecrets is what a site proves and accepts: the first is the one
// it proves with, every one is accepted. Empty: no group secret.
type groupSecrets [][]byte

func newGroupSecrets(present []byte, accepted [][]byte) *groupSecrets {
	if present == nil {
		return &groupSecrets{}
	}
	g := groupSecrets{present}
	for _, a := range accepted {
		if !slices.ContainsFunc(g, func(b []byte) bool { return bytes.Equal(a, b) }) {
			g = append(g, a)
		}
	}
	return &g
}

// present is the secret this site proves with (nil: none).
func (g groupSecrets) present() []byte {
	if len(g) == 0 {
		return nil
	}
	return g[0]
}

// proofs returns the proof from side dir under each accepted secret.
func (g groupSecrets) proofs(dir direction, group string, dialer, acceptor ID, nd, na []byte) [][]byte {
	out := make([][]byte, len(g))
	for i, sec := range g {
		out[i] = proof(sec, dir, group, dialer, acceptor, nd, na)
	}
	return out
}

// secretProblems lists what is wrong with a group secret and the
// secrets accepted beside it.
func secretProblems(present []byte, accepted [][]byte) []string {
	var ps []string
	if present != nil && len(present) < MinGroupSecret {
		ps = append(ps, fmt.Sprintf("GroupSecret is %d bytes, need at least %d", len(present), MinGroupSecret))
	}
	if present == nil && len(accepted) > 0 {
		ps = append(ps, "GroupSecretsAccepted is set but GroupSecret is not")
	}
	for i, a := range accepted {
		if len(a) < MinGroupSecret {
			ps = append(ps, fmt.Sprintf("GroupSecretsAccepted[%d] is %d bytes, need at least %d", i, len(a), MinGroupSecret))
		}
	}
	return ps
}

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

// readProof reads the peer's auth frame (or its reject) and returns
// which of want it matches.
func readProof(r io.Reader, peer ID, want [][]byte) (int, error) {
	typ, body, err := readFrame(r, maxHandshakeFrame)
	if err != nil {
		return 0, fmt.Errorf("read group-secret proof: %w", err)
	}
	switch typ {
	case frameAuth:
		for i, w := range want {
			if hmac.Equal(body, w) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%w: site %d does not know this group's secret (wrong --group-secret-file?)", ErrAuth, peer)
	case frameReject:
		code, reason, err := decodeReject(body)
		if err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("refused by peer: %w (%s)", code.err(), reason)
	}
	return 0, fmt.Errorf("%w: frame type %d where a group-secret proof belongs", ErrHandshake, typ)
}
