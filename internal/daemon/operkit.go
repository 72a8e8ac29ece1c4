package daemon

// Settings for running repnode in production: the client address a site
// advertises to its peers, the lag bound of /readyz, and the check that
// keeps a TOML duration from being read as nanoseconds.

import (
	"flag"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"logship/env/site"
)

func bindOperationsFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.AdvertiseHTTP, "advertise-http", c.AdvertiseHTTP, "the HTTP address host:port the other sites give applications for this one (a write refused by a client names the master's; default: --http, unless it binds every interface)")
	fs.Int64Var(&c.ReadyMaxLagBytes, "ready-max-lag-bytes", c.ReadyMaxLagBytes, "GET /readyz answers 503 on a client more than this many log bytes behind its master (0 = no bound; ?max_lag= overrides per request)")
}

func (c Config) validateOperations(bad func(name, format string, args ...any)) {
	if c.AdvertiseHTTP != "" {
		host, port, err := net.SplitHostPort(c.AdvertiseHTTP)
		switch {
		case err != nil:
			bad("advertise-http", "%q: %v", c.AdvertiseHTTP, err)
		case host == "" || port == "" || port == "0":
			bad("advertise-http", "%q: want the host and port others reach this site at", c.AdvertiseHTTP)
		case unspecified(host):
			bad("advertise-http", "%q: %s is not an address others can reach", c.AdvertiseHTTP, host)
		case len(c.AdvertiseHTTP) > 255:
			bad("advertise-http", "longer than 255 bytes")
		}
	}
	if c.ReadyMaxLagBytes < 0 {
		bad("ready-max-lag-bytes", "%d must be >= 0 (0 = no bound)", c.ReadyMaxLagBytes)
	}
}

// unspecified reports a wildcard bind host (every interface).
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// AdvertisedHTTP is the HTTP address this site tells its peers:
// --advertise-http, else --http unless that binds every interface
// (0.0.0.0:8080 names no host another machine can use): then none, and
// clients' 503s name the master without its HTTP address.
func (c Config) AdvertisedHTTP() string {
	if c.AdvertiseHTTP != "" {
		return c.AdvertiseHTTP
	}
	return advertisable(c.HTTP)
}

// advertisable is addr if another machine can use it: not a wildcard
// host, not port 0 (chosen at bind, unknown here), short enough for the
// message; else "".
func advertisable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || unspecified(host) || port == "0" || len(addr) > 255 {
		return ""
	}
	return addr
}

// Advertised is what the site tells its peers (site.Config.Advertise).
func (c Config) Advertised() site.ClientAddrs {
	return site.ClientAddrs{HTTP: c.AdvertisedHTTP(), RESP: c.AdvertisedRESP()}
}

// AdvertisedRESP is the RESP address this site tells its peers, so a
// client's -READONLY names the master's: --resp, unless that binds every
// interface or port 0 (then none, and --resp-peers names it).
func (c Config) AdvertisedRESP() string {
	return advertisable(c.RESP)
}

// checkTOMLDurations refuses a duration setting written as a bare
// number: BurntSushi/toml reads `heartbeat = 100` as 100 ns, which no
// one means.
func checkTOMLDurations(md toml.MetaData, data string) error {
	var raw map[string]any
	if _, err := toml.Decode(data, &raw); err != nil {
		return err
	}
	var errs []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if f.Type != reflect.TypeFor[time.Duration]() || key == "" || !md.IsDefined(key) {
			continue
		}
		switch v := raw[key].(type) {
		case string:
		case int64:
			errs = append(errs, fmt.Sprintf("%s = %d: write a duration like \"%dms\" (a bare number would be nanoseconds)", key, v, v))
		default:
			errs = append(errs, fmt.Sprintf("%s = %v: write a duration like \"100ms\"", key, v))
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
