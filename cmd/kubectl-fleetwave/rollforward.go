package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

var errNotNewer = errors.New("devices refuse a release that is not newer")

func newRollForwardCmd() *cobra.Command {
	var to string
	return campaignVerb{
		use:     "roll-forward CAMPAIGN --to MANIFEST",
		example: "roll-forward thermostat-fw-1.1.0 --to thermostat-fw-1.1.1 -n fleet --reason 'boot loop on 1.1.0'",
		short:   "Stop a campaign and send the devices it reached a known-good release",
		long: `Roll-forward is the recovery from a bad release: firmware cannot be rolled back (devices refuse older
versions), so the devices the campaign reached are sent a known-good payload under a higher version.
It does by hand what failurePolicy.action RollForward does on its own:
  - the campaign is aborted (status.abort, unless it already ended), which stops its waves;
  - an UpdateCampaign named CAMPAIGN-rollforward is created, owned by the campaign, for MANIFEST
    and exactly the devices of the waves the campaign started (spec.target.rolloutOf), in one wave
    that starts at once.
MANIFEST must be Ready and newer than the campaign's Manifest. Creating the campaign needs create
on updatecampaigns (the ClusterRole fleetwave-editor).` + auditNote,
		args:    cobra.ExactArgs(1),
		audited: true,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&to, "to", "", "the known-good Manifest, in the campaign's namespace (required)")
		},
		act: func(ctx context.Context, c client.Client, key client.ObjectKey, _ []string, who actor) (string, error) {
			if to == "" {
				return "", campaignError("roll-forward", key, errors.New("--to names the known-good Manifest"))
			}
			return rollForward(ctx, c, key, to, who)
		},
	}.command()
}

// rollForward checks the known-good Manifest, aborts the campaign unless it ended, and creates its
// roll-forward campaign.
func rollForward(ctx context.Context, c client.Client, key client.ObjectKey, to string, who actor) (string, error) {
	var uc v1.UpdateCampaign
	if err := c.Get(ctx, key, &uc); err != nil {
		return "", campaignError("roll-forward", key, err)
	}
	if err := checkNewer(ctx, c, key.Namespace, uc.Spec.ManifestRef.Name, to); err != nil {
		return "", campaignError("roll-forward", key, err)
	}
	if !uc.Status.Phase.IsFinal() {
		if who.reason == "" {
			who.reason = "roll forward to " + to
		}
		if _, err := abortCampaign(ctx, c, key, who); err != nil {
			return "", err
		}
	}
	child := v1.NewRollForward(&uc, to)
	err := c.Create(ctx, child)
	switch {
	case apierrors.IsAlreadyExists(err):
		return fmt.Sprintf("updatecampaign %s/%s already rolls updatecampaign %s forward", key.Namespace, child.Name, key), nil
	case err != nil:
		return "", campaignError("roll-forward", key, err)
	}
	return fmt.Sprintf("created updatecampaign %s/%s: it rolls the devices of updatecampaign %s forward to manifest %s",
		key.Namespace, child.Name, key, to), nil
}

// checkNewer checks that Manifest good is Ready and newer than Manifest bad.
func checkNewer(ctx context.Context, c client.Client, ns, bad, good string) error {
	var b, g v1.Manifest
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: bad}, &b); err != nil {
		return err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: good}, &g); err != nil {
		return err
	}
	if !meta.IsStatusConditionTrue(g.Status.Conditions, v1.ConditionReady) {
		return fmt.Errorf("manifest %s is not Ready", good)
	}
	if g.Status.SequenceNumber <= b.Status.SequenceNumber {
		return fmt.Errorf("%w: manifest %s (version %s) is not newer than %s (version %s)", errNotNewer, good, g.Spec.Version, bad, b.Spec.Version)
	}
	return nil
}
