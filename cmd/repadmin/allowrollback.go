package main

import (
	"fmt"
	"io"
	"net/http"
)

// runAllowRollback lets a client stopped in rollback_refused (its sync
// would discard more of its own log than its --max-rollback-bytes) roll
// back, or be rebuilt by internal init, once. What it discards is kept in
// a rollback file ('repadmin log dump --rollback').
func runAllowRollback(node string, args []string, stdout, stderr io.Writer) error {
	if err := noArgs("allow-rollback", args, stderr, nil); err != nil {
		return err
	}
	if err := call(http.MethodPost, node, "/v1/admin/allow-rollback", nil, nil); err != nil {
		return fmt.Errorf("allow-rollback: %w", err)
	}
	fmt.Fprintf(stdout, "%s may now roll back once; the records it discards go to its rollback/ directory ('repadmin log dump --rollback')\n", node)
	return nil
}
