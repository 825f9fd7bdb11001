package main

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetwave/fleetwave/internal/cli"
	"github.com/fleetwave/fleetwave/internal/manifest"
)

func newManifestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Create, verify and inspect update manifests (offline, on files)",
	}
	cmd.AddCommand(newManifestCreateCmd(), newManifestVerifyCmd(), newManifestInspectCmd(), newManifestDelegateCmd())
	return cmd
}

// CLI names of the manifest formats.
var manifestFormats = map[string]manifest.Format{
	"pelion-v3": manifest.FormatPelionV3,
	"suit":      manifest.FormatSUIT,
}

// identityFlags are the --domain/--model or --vendor-id/--class-id pairs naming vendor and class.
type identityFlags struct {
	domain, model     string
	vendorID, classID string
}

func (f *identityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.domain, "domain", "", "vendor's DNS domain (vendor id = uuid5(DNS, domain))")
	fs.StringVar(&f.model, "model", "", "device model name (class id = uuid5(vendor id, model))")
	fs.StringVar(&f.vendorID, "vendor-id", "", "vendor id (UUID or 32 hex digits), instead of --domain")
	fs.StringVar(&f.classID, "class-id", "", "class id (UUID or 32 hex digits), instead of --model")
}

func (f *identityFlags) resolve() (vendor, class uuid.UUID, err error) {
	switch {
	case f.domain != "" && f.vendorID != "":
		return vendor, class, errors.New("give --domain or --vendor-id, not both")
	case f.vendorID != "":
		if vendor, err = uuid.Parse(f.vendorID); err != nil {
			return vendor, class, fmt.Errorf("--vendor-id: %w", err)
		}
	case f.domain != "":
		if vendor, err = manifest.VendorIDFromDomain(f.domain); err != nil {
			return vendor, class, fmt.Errorf("--domain: %w", err)
		}
	default:
		return vendor, class, errors.New("give the vendor with --domain or --vendor-id")
	}
	switch {
	case f.model != "" && f.classID != "":
		return vendor, class, errors.New("give --model or --class-id, not both")
	case f.classID != "":
		if class, err = uuid.Parse(f.classID); err != nil {
			return vendor, class, fmt.Errorf("--class-id: %w", err)
		}
	case f.model != "":
		if class, err = manifest.ClassIDFromModel(vendor, f.model); err != nil {
			return vendor, class, fmt.Errorf("--model: %w", err)
		}
	default:
		return vendor, class, errors.New("give the device class with --model or --class-id")
	}
	return vendor, class, nil
}

type createOptions struct {
	format         string
	keyFile        string
	payloadFile    string
	url            string
	version        string
	identity       identityFlags
	component      string
	priority       int64
	algorithm      string
	sequenceNumber uint64
	payloadFormat  string
	installedFile  string
	precursorFile  string
	signImage      bool
	vendorDataFile string
	delegationFile string
	output         string
}

