// Command manager is the fleetwave operator: it reconciles FirmwareImages, Manifests and
// UpdateCampaigns against a Pelion-compatible Update Service.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	updatev1alpha1 "github.com/fleetwave/fleetwave/api/v1alpha1"
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
	updateServiceURL string
	apiKeySecret     string
	apiKeySecretKey  string
	zap              zap.Options
}

func main() {
	opts := parseFlags(os.Args[1:])
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("setup")

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
	fs.StringVar(&o.updateServiceURL, "update-service-url", defaultUpdateServiceURL, "Base URL of the Update Service API.")
	fs.StringVar(&o.apiKeySecret, "api-key-secret", "fleetwave-system/fleetwave-api-key",
		"NAMESPACE/NAME of the Secret holding the Update Service API key.")
	fs.StringVar(&o.apiKeySecretKey, "api-key-secret-key", "api-key", "Key of the API key in that Secret.")
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(fs)
	_ = fs.Parse(args) // ExitOnError: Parse exits on a bad flag.
	return o
}

// validate checks the settings that would otherwise only fail at the first reconcile.
func (o options) validate() (types.NamespacedName, error) {
	u, err := url.Parse(o.updateServiceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return types.NamespacedName{}, fmt.Errorf("--update-service-url %q: want an http or https URL", o.updateServiceURL)
	}
	ns, name, ok := strings.Cut(o.apiKeySecret, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("--api-key-secret %q: want NAMESPACE/NAME", o.apiKeySecret)
	}
	if o.apiKeySecretKey == "" {
		return types.NamespacedName{}, errors.New("--api-key-secret-key must not be empty")
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
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
		Scheme:                 newScheme(),
		Metrics:                metricsOptions(o),
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "fleetwave.update.fleetwave.io",
		// Step down at once on SIGTERM so a new leader takes over without waiting out the lease;
		// safe because the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
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

	log.Info("Starting manager", "updateServiceURL", o.updateServiceURL, "apiKeySecret", apiKeyRef.String(),
		"leaderElection", o.leaderElect)
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
