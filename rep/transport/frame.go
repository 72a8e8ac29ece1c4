package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Wire format constants. They are part of the format: changing any of them
// makes a site unable to talk to sites built before the change.
const (
	frameMagic0 = 'L' // first magic byte
	frameMagic1 = 'S' // second magic byte

	// FrameVersion is the version of the frame layout (not of the protocol
	// carried inside; see ProtocolVersion).
	FrameVersion = 1

	// HeaderSize is the size of a frame header in bytes.
	HeaderSize = 12

	// DefaultMaxFrameSize bounds a frame body when no other bound is given.
	DefaultMaxFrameSize = 16 << 20
)

// frameType says what a frame carries. Only data frames reach the user;
// the others belong to the transport itself.
type frameType uint8

const (
	frameData      frameType = 0 // an opaque message body for the user
	frameHeartbeat frameType = 1 // keepalive, empty body
	frameHello     frameType = 2 // handshake: group, site ID, version
	frameReject    frameType = 3 // handshake refused: code and reason
	frameAuth      frameType = 4 // handshake: proof of the group secret (secret.go)
	frameTypeCount           = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameCRC covers the version, type and length as well as the body, so a
// flipped bit in the type or length is caught, not only in the body.
func frameCRC(hdr []byte, body []byte) uint32 {
	crc := crc32.Update(0, castagnoli, hdr[2:8])
	return crc32.Update(crc, castagnoli, body)
}

// appendFrame appends one encoded frame to dst. Writers build several frames
// into one buffer so that a burst of small messages costs one write.
func appendFrame(dst []byte, typ frameType, body []byte) []byte {
	var h [HeaderSize]byte
	h[0], h[1], h[2], h[3] = frameMagic0, frameMagic1, FrameVersion, byte(typ)
	binary.BigEndian.PutUint32(h[4:8], uint32(len(body)))
	binary.BigEndian.PutUint32(h[8:12], frameCRC(h[:], body))
	dst = append(dst, h[:]...)
	return append(dst, body...)
}

// WriteFrame writes body to w as one data frame.
func WriteFrame(w io.Writer, body []byte) error {
	if uint64(len(body)) > 1<<32-1 {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(body))
	}
	_, err := w.Write(appendFrame(make([]byte, 0, HeaderSize+len(body)), frameData, body))
	return err
}

// ReadFrame reads one data frame from r and returns its body, checked
// against its checksum. A body longer than max bytes (max <= 0 means
// DefaultMaxFrameSize) is refused before anything is allocated for it.
//
// It returns io.EOF only when r ends cleanly before the first byte of a
// frame; any other short input is ErrTruncated. Malformed input gives an
// error wrapping one of the Err* sentinels, never a panic. A control frame
// (heartbeat, handshake) is reported as ErrFrameType.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	typ, body, err := readFrame(r, max)
	if err != nil {
		return nil, err
	}
	if typ != frameData {
		return nil, fmt.Errorf("%w: %d, want data", ErrFrameType, typ)
	}
	return body, nil
}

// readFrame reads one frame of any known type.
func readFrame(r io.Reader, max int) (frameType, []byte, error) {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	var h [HeaderSize]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: header has %d of %d bytes", ErrTruncated, n, HeaderSize)
		}
		return 0, nil, err
	}
	if h[0] != frameMagic0 || h[1] != frameMagic1 {
		return 0, nil, fmt.Errorf("%w: %#02x%02x", ErrBadMagic, h[0], h[1])
	}
	if h[2] != FrameVersion {
		return 0, nil, fmt.Errorf("%w: %d (this build speaks %d)", ErrFrameVersion, h[2], FrameVersion)
	}
	typ := frameType(h[3])
	if typ >= frameTypeCount {
		return 0, nil, fmt.Errorf("%w: %d", ErrFrameType, typ)
	}
	n := binary.BigEndian.Uint32(h[4:8])
	if uint64(n) > uint64(max) {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	body := make([]byte, n)
	if got, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: body has %d of %d bytes", ErrTruncated, got, n)
		}
		return 0, nil, err
	}
	if want, got := binary.BigEndian.Uint32(h[8:12]), frameCRC(h[:], body); want != got {
		return 0, nil, fmt.Errorf("%w: header says %#08x, body has %#08x", ErrChecksum, want, got)
	}
	return typ, body, nil
}
