// Command manager is the fleetwave operator: it reconciles FirmwareImages, Manifests and
// UpdateCampaigns against a Pelion-compatible Update Service.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	updatev1alpha1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/egress"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/pelionmetrics"
)

// The operator records events on the objects it reconciles, in their namespaces.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// defaultUpdateServiceURL is the public Pelion/Izuma Device Management API.
const defaultUpdateServiceURL = "https://api.us-east-1.mbedcloud.com"

// options are the operator's command-line settings.
type options struct {
	metricsAddr      string
	secureMetrics    bool
	enableHTTP2      bool
	probeAddr        string
	leaderElect      bool
	leaderElection   leaderElectionTiming
	updateServiceURL string
	apiKeySecret     string
	apiKeySecretKey  string
	serviceQPS       float64
	serviceBurst     int
	pollInterval     time.Duration
	devicesPerRemote int
	concurrency      int
	images           imageSourceOptions
	namespaces       []string // watched namespaces; empty means all
	zap              zap.Options
}

// leaderElectionTiming is where the leader's Lease lives and how fast a new leader takes over.
type leaderElectionTiming struct {
	namespace                                 string
	leaseDuration, renewDeadline, retryPeriod time.Duration
}

func main() {
	opts := parseFlags(os.Args[1:])
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("setup")
	if limit, ok := limitMemoryToContainer(); ok {
		log.Info("Soft memory limit set from the container's", "bytes", limit)
	}

	if err := run(opts); err != nil {
		log.Error(err, "Operator stopped with an error")
		os.Exit(1)
	}
}

