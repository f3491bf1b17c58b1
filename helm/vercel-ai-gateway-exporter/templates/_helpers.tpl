{{/* Names, labels and the pieces several templates share. */}}

{{- define "vercel-ai-gateway-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "vercel-ai-gateway-exporter.fullname" -}}
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

{{- define "vercel-ai-gateway-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change over the release's life: the workload's selector. */}}
{{- define "vercel-ai-gateway-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vercel-ai-gateway-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "vercel-ai-gateway-exporter.labels" -}}
helm.sh/chart: {{ include "vercel-ai-gateway-exporter.chart" . }}
{{ include "vercel-ai-gateway-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vercel-ai-gateway-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of the `helm test` pod: the release's, but not the selector's name label, so the
Service never sends traffic to it.
*/}}
{{- define "vercel-ai-gateway-exporter.testLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: connection-test
{{- end }}

{{- define "vercel-ai-gateway-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vercel-ai-gateway-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* registry/repository[:tag][@digest] of an image block. Args: (list image defaultTag). */}}
{{- define "vercel-ai-gateway-exporter.imageRef" -}}
{{- $image := index . 0 }}
{{- $tag := default (index . 1) $image.tag }}
{{- $ref := printf "%s/%s" $image.registry $image.repository | trimPrefix "/" }}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end }}
{{- if $image.digest }}{{ $ref = printf "%s@%s" $ref $image.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/* Where things live inside the container. The state path must equal the image's VOLUME. */}}
{{- define "vercel-ai-gateway-exporter.stateDir" -}}/var/lib/vercel-ai-gateway-exporter{{- end }}
{{- define "vercel-ai-gateway-exporter.configDir" -}}/etc/vercel-ai-gateway-exporter/config{{- end }}
{{- define "vercel-ai-gateway-exporter.secretsDir" -}}/etc/vercel-ai-gateway-exporter/secrets{{- end }}
{{- define "vercel-ai-gateway-exporter.webConfigDir" -}}/etc/vercel-ai-gateway-exporter/web{{- end }}

{{/*
The teams as the exporter's config lists them, with every credential as a file, as YAML:
`teams` (the `apiKey` shorthand becomes the one team `default`), `ingestToken`, `drain` (its
file options), and `files`,
every credential in one list. A credential is {secret, key, path[, value]}: the Secret and key
it comes from, its path under the secrets directory, and its inline value when the chart's own
Secret holds it. The config, that Secret and the projected volume are all built from this, so
they cannot disagree.
*/}}
{{- define "vercel-ai-gateway-exporter.credentials" -}}
{{- $fullname := include "vercel-ai-gateway-exporter.fullname" . }}
{{- $secretsDir := include "vercel-ai-gateway-exporter.secretsDir" . }}
{{- $teams := .Values.teams }}
{{- $shorthand := or .Values.apiKey.existingSecret.name .Values.apiKey.value }}
{{- if and $teams $shorthand }}
{{- fail "set either apiKey (one team) or teams (several), not both" }}
{{- end }}
{{- if not (or $teams $shorthand) }}
{{- fail "no API key: set apiKey.existingSecret.name (an existing Secret), apiKey.value, or teams" }}
{{- end }}
{{- if not $teams }}
{{- $teams = list (dict "name" "default" "existingSecret" .Values.apiKey.existingSecret "value" .Values.apiKey.value) }}
{{- end }}
{{- $seen := dict }}
{{- $out := list }}
{{- $files := list }}
{{- range $index, $team := $teams }}
{{- if hasKey $seen $team.name }}
{{- fail (printf "teams[%d].name: %q is used by another team" $index $team.name) }}
{{- end }}
{{- $_ := set $seen $team.name true }}
{{- $where := printf "teams[%d] (%s)" $index $team.name }}
{{- $key := include "vercel-ai-gateway-exporter.credential" (list $fullname $team $where (printf "%s.api-key" $team.name) (printf "teams/%s/api-key" $team.name)) | fromYaml }}
{{- $files = append $files $key }}
{{- $entry := dict "name" $team.name "api_key_file" (printf "%s/%s" $secretsDir $key.path) }}
{{- with merge (deepCopy ($team.alerts | default dict)) $.Values.alertThresholds }}
{{- $_ := set $entry "alerts" . }}
{{- end }}
{{- with $team.reports }}{{ $_ := set $entry "reports" . }}{{ end }}
{{- with $team.budgets }}
{{- $token := include "vercel-ai-gateway-exporter.credential" (list $fullname . (printf "%s.budgets" $where) (printf "%s.budgets-token" $team.name) (printf "teams/%s/budgets-token" $team.name)) | fromYaml }}
{{- $files = append $files $token }}
{{- $_ := set $entry "budgets" (merge (omit . "existingSecret" "value") (dict "token_file" (printf "%s/%s" $secretsDir $token.path))) }}
{{- end }}
{{- range $part, $option := dict "secret" "drain_secret_file" "verifyCode" "drain_verify_code_file" }}
{{- with dig "drain" $part nil $team }}
{{- $file := include "vercel-ai-gateway-exporter.credential" (list $fullname . (printf "%s.drain.%s" $where $part) (printf "%s.drain-%s" $team.name ($part | kebabcase)) (printf "teams/%s/drain-%s" $team.name ($part | kebabcase))) | fromYaml }}
{{- $files = append $files $file }}
{{- $_ := set $entry $option (printf "%s/%s" $secretsDir $file.path) }}
{{- end }}
{{- end }}
{{- $out = append $out $entry }}
{{- end }}
{{- $result := dict "teams" $out }}
{{- $ingest := .Values.ingestToken }}
{{- if or $ingest.existingSecret.name $ingest.value }}
{{- $token := include "vercel-ai-gateway-exporter.credential" (list $fullname $ingest "ingestToken" "ingest-token" "ingest-token") | fromYaml }}
{{- $files = append $files $token }}
{{- $_ := set $result "ingestToken" $token }}
{{- end }}
{{- $drain := dict }}
{{- range $part, $option := dict "secret" "secret_file" "verifyCode" "verify_code_file" }}
{{- $block := index $.Values.drain $part }}
{{- if or $block.existingSecret.name $block.value }}
{{- if and (eq $part "secret") (gt (len $teams) 1) }}
{{- fail "drain.secret is the only team's drain secret: with several teams, set teams[].drain.secret" }}
{{- end }}
{{- $file := include "vercel-ai-gateway-exporter.credential" (list $fullname $block (printf "drain.%s" $part) (printf "drain-%s" ($part | kebabcase)) (printf "drain-%s" ($part | kebabcase))) | fromYaml }}
{{- $files = append $files $file }}
{{- $_ := set $drain $option (printf "%s/%s" $secretsDir $file.path) }}
{{- end }}
{{- end }}
{{- with $drain }}{{ $_ := set $result "drain" . }}{{ end }}
{{- $_ := set $result "files" $files }}
{{- toYaml $result }}
{{- end }}

{{/*
One credential from a block with `existingSecret: {name, key}` or `value`.
Args: (list fullname block where managedKey path).
*/}}
{{- define "vercel-ai-gateway-exporter.credential" -}}
{{- $fullname := index . 0 }}
{{- $block := index . 1 }}
{{- $where := index . 2 }}
{{- $existing := $block.existingSecret | default dict }}
{{- if and $existing.name $block.value }}
{{- fail (printf "%s: set existingSecret or value, not both" $where) }}
{{- end }}
{{- if $existing.name }}
{{- toYaml (dict "secret" $existing.name "key" $existing.key "path" (index . 4)) }}
{{- else if $block.value }}
{{- toYaml (dict "secret" $fullname "key" (index . 3) "path" (index . 4) "value" $block.value) }}
{{- else }}
{{- fail (printf "%s: set existingSecret.name or value" $where) }}
{{- end }}
{{- end }}

{{/* The exporter's configuration file: the user's `config` plus what the chart wires. */}}
{{- define "vercel-ai-gateway-exporter.config" -}}
{{- $credentials := include "vercel-ai-gateway-exporter.credentials" . | fromYaml }}
{{- $config := deepCopy .Values.config }}
{{- $_ := set $config "teams" $credentials.teams }}
{{- with $credentials.ingestToken }}
{{- $file := printf "%s/%s" (include "vercel-ai-gateway-exporter.secretsDir" $) .path }}
{{- $_ := set $config "ingest" (merge (dict "token_file" $file) ($config.ingest | default dict)) }}
{{- end }}
{{- with $credentials.drain }}
{{- $_ := set $config "drain" . }}
{{- end }}
{{- with .Values.webConfig.existingSecret }}
{{- if .name }}
{{- $file := printf "%s/%s" (include "vercel-ai-gateway-exporter.webConfigDir" $) .key }}
{{- $_ := set $config "web" (merge (dict "config_file" $file) ($config.web | default dict)) }}
{{- end }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The workload: a StatefulSet when each pod needs a claim of its own, else a Deployment. */}}
{{- define "vercel-ai-gateway-exporter.kind" -}}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) }}StatefulSet{{ else }}Deployment{{ end }}
{{- end }}

{{/* The state volume's claim spec (volumeClaimTemplates). */}}
{{- define "vercel-ai-gateway-exporter.claimSpec" -}}
accessModes:
  {{- toYaml .Values.persistence.accessModes | nindent 2 }}
{{- with .Values.persistence.storageClass }}
storageClassName: {{ if eq . "-" }}""{{ else }}{{ . | quote }}{{ end }}
{{- end }}
resources:
  requests:
    storage: {{ .Values.persistence.size | quote }}
{{- end }}

{{/*
A probe: the user's, completed from the default (httpGet on `path`, every `period` seconds,
`failures` in a row fail it). A handler the user gives replaces the default handler instead of
joining it (a probe has one).
Args: (list userProbe path period failures).
*/}}
{{- define "vercel-ai-gateway-exporter.probe" -}}
{{- $user := index . 0 }}
{{- $default := dict "periodSeconds" (index . 2) "timeoutSeconds" 5 "failureThreshold" (index . 3) }}
{{- if not (or $user.httpGet $user.tcpSocket $user.exec $user.grpc) }}
{{- $_ := set $default "httpGet" (dict "path" (index . 1) "port" "http") }}
{{- end }}
{{- toYaml (merge (deepCopy $user) $default) }}
{{- end }}

{{/* The pod template of the workload. */}}
{{- define "vercel-ai-gateway-exporter.podTemplate" -}}
{{- $credentials := include "vercel-ai-gateway-exporter.credentials" . | fromYaml -}}
metadata:
  labels:
    {{- include "vercel-ai-gateway-exporter.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A change of the configuration rolls the pods; a rotated key does not need to.
    checksum/config: {{ include "vercel-ai-gateway-exporter.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "vercel-ai-gateway-exporter.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: exporter
      image: {{ include "vercel-ai-gateway-exporter.imageRef" (list .Values.image .Chart.AppVersion) | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file={{ include "vercel-ai-gateway-exporter.configDir" . }}/config.yaml
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: AI_GATEWAY_EXPORTER_STATE_PATH
          value: {{ include "vercel-ai-gateway-exporter.stateDir" . }}/state.db
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: 9853
          protocol: TCP
      {{- /* Without a handler of its own, the startup probe asks what liveness asks (HTTPS under TLS). */}}
      {{- $startup := deepCopy .Values.startupProbe }}
      {{- if not (or $startup.httpGet $startup.tcpSocket $startup.exec $startup.grpc) }}
      {{- $startup = merge $startup (pick (deepCopy .Values.livenessProbe) "httpGet" "tcpSocket" "exec" "grpc") }}
      {{- end }}
      startupProbe:
        {{- include "vercel-ai-gateway-exporter.probe" (list $startup "/healthz" 5 60) | nindent 8 }}
      livenessProbe:
        {{- include "vercel-ai-gateway-exporter.probe" (list .Values.livenessProbe "/healthz" 10 3) | nindent 8 }}
      readinessProbe:
        {{- include "vercel-ai-gateway-exporter.probe" (list .Values.readinessProbe "/readyz" 5 3) | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ include "vercel-ai-gateway-exporter.configDir" . }}
          readOnly: true
        - name: secrets
          mountPath: {{ include "vercel-ai-gateway-exporter.secretsDir" . }}
          readOnly: true
        {{- if .Values.webConfig.existingSecret.name }}
        - name: web-config
          mountPath: {{ include "vercel-ai-gateway-exporter.webConfigDir" . }}
          readOnly: true
        {{- end }}
        - name: state
          mountPath: {{ include "vercel-ai-gateway-exporter.stateDir" . }}
        # SQLite's temporary files (large sorts) on a read-only root filesystem.
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "vercel-ai-gateway-exporter.fullname" . }}
    # Secrets as files: a rotated Secret reaches the files within a minute, and the exporter
    # re-reads a key file when it changes.
    - name: secrets
      projected:
        defaultMode: 288  # 0440: readable by the pod's fsGroup
        sources:
          {{- range $credentials.files }}
          - secret:
              name: {{ .secret }}
              items:
                - key: {{ .key | quote }}
                  path: {{ .path | quote }}
          {{- end }}
    {{- with .Values.webConfig.existingSecret.name }}
    - name: web-config
      secret:
        secretName: {{ . }}
        defaultMode: 288  # 0440: readable by the pod's fsGroup
    {{- end }}
    {{- if .Values.persistence.existingClaim }}
    - name: state
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.existingClaim }}
    {{- else if not .Values.persistence.enabled }}
    - name: state
      emptyDir: {}
    {{- end }}
    - name: tmp
      emptyDir: {}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
