package main

// secretManifest is the part of a core/v1 Secret that init writes, spelled out here rather than taken
// from k8s.io/api: the Kubernetes types would double the start-up time and memory of every offline
// command. Its fields marshal as the Secret's do (Data as base64).
type secretManifest struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   secretMetadata    `json:"metadata"`
	Type       string            `json:"type"`
	Data       map[string][]byte `json:"data"`
}

type secretMetadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}
