{{/* Object names start with the release name (or fullnameOverride); 52 characters leave room
for a CronJob's name, whose Jobs add 11. */}}
{{- define "k8s-isolation-audit.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- end -}}

{{/* The namespace of every namespaced object: the value `namespace`, else the release's. */}}
{{- define "k8s-isolation-audit.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "k8s-isolation-audit.stateName" -}}
{{- include "k8s-isolation-audit.fullname" . }}-state
{{- end -}}

{{- define "k8s-isolation-audit.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "k8s-isolation-audit.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "k8s-isolation-audit.labels" -}}
{{ include "k8s-isolation-audit.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: k8s-isolation-audit
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- /* never the tool's own managed-by value: a probe run deletes the Jobs and pods labelled with it */}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The publishing arguments of the scan: where the state lives, which report API, and the
owner of everything a run writes: the publisher ClusterRole, which `helm uninstall` deletes, and
with it (by the garbage collector) the policy reports and the state ConfigMap. */}}
{{- define "k8s-isolation-audit.publishArgs" -}}
- --publish
- --publish-owner
- {{ include "k8s-isolation-audit.fullname" . }}-publisher
- --format
- json
- --state-namespace
- {{ include "k8s-isolation-audit.namespace" . }}
- --state-name
- {{ include "k8s-isolation-audit.stateName" . }}
- --policyreport-api
- {{ .Values.policyReports.api }}
{{- if .Values.config }}
- --config
- /etc/k8s-isolation-audit/config.yaml
{{- end }}
{{- end -}}

{{/* A pod's spec. Arguments: root (the chart's context), component, serviceAccount, args,
resources, restartPolicy, and for a server, port. The ServiceAccount token is not automounted:
the projected volume mounts the same files at the same path, with a one-hour token. */}}
{{- define "k8s-isolation-audit.podSpec" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: false
enableServiceLinks: false
restartPolicy: {{ .restartPolicy }}
securityContext:
  {{- toYaml $values.podSecurityContext | nindent 2 }}
{{- with $values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "k8s-isolation-audit.image" $root | quote }}
    imagePullPolicy: {{ $values.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    {{- with .port }}
    ports:
      - name: metrics
        containerPort: {{ . }}
        protocol: TCP
    livenessProbe:
      httpGet: {path: /healthz, port: metrics}
      periodSeconds: 20
    readinessProbe:
      httpGet: {path: /healthz, port: metrics}
      periodSeconds: 10
    {{- end }}
    securityContext:
      {{- toYaml $values.securityContext | nindent 6 }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    volumeMounts:
      - name: kube-api-access
        mountPath: /var/run/secrets/kubernetes.io/serviceaccount
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- if $values.config }}
      - name: config
        mountPath: /etc/k8s-isolation-audit
        readOnly: true
      {{- end }}
volumes:
  - name: kube-api-access
    projected:
      sources:
        - serviceAccountToken:
            expirationSeconds: 3600
            path: token
        - configMap:
            name: kube-root-ca.crt
            items:
              - key: ca.crt
                path: ca.crt
        - downwardAPI:
            items:
              - path: namespace
                fieldRef:
                  apiVersion: v1
                  fieldPath: metadata.namespace
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- if $values.config }}
  - name: config
    configMap:
      name: {{ include "k8s-isolation-audit.fullname" $root }}-config
  {{- end }}
{{- end -}}

{{/* The ServiceAccount of the scan CronJob's runs: the prober's (reader, publisher, state
writer and prober) when the runs probe, else the scanner's (the same without the prober). */}}
{{- define "k8s-isolation-audit.runAccount" -}}
{{- include "k8s-isolation-audit.fullname" . }}-{{ ternary "prober" "scanner" .Values.probe.enabled }}
{{- end -}}

{{/* The binding subject of the runs' account. */}}
{{- define "k8s-isolation-audit.runSubject" -}}
- kind: ServiceAccount
  name: {{ include "k8s-isolation-audit.runAccount" . }}
  namespace: {{ include "k8s-isolation-audit.namespace" . }}
{{- end -}}
