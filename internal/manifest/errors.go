package manifest

import (
	"errors"
	"fmt"
)

// DeviceFailure names why a device rejects a manifest, in the device client's terms.
//
// Each value maps to the FOTA client status (fota_status_e, see FotaStatus) and to the update result the
// device reports to the Update Service (arm_uc_update_result_t, see ResultCode), which the service shows
// as the event type UPD4_FAIL_<code>:
//
//	Malformed           fota -22 MANIFEST_MALFORMED          218 INVALID_MANIFEST_FORMAT
//	SchemaUnsupported   fota -28 MANIFEST_SCHEMA_UNSUPPORTED 214 UNSUPPORTED_MANIFEST_VERSION
//	SignatureInvalid    fota -23 MANIFEST_SIGNATURE_INVALID  210 INVALID_SIGNATURE
//	WrongVendor         fota -30 MANIFEST_WRONG_VENDOR_ID    215 WRONG_VENDOR_ID
//	WrongClass          fota -31 MANIFEST_WRONG_CLASS_ID     216 WRONG_CLASS_ID
//	UnexpectedComponent fota -39 UNEXPECTED_COMPONENT        200 MANIFEST_NONSPECIFIC_ERROR
//	PayloadUnsupported  fota -25 MANIFEST_PAYLOAD_UNSUPPORTED 102 NONSPECIFIC_VALIDITY_ERROR
//	VersionRejected     fota -27 MANIFEST_VERSION_REJECTED   221 ROLLBACK_PROTECTION
//	InvalidURI          fota -21 MANIFEST_INVALID_URI        307 INVALID_RESOURCE_URI
//	PrecursorMismatch   fota -32 MANIFEST_PRECURSOR_MISMATCH 229 WRONG_DELTA_PRECURSOR
//
// PrecursorMismatch is the device's own check of an arm-patch-stream manifest: its precursor-digest
// must be the SHA-256 of the image the device runs, the image the patch applies to.
//
// SUIT's update-management and trust-domains extensions add these (a SUIT device reports the same
// result codes through the device client):
//
//	DelegationInvalid   fota -23 MANIFEST_SIGNATURE_INVALID  209 INVALID_CERTIFICATE
//	DependencyNotFound  fota -44 NOT_FOUND                   211 DEPENDENT_MANIFEST_NOT_FOUND
//	DependencyIntegrity fota -26 MANIFEST_PAYLOAD_CORRUPTED  207 INTEGRITY_CHECK_FAILED
//	ImageAlreadyPresent fota -27 MANIFEST_VERSION_REJECTED   213 RESOURCE_ALREADY_PRESENT_ERROR
//	Expired             fota -27 MANIFEST_VERSION_REJECTED   221 ROLLBACK_PROTECTION
//	BatteryLow          fota -41 INTERNAL_ERROR              103 NONSPECIFIC_SYSTEM_ERROR
//	NotAuthorized       fota -37 INSTALL_AUTH_NOT_GRANTED    511 AUTHORIZATION_REJECTED
//	ConditionFailed     fota -22 MANIFEST_MALFORMED          200 MANIFEST_NONSPECIFIC_ERROR
//
// A failed SUIT version condition is VersionRejected, like a stale sequence number. An expired
// manifest (use-before, or a delegation past its exp claim) is refused as rollback protection refuses a
// stale one: both keep a withheld old manifest from being installed later.
//
// The update-result table has no entry for an unknown component, an unsupported payload format, a
// battery too low or a SUIT condition that failed; those map to the nearest non-specific codes.
type DeviceFailure string

// The failures a device reports while accepting a manifest.
const (
	FailureMalformed           DeviceFailure = "Malformed"
	FailureSchemaUnsupported   DeviceFailure = "SchemaUnsupported"
	FailureSignatureInvalid    DeviceFailure = "SignatureInvalid"
	FailureWrongVendor         DeviceFailure = "WrongVendor"
	FailureWrongClass          DeviceFailure = "WrongClass"
	FailureUnexpectedComponent DeviceFailure = "UnexpectedComponent"
	FailurePayloadUnsupported  DeviceFailure = "PayloadUnsupported"
	FailureVersionRejected     DeviceFailure = "VersionRejected"
	FailureInvalidURI          DeviceFailure = "InvalidURI"
	FailurePrecursorMismatch   DeviceFailure = "PrecursorMismatch"
	FailureDelegationInvalid   DeviceFailure = "DelegationInvalid"
	FailureDependencyNotFound  DeviceFailure = "DependencyNotFound"
	FailureDependencyIntegrity DeviceFailure = "DependencyIntegrity"
	FailureImageAlreadyPresent DeviceFailure = "ImageAlreadyPresent"
	FailureExpired             DeviceFailure = "Expired"
	FailureBatteryLow          DeviceFailure = "BatteryLow"
	FailureNotAuthorized       DeviceFailure = "NotAuthorized"
	FailureConditionFailed     DeviceFailure = "ConditionFailed"
)

