// Package cli holds what the two command lines share: fleetwave (offline: manifests, keys, deltas,
// the simulator) and kubectl-fleetwave (the kubectl plugin). A path given on a command line may name
// anything (/dev/zero, a pipe, a multi-gigabyte image given by mistake), so every file the commands
// read whole goes through ReadFileLimited.
package cli
