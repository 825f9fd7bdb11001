package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fleetwave/fleetwave/internal/cli"
	"github.com/fleetwave/fleetwave/internal/delta"
)

// maxPatchFile bounds the patch delta apply reads: a patch of a MaxImageSize image that shares
// nothing with its precursor is about 1% larger than the image, and a patch past this is not one.
const maxPatchFile = delta.MaxImageSize + delta.MaxImageSize/8

func newDeltaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delta",
		Short: "Create and apply delta-update patches (arm-patch-stream; offline, on files)",
	}
	cmd.AddCommand(newDeltaCreateCmd(), newDeltaApplyCmd())
	return cmd
}

type deltaCreateOptions struct {
	from, to, output string
	blockSize        int
	threshold        int
	skipSizeCheck    bool
}

func newDeltaCreateCmd() *cobra.Command {
	var o deltaCreateOptions
	cmd := &cobra.Command{
		Use:   "create --from OLD --to NEW -o PATCH",
		Short: "Write the arm-patch-stream patch that turns the OLD image into the NEW one",
		Long: `Write the arm-patch-stream patch (bsdiff + LZ4, as manifest-delta-tool writes it) that turns the
image a device runs (--from) into the new image (--to). Like manifest-delta-tool, it refuses to write
a patch that is not worth sending: one of --threshold percent of the new image or more (default 60).
Each device holds two buffers of --block-size bytes while patching; legacy Update Client devices take
at most 512. Then make the manifest with 'fleetwave manifest create --payload PATCH
--payload-format arm-patch-stream --installed NEW --precursor OLD'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDeltaCreate(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the image the devices run (the precursor)")
	f.StringVar(&o.to, "to", "", "the new image")
	f.StringVarP(&o.output, "output", "o", "", "file to write the patch to")
	f.IntVar(&o.blockSize, "block-size", delta.DefaultBlockSize,
		fmt.Sprintf("largest frame in bytes, %d to %d", delta.MinBlockSize, delta.MaxBlockSize))
	f.IntVar(&o.threshold, "threshold", delta.DefaultThreshold,
		fmt.Sprintf("refuse a patch of this percentage of the new image or more, %d to %d", delta.MinThreshold, delta.MaxThreshold))
	f.BoolVar(&o.skipSizeCheck, "skip-size-check", false, "write the patch whatever its size")
	for _, name := range []string{"from", "to", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	cmd.MarkFlagsMutuallyExclusive("threshold", "skip-size-check")
	return cmd
}

func runDeltaCreate(cmd *cobra.Command, o deltaCreateOptions) error {
	if o.threshold < delta.MinThreshold || o.threshold > delta.MaxThreshold {
		return fmt.Errorf("--threshold %d: want %d to %d", o.threshold, delta.MinThreshold, delta.MaxThreshold)
	}
	if o.blockSize < delta.MinBlockSize || o.blockSize > delta.MaxBlockSize {
		return fmt.Errorf("--block-size %d: want %d to %d", o.blockSize, delta.MinBlockSize, delta.MaxBlockSize)
	}
	old, err := cli.ReadFileLimited(o.from, delta.MaxImageSize, "an image")
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	img, err := cli.ReadFileLimited(o.to, delta.MaxImageSize, "an image")
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	patch, err := delta.Create(cmd.Context(), old, img, o.blockSize)
	if err != nil {
		return err
	}
	worth := delta.WorthIt(int64(len(patch)), int64(len(img)), o.threshold)
	verdict := sizeVerdict(len(patch), len(img), o.threshold, worth)
	if !worth && !o.skipSizeCheck {
		return fmt.Errorf("%s: send the full image (or write it anyway with --skip-size-check)", verdict)
	}
	if err := writeFileAtomic(o.output, patch, 0o644); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "wrote %s: %d bytes, block size %d\n", o.output, len(patch), o.blockSize)
	fmt.Fprintf(w, "from %s: %d bytes, sha256 %x\n", o.from, len(old), sha256.Sum256(old))
	fmt.Fprintf(w, "to   %s: %d bytes, sha256 %x\n", o.to, len(img), sha256.Sum256(img))
	fmt.Fprintln(w, verdict)
	return nil
}

// sizeVerdict says how the patch compares with the full image and the threshold.
func sizeVerdict(patch, full, threshold int, worth bool) string {
	percent := 100 * float64(patch) / float64(full)
	if worth {
		return fmt.Sprintf("worth it: the patch is %.1f%% of the new image, below the %d%% threshold", percent, threshold)
	}
	return fmt.Sprintf("not worth it: the patch is %.1f%% of the new image, not below the %d%% threshold",
		percent, threshold)
}

type deltaApplyOptions struct {
	from, patch, output string
}

func newDeltaApplyCmd() *cobra.Command {
	var o deltaApplyOptions
	cmd := &cobra.Command{
		Use:   "apply --from OLD --patch PATCH -o NEW",
		Short: "Apply an arm-patch-stream patch to the OLD image as a device does",
		Long: `Apply an arm-patch-stream patch to the image a device runs (--from) and write the new image. The
patch is checked as strictly as a device checks it, and more: a patch that is not one, or that does not
fit the old image, is refused and nothing is written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDeltaApply(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the image the patch applies to (the precursor)")
	f.StringVar(&o.patch, "patch", "", "the arm-patch-stream patch")
	f.StringVarP(&o.output, "output", "o", "", "file to write the new image to")
	for _, name := range []string{"from", "patch", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runDeltaApply(cmd *cobra.Command, o deltaApplyOptions) error {
	img, err := applyPatchFiles(o.from, o.patch)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(o.output, img, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d bytes, sha256 %x\n", o.output, len(img), sha256.Sum256(img))
	return nil
}

// applyPatchFiles applies the patch file to the old image file. The old image is read where the patch
// points, not whole; the patch streams through a bound; the new image is at most MaxImageSize.
func applyPatchFiles(oldPath, patchPath string) ([]byte, error) {
	old, err := os.Open(oldPath)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	defer old.Close()
	info, err := old.Stat()
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	patch, err := os.Open(patchPath)
	if err != nil {
		return nil, fmt.Errorf("--patch: %w", err)
	}
	defer patch.Close()
	var img bytes.Buffer
	in := io.LimitReader(patch, maxPatchFile)
	if _, err := delta.Apply(io.NewSectionReader(old, 0, info.Size()), in, &img, delta.MaxImageSize); err != nil {
		return nil, fmt.Errorf("--patch %s: %w", patchPath, err)
	}
	return img.Bytes(), nil
}
