package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where a container's memory limit shows under cgroup v2.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// softMemoryLimit is the Go runtime's soft memory limit for a container limited to limit bytes: 90%
// of it, so the collector works harder near the limit instead of the kernel killing the operator
// (many campaigns' metric series and polls come in bursts). It returns 0 when there is no limit.
func softMemoryLimit(memoryMax string) int64 {
	limit, err := strconv.ParseInt(strings.TrimSpace(memoryMax), 10, 64)
	if err != nil || limit <= 0 { // "max": unlimited
		return 0
	}
	return limit - limit/10
}

// limitMemoryToContainer sets the soft memory limit from the container's, unless GOMEMLIMIT set one.
func limitMemoryToContainer() (int64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	data, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0, false
	}
	limit := softMemoryLimit(string(data))
	if limit == 0 {
		return 0, false
	}
	debug.SetMemoryLimit(limit)
	return limit, true
}
