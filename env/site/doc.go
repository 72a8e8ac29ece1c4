// Package site runs replication on an environment: one site of a
// logship group, the master or a client, with elections, master leases,
// planned transfers and a witness (StartWitness) for a group of two.
//
// An embedder opens an environment (package env) and starts a site over
// it:
//
//	e, _ := env.Open(dir, env.DefaultConfig())
//	cfg := site.DefaultConfig()
//	cfg.Transport, cfg.ID, cfg.Sites = tr, 1, []site.Member{{ID: 2}, {ID: 3}}
//	cfg.Election.On = true
//	s, _ := site.Start(e, cfg)
//	tok, err := s.Update(ctx, func(tx *env.Tx) error { return tx.Put("b", k, v) })
//
// Writes go through Site.Update (on the master), reads through
// Site.View, Site.ViewLease or, with a write's token, Site.ViewAt. Close
// the site before the environment.
//
// # The runtime
//
// The protocol is sitecore.Core: rep, elect and the rules between them,
// a pure state machine the simulator (rep/sim) drives too. A Site owns
// one core and ONE goroutine, the loop, which feeds it the transport's
// messages and connection events and a real ticker's ticks, hands it the
// records of local commits as soon as they are appended (so shipping
// overlaps the master's own fsync: commit.go), and carries out each of
// its Readys in the contract order (sitecore.Ready) through the
// environment (env.Replica for rep's storage steps, env.Admit and
// env.Shut for the fence, the election store for elect's state) and the
// transport. Everyone else talks to the loop through channels: commands
// run on it; commit results come back on per-commit channels; status,
// statistics and events are published by it.
//
// What needs a clock or the store's writer mutex is the loop's too: the
// lease deadline on the monotonic clock (lease.go), a planned transfer's
// catch-up check (transfer.go), the fsync-stall watch (stall.go), the
// storage-failure watch (failed.go), per-site lag in seconds and the
// comparison of clients' data digests (progress.go).
package site
