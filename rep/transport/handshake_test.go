package transport

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"logship/internal/testwait"
)

func TestHelloRoundTrip(t *testing.T) {
	for _, h := range []hello{
		{Version: ProtocolVersion, ID: 1, Group: "g"},
		{Version: 7, ID: 1<<64 - 1, Group: ""},
		{Version: 1, ID: 42, Group: strings.Repeat("x", maxGroupName)},
		{Version: 1, ID: 9, Group: "g", Nonce: bytes.Repeat([]byte{7}, nonceSize)},
	} {
		got, err := decodeHello(h.encode())
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Fatalf("%+v: got %+v, %v", h, got, err)
		}
	}
}

func TestDecodeHelloMalformed(t *testing.T) {
	good := hello{Version: 1, ID: 3, Group: "grp"}.encode()
	long := hello{Version: 1, ID: 3}.encode()
	long[10], long[11] = 0x01, 0x00 // 256-byte group name
	long = append(long, make([]byte, 256)...)
	for name, in := range map[string][]byte{
		"empty":          nil,
		"short fixed":    good[:11],
		"short group":    good[:len(good)-1],
		"trailing byte":  append(bytes.Clone(good), 0),
		"group too long": long,
	} {
		if _, err := decodeHello(in); !errors.Is(err, ErrHandshake) {
			t.Errorf("%s: %v, want ErrHandshake", name, err)
		}
	}
}

func TestDecodeRejectMalformed(t *testing.T) {
	if _, _, err := decodeReject(nil); !errors.Is(err, ErrHandshake) {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := decodeReject(make([]byte, 2+maxReason)); !errors.Is(err, ErrHandshake) {
		t.Errorf("long: %v", err)
	}
	code, reason, err := decodeReject(encodeReject(rejectWrongGroup, "because"))
	if err != nil || code != rejectWrongGroup || reason != "because" {
		t.Errorf("round trip: %v %q %v", code, reason, err)
	}
}

func FuzzDecodeHello(f *testing.F) {
	f.Add(hello{Version: 1, ID: 2, Group: "group"}.encode())
	f.Add(hello{}.encode())
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	f.Add(encodeReject(rejectVersion, "why"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if h, err := decodeHello(in); err == nil && !bytes.Equal(h.encode(), in) {
			t.Fatalf("hello %+v does not re-encode to its input", h)
		}
		if code, reason, err := decodeReject(in); err == nil && !bytes.Equal(encodeReject(code, reason), in) {
			t.Fatalf("reject does not re-encode to its input")
		}
		_, _ = readHandshake(bytes.NewReader(in))
	})
}

// rawHello connects to addr as a hand-built site and returns the error
// the handshake ends with.
func rawHello(t *testing.T, addr string, h hello) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendFrame(nil, frameHello, h.encode())); err != nil {
		t.Fatal(err)
	}
	_, err = readHandshake(bufio.NewReader(c))
	return err
}

func TestHandshakeRefusals(t *testing.T) {
	checkNoLeak(t)
	logs := newLogBuffer()
	sites := group(t, 1, func(c *Config) {
		c.SelfID = 5
		c.Peers = map[ID]string{2: "127.0.0.1:1", 9: "127.0.0.1:1"}
		c.ReconnectMin, c.ReconnectMax = time.Hour, time.Hour // do not dial out
		c.Logger = slogger(logs)
	})
	addr := sites[0].Addr().String()
	cases := []struct {
		name   string
		h      hello
		want   error
		reason string
	}{
		{"unknown site", hello{ProtocolVersion, 3, "test", nil}, ErrUnknownSite, "site 3 is not a configured peer"},
		{"own ID", hello{ProtocolVersion, 5, "test", nil}, ErrUnknownSite, "site 5 is not a configured peer"},
		{"wrong group", hello{ProtocolVersion, 2, "other", nil}, ErrWrongGroup, `site 2 is in group "other"`},
		{"bad version", hello{ProtocolVersion + 1, 2, "test", nil}, ErrVersion, "site 2 speaks version 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := rawHello(t, addr, tc.h)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("dialer got %v, want %v with reason %q", err, tc.want, tc.reason)
			}
			testwait.For(t, 10*time.Second, "refusal logged", func() bool {
				_, ok := logs.find("connection refused", tc.reason)
				return ok
			})
		})
	}
	// A garbage first frame is refused too.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := readHandshake(bufio.NewReader(c)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("garbage: %v", err)
	}
	c.Close()
	if got := sites[0].Stats().InboundRefused; got != uint64(len(cases)+1) {
		t.Fatalf("InboundRefused = %d, want %d", got, len(cases)+1)
	}
}

// TestHandshakeWrongGroupBetweenSites runs two real sites of different
// groups: the dialer records the refusal as its LastError, the acceptor
// logs it, and neither sees a connection.
func TestHandshakeWrongGroupBetweenSites(t *testing.T) {
	checkNoLeak(t)
	logs := newLogBuffer()
	sites := group(t, 2, func(c *Config) {
		if c.SelfID == 2 {
			c.GroupName = "other"
			c.Logger = slogger(logs)
		}
	})
	testwait.For(t, 10*time.Second, "dial failure", func() bool {
		return strings.Contains(sites[0].Stats().Peers[2].LastError, "wrong group")
	})
	testwait.For(t, 10*time.Second, "acceptor to log the reason", func() bool {
		_, ok := logs.find("connection refused", `site 1 is in group "test"`)
		return ok
	})
	if sites[0].Connected(2) || sites[1].Connected(1) {
		t.Fatal("sites of different groups connected")
	}
}
