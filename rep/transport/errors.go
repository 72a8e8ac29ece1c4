package transport

import "errors"

// Frame decoding errors. ReadFrame wraps them with detail; test with
// errors.Is.
var (
	ErrTruncated     = errors.New("transport: truncated frame")
	ErrBadMagic      = errors.New("transport: bad frame magic")
	ErrFrameVersion  = errors.New("transport: unsupported frame version")
	ErrFrameType     = errors.New("transport: unexpected frame type")
	ErrFrameTooLarge = errors.New("transport: frame too large")
	ErrChecksum      = errors.New("transport: frame checksum mismatch")
)

// Handshake errors: why a connection was refused. The refusing side logs
// the reason; the refused side gets the same sentinel back (wrapped with the
// reason) through a reject frame.
var (
	ErrUnknownSite = errors.New("transport: unknown site")
	ErrWrongGroup  = errors.New("transport: wrong group")
	ErrVersion     = errors.New("transport: incompatible protocol version")
	ErrWrongSite   = errors.New("transport: address answered as another site")
	ErrHandshake   = errors.New("transport: malformed handshake")
	ErrIdentity    = errors.New("transport: peer certificate does not match its site ID")
	ErrAuth        = errors.New("transport: group secret not proven")
)

// Send errors and life-cycle errors.
var (
	ErrClosed       = errors.New("transport: closed")
	ErrNotConnected = errors.New("transport: not connected")
	ErrQueueFull    = errors.New("transport: send queue full, message dropped")
	ErrConfig       = errors.New("transport: invalid config")
)
