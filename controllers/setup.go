package controllers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Options are what the three reconcilers share and what only one of them needs.
type Options struct {
	// Service reaches the Update Service.
	Service UpdateServiceProvider
	// Clock gives every reconciler its time; a test may fake it.
	Clock clock.PassiveClock
	// ImageHTTPClient fetches FirmwareImage sources from spec.source.url. It must hold every request,
	// redirect and connection to the operator's image source policy, as egress.NewClient's does; nil
	// means egress.NewClient with the default policy (https to public addresses only).
	ImageHTTPClient *http.Client
	// MaxImageSize bounds a URL source, declared or streamed; 0 means DefaultMaxImageSize.
	MaxImageSize int64
	// ImageDownloadTimeout bounds fetching one image (and so its upload, which streams from it);
	// 0 means DefaultImageDownloadTimeout.
	ImageDownloadTimeout time.Duration
	// ImageSpoolDir is where sources without a Content-Length are spooled; "" means os.TempDir().
	ImageSpoolDir string
	// PollInterval is how often a running wave's remote campaigns are polled.
	PollInterval time.Duration
	// DevicesPerRemoteCampaign bounds how many device ids one remote campaign pins.
	DevicesPerRemoteCampaign int
	// MaxConcurrentReconciles is how many UpdateCampaigns are reconciled at once; 0 means 1.
	MaxConcurrentReconciles int
	// MissingRetry is how long a Manifest whose signing key Secret, or a FirmwareImage whose source
	// ConfigMap, does not exist waits before it looks again; the wait doubles, up to 5 minutes, while
	// it stays missing. Zero means 5s.
	MissingRetry time.Duration
	// WatchSigningKeySecrets watches Secrets labelled SigningKeyLabel, so that a new signing key
	// wakes its Manifests at once. It needs list and watch on Secrets, which only the namespaced
	// install grants (in the watched namespaces); the operator sets it when run with --namespaces.
	// Without it a missing key is looked for again with backoff, on get alone. The manager's cache
	// must be CacheOptions with the same setting.
	WatchSigningKeySecrets bool
}

// Setup registers the field indexes and the FirmwareImage, Manifest and UpdateCampaign reconcilers
// with mgr: the one wiring the operator and the integration tests both run.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("setting up field indexes: %w", err)
	}
	images := &FirmwareImageReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Service: o.Service,
		Recorder: mgr.GetEventRecorder("fleetwave-firmwareimage"), Clock: o.Clock, Fetcher: ImageFetcher{
			Client: o.ImageHTTPClient, MaxSize: o.MaxImageSize, Timeout: o.ImageDownloadTimeout, SpoolDir: o.ImageSpoolDir,
		}.withDefaults(),
		MissingSourceRetry: o.MissingRetry,
	}
	if err := images.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FirmwareImage controller: %w", err)
	}
	manifests := &ManifestReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Service: o.Service,
		Recorder: mgr.GetEventRecorder("fleetwave-manifest"), Clock: o.Clock, MissingKeyRetry: o.MissingRetry,
		WatchKeySecrets: o.WatchSigningKeySecrets,
	}
	if err := manifests.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Manifest controller: %w", err)
	}
	campaigns := &UpdateCampaignReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Service: o.Service,
		Recorder: mgr.GetEventRecorder("fleetwave-updatecampaign"), Clock: o.Clock,
		PollInterval: o.PollInterval, DevicesPerRemoteCampaign: o.DevicesPerRemoteCampaign,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := campaigns.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the UpdateCampaign controller: %w", err)
	}
	return nil
}
