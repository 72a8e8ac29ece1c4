package rep

// servePeer answers a LOG_REQ that reached this client (client-to-client
// sync). A client serves only while it is synchronised with the same
// master generation and holds the first record asked for; otherwise it
// says LOG_NOTAVAIL and the requester re-requests from the master. A
// request also shows how far a requester this client gave a snapshot has
// caught up (initProgress).
func (n *Node) servePeer(m Message) {
	n.stats.ClientSvcReq++
	n.initProgress(n.sites[m.From], m.LSN)
	ok := (n.c.state == SyncCatchup || n.c.state == SyncReady) && m.Gen == n.gen
	if ok {
		_, err := n.log.Next(m.LSN)
		ok = err == nil
	}
	if !ok {
		n.stats.ClientSvcMiss++
		n.send(Message{Type: MsgLogNotAvail, To: m.From, LSN: m.LSN, Until: m.Until})
		return
	}
	n.serveLog(m)
}
