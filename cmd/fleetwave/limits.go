package main

// Bounds on the files the CLI reads whole into memory (cli.ReadFileLimited). Payloads are not read
// whole: hashFile streams them through SHA-256 in constant memory.
const (
	// maxKeyFile bounds keys, certificates and the API key file: a PEM certificate chain is a few KiB.
	maxKeyFile = 1 << 20
	// maxManifestFile bounds what verify and inspect read. A manifest is at most
	// manifest.MaxManifestSize (2 KiB); a file somewhat larger is still decoded, so the decoder can say
	// why it is not one, and anything past this bound is not worth loading.
	maxManifestFile = 64 << 10
)
