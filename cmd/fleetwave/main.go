// Command fleetwave is the offline fleetwave command line: manifest tooling (init, manifest create,
// verify, inspect, delegate), binary deltas (delta) and the Update Service simulator (sim). It needs
// no cluster and links no Kubernetes client, so it starts in milliseconds; the verbs that act on
// campaigns in a cluster are the kubectl plugin, kubectl-fleetwave.
package main

import (
	"fmt"
	"os"

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
		Use:           "fleetwave",
		Short:         "Firmware update manifests, keys, deltas and an Update Service simulator, offline",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInitCmd(), newManifestCmd(), newSimCmd(), newDeltaCmd())
	return root
}
