// Package testenv starts a real Kubernetes API server (etcd and kube-apiserver, built from Go modules
// by hack/setup-envtest.sh) with the fleetwave CRDs installed, for integration tests. The control
// plane listens on loopback only.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	updatev1alpha1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/repo"
)

// Env is a running control plane with the fleetwave CRDs installed.
type Env struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Client is a direct (uncached) client with the fleetwave kinds registered.
	Client client.Client
	// Scheme knows the built-in and the fleetwave kinds.
	Scheme *runtime.Scheme
	// RepoRoot is the repository's top directory.
	RepoRoot string

	env *envtest.Environment
}

// Start starts etcd and kube-apiserver and installs the CRDs from config/crd/bases. The binaries come
// from $KUBEBUILDER_ASSETS, or, when it is unset, from hack/setup-envtest.sh (which builds them once
// into a cache). Call Stop when done.
func Start() (*Env, error) {
	// controller-runtime complains, with a stack trace, when nothing sets its logger. Errors are
	// worth seeing in test output; the rest is noise.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))

	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	assets, err := assetsDir(root)
	if err != nil {
		return nil, err
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// Stay on loopback: without these the API server advertises the host's address and writes it
	// into the default kubernetes Service endpoints. advertise-address alone is refused, so the
	// endpoint reconciler goes too.
	env.ControlPlane.GetAPIServer().Configure().
		Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none")

	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest control plane from %s: %w", assets, err)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(updatev1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating client: %w", err), env.Stop())
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, RepoRoot: root, env: env}, nil
}

// AddUser makes the API server accept one more user, authenticated by a client certificate, and
// returns it: its Config and KubeConfig reach the API server as that user. The user may do nothing
// until a test binds a role to it, so tests can show exactly what a role allows.
func (e *Env) AddUser(name string, groups ...string) (*envtest.AuthenticatedUser, error) {
	user, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding user %q: %w", name, err)
	}
	return user, nil
}

// Stop stops the control plane and removes its data.
func (e *Env) Stop() error {
	return e.env.Stop()
}

// assetsDir returns the directory holding etcd and kube-apiserver.
func assetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if !filepath.IsAbs(dir) {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS must be an absolute path, got %q", dir)
		}
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(root, "hack", "setup-envtest.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the envtest control plane with hack/setup-envtest.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// NewNamespace creates a namespace of the test's own, named from prefix, so tests never see each
// other's objects.
func (e *Env) NewNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// Eventually polls cond until it holds, failing the test with cond's last explanation once timeout
// has passed. It waits for convergence; it asserts nothing about speed.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after %v: %s", what, timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kustomize builds a kustomization of the repository, such as "config/default", with the kustomize
// the Makefile pins (KUSTOMIZE_VERSION), and returns the objects it makes, in its order. When bin/
// lacks that kustomize, make builds it first, as it does for every tool.
func (e *Env) Kustomize(dir string) ([]*unstructured.Unstructured, error) {
	bin, err := kustomizeBinary(e.RepoRoot)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "build", filepath.Join(e.RepoRoot, dir))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w\n%s", dir, err, stderr.String())
	}
	objs, err := DecodeObjects(out)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return objs, nil
}

// DecodeObjects reads a stream of YAML or JSON documents into objects, skipping empty ones.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// kustomizeBinary is bin/kustomize-VERSION, with VERSION as the Makefile pins it, built by make
// when it is not there yet.
func kustomizeBinary(root string) (string, error) {
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^KUSTOMIZE_VERSION \?= (v[0-9]+\.[0-9]+\.[0-9]+)$`).FindSubmatch(makefile)
	if m == nil {
		return "", errors.New("the Makefile pins no KUSTOMIZE_VERSION vMAJOR.MINOR.PATCH")
	}
	bin := filepath.Join(root, "bin", "kustomize-"+string(m[1]))
	if _, err := os.Stat(bin); err == nil { //nolint:gosec // bin/ of the repository; the version matched a semver above
		return bin, nil
	}
	cmd := exec.Command("make", "--no-print-directory", "-C", root, bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s with make: %w\n%s", bin, err, out)
	}
	return bin, nil
}

// Apply creates objects through the API server as a cluster administrator. An object that exists
// already is left as it is, so tests of one package can apply the same install one after another.
func (e *Env) Apply(ctx context.Context, objs ...*unstructured.Unstructured) error {
	for _, obj := range objs {
		if err := e.Client.Create(ctx, obj.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}
