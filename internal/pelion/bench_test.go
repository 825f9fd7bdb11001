package pelion_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// procStatusKiB reads a memory line (VmRSS, VmHWM) of /proc/self/status, in KiB; 0 where unavailable.
func procStatusKiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kib
		}
	}
	return 0
}

// patternImage yields size bytes computed on the fly, so the source holds no memory.
type patternImage struct{ size int64 }

func (p patternImage) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.size-off))
	for i := range n {
		x := uint64(off+int64(i)) * 0x9e3779b97f4a7c15
		b[i] = byte(x >> 56)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// BenchmarkUpload150MiB uploads a 150 MiB image through upload jobs (the simulator spills it to disk)
// and reports the process's peak RSS: it stays near one chunk, not the image size. Run it alone:
// go test -run '^$' -bench Upload150MiB -benchtime 1x ./internal/pelion/
func BenchmarkUpload150MiB(b *testing.B) {
	const size = 150 << 20
	e := newEnv(b, sim.Config{Devices: 1, DataDir: b.TempDir()})
	runtime.GC()
	before := procStatusKiB("VmHWM")
	for i := range b.N {
		up := pelion.ImageUpload{Name: "big-" + strconv.Itoa(i), Size: size, Open: pelion.ReaderAtSource(patternImage{size}, size)}
		img, err := e.client.CreateFirmwareImage(context.Background(), up)
		if err != nil {
			b.Fatal(err)
		}
		if img.DatafileSize != size {
			b.Fatalf("stored %d bytes", img.DatafileSize)
		}
	}
	b.SetBytes(size)
	b.ReportMetric(procStatusKiB("VmHWM")/1024, "peak-RSS-MiB")
	b.ReportMetric(before/1024, "RSS-before-MiB")
}

// BenchmarkSimulatorRSS100k reports the resident memory of a simulator holding 100,000 devices.
func BenchmarkSimulatorRSS100k(b *testing.B) {
	for range b.N {
		runtime.GC()
		before := procStatusKiB("VmRSS")
		s, err := sim.New(sim.Config{APIKey: "k", Devices: 100_000})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.ReportMetric((procStatusKiB("VmRSS")-before)/1024, "sim-RSS-MiB")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
		runtime.KeepAlive(s)
		s.Close()
	}
}

// BenchmarkCampaign100k runs one campaign over 100,000 devices at time scale 0 and reports the wall
// time from start to stopped, polling the campaign as a client would.
func BenchmarkCampaign100k(b *testing.B) {
	scale := 0.0
	e := newEnv(b, sim.Config{Devices: 100_000, Profile: sim.Profile{TimeScale: &scale}})
	m := e.release("rel", "1.0.0", payloadOf(64<<10, 1))
	b.ResetTimer()
	for i := range b.N {
		c, err := e.client.CreateCampaign(ctx, pelion.CampaignCreate{Name: "all-" + strconv.Itoa(i), DeviceFilter: "state__eq=registered", RootManifestID: m.ID})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := e.client.StartCampaign(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		for {
			got, err := e.client.GetCampaign(ctx, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Phase == pelion.PhaseStopped {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "campaign-s")
		metrics, err := e.client.CampaignMetrics(ctx, c.ID)
		if err != nil || metrics.TotalCount != 100_000 || metrics.SuccessCount+metrics.SkippedCount != 100_000 {
			b.Fatalf("metrics %v %+v", err, metrics)
		}
	}
}
