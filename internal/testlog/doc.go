// Package testlog holds what tests share to read what a site logs or a
// child process prints while it runs: a buffer several goroutines write
// and the test reads.
package testlog
