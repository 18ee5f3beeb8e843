package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "helm/pythorix"
	releaseName = "px"
	namespace   = "pythorix"
)

// The processes and their ports, restated here so the chart is checked against an independent copy.
var (
	services   = []string{"identity", "tenancy", "scanning", "audit", "integrations"}
	components = append(slices.Clone(services), "gateway")
	ports      = map[string]int32{
		"identity": 9101, "tenancy": 9102, "scanning": 9103, "audit": 9104, "integrations": 9105, "gateway": 8443,
	}
	// callers of each service over gRPC (see deploy/README.md).
	callers = map[string][]string{
		"identity":     {"gateway", "tenancy"},
		"tenancy":      {"audit", "gateway", "identity", "integrations", "scanning"},
		"scanning":     {"gateway"},
		"audit":        {"gateway", "identity", "integrations", "scanning", "tenancy"},
		"integrations": {"gateway", "scanning"},
	}
	internetEgress = []string{"identity", "integrations", "scanning"}
	// Variables a service cannot start without, all by Secret reference.
	requiredSecretEnv = map[string][]string{
		"identity":     {"PYTHORIX_JWT_KEYS", "PYTHORIX_KEK", "PYTHORIX_IDENTITY_PEPPER"},
		"integrations": {"PYTHORIX_KEK"},
		"audit":        {"PYTHORIX_AUDIT_SIGNING_KEY"},
	}
	secretName = regexp.MustCompile(`^(DATABASE_URL|DATABASE_MIGRATION_URL|REDIS_URL)$|_KEYS$|_KEK$|PEPPER|SIGNING_KEY|PASSWORD|SECRET`)
)

const (
	metricsPort = 9464
	healthPort  = 9465
)

