// Package memnet is an in-memory network for tests and the deterministic
// simulator: each site gets an [Endpoint] implementing
// [transport.Transport], and the [Network] between them loses, delays,
// duplicates and reorders messages and cuts links, all decided by a
// seeded random source.
//
// Nothing happens on its own: there are no goroutines and no timers. Time
// is virtual, counted in ticks, and moves only when the caller calls
// [Network.Tick], [Network.Advance] or [Network.Step]; only then are due
// messages put in the receivers' inboxes. Given the same seed and the same
// sequence of calls, a run delivers the same messages in the same order,
// so a failing simulation replays exactly from its seed.
//
// Connection events (KindConnUp, KindConnDown) are emitted at once, to
// both ends, when a link's state changes: an endpoint attaches or closes,
// or [Network.Partition], [Network.SetLink] or [Network.Heal] alters it.
package memnet
