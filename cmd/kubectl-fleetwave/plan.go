package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/cli"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// maxCampaignFile bounds a campaign manifest read by plan -f: a campaign is a few KiB of YAML.
const maxCampaignFile = 1 << 20

var errNotPlanned = errors.New("the campaign has no plan yet")

type planOptions struct {
	kube    kubeOptions
	file    string
	timeout time.Duration
}

func newPlanCmd() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan (CAMPAIGN | -f FILE)",
		Short: "Show how a campaign splits the fleet into waves, before anything is sent",
		Long: `Plan shows a campaign's plan: the fleet size, each wave's size, how many of its devices already run
the payload, its approval and soak. Nothing is sent to any device.

With -f, the campaign in FILE is created with spec.paused set, so the operator plans it against the
Update Service's device directory and stops there; plan waits for the plan (--timeout) and prints it.
The campaign stays, paused: the rollout it then makes, once resumed with kubectl fleetwave resume,
uses exactly these waves. Delete it to drop the idea.

With CAMPAIGN, the plan of an existing campaign is printed; the already-updated column is known only
for a campaign planned while paused.`,
		Example:           examples("plan -f thermostat-fw-1.1.0.yaml -n fleet\nplan thermostat-fw-1.1.0 -n fleet"),
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeCampaignArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (o.file != "") {
				return errors.New("plan takes a campaign name or -f FILE, one of the two")
			}
			uc, err := o.run(cmd.Context(), args)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), renderPlan(uc, time.Now()))
			return err
		},
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.file, "filename", "f", "", "an UpdateCampaign manifest (YAML or JSON) to create paused and plan")
	cmd.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "how long to wait for the operator to plan the campaign")
	return cmd
}

// run returns the planned campaign: created paused from the file and waited for, or read.
func (o *planOptions) run(ctx context.Context, args []string) (*v1.UpdateCampaign, error) {
	if o.file == "" {
		c, key, err := o.kube.connect(args[0])
		if err != nil {
			return nil, err
		}
		var uc v1.UpdateCampaign
		if err := c.Get(ctx, key, &uc); err != nil {
			return nil, campaignError("plan", key, err)
		}
		if uc.Status.Plan == nil {
			return nil, campaignError("plan", key, errNotPlanned)
		}
		return &uc, nil
	}
	uc, err := readCampaignFile(o.file)
	if err != nil {
		return nil, err
	}
	c, key, err := o.kube.connect(uc.Name)
	if err != nil {
		return nil, err
	}
	if uc.Namespace == "" || o.kube.namespace != "" {
		uc.Namespace = key.Namespace
	}
	uc.Spec.Paused = true
	if err := c.Create(ctx, uc); err != nil {
		return nil, campaignError("plan", client.ObjectKeyFromObject(uc), err)
	}
	return waitForPlan(ctx, c, client.ObjectKeyFromObject(uc), o.timeout)
}

// readCampaignFile reads one UpdateCampaign from a YAML or JSON file.
func readCampaignFile(path string) (*v1.UpdateCampaign, error) {
	data, err := cli.ReadFileLimited(path, maxCampaignFile, "a campaign manifest")
	if err != nil {
		return nil, err
	}
	var uc v1.UpdateCampaign
	if err := yaml.UnmarshalStrict(data, &uc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if uc.Kind != "UpdateCampaign" || uc.Name == "" {
		return nil, fmt.Errorf("%s: want an UpdateCampaign with metadata.name, got kind %q named %q", path, uc.Kind, uc.Name)
	}
	uc.ResourceVersion, uc.UID = "", ""
	return &uc, nil
}

// waitForPlan polls the campaign until the operator planned it, or says why it cannot.
func waitForPlan(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration) (*v1.UpdateCampaign, error) {
	var uc v1.UpdateCampaign
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, &uc); err != nil {
			return false, err
		}
		if stalled := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionStalled); stalled != nil && stalled.Status == "True" {
			return false, fmt.Errorf("%s: %s", stalled.Reason, stalled.Message)
		}
		return uc.Status.Plan != nil, nil
	})
	if err != nil {
		return nil, campaignError("plan", key, fmt.Errorf("waiting for the operator to plan it: %w", err))
	}
	return &uc, nil
}

// renderPlan prints the plan as a header line, the schedule, and a table of waves with how long
// each takes to send under spec.rate.
func renderPlan(uc *v1.UpdateCampaign, now time.Time) string {
	var b strings.Builder
	p := uc.Status.Plan
	fmt.Fprintf(&b, "updatecampaign %s/%s: %d devices in %d waves", uc.Namespace, uc.Name, p.FleetSize, len(p.WaveSizes))
	if uc.Spec.Paused && uc.Status.StartedAt == nil {
		fmt.Fprintf(&b, "; paused, nothing is sent until: kubectl fleetwave resume %s -n %s", uc.Name, uc.Namespace)
	}
	b.WriteString("\n")
	if window := windowText(uc, now); window != "" {
		fmt.Fprintf(&b, "schedule: %s; a wave starts only while it is open\n", window)
	}
	rate := planRate(uc)
	tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tSIZE\tDEVICES\tALREADY UPDATED\tAPPROVAL\tSOAK\tSENDING TAKES")
	for k, w := range uc.Spec.Waves {
		devices, updated, soak, sending := "-", "-", "-", "-"
		if k < len(p.WaveSizes) {
			devices = fmt.Sprint(p.WaveSizes[k])
			sending = "at once"
			if rate.Limited() {
				sending = rate.SendTime(p.WaveSizes[k]).String()
			}
		}
		if k < len(p.AlreadyUpdated) {
			updated = fmt.Sprint(p.AlreadyUpdated[k])
		}
		if w.Soak != nil {
			soak = w.Soak.Duration.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.Name, w.Size.String(), devices, updated, w.Approval, soak, sending)
	}
	_ = tw.Flush()
	return b.String()
}

// planRate is spec.rate in the planner's terms, for the time a wave takes to send at best (every
// device sent succeeds, so a ramp rises as fast as it can); no limit without spec.rate.
func planRate(uc *v1.UpdateCampaign) rollout.Rate {
	r := uc.Spec.Rate
	if r == nil {
		return rollout.Rate{}
	}
	ramp := r.RampOrZero()
	rate, _ := rollout.NewRate(int64(r.MaxDevicesPerMinute), int64(ramp.BaseRatePerMinute), ramp.IncrementFactor, int64(ramp.RaiseAfterSucceeded))
	return rate // the schema validated the factor; a bad one falls back to the maximum rate
}
