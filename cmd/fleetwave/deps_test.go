package main

import (
	"os/exec"
	"strings"
	"testing"
)

// heavyImports are what the offline binary must not link: the Kubernetes client and controller
// runtime, the API types and machinery, and Prometheus, whose package initialisation alone doubles
// the start-up time and memory of every command.
var heavyImports = []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "k8s.io/api/", "k8s.io/apimachinery",
	"github.com/prometheus/client_golang"}

func TestOfflineBinaryLinksNoKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range heavyImports {
			if strings.HasPrefix(pkg, heavy) {
				t.Errorf("fleetwave links %s", pkg)
			}
		}
	}
}
