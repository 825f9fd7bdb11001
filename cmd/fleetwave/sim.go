package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwave/fleetwave/internal/cli"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// simOptions are the flags of `fleetwave sim`.
type simOptions struct {
	listen     string
	apiKeyFile string
	devices    int
	identity   identityFlags
	installed  string
	trustKeys  []string
	profile    string
	seed       int64
	publicURL  string
	timeouts   sim.Timeouts // the zero value means sim.DefaultTimeouts
}

func newSimCmd() *cobra.Command {
	var o simOptions
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a local Pelion Update Service simulator with simulated devices",
		Long: `Serves the Update Service REST API (v3) and device directory over HTTP, in memory, with a fleet of
simulated devices that verify, download and install what campaigns send them. Clients authenticate with
the API key read from --api-key-file. The admin endpoint (/admin/: faults, ledger, devices) answers
only on loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runSim(ctx, o, cmd.OutOrStdout(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to serve on")
	f.StringVar(&o.apiKeyFile, "api-key-file", "", "file holding the API key clients must present (required)")
	f.IntVar(&o.devices, "devices", 100, "number of simulated devices")
	o.identity.register(f)
	f.StringVar(&o.installed, "installed-version", "1.0.0", "firmware version the devices run at start (semver)")
	f.StringArrayVar(&o.trustKeys, "trust-key", nil, "update public key the devices trust: PEM public key or X.509 certificate (PEM or DER); repeatable")
	f.StringVar(&o.profile, "profile", "", "JSON device profile (latency, failures, offline fraction, time scale, faults)")
	f.Int64Var(&o.seed, "seed", 1, "seed for every random choice, so runs are reproducible")
	f.StringVar(&o.publicURL, "public-url", "", "URL prefix for the links the simulator hands out (default: the request's host)")
	def := sim.DefaultTimeouts()
	f.DurationVar(&o.timeouts.ReadHeader, "read-header-timeout", def.ReadHeader, "most time a client may take to send a request's headers")
	f.DurationVar(&o.timeouts.Read, "read-timeout", def.Read, "most time a client may take to send a whole request, body included")
	f.DurationVar(&o.timeouts.BodyIdle, "body-idle-timeout", def.BodyIdle, "most time a request body may make no progress")
	f.DurationVar(&o.timeouts.Idle, "idle-timeout", def.Idle, "most time a kept-alive connection may wait for its next request")
	_ = cmd.MarkFlagRequired("api-key-file")
	return cmd
}

// simConfig turns the flags into a simulator configuration.
func simConfig(o simOptions) (sim.Config, error) {
	key, err := cli.ReadFileLimited(o.apiKeyFile, maxKeyFile, "an API key file")
	if err != nil {
		return sim.Config{}, fmt.Errorf("reading the API key: %w", err)
	}
	cfg := sim.Config{APIKey: strings.TrimSpace(string(key)), Devices: o.devices, Seed: o.seed, BaseURL: o.publicURL, Profile: sim.DefaultProfile()}
	if cfg.APIKey == "" {
		return sim.Config{}, fmt.Errorf("the API key file %s is empty", o.apiKeyFile)
	}
	if cfg.VendorID, cfg.ClassID, err = o.identity.resolve(); err != nil {
		return sim.Config{}, err
	}
	if cfg.InitialVersion, err = manifest.EncodeVersion(o.installed); err != nil {
		return sim.Config{}, fmt.Errorf("--installed-version: %w", err)
	}
	for _, path := range o.trustKeys {
		pub, err := readTrustKey(path)
		if err != nil {
			return sim.Config{}, err
		}
		cfg.TrustedKeys = append(cfg.TrustedKeys, pub)
	}
	if o.profile != "" {
		if cfg.Profile, err = sim.LoadProfile(o.profile); err != nil {
			return sim.Config{}, err
		}
	}
	return cfg, nil
}

func readTrustKey(path string) (crypto.PublicKey, error) {
	data, err := cli.ReadFileLimited(path, maxKeyFile, "a key or certificate file")
	if err != nil {
		return nil, fmt.Errorf("--trust-key: %w", err)
	}
	pub, err := manifest.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("--trust-key %s: %w", path, err)
	}
	return pub, nil
}

// runSim serves until ctx ends. ready, when set, receives the base URL once the listener is up.
func runSim(ctx context.Context, o simOptions, out io.Writer, ready chan<- string) error {
	cfg, err := simConfig(o)
	if err != nil {
		return err
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Update Service simulator on %s: %d devices, vendor %s, class %s\n", url, cfg.Devices, cfg.VendorID, cfg.ClassID)
	if ready != nil {
		ready <- url
	}
	timeouts := o.timeouts
	if timeouts == (sim.Timeouts{}) {
		timeouts = sim.DefaultTimeouts()
	}
	srv := sim.NewHTTPServer(s.Handler(), timeouts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
