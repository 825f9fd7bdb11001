{{/* The release's name for its objects: the release name, with the chart name unless it holds it. */}}
{{- define "fleetwave.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Deployment's name, which config/default calls controller-manager. */}}
{{- define "fleetwave.managerName" -}}
{{- printf "%s-controller-manager" (include "fleetwave.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fleetwave.metricsServiceName" -}}
{{- printf "%s-controller-manager-metrics" (include "fleetwave.fullname" . | trunc 35 | trimSuffix "-") -}}
{{- end -}}

{{- define "fleetwave.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fleetwave.managerName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fleetwave.apiKeySecretNamespace" -}}
{{- default .Release.Namespace .Values.apiKeySecret.namespace -}}
{{- end -}}

{{- define "fleetwave.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end -}}

{{- define "fleetwave.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fleetwave
{{- end -}}

{{/* The operator's own rules, as `make manifests` generates them from the controllers' markers. */}}
{{- define "fleetwave.managerRules" -}}
{{- (fromYaml (.Files.Get "files/rbac/role.yaml")).rules | toYaml -}}
{{- end -}}

{{/* The metrics endpoint's scheme and port name. */}}
{{- define "fleetwave.metricsScheme" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end -}}
{{- end -}}