type failureCodes struct{ fota, result int }

var deviceFailureCodes = map[DeviceFailure]failureCodes{
	FailureMalformed:           {-22, 218},
	FailureSchemaUnsupported:   {-28, 214},
	FailureSignatureInvalid:    {-23, 210},
	FailureWrongVendor:         {-30, 215},
	FailureWrongClass:          {-31, 216},
	FailureUnexpectedComponent: {-39, 200},
	FailurePayloadUnsupported:  {-25, 102},
	FailureVersionRejected:     {-27, 221},
	FailureInvalidURI:          {-21, 307},
	FailurePrecursorMismatch:   {-32, 229},
	FailureDelegationInvalid:   {-23, 209},
	FailureDependencyNotFound:  {-44, 211},
	FailureDependencyIntegrity: {-26, 207},
	FailureImageAlreadyPresent: {-27, 213},
	FailureExpired:             {-27, 221},
	FailureBatteryLow:          {-41, 103},
	FailureNotAuthorized:       {-37, 511},
	FailureConditionFailed:     {-22, 200},
}

// ResultCode is the arm_uc_update_result_t value a device reports for the failure (the n of the
// service's UPD4_FAIL_n event type); 200 (MANIFEST_NONSPECIFIC_ERROR) for an unknown failure.
func (f DeviceFailure) ResultCode() int {
	if c, ok := deviceFailureCodes[f]; ok {
		return c.result
	}
	return 200
}

// FotaStatus is the fota_status_e value the FOTA client uses internally for the failure; -22
// (MANIFEST_MALFORMED) for an unknown failure.
func (f DeviceFailure) FotaStatus() int {
	if c, ok := deviceFailureCodes[f]; ok {
		return c.fota
	}
	return -22
}

// EventType is the Update Service event type for the failure, e.g. "UPD4_FAIL_210".
func (f DeviceFailure) EventType() string {
	return fmt.Sprintf("UPD4_FAIL_%d", f.ResultCode())
}

// DeviceError is a manifest rejection: what a device would report, and why.
type DeviceError struct {
	Failure DeviceFailure
	Err     error
}

func (e *DeviceError) Error() string {
	if e.Err == nil {
		return "manifest rejected: " + string(e.Failure)
	}
	return fmt.Sprintf("manifest rejected (%s): %v", e.Failure, e.Err)
}

func (e *DeviceError) Unwrap() error { return e.Err }

// FailureOf returns the DeviceFailure carried by err, or "" when err is not a manifest rejection.
func FailureOf(err error) DeviceFailure {
	var de *DeviceError
	if errors.As(err, &de) {
		return de.Failure
	}
	return ""
}

func reject(f DeviceFailure, format string, args ...any) *DeviceError {
	return &DeviceError{Failure: f, Err: fmt.Errorf(format, args...)}
}

func malformed(format string, args ...any) *DeviceError {
	return reject(FailureMalformed, format, args...)
}

// Errors for building and for keys. Callers branch on them with errors.Is.
var (
	// ErrManifestTooLarge: the built manifest would exceed MaxManifestSize, the Update Service's limit.
	ErrManifestTooLarge = errors.New("manifest exceeds the Update Service's size limit")
	// ErrInvalidSpec: a Spec field is missing or out of range.
	ErrInvalidSpec = errors.New("invalid manifest spec")
	// ErrUnsupportedKey: a key of a type or curve the format cannot use (RSA, P-384, Ed25519 for
	// Pelion v3, ...).
	ErrUnsupportedKey = errors.New("unsupported key")
	// ErrEncryptedKey: a passphrase-protected private key; fleetwave reads only unencrypted PEM keys.
	ErrEncryptedKey = errors.New("encrypted private keys are not supported")
	// ErrNoKey: the input holds no key or certificate.
	ErrNoKey = errors.New("no key found")
	// ErrKeyMismatch: a certificate does not certify the given private key.
	ErrKeyMismatch = errors.New("certificate does not match the private key")
	// ErrDelegationMismatch: a SUIT delegation chain that does not end at the signing key, or does not
	// hold together link by link.
	ErrDelegationMismatch = errors.New("delegation chain does not delegate to the signing key")
)

func invalidSpec(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
}

// specError reports a Spec field rejected by a check the decoders share, as ErrInvalidSpec rather than
// as a device rejection.
func specError(err error) error {
	var de *DeviceError
	if errors.As(err, &de) {
		err = de.Err
	}
	return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
}
