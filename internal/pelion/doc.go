// Package pelion is a client for the Pelion / Izuma Device Management Update Service (REST v3) and its
// device directory: firmware images (multipart or chunked upload jobs), firmware manifests, update
// campaigns with their metrics and statistics, and devices.
//
// Controllers take the narrow UpdateService interface. The client retries what is safe to retry
// (429 with Retry-After, 5xx, timeouts, dropped connections), settles a create whose outcome is
// unknown by looking the object up by its name instead of posting again, and sorts errors with
// IsTerminal, IsRetryable, IsNotFound and IsConflict. The simulator in package sim speaks the same
// API over HTTP.
package pelion
