package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// controlPlane is etcd and kube-apiserver (envtest, loopback only) with the fleetwave CRDs, and a
// kubeconfig for the operator's replicas. Its API server can be restarted on the same port with the
// same certificates while etcd keeps the data, so the kubeconfig stays valid.
type controlPlane struct {
	env        *envtest.Environment
	client     client.Client
	kubeconfig string
	logs       []*os.File
}

// startControlPlane starts the control plane with its logs and certificates under dir, and installs
// the CRDs of the directory crds.
func startControlPlane(root, dir, crds string) (*controlPlane, error) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	assets, err := envtestAssets(root)
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{env: &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		// A busy 2-core machine; the restarts reuse these.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  apiServerStopTimeout,
	}}
	etcdLog, err := cp.logFile(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	cp.env.ControlPlane.Etcd = &envtest.Etcd{Out: etcdLog, Err: etcdLog}
	api := cp.env.ControlPlane.GetAPIServer()
	// Stay on loopback, as internal/testenv does: advertise 127.0.0.1 and keep the endpoint
	// reconciler from publishing the host's address.
	api.Configure().Set("advertise-address", "127.0.0.1").Set("endpoint-reconciler-type", "none")
	// Certificates in a directory of ours: envtest regenerates a random one's CA on restart, which
	// would invalidate the kubeconfig; it keeps certificates it finds.
	// A fresh directory: certificates found there at the first start would be used without their CA.
	api.CertDir = filepath.Join(dir, "apiserver-certs")
	if err := os.RemoveAll(api.CertDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
		return nil, err
	}
	if api.Out, err = cp.logFile(filepath.Join(dir, "kube-apiserver.log")); err != nil {
		return nil, err
	}
	api.Err = api.Out
	host, err := cp.startEnv()
	if err != nil {
		return nil, fmt.Errorf("starting the envtest control plane from %s: %w", assets, err)
	}
	if err := cp.connect(dir, host); err != nil {
		return nil, errors.Join(err, cp.env.Stop())
	}
	return cp, nil
}

// startEnv starts envtest, stopping what it started should it fail, even by a panic.
func (cp *controlPlane) startEnv() (host string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.Join(fmt.Errorf("envtest panicked: %v", r), cp.env.Stop())
		}
	}()
	cfg, err := cp.env.Start()
	if err != nil {
		return "", errors.Join(err, cp.env.Stop())
	}
	return cfg.Host, nil
}

func (cp *controlPlane) logFile(path string) (*os.File, error) {
	f, err := os.Create(path) //nolint:gosec // a log file in the harness's own run directory
	if err == nil {
		cp.logs = append(cp.logs, f)
	}
	return f, err
}

// connect makes the harness's client and the replicas' kubeconfig (an administrator).
func (cp *controlPlane) connect(dir, host string) error {
	if !strings.Contains(host, "127.0.0.1") {
		return fmt.Errorf("the API server is at %s, not on 127.0.0.1", host)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1.AddToScheme(scheme))
	user, err := cp.env.AddUser(envtest.User{Name: "chaos", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	cp.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(cp.kubeconfig, data, 0o600); err != nil {
		return err
	}
	cfg := user.Config()
	cfg.Timeout = 10 * time.Second
	cp.client, err = client.New(cfg, client.Options{Scheme: scheme})
	return err
}

// apiServerStopTimeout is how long kube-apiserver may take to stop on SIGTERM before envtest
// SIGKILLs it; on this small machine its graceful shutdown can hang for minutes.
const apiServerStopTimeout = 10 * time.Second

// restartAPIServer stops kube-apiserver, waits down, and starts it again on the same address with
// the same certificates; etcd and its data stay.
func (cp *controlPlane) restartAPIServer(ctx context.Context, down time.Duration) error {
	api := cp.env.ControlPlane.APIServer
	port := api.Port
	api.StopTimeout = apiServerStopTimeout
	if err := api.Stop(); err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	// After a stop that timed out, envtest has sent SIGKILL without waiting: wait for the port.
	if err := waitPortFree(ctx, "127.0.0.1:"+port, 30*time.Second); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(down):
	}
	if err := api.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	if api.Port != port {
		return fmt.Errorf("kube-apiserver came back on port %s, not %s", api.Port, port)
	}
	return cp.waitReachable(ctx, 60*time.Second)
}

// waitPortFree waits until nothing listens on addr any more.
func waitPortFree(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return l.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver's port %s is still in use after it stopped: %w", addr, err)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// waitReachable waits until the harness's client can read from the API server again.
func (cp *controlPlane) waitReachable(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cp.client.Get(ctx, client.ObjectKey{Name: "default"}, &corev1.Namespace{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the API server is not reachable after its restart: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (cp *controlPlane) stop() error {
	cp.env.ControlPlane.APIServer.StopTimeout = apiServerStopTimeout
	err := cp.env.Stop()
	for _, f := range cp.logs {
		f.Close()
	}
	return err
}

// envtestAssets returns the directory holding etcd and kube-apiserver: $KUBEBUILDER_ASSETS, or
// what hack/setup-envtest.sh builds (from Go modules; minutes on a cold cache).
func envtestAssets(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(root, "hack", "setup-envtest.sh")) //nolint:gosec // the repository's own script
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the envtest control plane with hack/setup-envtest.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
