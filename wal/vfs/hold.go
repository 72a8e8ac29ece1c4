package vfs

import "strings"

// Hold makes every later call of op on a name containing path (any name
// if path is empty) wait, before it touches the file system, until the
// returned release function is called; the calls then go on as usual
// (and may still hit an injected fault). It models a disk that stops
// completing requests: holding OpSync stalls fsyncs without failing
// them. release may be called more than once.
func (i *Injector) Hold(op Op, path string) (release func()) {
	h := &hold{op: op, path: path, release: make(chan struct{})}
	i.mu.Lock()
	i.holds = append(i.holds, h)
	i.mu.Unlock()
	return func() {
		i.mu.Lock()
		defer i.mu.Unlock()
		for k, x := range i.holds {
			if x == h {
				i.holds = append(i.holds[:k], i.holds[k+1:]...)
				close(h.release)
				return
			}
		}
	}
}

// Holding returns how many calls are waiting on a Hold now, so a test can
// tell that the operation it stalled has started.
func (i *Injector) Holding() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.holding
}

// wait blocks while a hold matches the call.
func (i *Injector) wait(op Op, name string) {
	for {
		i.mu.Lock()
		var h *hold
		for _, x := range i.holds {
			if x.op == op && (x.path == "" || strings.Contains(name, x.path)) {
				h = x
				break
			}
		}
		if h == nil {
			i.mu.Unlock()
			return
		}
		i.holding++
		i.mu.Unlock()
		<-h.release
		i.mu.Lock()
		i.holding--
		i.mu.Unlock()
	}
}
