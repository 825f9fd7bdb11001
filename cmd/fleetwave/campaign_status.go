package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// errCampaignEnded is returned by `status -w` for a campaign that ended Aborted or Failed.
var errCampaignEnded = errors.New("the campaign did not complete")

type statusOptions struct {
	kube    kubeOptions
	watch   bool
	timeout time.Duration
	output  string
}

func newStatusCmd() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status CAMPAIGN [-w] [--timeout D] [-o json|yaml]",
		Short: "Show a campaign wave by wave, and with -w follow it until it ends",
		Long: `Show an UpdateCampaign: its phase, manifest and wave progress, a row per wave (planned size,
device counts, start, finish and soak times), the totals, the Ready, Progressing, Paused and
Stalled conditions, and the latest interventions of status.interventions: who approved, accepted,
aborted or retried, when, and why.

Without -w, status prints once and exits 0 whatever the campaign's state. With -w it watches the
campaign and prints it again on every change until the campaign ends: exit 0 when it is Completed,
non-zero with the reason when it is Aborted or Failed, and non-zero when --timeout passes first, so
'status -w --timeout 30m' can gate a pipeline.`,
		Example: examples("status thermostat-fw-1.1.0 -n fleet\nstatus thermostat-fw-1.1.0 -n fleet -w --timeout 30m\nstatus thermostat-fw-1.1.0 -n fleet -o yaml"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			show, err := newCampaignPrinter(o.output, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			c, key, err := o.kube.connect(args[0])
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), c, key, o, show)
		},
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "follow the campaign until it is Completed, Aborted or Failed")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up after this long, with a non-zero exit (0: no limit)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "print the object as json or yaml instead of the table view")
	return cmd
}

func runStatus(ctx context.Context, c client.WithWatch, key client.ObjectKey, o statusOptions, show func(*v1.UpdateCampaign) error) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if !o.watch {
		var uc v1.UpdateCampaign
		if err := c.Get(ctx, key, &uc); err != nil {
			return campaignError("status", key, err)
		}
		return show(&uc)
	}
	err := followCampaign(ctx, c, key, show)
	if errors.Is(err, context.DeadlineExceeded) && o.timeout > 0 {
		return fmt.Errorf("status updatecampaign %s: timed out after %s before the campaign ended", key, o.timeout)
	}
	return err
}

// followCampaign shows the campaign, then again on every change, until it ends. It reads the
// campaign and watches it from the resourceVersion read; when the API server ends the watch (it
// does after some minutes, or with 410 Gone when that version is too old) it reads and watches
// again, so no change is missed and nothing polls.
func followCampaign(ctx context.Context, c client.WithWatch, key client.ObjectKey, show func(*v1.UpdateCampaign) error) error {
	shown := "" // the resourceVersion last shown: a new watch must not show it twice
	showChange := func(uc *v1.UpdateCampaign) error {
		if uc.ResourceVersion == shown {
			return nil
		}
		shown = uc.ResourceVersion
		return show(uc)
	}
	for {
		var uc v1.UpdateCampaign
		if err := c.Get(ctx, key, &uc); err != nil {
			return campaignError("status", key, err)
		}
		if err := showChange(&uc); err != nil {
			return err
		}
		if ended, err := campaignOutcome(key, &uc); ended {
			return err
		}
		w, err := c.Watch(ctx, &v1.UpdateCampaignList{},
			client.InNamespace(key.Namespace),
			client.MatchingFields{"metadata.name": key.Name},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: uc.ResourceVersion}})
		if err != nil {
			return campaignError("status", key, err)
		}
		ended, err := followEvents(ctx, key, w, showChange)
		w.Stop()
		if ended {
			return err
		}
	}
}

// followEvents shows each change a watch reports. It returns ended=true with the command's result
// when the campaign ended, was deleted, or ctx is done, and ended=false when the watch must be set
// up again.
func followEvents(ctx context.Context, key client.ObjectKey, w watch.Interface, show func(*v1.UpdateCampaign) error) (ended bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case event, open := <-w.ResultChan():
			if !open {
				return ctx.Err() != nil, ctx.Err()
			}
			switch event.Type {
			case watch.Added, watch.Modified:
				uc, ok := event.Object.(*v1.UpdateCampaign)
				if !ok {
					return true, fmt.Errorf("status updatecampaign %s: watch sent a %T", key, event.Object)
				}
				if err := show(uc); err != nil {
					return true, err
				}
				if ended, err := campaignOutcome(key, uc); ended {
					return true, err
				}
			case watch.Deleted:
				return true, fmt.Errorf("status updatecampaign %s: deleted while being watched", key)
			case watch.Error:
				err := apierrors.FromObject(event.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return false, nil
				}
				return true, campaignError("status", key, err)
			}
		}
	}
}

// campaignOutcome says whether the campaign has ended and, when it ended without completing, why.
func campaignOutcome(key client.ObjectKey, uc *v1.UpdateCampaign) (ended bool, err error) {
	switch uc.Status.Phase {
	case v1.CampaignCompleted:
		return true, nil
	case v1.CampaignAborted, v1.CampaignFailed:
		return true, fmt.Errorf("updatecampaign %s ended %s: %s: %w", key, uc.Status.Phase, endReason(uc), errCampaignEnded)
	}
	return false, nil
}

// endReason is the reason and message of the Stalled condition, else of Ready.
func endReason(uc *v1.UpdateCampaign) string {
	for _, t := range []string{v1.ConditionStalled, v1.ConditionReady} {
		if c := meta.FindStatusCondition(uc.Status.Conditions, t); c != nil && c.Reason != "" {
			if c.Message == "" {
				return c.Reason
			}
			return c.Reason + ": " + c.Message
		}
	}
	return "no reason given"
}

// newCampaignPrinter returns what shows a campaign each time status has a new version of it: the
// table view, or the object as JSON or YAML. On a terminal the table view replaces the last one;
// elsewhere versions follow one another, separated by a blank line (text) or "---" (YAML).
func newCampaignPrinter(format string, out io.Writer) (func(*v1.UpdateCampaign) error, error) {
	printed := 0
	separate := func(sep string) string {
		printed++
		if printed == 1 {
			return ""
		}
		return sep
	}
	switch format {
	case "":
		between := "\n"
		if isTerminal(out) {
			between = "\x1b[H\x1b[2J" // cursor home, clear screen
		}
		return func(uc *v1.UpdateCampaign) error {
			_, err := fmt.Fprint(out, separate(between)+renderCampaign(uc, time.Now()))
			return err
		}, nil
	case "json":
		return func(uc *v1.UpdateCampaign) error {
			data, err := json.MarshalIndent(forOutput(uc), "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "%s\n", data)
			return err
		}, nil
	case "yaml":
		return func(uc *v1.UpdateCampaign) error {
			data, err := yaml.Marshal(forOutput(uc))
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(out, separate("---\n")+string(data))
			return err
		}, nil
	}
	return nil, fmt.Errorf("-o %q: want json or yaml, or no -o for the table view", format)
}

// forOutput is the campaign as kubectl prints it: with its kind, without managedFields.
func forOutput(uc *v1.UpdateCampaign) *v1.UpdateCampaign {
	out := uc.DeepCopy()
	out.APIVersion = v1.GroupVersion.String()
	out.Kind = "UpdateCampaign"
	out.ManagedFields = nil
	return out
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
