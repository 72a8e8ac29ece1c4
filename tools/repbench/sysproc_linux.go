package main

import "syscall"

// childAttr makes a site die with repbench: if repbench itself is killed
// (even with SIGKILL, when no deferred cleanup runs) the kernel sends the
// site SIGKILL.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
