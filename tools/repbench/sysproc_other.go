//go:build !linux

package main

import "syscall"

// childAttr: outside Linux there is no parent-death signal; repbench's own
// cleanup (normal exit, error or SIGINT) stops the sites.
func childAttr() *syscall.SysProcAttr { return nil }