func newManifestCreateCmd() *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create --format pelion-v3|suit --key KEY --payload FILE --url URL --version V (--domain D --model M | --vendor-id ID --class-id ID) -o OUT",
		Short: "Build and sign a manifest for a payload",
		Long: `Builds a manifest for the payload file (its SHA-256 and size), the URL devices download it from and
its semantic version, signs it with the PEM private key, and writes the binary manifest to -o.

Pelion v3 manifests are signed with an EC P-256 key (ES256). SUIT manifests take --algorithm ES256,
ESP256 (EC P-256) or EdDSA (Ed25519); their sequence number is the encoded version unless
--sequence-number is given. Delta (arm-patch-stream) and encrypted-raw payloads are Pelion v3 only:
--installed names the image the device ends up with, --precursor the image a delta applies to.

A SUIT manifest with a semantic version carries suit-set-version and a version condition: devices
running that version or a later one refuse it, whatever its sequence number. --delegation embeds a
delegation chain (from 'fleetwave manifest delegate') that ends at the signing key, so devices that
trust only the chain's root accept the manifest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runManifestCreate(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "pelion-v3", "manifest format: pelion-v3 or suit")
	f.StringVar(&o.keyFile, "key", "", "PEM private key to sign with (required)")
	f.StringVar(&o.payloadFile, "payload", "", "the file devices download (required)")
	f.StringVar(&o.url, "url", "", "URL devices download the payload from (required)")
	f.StringVar(&o.version, "version", "", "semantic version of the payload, MAJOR.MINOR.PATCH (required)")
	o.identity.register(f)
	f.StringVar(&o.component, "component", manifest.DefaultComponent, "component to update")
	f.Int64Var(&o.priority, "priority", 0, "update priority passed to the device application (Pelion v3)")
	f.StringVar(&o.algorithm, "algorithm", manifest.AlgorithmES256, "SUIT signature algorithm: ES256, ESP256 or EdDSA")
	f.Uint64Var(&o.sequenceNumber, "sequence-number", 0, "SUIT sequence number (default: the encoded version)")
	f.StringVar(&o.payloadFormat, "payload-format", manifest.PayloadRawBinary, "raw-binary, arm-patch-stream or encrypted-raw")
	f.StringVar(&o.installedFile, "installed", "", "the image as installed (delta: the new image; encrypted-raw: the plaintext)")
	f.StringVar(&o.precursorFile, "precursor", "", "the image a delta applies to (arm-patch-stream)")
	f.BoolVar(&o.signImage, "sign-image", false, "also sign the installed image digest (Pelion v3 installed-signature)")
	f.StringVar(&o.vendorDataFile, "vendor-data", "", "file whose bytes go into vendor-data (Pelion v3)")
	f.StringVar(&o.delegationFile, "delegation", "", "SUIT delegation chain to embed (from 'fleetwave manifest delegate')")
	f.StringVarP(&o.output, "output", "o", "", "file to write the manifest to (required)")
	for _, name := range []string{"key", "payload", "url", "version", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runManifestCreate(cmd *cobra.Command, o createOptions) error {
	spec, err := o.spec(cmd.Flags())
	if err != nil {
		return err
	}
	keyPEM, err := cli.ReadFileLimited(o.keyFile, maxKeyFile, "a key file")
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	key, err := manifest.ParsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("--key %s: %w", o.keyFile, err)
	}
	data, err := manifest.Build(spec, key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(o.output, data, 0o644); err != nil {
		return err
	}
	s, err := manifest.Inspect(data)
	if err != nil {
		return fmt.Errorf("the built manifest does not decode: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes): %s\n", o.output, len(data), oneLine(s))
	return nil
}

func (o createOptions) spec(flags *pflag.FlagSet) (manifest.Spec, error) {
	format, ok := manifestFormats[o.format]
	if !ok {
		return manifest.Spec{}, fmt.Errorf("--format %q: want pelion-v3 or suit", o.format)
	}
	vendor, class, err := o.identity.resolve()
	if err != nil {
		return manifest.Spec{}, err
	}
	digest, size, err := hashFile(o.payloadFile)
	if err != nil {
		return manifest.Spec{}, fmt.Errorf("--payload: %w", err)
	}
	spec := manifest.Spec{
		Format:        format,
		VendorID:      vendor,
		ClassID:       class,
		Component:     o.component,
		Priority:      o.priority,
		Version:       o.version,
		PayloadDigest: digest,
		PayloadSize:   size,
		PayloadURI:    o.url,
		PayloadFormat: o.payloadFormat,
		SignImage:     o.signImage,
	}
	if format == manifest.FormatSUIT {
		spec.Algorithm = o.algorithm
	}
	if flags.Changed("sequence-number") {
		spec.SequenceNumber = &o.sequenceNumber
	}
	if o.installedFile != "" {
		if spec.InstalledDigest, spec.InstalledSize, err = hashFile(o.installedFile); err != nil {
			return manifest.Spec{}, fmt.Errorf("--installed: %w", err)
		}
	}
	if o.precursorFile != "" {
		if spec.PrecursorDigest, _, err = hashFile(o.precursorFile); err != nil {
			return manifest.Spec{}, fmt.Errorf("--precursor: %w", err)
		}
	}
	if o.vendorDataFile != "" {
		if spec.VendorData, err = cli.ReadFileLimited(o.vendorDataFile, manifest.MaxManifestSize, "vendor data (it goes into a manifest)"); err != nil {
			return manifest.Spec{}, fmt.Errorf("--vendor-data: %w", err)
		}
	}
	if o.delegationFile != "" {
		chain, err := cli.ReadFileLimited(o.delegationFile, manifest.MaxManifestSize, "a delegation chain (it goes into a manifest)")
		if err != nil {
			return manifest.Spec{}, fmt.Errorf("--delegation: %w", err)
		}
		spec.Delegation = chain
	}
	return spec, nil
}

// hashFile streams a file through SHA-256: payloads may be far larger than memory should hold.
func hashFile(path string) ([]byte, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil || n < 0 {
		return nil, 0, err
	}
	return h.Sum(nil), uint64(n), nil
}

func readManifestFile(path string) ([]byte, error) {
	return cli.ReadFileLimited(path, maxManifestFile, "a manifest file")
}

type verifyOptions struct {
	keys         []string
	certs        []string
	dependencies []string
	strict       bool
}

func newManifestVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify (--key PUBKEY | --cert CERT) [--dependency FILE]... [--strict] FILE",
		Short: "Check a manifest's signature",
		Long: `Verifies the signature of a binary manifest (either format) against a public key or certificate and
