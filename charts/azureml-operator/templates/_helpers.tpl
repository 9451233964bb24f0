{{/* Names, labels and the few values several templates derive the same way. */}}

{{- define "azureml-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: the release name, unless it already holds the chart's. */}}
{{- define "azureml-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "azureml-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels never change after the first install: a Deployment's selector is immutable. */}}
{{- define "azureml-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "azureml-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "azureml-operator.labels" -}}
helm.sh/chart: {{ include "azureml-operator.chart" . }}
{{ include "azureml-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: azureml-operator
{{- end }}

{{- define "azureml-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "azureml-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "azureml-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the extra CA bundle is mounted; `--ca-bundle` names the file in it. */}}
{{- define "azureml-operator.caDir" -}}
/etc/azureml-operator/ca
{{- end }}

{{- define "azureml-operator.caEnabled" -}}
{{- if or .Values.caBundle.configMap .Values.caBundle.secret }}true{{ end }}
{{- end }}

{{/*
Leader election: on with more than one replica (or when asked for). The timings must keep the
fencing order the operator checks too: a leader gives up (renew deadline) before a standby may take
over (lease duration), after several renewal attempts (retry period).
*/}}
{{- define "azureml-operator.leaderElection" -}}
{{- $le := .Values.leaderElection }}
{{- if or $le.enabled (gt (int .Values.replicas) 1) }}
{{- if not (lt (int $le.renewDeadlineSeconds) (int $le.leaseDurationSeconds)) }}
{{- fail "leaderElection.renewDeadlineSeconds must be less than leaderElection.leaseDurationSeconds" }}
{{- end }}
{{- if not (lt (int $le.retryPeriodSeconds) (int $le.renewDeadlineSeconds)) }}
{{- fail "leaderElection.retryPeriodSeconds must be less than leaderElection.renewDeadlineSeconds" }}
{{- end }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/* The Lease the replicas elect their leader on: one per release, in the release namespace. */}}
{{- define "azureml-operator.leaseName" -}}
{{- include "azureml-operator.fullname" . }}
{{- end }}

{{/*
The kinds of the azureml.dev API group, from the CRDs the chart ships (files/crds), so a new kind
gets its RBAC without an edit here.
*/}}
{{- define "azureml-operator.plurals" -}}
{{- $plurals := list }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $crd := $.Files.Get $path | fromYaml }}
{{- $plurals = append $plurals $crd.spec.names.plural }}
{{- end }}
{{- toJson (sortAlpha $plurals) }}
{{- end }}

{{/*
The rules the operator needs where it watches: in each watched namespace (a Role), or everywhere
(the ClusterRole) when it watches every namespace. Each rule names the code path that needs it;
tests/chart pins the exact set, so a change here is deliberate.
*/}}
{{- define "azureml-operator.watchRules" -}}
{{- $plurals := include "azureml-operator.plurals" . | fromJsonArray }}
# kopf lists and watches every kind (the indexes, one reconcile daemon and one wake handler per
# object: wiring.register); patch: kopf adds and removes the finalizer azureml.dev/finalizer and
# keeps its progress and diff-base annotations (kopf.azureml.dev/*); get: kubeapi.object_uid (is
# the object a resource's owner tag names still there) and kubeapi.apply_owned_object's read.
- apiGroups: ["azureml.dev"]
  resources: {{ toJson $plurals }}
  verbs: ["get", "list", "watch", "patch"]
# kubeapi.patch_status: every pass writes what changed of the status (wiring.write_status), and
# the expected ARM id is recorded before an Azure create (runtime/loop.py).
- apiGroups: ["azureml.dev"]
  resources: {{ $status := list }}{{ range $plurals }}{{ $status = append $status (printf "%s/status" .) }}{{ end }}{{ toJson $status }}
  verbs: ["patch"]
# kubeapi.apply_owned_object: a Completed FineTuneJob with deploy.serverlessEndpoint creates, and
# keeps in step, the ServerlessEndpoint it owns (kinds/finetune_job.py publish). No other kind is
# ever created or replaced by the operator, and nothing is deleted (ownerReferences do that).
- apiGroups: ["azureml.dev"]
  resources: ["serverlessendpoints"]
  verbs: ["create", "update"]
# The objects the operator creates carry ownerReferences with blockOwnerDeletion (Obj.owner_reference):
# the keys Secrets of ServerlessEndpoint and OnlineEndpoint, a FineTuneJob's ServerlessEndpoint.
# With the OwnerReferencesPermissionEnforcement admission plugin, setting it requires update on
# the owner's finalizers subresource.
- apiGroups: ["azureml.dev"]
  resources: ["finetunejobs/finalizers", "onlineendpoints/finalizers", "serverlessendpoints/finalizers"]
  verbs: ["update"]
# Secrets, by name only (no list or watch): get: kubeapi.read_secret (a Workspace's
# credential.secretRef, an OnlineEndpoint's current token) and the reads before each write below;
# create and update: kubeapi.apply_owned_secret (an endpoint's `<name>-keys`, replaced whole with
# the resourceVersion read); patch: kubeapi.set_secret_finalizer (a Workspace keeps a finalizer on
# its credential Secret while it is in use).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "update", "patch"]
# kopf.event (wiring.post: Ready changes, DriftRepaired, ...) and kopf's own handler Events are
# core v1 Events, only ever created.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Cluster-scoped reads kopf makes whatever it watches. */}}
{{- define "azureml-operator.clusterRules" -}}
# kopf's resource observer watches the CRDs so that a kind installed or upgraded after the
# operator started is served without a restart (scanning; without it kopf warns and scans once).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}
