package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
)

// lastApplied is what `kubectl apply` leaves on a Secret: its data, in an annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// startScopedOperator runs the reconcilers as the operator does, with the cache and client options
// of controllers.CacheOptions (watching signing key Secrets as o says) and controllers.ClientOptions,
// as the user of cfg, until the test ends. It returns the manager and the operator's logs.
func startScopedOperator(t *testing.T, cfg *rest.Config, namespaces []string, o controllers.Options) (ctrl.Manager, *logBuffer) {
	t.Helper()
	if o.Service == nil {
		o.Service = staticService{service.client}
	}
	o.Clock, o.PollInterval, o.DevicesPerRemoteCampaign = clock.RealClock{}, 200*time.Millisecond, 10
	logs := &logBuffer{}
	mgr, err := ctrl.NewManager(cfg, managerOptions(logs, namespaces, o.WatchSigningKeySecrets))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, o); err != nil {
		t.Fatal(err)
	}
	op := &operator{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { op.done <- mgr.Start(ctx) }()
	t.Cleanup(op.stop)
	syncCtx, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatalf("the cache did not sync; the operator's logs:\n%s", logs.tail(8<<10))
	}
	return mgr, logs
}

// labelled marks a Secret or ConfigMap for the operator's watch, with what a `kubectl apply` of it
// leaves in its annotations.
func labelled[T client.Object](obj T, label string) T {
	obj.SetLabels(map[string]string{label: "true"})
	obj.SetAnnotations(map[string]string{lastApplied: `{"apiVersion":"v1","data":{"tls.key":"c2VjcmV0"}}`})
	return obj
}

// cachedNames lists the names of the objects of kind (Secret or ConfigMap) in ns that the manager's
// cache holds, through the metadata informer its watches use.
func cachedNames(t *testing.T, mgr ctrl.Manager, ns, kind string) []string {
	t.Helper()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind + "List"))
	if err := mgr.GetCache().List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, item := range list.Items {
		names = append(names, item.Name)
	}
	slices.Sort(names)
	return names
}

func TestUnlabelledSecretsStayOutOfTheCache(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 70) // neither Secret nor ConfigMap labelled: read directly
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "plain-key")
	create(t, cm, img, tlsSecret(ns, "plain-key", ecKeyPEM, ecCertPEM),
		labelled(tlsSecret(ns, "watched-key", ecKeyPEM, ecCertPEM), controllers.SigningKeyLabel),
		labelled(firmwareConfigMap(ns, "watched-fw", firmware(100, 1)), controllers.FirmwareImageLabel), mf)
	mgr, _ := startScopedOperator(t, env.Config, []string{ns}, controllers.Options{WatchSigningKeySecrets: true})

	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkManifestStatus(t, mf, img, ecKey.Public())
	if got := cachedNames(t, mgr, ns, "Secret"); !slices.Equal(got, []string{"watched-key"}) {
		t.Errorf("the cache holds Secrets %q, want only the labelled watched-key", got)
	}
	if got := cachedNames(t, mgr, ns, "ConfigMap"); !slices.Equal(got, []string{"watched-fw"}) {
		t.Errorf("the cache holds ConfigMaps %q, want only the labelled watched-fw", got)
	}
	// Even an informer on whole Secrets, should anything start one, sees labelled ones only.
	var secrets corev1.SecretList
	if err := mgr.GetCache().List(context.Background(), &secrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if s.Name != "watched-key" || len(s.Data) != 0 {
			t.Errorf("the cache holds Secret %s with %d data entries", s.Name, len(s.Data))
		}
	}
	// The manager's client reads Secrets from the API server, whatever the cache holds.
	var plain corev1.Secret
	if err := mgr.GetClient().Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "plain-key"}, &plain); err != nil {
		t.Fatalf("reading an unlabelled Secret through the manager's client: %v", err)
	}
	if len(plain.Data[corev1.TLSPrivateKeyKey]) == 0 {
		t.Error("the manager's client read an unlabelled Secret without its data: it came from a cache")
	}
}

