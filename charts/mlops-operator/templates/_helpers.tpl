{{/* The name of the release's objects: mlops-operator for a release of that name (what
the kustomization names them), else <release>-mlops-operator. */}}
{{- define "mlops.fullname" -}}
{{- if contains "mlops-operator" .Release.Name }}{{ .Release.Name | trunc 50 }}
{{- else }}{{ printf "%s-mlops-operator" .Release.Name | trunc 50 }}{{ end }}
{{- end }}

{{/* Labels on every object; the selector labels are what kustomize's objects carry too. */}}
{{- define "mlops.selectorLabels" -}}
app.kubernetes.io/name: mlops-operator
{{- end }}

{{- define "mlops.labels" -}}
{{ include "mlops.selectorLabels" . }}
app.kubernetes.io/part-of: mlops-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The rules the operator needs in a namespace it watches (ClusterRole or Role). */}}
{{- define "mlops.namespacedRules" -}}
# kopf watches the three kinds and patches them (finalizer, progress annotations, spent
# one-shot annotations); a Job's event makes its TrainingJob handler read the owner.
- apiGroups: [mlops.dev]
  resources: [deployments]
  verbs: [get, list, watch, patch]
# spec.retrain starts runs as child TrainingJobs and removes finished ones.
- apiGroups: [mlops.dev]
  resources: [trainingjobs]
  verbs: [get, list, watch, patch, create, delete]
# A successful TrainingJob records a new ModelVersion.
- apiGroups: [mlops.dev]
  resources: [modelversions]
  verbs: [get, list, watch, patch, create]
- apiGroups: [mlops.dev]
  resources: [trainingjobs/status, modelversions/status, deployments/status]
  verbs: [patch]
# ownerReferences with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
- apiGroups: [mlops.dev]
  resources: [trainingjobs/finalizers, modelversions/finalizers, deployments/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, create]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, patch]
# The audit trail's and the notifications' tokens: these Secrets by name, no other.
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [{{ .Values.audit.tokenSecret }}, mlops-notifications]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
