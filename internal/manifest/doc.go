// Package manifest builds, signs, decodes and verifies firmware update manifests in the two formats
// fleetwave speaks: Pelion/Izuma manifest schema v3 (ASN.1 DER, what the Pelion Update Service and its
// device client accept) and IETF SUIT (draft-ietf-suit-manifest-37 numbering: a CBOR envelope with a
// COSE_Sign1 authentication block), with the update-management (versions, device conditions) and
// trust-domains (dependencies, delegation chains) extensions.
//
// It is a pure library: no I/O beyond its arguments and no Kubernetes. The same code serves the
// offline CLI, the Manifest controller and the simulated devices of the Update Service simulator, so a
// manifest the operator builds is checked exactly the way a simulated device checks it.
//
// Everything decoded here is untrusted input: decoders bound the input size, element lengths and
// nesting, reject anything not in the schema, and report failures as *DeviceError values naming what a
// real device would report.
package manifest
