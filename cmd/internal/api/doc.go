// Package api owns the JSON bodies of repnode's HTTP interface, shared by
// the daemon that writes them and repadmin that reads them. Field names are
// part of the external contract (design brief, "External interface"):
// change them only by adding.
package api
