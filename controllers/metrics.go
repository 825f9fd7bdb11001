package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of uploads and signatures, as metric label values.
const (
	resultSuccess        = "success"
	resultFailure        = "failure"
	resultDigestMismatch = "digest_mismatch"
	resultAdopted        = "adopted"
)

var (
	imageUploads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetwave_firmware_image_uploads_total",
		Help: "Firmware image uploads to the Update Service, by result (success, adopted, digest_mismatch, failure).",
	}, []string{"result"})
	imageUploadBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleetwave_firmware_image_upload_bytes_total",
		Help: "Bytes of firmware images uploaded to the Update Service.",
	})
	manifestSignatures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetwave_manifest_signatures_total",
		Help: "Manifests built and signed, by format and result (success, failure).",
	}, []string{"format", "result"})
	manifestUploads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetwave_manifest_uploads_total",
		Help: "Manifest uploads to the Update Service, by result (success, adopted, failure).",
	}, []string{"result"})
	manifestUploadBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleetwave_manifest_upload_bytes_total",
		Help: "Bytes of signed manifests uploaded to the Update Service.",
	})
)

func init() {
	metrics.Registry.MustRegister(imageUploads, imageUploadBytes, manifestSignatures, manifestUploads, manifestUploadBytes)
}
