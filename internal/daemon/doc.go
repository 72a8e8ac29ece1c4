// Package daemon is the configuration of repnode, the replication daemon:
// its settings (flags, the TOML file they may come from, defaults and
// validation, every setting under one name used both as the flag --name
// and as the TOML key name), and their translation into the store's
// configuration (Config.EnvConfig) and the replication site's
// (Config.SiteConfig). repnode builds its site with that translation, and
// so does the simulator (rep/sim), which draws daemon settings (priorities,
// ack policy, witness, leases, peer, delayed sync, ...) rather than
// configuring the protocol cores by hand: a setting the daemon translates
// wrongly is then found there first.
package daemon
