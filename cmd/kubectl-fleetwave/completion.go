package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// completionTimeout bounds the API calls of one completion: a shell waits on it at every TAB.
const completionTimeout = 5 * time.Second

// campaignVerbs are the commands whose first argument is a campaign name.
var campaignVerbs = []string{"status", "approve", "abort", "retry", "roll-forward", "pause", "resume"}

// addCompletions makes the campaign verbs complete campaign names from the cluster, and approve's
// second argument the campaign's wave names.
func addCompletions(root *cobra.Command) {
	for _, sub := range root.Commands() {
		for _, verb := range campaignVerbs {
			if sub.Name() == verb {
				sub.ValidArgsFunction = completeCampaignArgs(verb == "approve")
			}
		}
	}
}

// completeCampaignArgs completes a campaign name as the first argument and, with waves, the
// campaign's wave names as the second. Cobra has parsed the command's flags by then, so
// --kubeconfig, --context and -n choose the cluster and namespace as they do when the command runs.
// Errors complete nothing rather than file names; `__complete` prints them with
// BASH_COMP_DEBUG_FILE set.
func completeCampaignArgs(waves bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 1 || (len(args) == 1 && !waves) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		c, key, err := completionKube(cmd).connect(name)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(completionContext(cmd), completionTimeout)
		defer cancel()
		var names []string
		if len(args) == 0 {
			names, err = campaignNames(ctx, c, key.Namespace)
		} else {
			names, err = campaignWaveNames(ctx, c, key)
		}
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completionKube reads the connection flags cobra parsed before it asked for completions.
func completionKube(cmd *cobra.Command) *kubeOptions {
	var o kubeOptions
	o.kubeconfig, _ = cmd.Flags().GetString("kubeconfig")
	o.context, _ = cmd.Flags().GetString("context")
	o.namespace, _ = cmd.Flags().GetString("namespace")
	return &o
}

func completionContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// campaignNames are the names of the campaigns in namespace, sorted.
func campaignNames(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	items, err := listCampaigns(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(items))
	for i := range items {
		names[i] = items[i].Name
	}
	return names, nil
}

// campaignWaveNames are the names of the campaign's waves, in spec order.
func campaignWaveNames(ctx context.Context, c client.Client, key client.ObjectKey) ([]string, error) {
	var uc v1.UpdateCampaign
	if err := c.Get(ctx, key, &uc); err != nil {
		return nil, campaignError("complete", key, err)
	}
	return waveNames(&uc), nil
}

// withPrefix keeps the names that start with prefix, as shells do with what they are given.
func withPrefix(names []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, name := range names {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	return out
}
