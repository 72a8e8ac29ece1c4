// Package wire owns the safe decoding of msgpack messages shared by the
// protocol cores (rep, elect): a size bound, a structural check that every
// length header fits in the bytes that follow (msgpack's decoder trusts
// them when allocating, so a few hostile bytes could ask for gigabytes),
// and a decoder whose panics become errors.
//
// It is pure: no I/O, clocks or goroutines, so rep and elect may use it.
package wire