prints a one-line summary. --key takes a PEM public key, a raw X9.62 point (65 bytes, as
manifest-tool public-key writes) or a PEM private key (its public half is used); --cert an X.509
certificate, PEM or DER. Both may be repeated: any one key verifying is enough. A SUIT envelope may be
signed by a key its delegation chain delegates to from one of these.

The signature and support are separate answers. verify exits 0 when the signature chain is valid and
the envelope well-formed, and lists what the device-side interpreter would not run (commands,
parameters or elements of other drafts) and dependencies named by reference that were not given with
--dependency; --strict makes either a failure. It exits non-zero with the reason a device would report
when the manifest does not verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runManifestVerify(cmd.OutOrStdout(), o, args[0])
		},
	}
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "public key (PEM, X9.62) or PEM private key")
	cmd.Flags().StringArrayVar(&o.certs, "cert", nil, "certificate (PEM or DER)")
	cmd.Flags().StringArrayVar(&o.dependencies, "dependency", nil, "SUIT dependency envelope the manifest names by reference")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "fail when the device-side interpreter would not run everything")
	return cmd
}

func runManifestVerify(out io.Writer, o verifyOptions, path string) error {
	if len(o.keys)+len(o.certs) == 0 {
		return errors.New("give the key to verify with: --key or --cert")
	}
	trusted, err := loadTrustedKeys(o)
	if err != nil {
		return err
	}
	data, err := readManifestFile(path)
	if err != nil {
		return err
	}
	deps, err := readDependencies(o.dependencies)
	if err != nil {
		return err
	}
	s, err := manifest.VerifyWithDependencies(data, trusted, deps)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(out, "%s: signature OK: %s\n", path, oneLine(s))
	if s.AnchorKeyID != nil {
		fmt.Fprintf(out, "  signed by key %x, delegated from trusted key %x\n", s.SignerKeyID, s.AnchorKeyID)
	}
	for _, u := range s.Unsupported {
		fmt.Fprintf(out, "  not run by the device-side interpreter: %s\n", u)
	}
	for _, u := range s.Unresolved {
		fmt.Fprintf(out, "  dependency not supplied (--dependency): %s\n", u)
	}
	if o.strict && len(s.Unsupported)+len(s.Unresolved) > 0 {
		return fmt.Errorf("%s: --strict: the device-side interpreter would not run %d item(s) and %d dependency(ies) were not checked",
			path, len(s.Unsupported), len(s.Unresolved))
	}
	return nil
}

