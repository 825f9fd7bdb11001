// Command kubectl-fleetwave is the kubectl plugin of fleetwave: `kubectl fleetwave` lists campaigns,
// shows and follows their status, previews their plan, and approves, aborts, retries, rolls forward,
// pauses and resumes them. The offline commands (manifests, keys, deltas, the simulator) are the
// fleetwave binary, which links no Kubernetes client.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// commandName is how users run the plugin, shown in help, usage lines and examples.
const commandName = "kubectl fleetwave"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use: commandName,
		// Cobra takes the first word of Use as the name; the display name keeps "kubectl fleetwave"
		// whole in help and usage lines.
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: commandName},
		Short:         "Firmware update campaigns for device fleets, from Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
		// kubectl completes plugins through kubectl_complete-fleetwave, which calls __complete; a
		// completion script generated here would be kubectl's own and replace kubectl's completion.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.AddCommand(
		newListCmd(), newStatusCmd(), newApproveCmd(), newAbortCmd(), newRetryCmd(), newRollForwardCmd(), newPlanCmd(), newPauseCmd(), newResumeCmd(),
	)
	addCompletions(root)
	return root
}
