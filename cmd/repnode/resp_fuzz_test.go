package main

import (
	"bufio"
	"net"
	"strconv"
	"testing"
	"time"
)

// FuzzParseRESPInt: parseRESPInt accepts exactly the canonical decimal
// form of an int64 (Redis's string2ll: no sign but a minus, no leading
// zeros, no spaces), and reads its value.
func FuzzParseRESPInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "1", "-1", "007", "+5", " 5", "5 ", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "1e3", "0x10", "", "-", "12a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseRESPInt(b)
		canonical := false
		if p, perr := strconv.ParseInt(string(b), 10, 64); perr == nil && strconv.FormatInt(p, 10) == string(b) {
			canonical = true
		}
		if (err == nil) != canonical {
			t.Fatalf("parseRESPInt(%q) = %d, %v; canonical int64: %v", b, v, err, canonical)
		}
		if err == nil && strconv.FormatInt(v, 10) != string(b) {
			t.Fatalf("parseRESPInt(%q) = %d", b, v)
		}
	})
}

// FuzzRESPInput feeds arbitrary bytes to a live listener: whatever a
// connection sends, the server neither panics nor stops serving other
// connections.
func FuzzRESPInput(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n",
		"*-1\r\n", "*0\r\n", "*1\r\n$0\r\n\r\n", "*2\r\n$3\r\nDEL\r\n",
		"$5\r\nhello\r\n", ":1\r\n", "PING\r\nECHO 'a b'\r\n", "\"\r\n",
		"*2\r\n$12\r\nLOGSHIP.WAIT\r\n$5\r\n1/999\r\n",
		"*3\r\n$12\r\nLOGSHIP.WAIT\r\n$5\r\n1/999\r\n$1\r\n1\r\n",
		"*4\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
	} {
		f.Add([]byte(s))
	}
	_, rs := startRESPSingle(f, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.DialTimeout("tcp", rs.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Write(in); err == nil {
			rd := bufio.NewReader(c)
			for { // read what it answers until it closes or falls silent
				if _, err := readRESP(rd); err != nil {
					break
				}
			}
		}
		other, err := net.DialTimeout("tcp", rs.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("after %q: dial: %v", in, err)
		}
		defer other.Close()
		other.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := other.Write(encodeRESP("PING")); err != nil {
			t.Fatalf("after %q: %v", in, err)
		}
		if v, err := readRESP(bufio.NewReader(other)); err != nil || v != "PONG" {
			t.Fatalf("after %q: PING answered %#v, %v", in, v, err)
		}
	})
}
