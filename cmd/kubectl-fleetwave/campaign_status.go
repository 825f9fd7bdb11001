package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

With -w it follows the campaign until it ends. On a terminal it redraws one view in place: a
progress bar per wave (succeeded, skipped, failed, timed out, updating, not started), the soak
countdown, and under a wave that waits for a person why and the command to type; it fits the
terminal's width, and NO_COLOR turns colour off. When the output is not a terminal (CI, a log, a
pipe) it prints a line per change instead: time, phase, wave, the wave's counts, the fleet's
devices done, and what a person can do. -o json and -o yaml print every version of the object.

Exit status: without -w, 0 whenever the campaign was shown, whatever its state. With -w, 0 when the
campaign is Completed, and 1 when it ends Aborted or Failed (the reason is printed), when
--timeout passes first, when it is deleted, or on any error; so 'status -w --timeout 30m' can
gate a pipeline.`,
		Example: examples("status thermostat-fw-1.1.0 -n fleet\nstatus thermostat-fw-1.1.0 -n fleet -w --timeout 30m\nstatus thermostat-fw-1.1.0 -n fleet -o yaml"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			view, err := newCampaignView(o.output, o.watch, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			c, key, err := o.kube.connect(args[0])
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), c, key, o, view)
		},
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "follow the campaign until it is Completed, Aborted or Failed")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up after this long, with a non-zero exit (0: no limit)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "print the object as json or yaml instead of the table view or, with -w, the live view")
	return cmd
}

func runStatus(ctx context.Context, c client.WithWatch, key client.ObjectKey, o statusOptions, view campaignView) error {
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
		return view.show(&uc)
	}
	err := followCampaign(ctx, c, key, view)
	if errors.Is(err, context.DeadlineExceeded) && o.timeout > 0 {
		return fmt.Errorf("status updatecampaign %s: timed out after %s before the campaign ended", key, o.timeout)
	}
	return err
}

// followCampaign shows the campaign, then again on every change, until it ends. It reads the
// campaign and watches it from the resourceVersion read; when the API server ends the watch (it
// does after some minutes, or with 410 Gone when that version is too old) it reads and watches
// again, so no change is missed and nothing polls.
func followCampaign(ctx context.Context, c client.WithWatch, key client.ObjectKey, view campaignView) error {
	shown := "" // the resourceVersion last shown: a new watch must not show it twice
	showChange := func(uc *v1.UpdateCampaign) error {
		if uc.ResourceVersion == shown {
			return nil
		}
		shown = uc.ResourceVersion
		return view.show(uc)
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
		ended, err := followEvents(ctx, key, w, showChange, view)
		w.Stop()
		if ended {
			return err
		}
	}
}

// followEvents shows each change a watch reports, and refreshes the view when time alone changes
// it. It returns ended=true with the command's result when the campaign ended, was deleted, or ctx
// is done, and ended=false when the watch must be set up again.
func followEvents(ctx context.Context, key client.ObjectKey, w watch.Interface, show func(*v1.UpdateCampaign) error, view campaignView) (ended bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case now := <-view.ticks():
			if err := view.refresh(now); err != nil {
				return true, err
			}
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
