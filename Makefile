# fleetwave — the two commands a new user needs are `make demo` and `make test`; everything else is
# for working on fleetwave itself. Every tool is built from the Go module proxy at a pinned version into
# bin/ (the envtest control plane into a versioned cache outside the repository), so nothing is
# installed by hand.

IMG ?= fleetwave:dev
LOCALBIN ?= $(CURDIR)/bin

CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
# promtool tests the alerting rules; helm renders the chart; the Prometheus Operator's CRDs let the
# chart's ServiceMonitor and PrometheusRule be checked by a real API server.
PROMTOOL_VERSION ?= v0.316.0
HELM_VERSION ?= v4.3.2
PROMETHEUS_OPERATOR_VERSION ?= v0.85.0

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
PROMTOOL ?= $(LOCALBIN)/promtool-$(PROMTOOL_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
MONITORING_CRDS ?= $(LOCALBIN)/monitoring-crds-$(PROMETHEUS_OPERATOR_VERSION)

# Test vectors are public data kept beside the project, not in it.
export FLEETWAVE_VECTORS ?= $(abspath $(CURDIR)/../shared/vectors)
# Two envtest control planes may start at once on a small machine; give them room.
export KUBEBUILDER_CONTROLPLANE_START_TIMEOUT ?= 120s

GO_TEST_FLAGS ?=

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ The two commands

.PHONY: demo
demo: build ## Run a local control plane, the simulator and the operator, and roll out the samples.
	KUBEBUILDER_ASSETS="$$(WITH_KUBECTL=1 hack/setup-envtest.sh)" go run ./hack/demo $(DEMO_FLAGS)

.PHONY: test
test: manifests generate fmt vet test-tools ## Run every test, envtest integration included.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go test ./... $(GO_TEST_FLAGS)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the API types and controller markers, and copy them into the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@rm -f charts/fleetwave/files/crds/*.yaml && cp config/crd/bases/*.yaml charts/fleetwave/files/crds/
	@cp config/rbac/role.yaml charts/fleetwave/files/rbac/role.yaml
	@cp config/policy/campaign_status_policy.yaml config/prometheus/alerts.yaml config/grafana/fleetwave.json charts/fleetwave/files/

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: manifests generate fmt $(KUSTOMIZE) ## Regenerate everything and fail if anything differs from what is committed.
	go mod tidy
	@for dir in config/default config/namespaced config/samples; do $(KUSTOMIZE) build $$dir > /dev/null; done
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "verify: generated files, formatting or go.mod are out of date:"; git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

.PHONY: chaos
chaos: build ## Roll campaigns out under abuse (leader SIGKILLs, API server restarts, faults, churn) and check the invariants; SEED=n, CHAOS_FLAGS=-short.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go run ./test/chaos $(if $(SEED),-seed $(SEED)) $(CHAOS_FLAGS)

.PHONY: envtest
envtest: ## Build the envtest control plane (etcd, kube-apiserver, kubectl) and print its directory.
	@WITH_KUBECTL=1 hack/setup-envtest.sh

##@ Build

.PHONY: build
build: generate fmt vet ## Build the operator (bin/manager), the offline CLI (bin/fleetwave) and the kubectl plugin (bin/kubectl-fleetwave).
	go build -o $(LOCALBIN)/manager .
	go build -o $(LOCALBIN)/fleetwave ./cmd/fleetwave
	go build -o $(LOCALBIN)/kubectl-fleetwave ./cmd/kubectl-fleetwave
	install -m 0755 hack/kubectl_complete-fleetwave $(LOCALBIN)/kubectl_complete-fleetwave

.PHONY: run
run: manifests generate fmt vet ## Run the operator against the cluster of the current kubeconfig.
	go run . --leader-elect=false

.PHONY: docker-build
docker-build: ## Build the operator image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: deploy-manifests
deploy-manifests: manifests $(KUSTOMIZE) ## Print the install manifests (CRDs, RBAC, operator) for IMG.
	@$(KUSTOMIZE) build config/default | sed 's|image: fleetwave:dev$$|image: $(IMG)|'

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$@,sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

$(KUSTOMIZE): | $(LOCALBIN)
	$(call go-install-tool,$@,sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$@,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# The tests find these in bin/ by the versions above and build them with make when missing; building
# them before `go test` keeps their build time out of the tests' timeouts on a fresh machine.
.PHONY: test-tools
test-tools: $(PROMTOOL) $(HELM) $(MONITORING_CRDS) ## Build the tools the tests run (promtool, helm) and fetch the monitoring CRDs.

$(PROMTOOL): | $(LOCALBIN)
	$(call go-install-tool,$@,github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

$(HELM): | $(LOCALBIN)
	$(call go-install-tool,$@,helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

$(MONITORING_CRDS): | $(LOCALBIN)
	$(call go-module-files,$@,github.com/prometheus-operator/prometheus-operator,$(PROMETHEUS_OPERATOR_VERSION),\
		example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml \
		example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml)

# go-install-tool installs package $2 at version $3 as the versioned binary $1, so a version bump in
# this file rebuilds the tool.
define go-install-tool
@set -e; tmp=$$(mktemp -d); \
	echo "installing $(2)@$(3)"; \
	GOBIN=$$tmp go install $(2)@$(3); \
	mv $$tmp/* $(1); rm -rf $$tmp
endef

# go-module-files copies the files $4 of module $2 at version $3, fetched from the Go module proxy like
# any module, into the directory $1.
define go-module-files
@set -e; tmp=$$(mktemp -d); \
	echo "fetching $(2)@$(3)"; \
	src=$$(cd $$tmp && go mod download -json $(2)@$(3) | grep '"Dir":' | cut -d'"' -f4); \
	mkdir $$tmp/files; for f in $(4); do cp "$$src/$$f" $$tmp/files/; done; chmod -R u+w $$tmp/files; \
	mv $$tmp/files $(1); rm -rf $$tmp
endef
