// Package testwait holds the one way tests wait for a condition nothing
// signals (a peer reconnected, a process answers): poll it, always with a
// bound, and fail the test naming what never came.
package testwait