func parseFlags(args []string) options {
	var o options
	fs := flag.NewFlagSet("manager", flag.ExitOnError)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0",
		"Address of the metrics endpoint, such as :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, allowing only authenticated and authorised scrapers.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics server (off by default: HTTP/2 Stream Cancellation and Rapid Reset CVEs).")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader so only one replica reconciles at a time (on in the deployment, off for local runs).")
	fs.StringVar(&o.leaderElection.namespace, "leader-election-namespace", "",
		"Namespace of the leader election Lease; empty means the operator's own (required out of cluster).")
	fs.DurationVar(&o.leaderElection.leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long a replica waits for a leader that stopped renewing before it takes over.")
	fs.DurationVar(&o.leaderElection.renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew its lease before it steps down.")
	fs.DurationVar(&o.leaderElection.retryPeriod, "leader-elect-retry-period", 2*time.Second,
		"How often replicas try to acquire or renew the lease.")
	fs.StringVar(&o.updateServiceURL, "update-service-url", defaultUpdateServiceURL, "Base URL of the Update Service API.")
	fs.StringVar(&o.apiKeySecret, "api-key-secret", "fleetwave-system/fleetwave-api-key",
		"NAMESPACE/NAME of the Secret holding the Update Service API key.")
	fs.StringVar(&o.apiKeySecretKey, "api-key-secret-key", "api-key", "Key of the API key in that Secret.")
	fs.Float64Var(&o.serviceQPS, "update-service-qps", 20, "Requests per second the operator sends the Update Service at most.")
	fs.IntVar(&o.serviceBurst, "update-service-burst", 40, "Burst of requests allowed above --update-service-qps.")
	fs.DurationVar(&o.pollInterval, "campaign-poll-interval", 10*time.Second,
		"How often a running wave's Update Service campaigns are polled for their metrics; polls that change nothing back off to 8 times this.")
	fs.Func("namespaces", "Comma-separated namespaces to watch, such as team-a,team-b; empty watches all. "+
		"The operator caches, and needs RBAC in, these only (config/namespaced).", func(s string) (err error) {
		o.namespaces, err = parseNamespaces(s)
		return err
	})
	fs.IntVar(&o.devicesPerRemote, "devices-per-remote-campaign", 1000,
		"Most device ids one Update Service campaign's filter pins; a wave is split into as many campaigns as it needs.")
	fs.IntVar(&o.concurrency, "max-concurrent-reconciles", 4,
		"How many UpdateCampaigns are reconciled at once (one campaign is never reconciled twice at once).")
	o.images.bindFlags(fs)
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(fs)
	_ = fs.Parse(args) // ExitOnError: Parse exits on a bad flag.
	return o
}

// parseNamespaces reads --namespaces: namespace names separated by commas, blanks ignored, each kept
// once.
func parseNamespaces(s string) ([]string, error) {
	var names []string
	for _, ns := range strings.Split(s, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" || slices.Contains(names, ns) {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		names = append(names, ns)
	}
	return names, nil
}

// validate checks the settings that would otherwise only fail at the first reconcile.
func (o options) validate() (types.NamespacedName, error) {
	u, err := url.Parse(o.updateServiceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return types.NamespacedName{}, fmt.Errorf("--update-service-url %q: want an http or https URL", o.updateServiceURL)
	}
	if err := pelion.CheckServiceURL(o.updateServiceURL); err != nil {
		return types.NamespacedName{}, fmt.Errorf("--update-service-url: %w", err)
	}
	ns, name, ok := strings.Cut(o.apiKeySecret, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("--api-key-secret %q: want NAMESPACE/NAME", o.apiKeySecret)
	}
	if o.apiKeySecretKey == "" {
		return types.NamespacedName{}, errors.New("--api-key-secret-key must not be empty")
	}
	if o.serviceQPS <= 0 || o.serviceBurst < 1 {
		return types.NamespacedName{}, errors.New("--update-service-qps must be positive and --update-service-burst at least 1")
	}
	if le := o.leaderElection; le.retryPeriod <= 0 || le.renewDeadline <= le.retryPeriod || le.leaseDuration <= le.renewDeadline {
		return types.NamespacedName{}, errors.New("leader election wants 0 < --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration")
	}
	if o.pollInterval < time.Second || o.devicesPerRemote < 1 || o.concurrency < 1 {
		return types.NamespacedName{}, errors.New("--campaign-poll-interval must be at least 1s, --devices-per-remote-campaign and --max-concurrent-reconciles at least 1")
	}
	if err := o.images.validate(); err != nil {
		return types.NamespacedName{}, err
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	// Only the groups the operator reads or writes: all of client-go's would cost memory for nothing.
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(eventsv1.AddToScheme(s))
	utilruntime.Must(updatev1alpha1.AddToScheme(s))
	return s
}

func run(o options) error {
	log := ctrl.Log.WithName("setup")
	apiKeyRef, err := o.validate()
	if err != nil {
		return err
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "fleetwave.update.fleetwave.io",
		LeaderElectionNamespace: o.leaderElection.namespace,
		LeaseDuration:           &o.leaderElection.leaseDuration,
		RenewDeadline:           &o.leaderElection.renewDeadline,
		RetryPeriod:             &o.leaderElection.retryPeriod,
		// Step down at once on SIGTERM so a new leader takes over without waiting out the lease;
		// safe because the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
		// The watched namespaces only, and of Secrets and ConfigMaps only the metadata of labelled
		// ones (of Secrets, only with --namespaces); their contents are read with direct GETs.
		Cache:  controllers.CacheOptions(o.namespaces, o.watchSigningKeySecrets()),
		Client: controllers.ClientOptions(),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	if err := setupControllers(mgr, o, apiKeyRef); err != nil {
		return err
	}

	log.Info("Starting manager", "updateServiceURL", o.updateServiceURL, "apiKeySecret", apiKeyRef.String(),
		"leaderElection", o.leaderElect, "namespaces", o.namespaces)
	return mgr.Start(ctrl.SetupSignalHandler())
}

func metricsOptions(o options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics}
	if !o.enableHTTP2 {
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	if o.secureMetrics {
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// setupControllers wires the reconcilers to the manager and to the Update Service.
func setupControllers(mgr ctrl.Manager, o options, apiKeyRef types.NamespacedName) error {
	observer, err := pelionmetrics.NewObserver(metrics.Registry)
	if err != nil {
		return fmt.Errorf("registering Update Service metrics: %w", err)
	}
	service := &controllers.APIKeyConnector{
		Reader:          mgr.GetAPIReader(),
		Secret:          apiKeyRef,
		SecretKey:       o.apiKeySecretKey,
		URL:             o.updateServiceURL,
		Options:         []pelion.Option{pelion.WithRateLimit(o.serviceQPS, o.serviceBurst), pelion.WithObserver(observer)},
		RefreshInterval: time.Minute,
		Clock:           clock.RealClock{},
	}
	return controllers.Setup(context.Background(), mgr, controllers.Options{
		Service:                  service,
		Clock:                    clock.RealClock{},
		ImageHTTPClient:          o.images.client(),
		MaxImageSize:             o.images.maxSize,
		ImageDownloadTimeout:     o.images.downloadTimeout,
		ImageSpoolDir:            o.images.spoolDir,
		PollInterval:             o.pollInterval,
		DevicesPerRemoteCampaign: o.devicesPerRemote,
		MaxConcurrentReconciles:  o.concurrency,
		WatchSigningKeySecrets:   o.watchSigningKeySecrets(),
	})
}

// watchSigningKeySecrets tells whether the operator watches labelled signing key Secrets: only with
// --namespaces, where the namespaced install's Roles grant list and watch on Secrets in those
// namespaces. Cluster-wide it has get alone on Secrets and looks again for a missing key with backoff.
func (o options) watchSigningKeySecrets() bool { return len(o.namespaces) > 0 }

// imageSourceOptions are where FirmwareImages may be fetched from (spec.source.url) and how much of
// them: anyone who may edit a namespace chooses the URL, and the operator fetches it from inside the
// cluster, so by default only https to public addresses is fetched (see internal/egress).
type imageSourceOptions struct {
	allow           egress.AllowList
	allowHTTP       bool
	maxSize         int64
	downloadTimeout time.Duration
	spoolDir        string
}

func (o *imageSourceOptions) bindFlags(fs *flag.FlagSet) {
	fs.Func("image-source-allow", "Comma-separated CIDRs, IP addresses and hostnames (exact, no port) that image URLs "+
		"may reach although they are not public (loopback, private, CGNAT, link-local, unique-local), such as "+
		"10.20.0.0/16,artifacts.internal. A listed hostname may resolve to any such address; a CIDR allows its "+
		"addresses whatever the name. Empty: public addresses only.", func(s string) (err error) {
		o.allow, err = egress.ParseAllowList(s)
		return err
	})
	fs.BoolVar(&o.allowHTTP, "image-source-allow-http", false,
		"Also fetch plain http URLs whose host is itself on --image-source-allow (a listed hostname, or an IP "+
			"literal in a listed CIDR). Never for other hosts, never after a redirect from https.")
	o.maxSize = controllers.DefaultMaxImageSize
	fs.Func("max-image-size", "Largest firmware image fetched from a URL, as a Kubernetes quantity such as 512Mi "+
		"(default 1Gi); checked against Content-Length and while streaming.", func(s string) error {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return err
		}
		size, ok := q.AsInt64()
		if !ok || size < 1 {
			return fmt.Errorf("%q is not a positive number of bytes", s)
		}
		o.maxSize = size
		return nil
	})
	fs.DurationVar(&o.downloadTimeout, "image-download-timeout", controllers.DefaultImageDownloadTimeout,
		"Longest one fetch of a firmware image may take, the upload streamed from it included; then it is retried with backoff.")
	fs.StringVar(&o.spoolDir, "spool-dir", os.TempDir(),
		"Writable directory where images without a Content-Length are held (up to --max-image-size) while they are uploaded.")
}

// validate checks the image source settings at startup: a spool directory that cannot be written
// would otherwise fail only at the first image without a Content-Length.
func (o imageSourceOptions) validate() error {
	if o.allowHTTP && o.allow.Empty() {
		return errors.New("--image-source-allow-http needs --image-source-allow: plain http is fetched from listed hosts only")
	}
	if o.downloadTimeout < time.Second {
		return errors.New("--image-download-timeout must be at least 1s")
	}
	probe, err := os.CreateTemp(o.spoolDir, ".fleetwave-probe-*")
	if err != nil {
		return fmt.Errorf("--spool-dir %q is not a writable directory: %w", o.spoolDir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// client fetches firmware images under the policy the flags describe: the URL of every request and
// redirect, and the address of every connection, at dial time.
func (o imageSourceOptions) client() *http.Client {
	ctrl.Log.WithName("setup").Info("Image sources", "allow", o.allow.String(), "allowHTTP", o.allowHTTP,
		"maxImageSize", o.maxSize, "downloadTimeout", o.downloadTimeout, "spoolDir", o.spoolDir)
	return egress.NewClient(egress.Policy{Allow: o.allow, AllowHTTP: o.allowHTTP}, nil)
}
