package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// profile is how the demo's devices behave: about a second to update, one in a hundred failing to
// write the new image (a device failure, which the failure budget counts; a rejected release would
// fail the campaign at once), all online, so waves are seen to progress without making anyone wait
// long.
const profile = `{
  "latency": {"kind": "lognormal", "median": "1s", "sigma": 0.6, "max": "6s"},
  "failure_rate": 0.01,
  "failure_modes": ["install"],
  "offline_fraction": 0,
  "start_delay": "500ms",
  "stop_delay": "200ms",
  "download_timeout": "30s"
}`

func (d *demo) makeSigningKey(ctx context.Context) error {
	step("Making a signing key, its certificate and Secret",
		fmt.Sprintf("fleetwave init --domain %s --model %s --out keys", vendorDomain, modelName))
	return runQuiet(ctx, d.bin("fleetwave"), "init", "--domain", vendorDomain, "--model", modelName, "--out", d.file("keys"))
}

func (d *demo) startSimulator(ctx context.Context) (stop func(), err error) {
	step(fmt.Sprintf("Starting the Update Service simulator with %d devices that trust the key", d.o.devices), "")
	if d.apiKey, err = writeSecretFile(d.file("api-key")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.file("profile.json"), []byte(profile), 0o600); err != nil {
		return nil, err
	}
	if d.simAddr, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	sim, err := startProcess(ctx, d.file("sim.log"), nil, d.bin("fleetwave"), "sim",
		"--listen", d.simAddr, "--api-key-file", d.file("api-key"), "--devices", fmt.Sprint(d.o.devices),
		"--domain", vendorDomain, "--model", modelName, "--installed-version", "1.0.0",
		"--trust-key", filepath.Join(d.file("keys"), "update.crt.pem"), "--profile", d.file("profile.json"))
	if err != nil {
		return nil, err
	}
	if err := waitForPort(ctx, d.simAddr); err != nil {
		sim.stop()
		return nil, fmt.Errorf("the simulator did not come up (see %s): %w", d.file("sim.log"), err)
	}
	fmt.Printf("    Update Service on http://%s (log: %s)\n", d.simAddr, d.file("sim.log"))
	return sim.stop, nil
}

func (d *demo) startOperator(ctx context.Context) (stop func(), err error) {
	step("Starting the operator", "")
	if err := createAPIKeySecret(ctx, d.env.Client, d.apiKey); err != nil {
		return nil, err
	}
	operator, err := startProcess(ctx, d.file("operator.log"), []string{"KUBECONFIG=" + d.kubeconfig},
		d.bin("manager"), "--update-service-url", "http://"+d.simAddr,
		"--api-key-secret", "fleetwave-system/fleetwave-api-key", "--health-probe-bind-address", "0",
		"--campaign-poll-interval", "1s", "--zap-devel")
	if err != nil {
		return nil, err
	}
	fmt.Printf("    log: %s\n", d.file("operator.log"))
	return operator.stop, nil
}

// writeSecretFile writes a fresh random API key, readable by its owner only.
func writeSecretFile(path string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := "ak_demo_" + hex.EncodeToString(b)
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}
