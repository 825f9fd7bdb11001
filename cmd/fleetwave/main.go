// Command fleetwave is the fleetwave command line: offline manifest tooling (init, manifest create,
// verify, inspect), the Update Service simulator (sim), and, installed as kubectl-fleetwave, the
// kubectl plugin.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use: "fleetwave",
		// Cobra takes the first word of Use as the name; the display name keeps "kubectl fleetwave"
		// whole in help and usage lines.
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: commandName()},
		Short:         "Firmware update campaigns for device fleets, from Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newInitCmd(), newManifestCmd(), newSimCmd(),
		newListCmd(), newStatusCmd(), newApproveCmd(), newAbortCmd(), newRetryCmd(), newRollForwardCmd(), newPlanCmd(), newPauseCmd(), newResumeCmd(),
	)
	root.AddCommand(newDeltaCmd())
	addCompletions(root)
	return root
}

// commandName is "kubectl fleetwave" when the binary runs as a kubectl plugin, so help text matches
// what the user typed.
func commandName() string {
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		return "kubectl fleetwave"
	}
	return "fleetwave"
}