func TestCachedObjectsCarryNoAnnotationsOrManagedFields(t *testing.T) {
	ns := newNamespace(t)
	data := firmware(2000, 2)
	cm := labelled(firmwareConfigMap(ns, "fw-bin", data), controllers.FirmwareImageLabel)
	key := labelled(tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), controllers.SigningKeyLabel)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	img.Annotations = map[string]string{"example.com/owner": "team-a", lastApplied: `{"kind":"FirmwareImage"}`}
	create(t, cm, key, img)
	mgr, _ := startScopedOperator(t, env.Config, []string{ns}, controllers.Options{WatchSigningKeySecrets: true})
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)

	// What the API server holds has both, so the checks below can fail.
	if len(img.ManagedFields) == 0 || img.Annotations[lastApplied] == "" || img.Annotations["example.com/owner"] != "team-a" {
		t.Fatalf("the live FirmwareImage lost what the test set or the server keeps: annotations %v, %d managed fields",
			img.Annotations, len(img.ManagedFields))
	}
	for _, obj := range []client.Object{key, cm} {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		if len(obj.GetManagedFields()) == 0 || obj.GetAnnotations()[lastApplied] == "" {
			t.Fatalf("the live %T has no managed fields or annotations to strip", obj)
		}
		gvk, err := mgr.GetClient().GroupVersionKindFor(obj)
		if err != nil {
			t.Fatal(err)
		}
		cached := &metav1.PartialObjectMetadata{}
		cached.SetGroupVersionKind(gvk)
		if err := mgr.GetCache().Get(context.Background(), client.ObjectKeyFromObject(obj), cached); err != nil {
			t.Fatalf("%s %s is not in the cache: %v", gvk.Kind, obj.GetName(), err)
		}
		if cached.Annotations != nil || cached.ManagedFields != nil {
			t.Errorf("cached %s metadata carries annotations %v and %d managed fields", gvk.Kind, cached.Annotations, len(cached.ManagedFields))
		}
	}
	var cachedImg v1.FirmwareImage
	if err := mgr.GetCache().Get(context.Background(), client.ObjectKeyFromObject(img), &cachedImg); err != nil {
		t.Fatal(err)
	}
	if cachedImg.ManagedFields != nil {
		t.Errorf("the cached FirmwareImage carries %d managed fields", len(cachedImg.ManagedFields))
	}
	// A FirmwareImage keeps its annotations in the cache: the finalizer is added with an Update of
	// the cached object, which would otherwise delete them from the API server.
	if cachedImg.Annotations["example.com/owner"] != "team-a" {
		t.Errorf("the cached FirmwareImage lost its annotations: %v", cachedImg.Annotations)
	}
}

// keyWaiting waits until mf waits for its signing key: in progress, not stalled, as kstatus sees it.
func keyWaiting(t *testing.T, mf *v1.Manifest) {
	t.Helper()
	waitCondition(t, mf, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonKeyNotFound)
	waitCondition(t, mf, v1.ConditionSigningKeyReady, metav1.ConditionFalse, v1.ReasonKeyNotFound)
	if got := kstatusOf(t, mf); got != status.InProgressStatus {
		t.Errorf("kstatus %s while the key Secret is missing, want InProgress", got)
	}
}

// initSecret is the Secret `fleetwave init` writes, as a user would apply it.
func initSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command(fleetwaveCLI, "init", "--domain", vendorDomain, "--model", modelName,
		"--out", dir, "--namespace", ns, "--secret-name", name).CombinedOutput()
	if err != nil {
		t.Fatalf("fleetwave init: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "update-signing-key.secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := yaml.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestLabelledSigningKeyCreatedLaterWakesTheManifest(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 71)
	watched := pelionManifest(ns, "fw-watched", "fw", "init-key")
	unwatched := pelionManifest(ns, "fw-unwatched", "fw", "plain-key")
	create(t, cm, img, watched, unwatched)
	// Looking again only after 10 minutes: within the test, only the watch can wake a Manifest.
	startScopedOperator(t, env.Config, []string{ns}, controllers.Options{MissingRetry: 10 * time.Minute, WatchSigningKeySecrets: true})
	keyWaiting(t, watched)
	keyWaiting(t, unwatched)

	create(t, tlsSecret(ns, "plain-key", ecKeyPEM, ecCertPEM))
	key := initSecret(t, ns, "init-key")
	if key.Labels[controllers.SigningKeyLabel] != "true" {
		t.Fatalf("fleetwave init writes a Secret labelled %v, want %s=true", key.Labels, controllers.SigningKeyLabel)
	}
	create(t, key)
	waitCondition(t, watched, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)

	// The unlabelled Secret came first; had the watch seen it, the one worker would have signed
	// with it before it got to the labelled one.
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(unwatched), unwatched); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(unwatched.Status.Conditions, v1.ConditionReady); c == nil || c.Reason != v1.ReasonKeyNotFound {
		t.Errorf("the Manifest of the unlabelled Secret moved on without a requeue: Ready %+v", c)
	}
}

