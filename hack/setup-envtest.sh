#!/usr/bin/env bash
# Builds the envtest control plane (etcd, kube-apiserver and optionally kubectl) from the Go module
# proxy, using the wrapper modules committed under hack/envtest/. Neither binary can be
# `go install`ed directly (their modules carry replace directives), and release downloads are not used.
#
# Usage: hack/setup-envtest.sh            # prints the absolute asset directory on stdout
#        WITH_KUBECTL=1 hack/setup-envtest.sh
#
# Binaries go to a versioned cache outside the repository; a binary whose --version already matches is
# not rebuilt, so a warm run costs a fraction of a second.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
WITH_KUBECTL=${WITH_KUBECTL:-0}
ASSETS=${FLEETWAVE_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fleetwave/envtest/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$ASSETS"

# The wrapper modules must not see the project's workspace or flags; go.sum is committed, so the build
# is pinned (-mod=readonly fails on any drift instead of silently resolving something else).
export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

log() { echo "setup-envtest: $*" >&2; }

has_version() { # binary, expected substring of its version output
	# Capture first: `| grep -q` may close the pipe early, and under pipefail the binary's SIGPIPE
	# would read as a mismatch and trigger a needless rebuild. kubectl has no --version flag.
	local out flag=(--version)
	[ "$(basename "$1")" = kubectl ] && flag=(version --client)
	[ -x "$1" ] && out=$("$1" "${flag[@]}" 2>/dev/null) && [[ $out == *"$2"* ]]
}

build_etcd() {
	has_version "$ASSETS/etcd" "etcd Version: ${ETCD_VERSION}" && return
	log "building etcd v${ETCD_VERSION} (a few minutes on a cold cache)"
	(cd "$here/envtest/etcd" && go build -trimpath -ldflags='-s -w' -o "$ASSETS/etcd.tmp" go.etcd.io/etcd/server/v3)
	mv "$ASSETS/etcd.tmp" "$ASSETS/etcd"
}

build_kubernetes() {
	local want=(kube-apiserver) pkgs=()
	[ "$WITH_KUBECTL" = 1 ] && want+=(kubectl)
	local missing=()
	for b in "${want[@]}"; do
		local expect="Kubernetes v${K8S_VERSION}"
		[ "$b" = kubectl ] && expect="Client Version: v${K8S_VERSION}"
		has_version "$ASSETS/$b" "$expect" || missing+=("$b")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "building ${missing[*]} v${K8S_VERSION} (a few minutes on a cold cache)"
	for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done

	local tmp
	tmp=$(mktemp -d "$ASSETS/.build.XXXXXX")
	trap 'rm -rf "$tmp"' RETURN
	(
		cd "$here/envtest/kubernetes"
		# Stamp the version as upstream's hack/lib/version.sh does; without it the binaries report
		# v0.0.0-master and the --version check above can never match.
		build_date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
		minor=$(echo "$K8S_VERSION" | cut -d. -f2)
		ld="-s -w"
		for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ld+=" -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${minor}"
			ld+=" -X $p.gitTreeState=clean -X $p.buildDate=${build_date}"
		done
		go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ld" -o "$tmp/" "${pkgs[@]}"
	)
	for b in "${missing[@]}"; do mv "$tmp/$b" "$ASSETS/$b"; done
}

build_etcd
build_kubernetes
echo "$ASSETS"