func loadTrustedKeys(o verifyOptions) ([]crypto.PublicKey, error) {
	var trusted []crypto.PublicKey
	for _, k := range o.keys {
		pub, err := loadVerificationKey(k, true)
		if err != nil {
			return nil, fmt.Errorf("--key %s: %w", k, err)
		}
		trusted = append(trusted, pub)
	}
	for _, c := range o.certs {
		pub, err := loadVerificationKey(c, false)
		if err != nil {
			return nil, fmt.Errorf("--cert %s: %w", c, err)
		}
		trusted = append(trusted, pub)
	}
	return trusted, nil
}

// readDependencies reads the SUIT dependency envelopes given with --dependency.
func readDependencies(paths []string) (manifest.Dependencies, error) {
	var deps manifest.Dependencies
	for _, p := range paths {
		data, err := readManifestFile(p)
		if err != nil {
			return nil, fmt.Errorf("--dependency: %w", err)
		}
		deps = append(deps, data)
	}
	return deps, nil
}

// loadVerificationKey reads a public key or certificate; with allowPrivate, a private key file
// stands for its public half.
func loadVerificationKey(path string, allowPrivate bool) (crypto.PublicKey, error) {
	data, err := cli.ReadFileLimited(path, maxKeyFile, "a key or certificate file")
	if err != nil {
		return nil, err
	}
	pub, err := manifest.ParsePublicKey(data)
	if err == nil || !allowPrivate || !errors.Is(err, manifest.ErrNoKey) {
		return pub, err
	}
	key, privErr := manifest.ParsePrivateKey(data)
	if privErr != nil {
		return nil, err
	}
	return key.Public(), nil
}

// sequenceNumberText shows a SUIT sequence number, and the version it encodes when it is one.
func sequenceNumberText(n uint64) string {
	if semver, err := manifest.DecodeVersion(n); err == nil {
		return fmt.Sprintf("%d (%#x, version %s)", n, n, semver)
	}
	return fmt.Sprint(n)
}

// oneLine is the summary verify and create print.
func oneLine(s *manifest.Summary) string {
	version := fmt.Sprintf("version %s (%#x)", s.SemVer, s.Version)
	if s.Format == manifest.FormatSUIT {
		version = "sequence number " + sequenceNumberText(s.Version)
	}
	return fmt.Sprintf("%s %s, vendor %s, class %s, component %s, payload %s %d bytes sha256:%x at %s, %s",
		s.Format, version, s.VendorID, s.ClassID, s.Component, s.PayloadFormat, s.PayloadSize,
		s.PayloadDigest, s.PayloadURI, s.Algorithm)
}

