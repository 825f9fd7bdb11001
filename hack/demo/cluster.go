package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwave/fleetwave/internal/testenv"
)

func (d *demo) startControlPlane() (stop func(), err error) {
	step("Starting a local Kubernetes API server (etcd and kube-apiserver on 127.0.0.1)", "")
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	stop = func() { _ = env.Stop() } // best effort on the way out
	if d.kubeconfig, err = writeKubeconfig(env, d.dir); err != nil {
		stop()
		return nil, err
	}
	d.env = env
	fmt.Printf("    In another terminal:\n      export KUBECONFIG=%s\n      %s get fleetwave -A\n",
		d.kubeconfig, kubectlHint())
	return stop, nil
}

// kubectlHint names the kubectl built beside the control plane, when there is one.
func kubectlHint() string {
	k := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(k); err == nil { //nolint:gosec // our own envtest directory
		return k
	}
	return "kubectl"
}

func writeKubeconfig(env *testenv.Env, dir string) (string, error) {
	user, err := env.AddUser("demo", "system:masters")
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

func createAPIKeySecret(ctx context.Context, c client.Client, apiKey string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleetwave-system"}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleetwave-system", Name: "fleetwave-api-key"},
		Data:       map[string][]byte{"api-key": []byte(apiKey)},
	}
	return c.Create(ctx, secret)
}

func (d *demo) applySamples(ctx context.Context) error {
	step("Applying the signing key Secret and config/samples (FirmwareImage, Manifest, UpdateCampaign)",
		"kubectl apply -f keys/update-signing-key.secret.yaml -f config/samples/firmware_configmap.yaml -f config/samples/update_v1alpha1_firmwareimage.yaml -f config/samples/update_v1alpha1_manifest.yaml -f config/samples/update_v1alpha1_updatecampaign.yaml")
	samplesDir := filepath.Join(d.root, "config", "samples")
	samples, err := filepath.Glob(filepath.Join(samplesDir, "update_v1alpha1_*.yaml"))
	if err != nil {
		return err
	}
	files := append([]string{
		filepath.Join(d.file("keys"), "update-signing-key.secret.yaml"),
		filepath.Join(samplesDir, "firmware_configmap.yaml"),
	}, samples...)
	for _, f := range files {
		if err := apply(ctx, d.env.Client, f); err != nil {
			return err
		}
	}
	return nil
}

// apply creates every object of a YAML file in the demo namespace (or its own).
func apply(ctx context.Context, c client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetNamespace() == "" {
			obj.SetNamespace(namespace)
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
		}
		fmt.Printf("    created %s %s\n", strings.ToLower(obj.GetKind()), obj.GetName())
	}
}
