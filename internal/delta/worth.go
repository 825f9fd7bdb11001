package delta

// The patch-size threshold, in percent of the full image, at and above which a delta is not worth
// sending; manifest-delta-tool's default and accepted range.
const (
	DefaultThreshold = 60
	MinThreshold     = 30
	MaxThreshold     = 99
)

// WorthIt reports whether a patch of patchSize bytes is worth sending instead of the full image of
// fullSize bytes: manifest-delta-tool's check, failing when 100 × patch / full ≥ threshold (percent).
// The comparison is exact in integers, so a patch of exactly the threshold is not worth it.
func WorthIt(patchSize, fullSize int64, threshold int) bool {
	return fullSize > 0 && patchSize*100 < int64(threshold)*fullSize
}
