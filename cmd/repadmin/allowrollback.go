package main

import (
	"fmt"
	"net/http"
)

// runAllowRollback lets a client stopped in rollback_refused (its sync
// would discard more of its own log than its --max-rollback-bytes) roll
// back, or be rebuilt by internal init, once. What it discards is kept in
// a rollback file ('repadmin log dump --rollback').
func runAllowRollback(g *globals, args []string) error {
	if err := noArgs(g, "allow-rollback", args, nil); err != nil {
		return err
	}
	node, stdout := g.node, g.stdout
	var answer map[string]any
	if err := call(http.MethodPost, node, "/v1/admin/allow-rollback", nil, &answer); err != nil {
		return fmt.Errorf("allow-rollback: %w", err)
	}
	if g.json {
		return printJSON(stdout, answer)
	}
	fmt.Fprintf(stdout, "%s may now roll back once; the records it discards go to its rollback/ directory ('repadmin log dump --rollback')\n", node)
	return nil
}
