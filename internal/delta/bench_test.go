package delta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

type benchImage struct {
	name     string
	old, new []byte
}

// benchImages are firmware-like images of 1, 4 and 8 MiB and their rebuilds with small edits
// (one edit per 32 KiB: bytes changed, inserted or removed, shifting what follows).
func benchImages() []benchImage {
	var images []benchImage
	for _, mib := range []int{1, 4, 8} {
		old := firmwareImage(uint64(mib), mib<<20)
		images = append(images, benchImage{fmt.Sprintf("%dMiB", mib), old, edited(uint64(100+mib), old, mib*32)})
	}
	return images
}

// BenchmarkCreate reports generation speed (MB/s of new image), the patch size in percent of the new
// image, and memory per patch.
func BenchmarkCreate(b *testing.B) {
	for _, img := range benchImages() {
		b.Run(img.name, func(b *testing.B) {
			b.SetBytes(int64(len(img.new)))
			b.ReportAllocs()
			var patch []byte
			for b.Loop() {
				var err error
				if patch, err = Create(context.Background(), img.old, img.new, DefaultBlockSize); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(len(patch))/float64(len(img.new)), "patch%")
		})
	}
}

// BenchmarkApply reports how fast a device-side application streams the new image out.
func BenchmarkApply(b *testing.B) {
	for _, img := range benchImages() {
		patch := mustCreate(b, img.old, img.new, DefaultBlockSize)
		b.Run(img.name, func(b *testing.B) {
			b.SetBytes(int64(len(img.new)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Apply(bytes.NewReader(img.old), bytes.NewReader(patch), io.Discard, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
