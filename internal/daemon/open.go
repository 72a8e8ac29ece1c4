package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"logship/env/site"
	"logship/rep/transport"
)

// DefaultGCPercent is repnode's GOGC unless the environment sets one
// (cmd/repnode explains the figure). A load generator that opens a site
// in its own process (repbench --embedded) sets it too, so that site runs
// as repnode's would.
const DefaultGCPercent = 400

// TransportConfig returns the replication transport's configuration for
// these settings: the group, this site's id and --listen address, the
// --peers, and tlsConf (nil for plain TCP).
func (c Config) TransportConfig(tlsConf *tls.Config, log *slog.Logger) transport.Config {
	tcfg := transport.DefaultConfig()
	tcfg.GroupName = c.Group
	tcfg.SelfID = transport.ID(c.ID)
	tcfg.ListenAddr = c.Listen
	tcfg.Peers = map[transport.ID]string{}
	for id, addr := range c.Peers {
		tcfg.Peers[transport.ID(id)] = addr
	}
	tcfg.TLS = tlsConf
	tcfg.Logger = log
	return tcfg
}

// StartRole takes the start-up role the settings ask for (rep_start):
// master at the next generation, client of the given master, or nothing
// (an election decides).
func StartRole(s *site.Site, c Config, log *slog.Logger) error {
	switch c.Mode() {
	case ModeMaster:
		gen := s.Env().Generation()
		if st := s.Status(); st.Gen > gen {
			gen = st.Gen
		}
		gen++
		if err := s.StartMaster(gen); err != nil {
			return fmt.Errorf("start as master (generation %d): %w", gen, err)
		}
		log.Info("role: master", "gen", gen)
	case ModeClient:
		m := c.ClientMaster()
		if c.MasterID == 0 && len(c.Peers) > 1 {
			log.Warn("--client without --master-id: following the lowest peer id until a master announces itself", "master", m)
		}
		if err := s.StartClient(site.SiteID(m)); err != nil {
			return fmt.Errorf("start as client of site %d: %w", m, err)
		}
		log.Info("role: client", "master", m)
	default:
		log.Info("role: electing at start-up", "priority", c.Priority)
	}
	return nil
}
