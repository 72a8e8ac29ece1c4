package wire

import (
	"encoding/binary"
	"errors"
)

// maxWireDepth bounds nesting in a message; ours nest at most 4 deep.
const maxWireDepth = 16

var errWire = errors.New("invalid msgpack")

// Check walks one msgpack value covering all of b and rejects it
// unless every length fits in the bytes that follow and nesting is
// shallow. msgpack's decoder trusts length headers when allocating, so a
// 5-byte input could otherwise ask for gigabytes; this check runs first.
func Check(b []byte) error {
	rest, err := skipValue(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing bytes after message")
	}
	return nil
}

// skipValue returns b after the value it starts with.
func skipValue(b []byte, depth int) ([]byte, error) {
	if depth > maxWireDepth {
		return nil, errors.New("nesting too deep")
	}
	if len(b) == 0 {
		return nil, errWire
	}
	c, b := b[0], b[1:]
	var n uint64   // bytes to skip, or elements when container
	container := 0 // elements per entry: 1 array, 2 map
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return b, nil
	case c >= 0x80 && c <= 0x8f:
		n, container = uint64(c&0x0f), 2
	case c >= 0x90 && c <= 0x9f:
		n, container = uint64(c&0x0f), 1
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	default:
		var hdr int // length-header bytes
		switch c {
		case 0xc4, 0xd9:
			hdr = 1
		case 0xc5, 0xda:
			hdr = 2
		case 0xc6, 0xdb:
			hdr = 4
		case 0xc7, 0xc8, 0xc9: // ext: length then a type byte
			hdr = map[byte]int{0xc7: 1, 0xc8: 2, 0xc9: 4}[c]
		case 0xca, 0xce, 0xd2:
			n = 4
		case 0xcb, 0xcf, 0xd3:
			n = 8
		case 0xcc, 0xd0:
			n = 1
		case 0xcd, 0xd1:
			n = 2
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
			n = 1 + uint64(1)<<(c-0xd4)
		case 0xdc:
			hdr, container = 2, 1
		case 0xdd:
			hdr, container = 4, 1
		case 0xde:
			hdr, container = 2, 2
		case 0xdf:
			hdr, container = 4, 2
		default:
			return nil, errWire // 0xc1
		}
		if hdr > 0 {
			if len(b) < hdr {
				return nil, errWire
			}
			switch hdr {
			case 1:
				n = uint64(b[0])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b))
			}
			b = b[hdr:]
			if c >= 0xc7 && c <= 0xc9 {
				n++ // the ext type byte
			}
		}
	}
	if container == 0 {
		if n > uint64(len(b)) {
			return nil, errWire
		}
		return b[n:], nil
	}
	// Every element takes at least one byte.
	if n*uint64(container) > uint64(len(b)) {
		return nil, errWire
	}
	var err error
	for i := uint64(0); i < n*uint64(container); i++ {
		if b, err = skipValue(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}