func TestUnlabelledSigningKeyIsFoundByRequeue(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 72)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "plain-key")
	create(t, cm, img, mf)
	startScopedOperator(t, env.Config, []string{ns}, controllers.Options{MissingRetry: 500 * time.Millisecond, WatchSigningKeySecrets: true})
	keyWaiting(t, mf)
	generation := mf.Generation

	create(t, tlsSecret(ns, "plain-key", ecKeyPEM, ecCertPEM))
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	waitCondition(t, mf, v1.ConditionSigningKeyReady, metav1.ConditionTrue, v1.ReasonKeyReady)
	if mf.Generation != generation {
		t.Errorf("the Manifest changed generation %d → %d", generation, mf.Generation)
	}
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkManifestStatus(t, mf, img, ecKey.Public())
}

// generatedRole is the ClusterRole generated from the +kubebuilder:rbac markers, config/rbac/role.yaml.
func generatedRole(t *testing.T) rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.RepoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generated rbacv1.ClusterRole
	if err := yaml.Unmarshal(data, &generated); err != nil || len(generated.Rules) == 0 {
		t.Fatalf("reading the generated ClusterRole: %v (%d rules)", err, len(generated.Rules))
	}
	return generated
}

// namespacedRole is the Role config/namespaced gives the operator in each watched namespace: the
// generated ClusterRole's rules plus list and watch on Secrets.
func namespacedRole(t *testing.T) rbacv1.Role {
	t.Helper()
	objs, err := env.Kustomize("config/namespaced")
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if obj.GetKind() == "Role" && obj.GetName() == "fleetwave-manager-role" {
			var role rbacv1.Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
				t.Fatal(err)
			}
			return role
		}
	}
	t.Fatal("config/namespaced makes no Role fleetwave-manager-role")
	return rbacv1.Role{}
}

// namespacedUser is a user with the rights config/namespaced gives the operator: its Role
// fleetwave-manager-role in each watched namespace, and get on the API key Secret by name.
func namespacedUser(t *testing.T, watched []string, apiKey client.ObjectKey) *rest.Config {
	t.Helper()
	generated := namespacedRole(t)
	name := "fleetwave-" + watched[0]
	user, err := env.AddUser(name)
	if err != nil {
		t.Fatal(err)
	}
	grant := func(ns string, rules []rbacv1.PolicyRule) {
		om := metav1.ObjectMeta{Namespace: ns, Name: name}
		create(t, &rbacv1.Role{ObjectMeta: om, Rules: rules}, &rbacv1.RoleBinding{ObjectMeta: om,
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}}})
	}
	for _, ns := range watched {
		grant(ns, generated.Rules)
	}
	grant(apiKey.Namespace, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
		ResourceNames: []string{apiKey.Name}, Verbs: []string{"get"}}})
	return user.Config()
}