// certificate is the part of cert-manager.io/v1 Certificate the chart uses.
type certificate struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		SecretName     string `json:"secretName"`
		SecretTemplate *struct {
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"secretTemplate,omitempty"`
		Duration    string   `json:"duration,omitempty"`
		RenewBefore string   `json:"renewBefore,omitempty"`
		CommonName  string   `json:"commonName,omitempty"`
		DNSNames    []string `json:"dnsNames,omitempty"`
		URIs        []string `json:"uris,omitempty"`
		Usages      []string `json:"usages,omitempty"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			Encoding       string `json:"encoding,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind,omitempty"`
			Group string `json:"group,omitempty"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the chart uses.
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is everything one rendering produced, decoded by kind.
type manifests struct {
	deployments     map[string]*appsv1.Deployment // by component
	services        map[string]*corev1.Service
	serviceAccounts []*corev1.ServiceAccount
	networkPolicies []*networkingv1.NetworkPolicy
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler // by target Deployment name
	jobs            []*batchv1.Job
	certificates    map[string]*certificate // by name
	serviceMonitors []*serviceMonitor
}

var apiVersions = map[string]string{
	"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1",
	"NetworkPolicy": "networking.k8s.io/v1", "PodDisruptionBudget": "policy/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2", "Job": "batch/v1",
	"Certificate": "cert-manager.io/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// render renders the chart with the Helm engine (no cluster) over the given values files and
// decodes every document strictly.
func render(t *testing.T, valuesFiles ...string) *manifests {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range valuesFiles {
		v, err := common.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		vals = chartutil.MergeTables(v.AsMap(), vals)
	}
	top, err := chartutil.ToRenderValues(chrt, vals, common.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, nil)
	if err != nil {
		t.Fatalf("render values: %v", err)
	}
	out, err := engine.Engine{Strict: true}.RenderWithContext(context.Background(), chrt, top)
	if err != nil {
		t.Fatalf("render: %v", err)
	}

	m := &manifests{
		deployments:  map[string]*appsv1.Deployment{},
		services:     map[string]*corev1.Service{},
		hpas:         map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		certificates: map[string]*certificate{},
	}
	files := make([]string, 0, len(out))
	for name := range out {
		files = append(files, name)
	}
	sort.Strings(files)
	for _, file := range files {
		if !strings.HasSuffix(file, ".yaml") {
			continue // NOTES.txt
		}
		for i, doc := range docSeparator.Split(out[file], -1) {
			if isEmptyDoc(doc) {
				continue
			}
			where := fmt.Sprintf("%s#%d", file, i)
			if err := m.add([]byte(doc)); err != nil {
				t.Fatalf("%s: %v\n%s", where, err, doc)
			}
		}
	}
	return m
}

func isEmptyDoc(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// strict decodes YAML into out, refusing unknown and duplicate fields.
func strict(doc []byte, out any) error { return yaml.UnmarshalStrict(doc, out) }

func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(js)).Decode(&tm); err != nil {
		return err
	}
	if tm.Kind == "Secret" {
		return fmt.Errorf("the chart must not render a Secret")
	}
	want, ok := apiVersions[tm.Kind]
	if !ok {
		return fmt.Errorf("unexpected kind %q", tm.Kind)
	}
	if tm.APIVersion != want {
		return fmt.Errorf("%s has apiVersion %q, want %q", tm.Kind, tm.APIVersion, want)
	}
	switch tm.Kind {
	case "Deployment":
		var o appsv1.Deployment
		if err := strict(doc, &o); err != nil {
			return err
		}
		c := o.Labels["app.kubernetes.io/component"]
		if m.deployments[c] != nil {
			return fmt.Errorf("second Deployment for %q", c)
		}
		m.deployments[c] = &o
	case "Service":
		var o corev1.Service
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.services[o.Labels["app.kubernetes.io/component"]] = &o
	case "ServiceAccount":
		var o corev1.ServiceAccount
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.serviceAccounts = append(m.serviceAccounts, &o)
	case "NetworkPolicy":
		var o networkingv1.NetworkPolicy
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.networkPolicies = append(m.networkPolicies, &o)
	case "PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.pdbs = append(m.pdbs, &o)
	case "HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.hpas[o.Spec.ScaleTargetRef.Name] = &o
	case "Job":
		var o batchv1.Job
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.jobs = append(m.jobs, &o)
	case "Certificate":
		var o certificate
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.certificates[o.Metadata.Name] = &o
	case "ServiceMonitor":
		var o serviceMonitor
		if err := strict(doc, &o); err != nil {
			return err
		}
		m.serviceMonitors = append(m.serviceMonitors, &o)
	}
	return nil
}

func TestDefaultValues(t *testing.T) {
	m := render(t)
	checkCommon(t, m)
	for _, c := range components {
		d := m.deployments[c]
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("%s: default replicas %v, want 1", c, d.Spec.Replicas)
		}
	}
	if len(m.hpas) != 0 {
		t.Errorf("default values render %d HPAs, want none", len(m.hpas))
	}
	if len(m.serviceMonitors) != 0 {
		t.Errorf("default values render a ServiceMonitor")
	}
}

func TestProductionValues(t *testing.T) {
	m := render(t, "values-production.yaml")
	checkCommon(t, m)
	for _, c := range components {
		name := releaseName + "-" + c
		d := m.deployments[c]
		if d.Spec.Replicas != nil && *d.Spec.Replicas < 2 {
			t.Errorf("%s: %d replicas in production, want at least 2", c, *d.Spec.Replicas)
		}
		h := m.hpas[name]
		if h == nil {
			t.Errorf("%s: no HorizontalPodAutoscaler in production", c)
			continue
		}
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 ||
			h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("%s: HPA %+v", c, h.Spec)
		}
		if len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
			t.Errorf("%s: HPA does not target CPU", c)
		}
	}
	if len(m.serviceMonitors) != 1 {
		t.Fatalf("production renders %d ServiceMonitors, want 1", len(m.serviceMonitors))
	}
	sm := m.serviceMonitors[0]
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range components {
		if !sel.Matches(labels.Set(m.services[c].Labels)) {
			t.Errorf("ServiceMonitor does not select the %s Service", c)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
	for _, c := range components {
		env := envOf(m.deployments[c].Spec.Template.Spec.Containers[0])
		if env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value == "" {
			t.Errorf("%s: no OTEL_EXPORTER_OTLP_ENDPOINT in production", c)
		}
	}
}

// checkCommon asserts what holds for every set of values.
func checkCommon(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.deployments) != len(components) {
		t.Fatalf("%d Deployments, want %d", len(m.deployments), len(components))
	}
	for _, c := range components {
		if m.deployments[c] == nil {
			t.Fatalf("no Deployment for %s", c)
		}
	}
	t.Run("pods", func(t *testing.T) { checkPods(t, m) })
	t.Run("env", func(t *testing.T) { checkEnv(t, m) })
	t.Run("probes", func(t *testing.T) { checkProbes(t, m) })
	t.Run("services", func(t *testing.T) { checkServices(t, m) })
	t.Run("serviceaccounts", func(t *testing.T) { checkServiceAccounts(t, m) })
	t.Run("pdbs", func(t *testing.T) { checkPDBs(t, m) })
	t.Run("certificates", func(t *testing.T) { checkCertificates(t, m) })
	t.Run("networkpolicies", func(t *testing.T) { checkNetworkPolicies(t, m) })
	t.Run("migrations", func(t *testing.T) { checkMigrationJob(t, m) })
}

type pod struct {
	name   string
	labels map[string]string
	spec   corev1.PodSpec
}

func (m *manifests) pods() []pod {
	var ps []pod
	for _, c := range components {
		d := m.deployments[c]
		ps = append(ps, pod{"Deployment " + d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, j := range m.jobs {
		ps = append(ps, pod{"Job " + j.Name, j.Spec.Template.Labels, j.Spec.Template.Spec})
	}
	return ps
}

func checkPods(t *testing.T, m *manifests) {
	for _, p := range m.pods() {
		psc := p.spec.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		if p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken {
			t.Errorf("%s: the pod mounts a service account token", p.name)
		}
		if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
			t.Errorf("%s: pod runs as root", p.name)
		}
		if len(p.spec.Containers) == 0 {
			t.Errorf("%s: no containers", p.name)
		}
		for _, ctr := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
			where := p.name + "/" + ctr.Name
			sc := ctr.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
				t.Errorf("%s: runAsNonRoot is not set", where)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Errorf("%s: runs as root", where)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Errorf("%s: root filesystem is writable", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: privilege escalation is not disabled", where)
			}
			if isTrue(sc.Privileged) {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities %+v, want drop [ALL] and no add", where, sc.Capabilities)
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = psc.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile is not RuntimeDefault", where)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := ctr.Resources.Requests[res]; !ok || q.IsZero() {
					t.Errorf("%s: no %s request", where, res)
				}
				if q, ok := ctr.Resources.Limits[res]; !ok || q.IsZero() {
					t.Errorf("%s: no %s limit", where, res)
				}
			}
			if strings.HasSuffix(ctr.Image, ":latest") || !strings.Contains(ctr.Image, ":") && !strings.Contains(ctr.Image, "@") {
				t.Errorf("%s: image %q is not pinned", where, ctr.Image)
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

func checkSecretEnv(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if !secretName.MatchString(e.Name) {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "" {
			t.Errorf("%s: %s must come from a secretKeyRef, not an inline value", where, e.Name)
		}
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("%s: envFrom is not used by this chart", where)
	}
}

func checkEnv(t *testing.T, m *manifests) {
	for _, c := range components {
		ctr := m.deployments[c].Spec.Template.Spec.Containers[0]
		where := c
		checkSecretEnv(t, where, ctr)
		env := envOf(ctr)
		need := append([]string{"REDIS_URL"}, requiredSecretEnv[c]...)
		if c != "gateway" {
			need = append(need, "DATABASE_URL", "DATABASE_MIGRATION_URL")
		}
		for _, n := range need {
			if e, ok := env[n]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s is missing or not a secret reference", where, n)
			}
		}
		for _, peer := range services {
			n := "PYTHORIX_" + strings.ToUpper(peer) + "_ADDR"
			want := fmt.Sprintf("%s-%s:%d", releaseName, peer, ports[peer])
			if env[n].Value != want {
				t.Errorf("%s: %s=%q, want %q", where, n, env[n].Value, want)
			}
		}
		listen := "PYTHORIX_GRPC_ADDR"
		if c == "gateway" {
			listen = "PYTHORIX_GATEWAY_ADDR"
		}
		if want := fmt.Sprintf(":%d", ports[c]); env[listen].Value != want {
			t.Errorf("%s: %s=%q, want %q", where, listen, env[listen].Value, want)
		}
		if env["PYTHORIX_METRICS_ADDR"].Value != fmt.Sprintf(":%d", metricsPort) {
			t.Errorf("%s: PYTHORIX_METRICS_ADDR=%q", where, env["PYTHORIX_METRICS_ADDR"].Value)
		}
		if env["OTEL_SERVICE_NAME"].Value != "pythorix-"+c {
			t.Errorf("%s: OTEL_SERVICE_NAME=%q", where, env["OTEL_SERVICE_NAME"].Value)
		}
		if env["OTEL_TRACES_SAMPLER"].Value == "" {
			t.Errorf("%s: no OTEL_TRACES_SAMPLER", where)
		}
		for _, n := range []string{"PYTHORIX_TLS_CERT", "PYTHORIX_TLS_KEY", "PYTHORIX_TLS_CA"} {
			if !strings.HasPrefix(env[n].Value, "/etc/pythorix/tls/") {
				t.Errorf("%s: %s=%q, want a file under /etc/pythorix/tls", where, n, env[n].Value)
			}
		}
		if got := ctr.Command; len(got) != 1 || got[0] != "/usr/local/bin/pythorix-"+c {
			t.Errorf("%s: command %q", where, got)
		}
	}
}

func checkProbes(t *testing.T, m *manifests) {
	for _, c := range components {
		ctr := m.deployments[c].Spec.Template.Spec.Containers[0]
		for kind, p := range map[string]*corev1.Probe{"readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
			if p == nil {
				t.Errorf("%s: no %s probe", c, kind)
				continue
			}
			if c == "gateway" {
				want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[kind]
				if p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Path != want {
					t.Errorf("gateway: %s probe %+v, want HTTPS GET %s", kind, p.ProbeHandler, want)
				}
				continue
			}
			if p.GRPC == nil || p.GRPC.Port != healthPort {
				t.Errorf("%s: %s probe %+v, want gRPC health on %d", c, kind, p.ProbeHandler, healthPort)
			}
		}
	}
}

func checkServices(t *testing.T, m *manifests) {
	for _, c := range components {
		s := m.services[c]
		if s == nil {
			t.Errorf("no Service for %s", c)
			continue
		}
		if s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("%s: Service type %s", c, s.Spec.Type)
		}
		got := map[int32]bool{}
		for _, p := range s.Spec.Ports {
			got[p.Port] = true
		}
		if !got[ports[c]] || !got[metricsPort] || len(got) != 2 {
			t.Errorf("%s: Service ports %v, want %d and %d", c, s.Spec.Ports, ports[c], metricsPort)
		}
		sel := labels.SelectorFromSet(s.Spec.Selector)
		if !sel.Matches(labels.Set(m.deployments[c].Spec.Template.Labels)) {
			t.Errorf("%s: Service does not select its pods", c)
		}
	}
}

func checkServiceAccounts(t *testing.T, m *manifests) {
	byName := map[string]*corev1.ServiceAccount{}
	for _, sa := range m.serviceAccounts {
		byName[sa.Name] = sa
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s automounts its token", sa.Name)
		}
	}
	for _, p := range m.pods() {
		if byName[p.spec.ServiceAccountName] == nil {
			t.Errorf("%s: ServiceAccount %q is not rendered", p.name, p.spec.ServiceAccountName)
		}
	}
}

func checkPDBs(t *testing.T, m *manifests) {
	for _, c := range components {
		podLabels := labels.Set(m.deployments[c].Spec.Template.Labels)
		n := 0
		for _, pdb := range m.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if sel.Matches(podLabels) {
				n++
				if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
					t.Errorf("%s: PDB %s sets neither minAvailable nor maxUnavailable", c, pdb.Name)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: selected by %d PodDisruptionBudgets, want 1", c, n)
		}
	}
}

func checkCertificates(t *testing.T, m *manifests) {
	for _, c := range components {
		d := m.deployments[c]
		cert := m.certificates[fmt.Sprintf("%s-%s-mtls", releaseName, c)]
		if cert == nil {
			t.Errorf("%s: no mTLS Certificate", c)
			continue
		}
		want := "spiffe://pythorix.local/svc/" + c
		if len(cert.Spec.URIs) != 1 || cert.Spec.URIs[0] == "" || !strings.HasSuffix(cert.Spec.URIs[0], "/svc/"+c) ||
			!strings.HasPrefix(cert.Spec.URIs[0], "spiffe://") {
			t.Errorf("%s: Certificate uris %v, want [%s]", c, cert.Spec.URIs, want)
		}
		td := envOf(d.Spec.Template.Spec.Containers[0])["PYTHORIX_TRUST_DOMAIN"].Value
		if got := "spiffe://" + td + "/svc/" + c; len(cert.Spec.URIs) == 1 && cert.Spec.URIs[0] != got {
			t.Errorf("%s: Certificate URI %s does not match the trust domain %q", c, cert.Spec.URIs[0], td)
		}
		if len(cert.Spec.DNSNames) != 0 || cert.Spec.CommonName != "" {
			t.Errorf("%s: SPIFFE certificate carries DNS names or a common name", c)
		}
		if cert.Spec.IssuerRef.Name == "" {
			t.Errorf("%s: Certificate has no issuer", c)
		}
		for _, u := range []string{"server auth", "client auth"} {
			if !slices.Contains(cert.Spec.Usages, u) {
				t.Errorf("%s: Certificate usages %v lack %q", c, cert.Spec.Usages, u)
			}
		}
		if !mountsSecret(d.Spec.Template.Spec, cert.Spec.SecretName, "/etc/pythorix/tls") {
			t.Errorf("%s: Secret %s is not mounted at /etc/pythorix/tls", c, cert.Spec.SecretName)
		}
	}
	gw := m.certificates[releaseName+"-gateway-https"]
	if gw == nil {
		t.Fatal("no public HTTPS Certificate for the gateway")
	}
	if len(gw.Spec.DNSNames) == 0 || len(gw.Spec.URIs) != 0 {
		t.Errorf("gateway HTTPS Certificate: dnsNames %v uris %v", gw.Spec.DNSNames, gw.Spec.URIs)
	}
	spec := m.deployments["gateway"].Spec.Template.Spec
	env := envOf(spec.Containers[0])
	if !mountsSecret(spec, gw.Spec.SecretName, "/etc/pythorix/https") ||
		env["PYTHORIX_GATEWAY_TLS_CERT"].Value != "/etc/pythorix/https/tls.crt" ||
		env["PYTHORIX_GATEWAY_TLS_KEY"].Value != "/etc/pythorix/https/tls.key" {
		t.Errorf("gateway: public certificate %s is not wired to PYTHORIX_GATEWAY_TLS_CERT/_KEY", gw.Spec.SecretName)
	}
	if len(m.certificates) != len(components)+1 {
		t.Errorf("%d Certificates, want %d", len(m.certificates), len(components)+1)
	}
}

func mountsSecret(spec corev1.PodSpec, secret, path string) bool {
	for _, v := range spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != secret {
			continue
		}
		for _, vm := range spec.Containers[0].VolumeMounts {
			if vm.Name == v.Name && vm.MountPath == path && vm.ReadOnly {
				return true
			}
		}
	}
	return false
}

func selects(t *testing.T, np *networkingv1.NetworkPolicy, podLabels map[string]string) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
	}
	return sel.Matches(labels.Set(podLabels))
}

func isDefaultDeny(np *networkingv1.NetworkPolicy) bool {
	return len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
		slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
		slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// componentOf names the release component a peer selects, or "" when the peer is anything else.
func componentOf(p networkingv1.NetworkPolicyPeer) string {
	if p.PodSelector == nil || p.NamespaceSelector != nil || p.IPBlock != nil || len(p.PodSelector.MatchExpressions) > 0 {
		return ""
	}
	if p.PodSelector.MatchLabels["app.kubernetes.io/instance"] != releaseName {
		return ""
	}
	return p.PodSelector.MatchLabels["app.kubernetes.io/component"]
}

func hasPort(ps []networkingv1.NetworkPolicyPort, port int32) bool {
	for _, p := range ps {
		if p.Port != nil && p.Port.IntVal == port {
			return true
		}
	}
	return false
}

func checkNetworkPolicies(t *testing.T, m *manifests) {
	var denies int
	for _, np := range m.networkPolicies {
		if isDefaultDeny(np) {
			denies++
			for _, p := range m.pods() {
				if !selects(t, np, p.labels) {
					t.Errorf("default-deny %s does not select %s", np.Name, p.name)
				}
			}
		}
	}
	if denies != 1 {
		t.Errorf("%d default-deny NetworkPolicies, want 1", denies)
	}

	for _, p := range m.pods() {
		var allow []*networkingv1.NetworkPolicy
		for _, np := range m.networkPolicies {
			if !isDefaultDeny(np) && selects(t, np, p.labels) {
				allow = append(allow, np)
			}
		}
		if len(allow) == 0 {
			t.Errorf("%s: no NetworkPolicy besides the default deny selects it", p.name)
			continue
		}
		c := p.labels["app.kubernetes.io/component"]
		checkIngress(t, c, allow)
		checkEgress(t, c, allow)
	}
}

func checkIngress(t *testing.T, c string, allow []*networkingv1.NetworkPolicy) {
	var grpcFrom []string
	for _, np := range allow {
		for _, r := range np.Spec.Ingress {
			if len(r.Ports) == 0 {
				t.Errorf("%s: ingress rule of %s allows every port", c, np.Name)
			}
			for _, port := range r.Ports {
				if port.Port == nil {
					t.Errorf("%s: ingress rule of %s allows every port", c, np.Name)
					continue
				}
				switch port.Port.IntVal {
				case metricsPort:
					for _, from := range r.From {
						if from.NamespaceSelector == nil || from.IPBlock != nil {
							t.Errorf("%s: metrics ingress %+v is not limited to a namespace selector", c, from)
						}
					}
					if len(r.From) == 0 {
						t.Errorf("%s: metrics port open to everyone", c)
					}
				case ports[c]:
					if c == "gateway" {
						continue // public, configurable
					}
					if len(r.From) == 0 {
						t.Errorf("%s: gRPC port open to everyone", c)
					}
					for _, from := range r.From {
						name := componentOf(from)
						if name == "" {
							t.Errorf("%s: gRPC ingress from %+v, want release pods only", c, from)
							continue
						}
						grpcFrom = append(grpcFrom, name)
					}
				default:
					t.Errorf("%s: ingress allowed on unexpected port %v", c, port.Port)
				}
			}
		}
	}
	if want, ok := callers[c]; ok {
		sort.Strings(grpcFrom)
		grpcFrom = slices.Compact(grpcFrom)
		if !slices.Equal(grpcFrom, want) {
			t.Errorf("%s: gRPC ingress from %v, want exactly %v", c, grpcFrom, want)
		}
	} else if len(grpcFrom) > 0 && c != "gateway" {
		t.Errorf("%s: unexpected gRPC ingress from %v", c, grpcFrom)
	}
}

func checkEgress(t *testing.T, c string, allow []*networkingv1.NetworkPolicy) {
	var calls []string
	var dns, internet bool
	for _, np := range allow {
		for _, r := range np.Spec.Egress {
			if hasPort(r.Ports, 53) {
				dns = true
			}
			for _, to := range r.To {
				if to.IPBlock != nil && (to.IPBlock.CIDR == "0.0.0.0/0" || to.IPBlock.CIDR == "::/0") {
					internet = true
					if !slices.Contains(to.IPBlock.Except, "10.0.0.0/8") && to.IPBlock.CIDR == "0.0.0.0/0" {
						t.Errorf("%s: internet egress does not except private ranges", c)
					}
				}
				if name := componentOf(to); name != "" {
					if !hasPort(r.Ports, ports[name]) || len(r.Ports) != 1 {
						t.Errorf("%s: egress to %s on %v, want only %d", c, name, r.Ports, ports[name])
					}
					calls = append(calls, name)
				}
			}
			if len(r.To) == 0 {
				t.Errorf("%s: egress rule of %s allows every destination", c, np.Name)
			}
		}
	}
	if !dns {
		t.Errorf("%s: no DNS egress", c)
	}
	if internet != slices.Contains(internetEgress, c) {
		t.Errorf("%s: internet egress %v, want %v", c, internet, !internet)
	}
	var want []string
	for callee, from := range callers {
		if slices.Contains(from, c) {
			want = append(want, callee)
		}
	}
	sort.Strings(want)
	sort.Strings(calls)
	if !slices.Equal(slices.Compact(calls), want) {
		t.Errorf("%s: gRPC egress to %v, want %v", c, calls, want)
	}
}

func checkMigrationJob(t *testing.T, m *manifests) {
	if len(m.jobs) != 1 {
		t.Fatalf("%d Jobs, want the migration hook", len(m.jobs))
	}
	j := m.jobs[0]
	hooks := strings.Split(j.Annotations["helm.sh/hook"], ",")
	if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
		t.Errorf("migration Job hooks %q, want pre-install,pre-upgrade", hooks)
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever && j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("migration Job restartPolicy %q", j.Spec.Template.Spec.RestartPolicy)
	}
	var migrated []string
	for _, ctr := range j.Spec.Template.Spec.Containers {
		checkSecretEnv(t, "job/"+ctr.Name, ctr)
		env := envOf(ctr)
		if env["PYTHORIX_MIGRATE_ONLY"].Value != "1" {
			t.Errorf("job/%s: PYTHORIX_MIGRATE_ONLY is not 1", ctr.Name)
		}
		for _, n := range []string{"DATABASE_URL", "DATABASE_MIGRATION_URL"} {
			if env[n].ValueFrom == nil {
				t.Errorf("job/%s: no %s", ctr.Name, n)
			}
		}
		migrated = append(migrated, strings.TrimPrefix(ctr.Command[0], "/usr/local/bin/pythorix-"))
	}
	sort.Strings(migrated)
	want := slices.Sorted(slices.Values(services))
	if !slices.Equal(migrated, want) {
		t.Errorf("migration Job runs %v, want %v", migrated, want)
	}
	// The Job's ServiceAccount and NetworkPolicy must exist before it: hooks of a lower weight.
	for _, sa := range m.serviceAccounts {
		if sa.Name == j.Spec.Template.Spec.ServiceAccountName && sa.Annotations["helm.sh/hook"] == "" {
			t.Errorf("migration ServiceAccount %s is not a hook, so it does not exist at pre-install", sa.Name)
		}
	}
	for _, np := range m.networkPolicies {
		if !isDefaultDeny(np) && selects(t, np, j.Spec.Template.Labels) && np.Annotations["helm.sh/hook"] == "" {
			t.Errorf("migration NetworkPolicy %s is not a hook", np.Name)
		}
	}
}
