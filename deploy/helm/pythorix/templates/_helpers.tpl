{{/*
The processes, in a fixed order. Every per-process object is rendered by ranging over this list.
*/}}
{{- define "pythorix.componentNames" -}}
identity tenancy scanning audit integrations gateway
{{- end }}

{{- define "pythorix.serviceNames" -}}
identity tenancy scanning audit integrations
{{- end }}

{{/*
The call graph: who calls whom over gRPC (mTLS). The NetworkPolicies allow exactly these calls and
nothing else; change it only together with the services' SPIFFE authorization.
*/}}
{{- define "pythorix.calls" -}}
gateway: [identity, tenancy, scanning, audit, integrations]
identity: [tenancy, audit]
tenancy: [identity, audit]
scanning: [tenancy, audit, integrations]
audit: [tenancy]
integrations: [tenancy, audit]
{{- end }}

{{/* The callers of a service: list of names. Call with (list $root $name). */}}
{{- define "pythorix.callers" -}}
{{- $name := index . 1 -}}
{{- $calls := fromYaml (include "pythorix.calls" (index . 0)) -}}
{{- $callers := list -}}
{{- range $caller := splitList " " (include "pythorix.componentNames" (index . 0)) -}}
{{- if has $name (get $calls $caller | default list) -}}
{{- $callers = append $callers $caller -}}
{{- end -}}
{{- end -}}
{{- toYaml $callers -}}
{{- end }}

{{- define "pythorix.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end }}

{{- define "pythorix.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* Selector labels of a component. Call with (list $root $component). */}}
{{- define "pythorix.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels of every object of the release; call with (list $root $component). */}}
{{- define "pythorix.labels" -}}
{{ include "pythorix.selectorLabels" . }}
app.kubernetes.io/part-of: pythorix
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
helm.sh/chart: {{ include "pythorix.chart" (index . 0) }}
{{- end }}

{{/* Labels every pod of the release carries (the default-deny policy selects them). */}}
{{- define "pythorix.releasePodSelector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: pythorix
{{- end }}

{{- define "pythorix.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
A component's settings: .Values.defaults overlaid with .Values.components.<name>, as YAML.
Call with (list $root $name) and read it back with fromYaml.
*/}}
{{- define "pythorix.component" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $own := index $root.Values.components $name | default dict -}}
{{- $c := mergeOverwrite (deepCopy $root.Values.defaults) (deepCopy $own) -}}
{{- /* mergeOverwrite ignores false: an explicit autoscaling.enabled of the component wins. */ -}}
{{- if and (hasKey $own "autoscaling") (hasKey $own.autoscaling "enabled") -}}
{{- $_ := set $c.autoscaling "enabled" $own.autoscaling.enabled -}}
{{- end -}}
{{- toYaml $c -}}
{{- end }}

{{/* The in-cluster address of a service: <fullname>-<name>:<port>. Call with (list $root $name). */}}
{{- define "pythorix.addr" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- printf "%s-%s:%v" (include "pythorix.fullname" $root) $name (index $root.Values.components $name).port -}}
{{- end }}

{{/*
A list of NetworkPolicyPeers from {cidrs, peers}. An empty list would allow every destination, so
it is refused.
*/}}
{{- define "pythorix.peers" -}}
{{- if not (or .cidrs .peers) -}}
{{- fail "networkPolicy: postgres, redis and otel.egress need cidrs or peers (an empty list would allow any destination)" -}}
{{- end -}}
{{- range .cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- with .peers }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* NetworkPolicyPorts (TCP) from a list of port numbers. */}}
{{- define "pythorix.tcpPorts" -}}
{{- range . }}
- protocol: TCP
  port: {{ . }}
{{- end }}
{{- end }}

{{/* Egress every pod of the release needs: DNS. */}}
{{- define "pythorix.dnsEgress" -}}
- to:
    - namespaceSelector:
        {{- toYaml .Values.networkPolicy.dns.namespaceSelector | nindent 8 }}
      {{- with .Values.networkPolicy.dns.podSelector }}
      podSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}

{{/* Egress to PostgreSQL. */}}
{{- define "pythorix.postgresEgress" -}}
- to:
    {{- include "pythorix.peers" .Values.networkPolicy.postgres | trim | nindent 4 }}
  ports:
    {{- include "pythorix.tcpPorts" .Values.networkPolicy.postgres.ports | trim | nindent 4 }}
{{- end }}

{{/* Environment every container of a process gets. Call with (list $root $name). */}}
{{- define "pythorix.commonEnv" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
- name: PYTHORIX_LOG_LEVEL
  value: {{ $root.Values.config.logLevel | quote }}
- name: PYTHORIX_DATA_DIR
  value: {{ $root.Values.config.dataDir | quote }}
- name: PYTHORIX_TRUST_DOMAIN
  value: {{ $root.Values.trustDomain | quote }}
{{- end }}

{{/* DATABASE_URL and DATABASE_MIGRATION_URL of a service, by reference. Call with the component. */}}
{{- define "pythorix.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "components.<service>.database.existingSecret is required" .database.existingSecret }}
      key: {{ .database.urlKey }}
- name: DATABASE_MIGRATION_URL
  valueFrom:
    secretKeyRef:
      name: {{ .database.existingSecret }}
      key: {{ .database.migrationUrlKey }}
{{- end }}

{{/* A hook annotation set; call with the hook weight. */}}
{{- define "pythorix.hookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}