func TestNamespacedOperatorSeesOnlyItsNamespaces(t *testing.T) {
	system, watched, other := newNamespace(t), newNamespace(t), newNamespace(t)
	apiKey := client.ObjectKey{Namespace: system, Name: "fleetwave-api-key"}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: apiKey.Namespace, Name: apiKey.Name},
		Data: map[string][]byte{"api-key": []byte(testAPIKey)}})
	var mfs []*v1.Manifest
	var imgs []*v1.FirmwareImage
	for i, ns := range []string{watched, other} {
		cm, img := readyImageObjects(ns, byte(73+i))
		mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
		create(t, cm, img, labelled(tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), controllers.SigningKeyLabel), mf)
		mfs, imgs = append(mfs, mf), append(imgs, img)
	}
	cfg := namespacedUser(t, []string{watched}, apiKey)
	userClient, err := client.New(cfg, client.Options{Scheme: env.Scheme}) // uncached, as the APIReader
	if err != nil {
		t.Fatal(err)
	}
	connector := &controllers.APIKeyConnector{Reader: userClient, Secret: apiKey, SecretKey: "api-key",
		URL: service.url, RefreshInterval: time.Minute, Clock: clock.RealClock{}}
	mgr, _ := startScopedOperator(t, cfg, []string{watched}, controllers.Options{Service: connector, WatchSigningKeySecrets: true})

	waitCondition(t, mfs[0], v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	var cached v1.FirmwareImageList
	if err := mgr.GetCache().List(context.Background(), &cached); err != nil {
		t.Fatal(err)
	}
	if len(cached.Items) != 1 || cached.Items[0].Namespace != watched {
		t.Errorf("the cache holds %d FirmwareImages, want the one in %s", len(cached.Items), watched)
	}
	for _, obj := range []client.Object{imgs[1], mfs[1]} {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		if len(obj.GetFinalizers()) != 0 || len(*obj.(interface{ StatusConditions() *[]metav1.Condition }).StatusConditions()) != 0 {
			t.Errorf("the operator touched %T %s/%s outside its namespaces", obj, obj.GetNamespace(), obj.GetName())
		}
	}
	// The rights it runs with reach no further either.
	var secret corev1.Secret
	if err := userClient.Get(context.Background(), client.ObjectKey{Namespace: other, Name: "signing-key"}, &secret); !apierrors.IsForbidden(err) {
		t.Errorf("reading a Secret in an unwatched namespace: %v, want Forbidden", err)
	}
}

// secretListings records the requests that list or watch Secrets (GETs of a Secret collection, as
// opposed to GETs of one Secret by name) made through a rest.Config.
type secretListings struct {
	mu   sync.Mutex
	urls []string
}

func (l *secretListings) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/secrets") {
				l.mu.Lock()
				l.urls = append(l.urls, r.URL.String())
				l.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

func (l *secretListings) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.urls)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestClusterWideOperatorFindsKeysWithoutWatchingSecrets runs the operator as config/default does:
// under the generated ClusterRole alone, bound cluster-wide, which grants get and nothing else on
// Secrets, and without the Secret watch. A key Secret created after the Manifest, labelled even, is
// found by looking again, and nothing lists or watches Secrets.
func TestClusterWideOperatorFindsKeysWithoutWatchingSecrets(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 75)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	create(t, cm, img, mf)

	generated := generatedRole(t)
	name := "fleetwave-cluster-" + ns
	user, err := env.AddUser(name)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: generated.Rules}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}}}
	create(t, role, binding)
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), binding)
		_ = env.Client.Delete(context.Background(), role)
	})
	userClient, err := client.New(user.Config(), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the generated ClusterRole lets the user get Secrets but not list them", func() (bool, string) {
		getErr := userClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "none"}, &corev1.Secret{})
		listErr := userClient.List(context.Background(), &corev1.SecretList{}, client.InNamespace(ns))
		return apierrors.IsNotFound(getErr) && apierrors.IsForbidden(listErr), fmt.Sprintf("get: %v; list: %v", getErr, listErr)
	})

	listings := &secretListings{}
	_, logs := startScopedOperator(t, listings.wrap(user.Config()), []string{ns},
		controllers.Options{MissingRetry: 500 * time.Millisecond})
	keyWaiting(t, mf)
	create(t, labelled(tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), controllers.SigningKeyLabel))
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkManifestStatus(t, mf, img, ecKey.Public())

	// An informer on Secrets, of the cache or of a watch, would list and watch them; the recording
	// sees a list, forbidden or not.
	probe := &secretListings{}
	probeClient, err := client.New(probe.wrap(user.Config()), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	_ = probeClient.List(context.Background(), &corev1.SecretList{}, client.InNamespace(ns))
	if len(probe.seen()) != 1 {
		t.Fatalf("the recording of Secret listings saw %q of one list", probe.seen())
	}
	if seen := listings.seen(); len(seen) != 0 {
		t.Errorf("the operator listed or watched Secrets (an informer on them): %q", seen)
	}
	if strings.Contains(strings.ToLower(logs.String()), "forbidden") {
		t.Errorf("the operator was refused something under the generated ClusterRole:\n%s", logs.tail(8<<10))
	}
}
