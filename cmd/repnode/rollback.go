package main

import (
	"errors"
	"fmt"
	"net/http"

	"logship/cmd/internal/api"
	"logship/env/site"
)

// handleAllowRollback lets a client stopped in sync_state
// "rollback_refused" (its sync would discard more of its own log than
// --max-rollback-bytes) proceed once: it syncs again, and the rollback or
// internal init goes ahead, keeping the discarded records in a rollback
// file. 409 when the site is not a client or refused nothing.
func (n *node) handleAllowRollback(w http.ResponseWriter, r *http.Request) {
	st := n.site.Status()
	if st.Role.String() != "client" {
		writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("site %d is %s, not a client: only a client rolls back", n.cfg.ID, st.Role)})
		return
	}
	if err := n.site.AllowRollback(); err != nil {
		if errors.Is(err, site.ErrNoRollbackRefused) {
			writeJSON(w, http.StatusConflict, api.ErrorBody{Error: fmt.Sprintf("site %d refused no rollback (sync_state %s): nothing to allow", n.cfg.ID, syncStateName(n.site.Status()))})
			return
		}
		n.writeError(w, err)
		return
	}
	n.log.Warn("admin: rollback allowed once", "was", st.Err)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