func newManifestInspectCmd() *cobra.Command {
	var output string
	var dependencies []string
	cmd := &cobra.Command{
		Use:   "inspect [-o json] [--dependency FILE]... FILE",
		Short: "Show what a manifest says, without checking its signature",
		Long: `Shows what a manifest says without checking its signature. For SUIT this includes the versions
(sequence number, suit-set-version), the dependencies and the order their sequences were processed in,
the delegation chain, the conditions only a device can decide, and what the device-side interpreter
would not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runManifestInspect(cmd.OutOrStdout(), output, dependencies, args[0])
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringArrayVar(&dependencies, "dependency", nil, "SUIT dependency envelope the manifest names by reference")
	return cmd
}

// inspectReport is the JSON form of `manifest inspect`; byte fields are hex.
type inspectReport struct {
	Format          manifest.Format `json:"format"`
	Size            int             `json:"size"`
	SHA256          string          `json:"sha256"`
	Version         uint64          `json:"version"`
	SemVer          string          `json:"semver,omitempty"`
	SequenceNumber  *uint64         `json:"sequenceNumber,omitempty"`
	VendorID        uuid.UUID       `json:"vendorID"`
	ClassID         uuid.UUID       `json:"classID"`
	Component       string          `json:"component"`
	Priority        int64           `json:"priority"`
	PayloadFormat   string          `json:"payloadFormat"`
	PayloadDigest   string          `json:"payloadDigest"`
	PayloadSize     uint64          `json:"payloadSize"`
	PayloadURI      string          `json:"payloadURI"`
	PrecursorDigest string          `json:"precursorDigest,omitempty"`
	Algorithm       string          `json:"algorithm,omitempty"`
	KeyID           string          `json:"keyID,omitempty"`
	SUIT            *suitReport     `json:"suit,omitempty"`
}

type suitReport struct {
	SetVersion   string                   `json:"setVersion,omitempty"`
	ManifestID   string                   `json:"manifestComponentID,omitempty"`
	Components   []string                 `json:"components"`
	Sequences    []string                 `json:"sequences"`
	ReferenceURI string                   `json:"referenceURI,omitempty"`
	Images       []suitImageReport        `json:"images"`
	Dependencies []suitDependencyReport   `json:"dependencies,omitempty"`
	Processed    []string                 `json:"processed,omitempty"`
	Delegation   [][]suitDelegationReport `json:"delegation,omitempty"`
	Conditions   []manifest.SUITCondition `json:"conditions,omitempty"`
	Unsupported  []string                 `json:"unsupported,omitempty"`
	Unresolved   []string                 `json:"unresolved,omitempty"`
	CoSWID       bool                     `json:"coswid,omitempty"`
}

type suitImageReport struct {
	Manifest  string  `json:"manifest,omitempty"`
	Component string  `json:"component"`
	Slot      *uint64 `json:"slot,omitempty"`
	Digest    string  `json:"digest"`
	Size      uint64  `json:"size,omitempty"`
	URI       string  `json:"uri,omitempty"`
}

type suitDependencyReport struct {
	Index          int      `json:"index"`
	Name           string   `json:"name"`
	Prefix         string   `json:"prefix,omitempty"`
	URI            string   `json:"uri,omitempty"`
	Integrated     bool     `json:"integrated"`
	Resolved       bool     `json:"resolved"`
	Digest         string   `json:"digest,omitempty"`
	SequenceNumber uint64   `json:"sequenceNumber,omitempty"`
	SetVersion     string   `json:"setVersion,omitempty"`
	Algorithms     []string `json:"algorithms,omitempty"`
}

type suitDelegationReport struct {
	Algorithm string `json:"algorithm"`
	SignerKID string `json:"signerKID,omitempty"`
	KeyID     string `json:"delegatedKeyID"`
	Issuer    string `json:"issuer,omitempty"`
	Subject   string `json:"subject,omitempty"`
	NotBefore uint64 `json:"notBefore,omitempty"`
	Expires   uint64 `json:"expires,omitempty"`
}

func runManifestInspect(out io.Writer, output string, dependencies []string, path string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("-o %q: want text or json", output)
	}
	data, err := readManifestFile(path)
	if err != nil {
		return err
	}
	deps, err := readDependencies(dependencies)
	if err != nil {
		return err
	}
	report, err := newInspectReport(data, deps)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.writeText(out)
}

func newInspectReport(data []byte, deps manifest.Dependencies) (*inspectReport, error) {
	s, err := manifest.Inspect(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	r := &inspectReport{
		Format: s.Format, Size: len(data), SHA256: hex.EncodeToString(sum[:]),
		Version: s.Version, SemVer: s.SemVer, VendorID: s.VendorID, ClassID: s.ClassID,
		Component: s.Component, Priority: s.Priority, PayloadFormat: s.PayloadFormat,
		PayloadDigest: hex.EncodeToString(s.PayloadDigest), PayloadSize: s.PayloadSize, PayloadURI: s.PayloadURI,
		PrecursorDigest: hex.EncodeToString(s.PrecursorDigest), Algorithm: s.Algorithm, KeyID: hex.EncodeToString(s.KeyID),
	}
	if s.Format != manifest.FormatSUIT {
		return r, nil
	}
	r.SequenceNumber = &s.Version
	d, err := manifest.DecodeSUITWithDependencies(data, deps)
	if err != nil {
		return nil, err
	}
	r.SUIT = newSUITReport(d, s)
	return r, nil
}

func newSUITReport(d *manifest.SUIT, s *manifest.Summary) *suitReport {
	m := &d.Manifest
	r := &suitReport{
		SetVersion: s.SetVersion, ManifestID: m.ComponentID.String(), Sequences: m.Sequences, ReferenceURI: m.ReferenceURI,
		Images: []suitImageReport{}, Processed: m.Processed, Conditions: s.Conditions, Unsupported: m.Unsupported,
		Unresolved: m.Unresolved, CoSWID: m.CoSWID,
	}
	for _, c := range m.Components {
		r.Components = append(r.Components, c.String())
	}
	for _, img := range m.Images {
		r.Images = append(r.Images, suitImageReport{
			Manifest: img.Manifest, Component: img.Component.String(), Slot: img.Slot, Digest: hex.EncodeToString(img.Digest), Size: img.Size, URI: img.URI,
		})
	}
	for _, dep := range m.Dependencies {
		dr := suitDependencyReport{Index: dep.Index, Name: dep.Name, Prefix: dep.Prefix.String(), URI: dep.URI, Integrated: dep.Integrated,
			Resolved: dep.Resolved, Digest: hex.EncodeToString(dep.Digest), SequenceNumber: dep.SequenceNumber, SetVersion: dep.SetVersion.String()}
		for _, sig := range dep.Signatures {
			dr.Algorithms = append(dr.Algorithms, sig.Algorithm)
		}
		r.Dependencies = append(r.Dependencies, dr)
	}
	for _, chain := range d.Delegation {
		var links []suitDelegationReport
		for _, l := range chain {
			links = append(links, suitDelegationReport{Algorithm: l.Algorithm, SignerKID: hex.EncodeToString(l.SignerKID),
				KeyID: hex.EncodeToString(l.KeyID), Issuer: l.Issuer, Subject: l.Subject, NotBefore: l.NotBefore, Expires: l.Expires})
		}
		r.Delegation = append(r.Delegation, links)
	}
	return r
}

func (r *inspectReport) writeText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, v)
		}
	}
	row("format", string(r.Format))
	row("size", fmt.Sprintf("%d bytes, sha256 %s", r.Size, r.SHA256))
	if r.SequenceNumber != nil {
		row("sequence number", sequenceNumberText(*r.SequenceNumber))
	} else {
		row("version", fmt.Sprintf("%s (%#x)", r.SemVer, r.Version))
	}
	row("vendor id", r.VendorID.String())
	row("class id", r.ClassID.String())
	row("component", r.Component)
	row("priority", fmt.Sprint(r.Priority))
	row("payload", fmt.Sprintf("%s, %d bytes", r.PayloadFormat, r.PayloadSize))
	row("payload digest", r.PayloadDigest)
	row("payload uri", r.PayloadURI)
	row("precursor digest", r.PrecursorDigest)
	row("signature", r.Algorithm)
	row("key id", r.KeyID)
	if r.SUIT != nil {
		r.SUIT.writeText(row)
	}
	return w.Flush()
}

// writeText writes the SUIT-specific rows of inspect's text output.
func (r *suitReport) writeText(row func(k, v string)) {
	row("set version", r.SetVersion)
	row("manifest component id", r.ManifestID)
	row("components", strings.Join(r.Components, ", "))
	row("sequences", strings.Join(r.Sequences, ", "))
	row("reference uri", r.ReferenceURI)
	r.writeImages(row)
	for _, d := range r.Dependencies {
		where := "by reference " + d.URI
		switch {
		case d.Integrated:
			where = "integrated as " + d.URI
		case !d.Resolved:
			where += " (not supplied)"
		}
		row(fmt.Sprintf("dependency %d", d.Index), fmt.Sprintf("%s, %s, sequence number %d, version %s", d.Name, where, d.SequenceNumber, d.SetVersion))
	}
	row("processed", strings.Join(r.Processed, " → "))
	for i, chain := range r.Delegation {
		for j, l := range chain {
			row(fmt.Sprintf("delegation %d.%d", i, j), fmt.Sprintf("%s CWT delegating to key %s", l.Algorithm, l.KeyID))
		}
	}
	for _, c := range r.Conditions {
		row("device condition", c.String())
	}
	for _, u := range r.Unsupported {
		row("not run by devices", u)
	}
}

func (r *suitReport) writeImages(row func(k, v string)) {
	for i, img := range r.Images {
		desc := fmt.Sprintf("component %s", img.Component)
		if img.Manifest != "" {
			desc = img.Manifest + ": " + desc
		}
		if img.Slot != nil {
			desc += fmt.Sprintf(" slot %d", *img.Slot)
		}
		desc += fmt.Sprintf(", sha256 %s", img.Digest)
		if img.Size > 0 {
			desc += fmt.Sprintf(", %d bytes", img.Size)
		}
		if img.URI != "" {
			desc += ", from " + img.URI
		}
		row(fmt.Sprintf("image %d", i), desc)
	}
}

type delegateOptions struct {
	keyFile, toFile, chainFile string
	algorithm, issuer, subject string
	validFor                   time.Duration
	output                     string
}

func newManifestDelegateCmd() *cobra.Command {
	var o delegateOptions
	cmd := &cobra.Command{
		Use:   "delegate --key ISSUER_KEY --to KEY [--chain CHAIN] -o OUT",
		Short: "Delegate SUIT manifest signing from a trusted key to another key",
		Long: `Writes a SUIT delegation chain (the trust-domains suit-delegation element): a CWT signed with --key that
delegates manifest signing to the public key of --to (a PEM public key, certificate or private key).
--chain extends an existing chain instead, --key then being the key it delegates to. Give the chain to
'manifest create --delegation', or put it in the signing key Secret as delegation.cbor: devices that
trust only the chain's root then accept manifests the delegated key signs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runManifestDelegate(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyFile, "key", "", "PEM private key of the issuer: the trusted root, or the last delegate of --chain (required)")
	f.StringVar(&o.toFile, "to", "", "key to delegate to: PEM public key, certificate or private key (required)")
	f.StringVar(&o.chainFile, "chain", "", "existing delegation chain to extend")
	f.StringVar(&o.algorithm, "algorithm", manifest.AlgorithmES256, "signature algorithm of the CWT: ES256, ESP256 or EdDSA, matching --key")
	f.StringVar(&o.issuer, "issuer", "", "iss claim")
	f.StringVar(&o.subject, "subject", "", "sub claim")
	f.DurationVar(&o.validFor, "valid-for", 0, "exp claim this long from now (default: no expiry)")
	f.StringVarP(&o.output, "output", "o", "", "file to write the chain to (required)")
	for _, name := range []string{"key", "to", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runManifestDelegate(out io.Writer, o delegateOptions) error {
	keyPEM, err := cli.ReadFileLimited(o.keyFile, maxKeyFile, "a key file")
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	issuer, err := manifest.ParsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("--key %s: %w", o.keyFile, err)
	}
	delegate, err := loadVerificationKey(o.toFile, true)
	if err != nil {
		return fmt.Errorf("--to %s: %w", o.toFile, err)
	}
	var parent manifest.Delegation
	if o.chainFile != "" {
		if parent, err = cli.ReadFileLimited(o.chainFile, manifest.MaxManifestSize, "a delegation chain"); err != nil {
			return fmt.Errorf("--chain: %w", err)
		}
	}
	claims := manifest.DelegationClaims{Issuer: o.issuer, Subject: o.subject}
	if o.validFor > 0 {
		claims.Expires = time.Now().Add(o.validFor).Truncate(time.Second)
	}
	chain, err := manifest.NewDelegation(parent, issuer, o.algorithm, delegate, claims)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(o.output, chain, 0o644); err != nil {
		return err
	}
	kid, _ := manifest.KeyID(delegate)
	fmt.Fprintf(out, "wrote %s (%d bytes): delegates to key %x\n", o.output, len(chain), kid)
	return nil
}
