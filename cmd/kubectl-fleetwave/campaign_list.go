package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

type listOptions struct {
	kube          kubeOptions
	allNamespaces bool
}

func newListCmd() *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:   "list [-n NAMESPACE | -A]",
		Short: "List the campaigns of a namespace, or of every namespace with -A",
		Long: `List UpdateCampaigns: one row each with its phase, wave progress (status.progress and the current
wave's name), devices succeeded of those targeted, devices failed, and age; sorted by namespace,
then name. Without -A, the namespace is -n, else the kubeconfig context's, else "default".`,
		Example:           examples("list -n fleet\nlist -A"),
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, key, err := o.kube.connect("")
			if err != nil {
				return err
			}
			namespace := key.Namespace
			if o.allNamespaces {
				namespace = ""
			}
			items, err := listCampaigns(cmd.Context(), c, namespace)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				// kubectl says so on stderr, so a pipeline reading stdout sees no rows.
				_, err = fmt.Fprintln(cmd.ErrOrStderr(), noCampaignsText(namespace))
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), renderCampaignList(items, o.allNamespaces, time.Now()))
			return err
		},
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the campaigns of every namespace (-n is ignored)")
	return cmd
}

// listCampaigns lists the campaigns of namespace, or of every namespace when it is "", sorted by
// namespace, then name.
func listCampaigns(ctx context.Context, c client.Client, namespace string) ([]v1.UpdateCampaign, error) {
	var list v1.UpdateCampaignList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		where := "in namespace " + namespace
		if namespace == "" {
			where = "in any namespace"
		}
		return nil, fmt.Errorf("list updatecampaigns %s: %w", where, err)
	}
	slices.SortFunc(list.Items, func(a, b v1.UpdateCampaign) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return list.Items, nil
}

// noCampaignsText is what list says when there is nothing to list, worded as kubectl words it.
func noCampaignsText(namespace string) string {
	if namespace == "" {
		return "No UpdateCampaigns found."
	}
	return fmt.Sprintf("No UpdateCampaigns found in namespace %s.", namespace)
}

// renderCampaignList is the table list prints: a NAMESPACE column first when it lists every
// namespace, as kubectl get -A does.
func renderCampaignList(items []v1.UpdateCampaign, withNamespace bool, now time.Time) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	header := "NAME\tPHASE\tWAVE\tSUCCEEDED/TARGETED\tFAILED\tAGE"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(w, header)
	for i := range items {
		uc := &items[i]
		phase := string(uc.Status.Phase)
		if phase == "" {
			phase = "-"
		}
		t := uc.Status.Totals
		cells := []string{uc.Name, phase, printable(waveText(uc)),
			count(t.Succeeded) + "/" + count(t.Targeted), count(t.Failed), listAge(uc, now)}
		if withNamespace {
			cells = append([]string{uc.Namespace}, cells...)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	_ = w.Flush()
	return b.String()
}

// listAge is the campaign's age as kubectl's AGE column shows it: "5m", "3d".
func listAge(uc *v1.UpdateCampaign, now time.Time) string {
	if uc.CreationTimestamp.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(uc.CreationTimestamp.Time))
}
