package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// Why a campaign command refused to act; callers branch on these with errors.Is.
var (
	errNoSuchWave       = errors.New("no such wave")
	errNoWaveWaiting    = errors.New("no wave is waiting for approval")
	errWaveStarted      = errors.New("the wave has started")
	errCampaignFinished = errors.New("the campaign has finished")
	errNotRetryable     = errors.New("the campaign cannot be retried")
)

// kubeOptions are the kubectl connection flags every campaign command takes.
type kubeOptions struct {
	kubeconfig string
	context    string
	namespace  string
}

func (o *kubeOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVarP(&o.namespace, "namespace", "n", "", `namespace of the campaign (default: the context's namespace, else "default")`)
}

// clientConfig resolves the kubeconfig the way kubectl does: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config; then --context and --namespace override what the file says.
func (o *kubeOptions) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	overrides.Context.Namespace = o.namespace
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// connect returns a client for the fleetwave kinds and the key of the named campaign.
func (o *kubeOptions) connect(name string) (client.WithWatch, client.ObjectKey, error) {
	loader := o.clientConfig()
	namespace, _, err := loader.Namespace()
	if err != nil {
		return nil, client.ObjectKey{}, fmt.Errorf("reading kubeconfig: %w", err)
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, client.ObjectKey{}, fmt.Errorf("reading kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		return nil, client.ObjectKey{}, err
	}
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		return nil, client.ObjectKey{}, err
	}
	c, err := client.NewWithWatch(rest.AddUserAgent(cfg, "fleetwave"), client.Options{Scheme: scheme})
	if err != nil {
		return nil, client.ObjectKey{}, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return c, client.ObjectKey{Namespace: namespace, Name: name}, nil
}

// campaignVerb is a command that changes one campaign and reports what it did in one line.
type campaignVerb struct {
	use, short, long string
	example          string // lines after the command name, one example each
	args             cobra.PositionalArgs
	// audited verbs record who ran them in status.interventions: they take --reason and learn the
	// user from the API server before they act.
	audited bool
	// flags registers the verb's own flags, if any.
	flags func(fs *pflag.FlagSet)
	act   func(ctx context.Context, c client.Client, key client.ObjectKey, args []string, who actor) (string, error)
}

func (v campaignVerb) command() *cobra.Command {
	var kube kubeOptions
	var reason string
	cmd := &cobra.Command{
		Use:     v.use,
		Short:   v.short,
		Long:    v.long,
		Example: examples(v.example),
		Args:    v.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := kube.connect(args[0])
			if err != nil {
				return err
			}
			who := actor{reason: reason, now: time.Now}
			if v.audited {
				if who.user, err = whoAmI(cmd.Context(), c); err != nil {
					return campaignError(cmd.Name(), key, err)
				}
			}
			line, err := v.act(cmd.Context(), c, key, args[1:], who)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), line)
			return err
		},
	}
	kube.register(cmd.Flags())
	if v.flags != nil {
		v.flags(cmd.Flags())
	}
	if v.audited {
		cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with your user name in status.interventions (at most 512 characters)")
	}
	return cmd
}

// auditNote is in the help of the verbs that record who ran them.
const auditNote = `

The change is recorded in status.interventions with your user name as the API server knows it
(asked with a SelfSubjectReview), the time, the wave and --reason. The admission policy that ships
in config/policy refuses a change of status.approvedWaves, acceptedWaves, abort or attempt that
comes without its entry, an entry naming someone else, and any change to the rest of status.`

// actor is who runs an audited verb, and why: what status.interventions records.
type actor struct {
	user   string
	reason string
	now    func() time.Time
}

// record appends the entry of an intervention to the campaign's status.
func (a actor) record(st *v1.UpdateCampaignStatus, action v1.InterventionAction, wave string) {
	st.Interventions = append(st.Interventions, v1.Intervention{
		Action: action, Wave: wave, User: a.user, Reason: a.reason,
		Time: metav1.NewTime(a.now().UTC().Truncate(time.Second)),
	})
}

// whoAmI asks the API server which user the kubeconfig's credentials authenticate as: the name the
// admission policy compares an intervention's user with.
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview): %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", errors.New("the API server's SelfSubjectReview names no user")
	}
	return review.Status.UserInfo.Username, nil
}

func newApproveCmd() *cobra.Command {
	return campaignVerb{
		use:   "approve CAMPAIGN [WAVE]",
		short: "Let a Manual wave start, or accept the result of a wave failures paused",
		long: `Approve does one of two things, written through the status subresource (updatecampaigns/status),
so the ClusterRole fleetwave-campaign-operator is enough:
  - approve a wave to start: add it to status.approvedWaves. A Manual wave starts only once
    approved. Approving never waives the failures of any wave, so approving ahead of time is safe.
  - accept the result of the current wave: add it to status.acceptedWaves. When the wave spent its
    failure budget or missed its success threshold under failurePolicy Pause, the rollout goes on
    as if it passed (the wave stays Failed); accepting the last wave completes the campaign.
    Accepted while the wave still runs, it takes effect when the wave finishes. Under failurePolicy
    Abort the campaign is Failed and only retry goes on.

Without WAVE, approve decides from the campaign's state:
  - the current wave (status.currentWave) has not started and its approval is Manual: approve it
    to start;
  - the campaign is Paused by failures (the Ready condition's reason is FailureBudgetExceeded or
    SuccessThresholdNotMet): accept the current wave's result;
  - anything else: nothing waits, and approve says what the campaign is doing.
With WAVE:
  - a wave that has not started: approve it to start, ahead of time if it is not current yet;
  - the current wave while failures pause the campaign: accept its result;
  - any other wave that has started: refused.

Approving is a read, then a merge patch that carries the resourceVersion it read: when someone else
changed the campaign in between, the patch is refused and approve reads again, so concurrent
approvals never overwrite each other.` + auditNote,
		example: "approve thermostat-fw-1.1.0 -n fleet\napprove thermostat-fw-1.1.0 half -n fleet --reason 'canary clean for 24h'",
		args:    cobra.RangeArgs(1, 2),
		audited: true,
		act: func(ctx context.Context, c client.Client, key client.ObjectKey, args []string, who actor) (string, error) {
			var wave string
			if len(args) > 0 {
				wave = args[0]
			}
			return approveWave(ctx, c, key, wave, who)
		},
	}.command()
}

func newAbortCmd() *cobra.Command {
	return campaignVerb{
		use:     "abort CAMPAIGN",
		example: "abort thermostat-fw-1.1.0 -n fleet",
		short:   "Stop a campaign: its remote campaigns are stopped and it ends Aborted",
		long: `Abort an UpdateCampaign by setting status.abort through the status subresource. The controller stops
the current wave's Update Service campaigns and the campaign ends Aborted. Devices that already
installed the update keep it. retry undoes an abort.` + auditNote,
		args:    cobra.ExactArgs(1),
		audited: true,
		act: func(ctx context.Context, c client.Client, key client.ObjectKey, _ []string, who actor) (string, error) {
			return abortCampaign(ctx, c, key, who)
		},
	}.command()
}

func newRetryCmd() *cobra.Command {
	return campaignVerb{
		use:     "retry CAMPAIGN",
		example: "retry thermostat-fw-1.1.0 -n fleet",
		short:   "Roll the current wave out again to its devices that did not succeed",
		long: `Retry an Aborted, Failed or Paused UpdateCampaign: status.attempt goes up by one and status.abort is
cleared, through the status subresource, and the controller rolls the current wave out again to its
devices that did not succeed. An acceptance of the current wave's result is withdrawn: if the retry
fails too, someone decides again. The change carries the resourceVersion it read, so two retries at
once raise the attempt twice rather than once.` + auditNote,
		args:    cobra.ExactArgs(1),
		audited: true,
		act: func(ctx context.Context, c client.Client, key client.ObjectKey, _ []string, who actor) (string, error) {
			return retryCampaign(ctx, c, key, who)
		},
	}.command()
}

// examples prefixes each example line with the name users run the plugin as, indented as cobra
// shows examples.
func examples(lines string) string {
	var b strings.Builder
	for i, line := range strings.Split(lines, "\n") {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("  " + commandName + " " + line)
	}
	return b.String()
}

// gitOpsNote is in the help of the two verbs that write the spec.
const gitOpsNote = `
This changes the spec, so it needs edit rights on updatecampaigns. Under GitOps (Argo CD, Flux) the
spec belongs to Git: set spec.paused in a commit instead, or the next sync puts back what Git says.`

func newPauseCmd() *cobra.Command {
	return campaignVerb{
		use:     "pause CAMPAIGN",
		example: "pause thermostat-fw-1.1.0 -n fleet",
		short:   "Hold a campaign: no new wave starts and no new devices are targeted",
		long:    "Pause an UpdateCampaign by setting spec.paused with a merge patch. Devices already updating finish.\n" + gitOpsNote,
		args:    cobra.ExactArgs(1),
		act: func(ctx context.Context, c client.Client, key client.ObjectKey, _ []string, _ actor) (string, error) {
			return setPaused(ctx, c, key, true)
		},
	}.command()
}

func newResumeCmd() *cobra.Command {
	return campaignVerb{
		use:     "resume CAMPAIGN",
		example: "resume thermostat-fw-1.1.0 -n fleet",
		short:   "Let a paused campaign go on",
		long:    "Resume an UpdateCampaign by removing spec.paused with a merge patch.\n" + gitOpsNote,
		args:    cobra.ExactArgs(1),
		act: func(ctx context.Context, c client.Client, key client.ObjectKey, _ []string, _ actor) (string, error) {
			return setPaused(ctx, c, key, false)
		},
	}.command()
}

// approveWave approves a wave to start or accepts the current wave's result, as decideApproval
// says for the named wave, or with wave "" for the campaign's state, and records who did it.
func approveWave(ctx context.Context, c client.Client, key client.ObjectKey, wave string, who actor) (string, error) {
	var decided approval
	var already bool
	uc, err := changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) error {
		var err error
		if decided, err = decideApproval(uc, wave); err != nil {
			return err
		}
		list := decided.list(&uc.Status)
		already = slices.Contains(*list, decided.wave)
		if !already {
			*list = append(*list, decided.wave)
			who.record(&uc.Status, decided.action(), decided.wave)
		}
		return nil
	})
	if err != nil {
		return "", campaignError("approve", key, err)
	}
	return decided.report(uc, key, already), nil
}

// approval is what approving means for one wave: letting it start, or accepting its result.
type approval struct {
	wave   string
	accept bool // accept the wave's result (status.acceptedWaves), else let it start (status.approvedWaves)
}

// action is the intervention the approval records.
func (a approval) action() v1.InterventionAction {
	if a.accept {
		return v1.InterventionAccept
	}
	return v1.InterventionApprove
}

// list is the status list the approval adds its wave to.
func (a approval) list(st *v1.UpdateCampaignStatus) *[]string {
	if a.accept {
		return &st.AcceptedWaves
	}
	return &st.ApprovedWaves
}

// report is the line approve prints once the campaign holds the approval.
func (a approval) report(uc *v1.UpdateCampaign, key client.ObjectKey, already bool) string {
	switch {
	case !a.accept && already:
		return fmt.Sprintf("%s of updatecampaign %s was already approved to start", wavePosition(uc, a.wave), key)
	case !a.accept:
		return fmt.Sprintf("approved %s of updatecampaign %s to start", wavePosition(uc, a.wave), key)
	case already:
		return fmt.Sprintf("the result of wave %q of updatecampaign %s was already accepted", a.wave, key)
	}
	var c v1.DeviceCounts
	goesOn := "the rollout goes on"
	if ws := waveStatus(uc, a.wave); ws != nil {
		c = ws.DeviceCounts
		if ws.FinishedAt == nil {
			goesOn += " when the wave's devices have finished"
		}
	}
	if uc.Spec.Paused {
		goesOn += " once resumed (spec.paused is true)"
	}
	return fmt.Sprintf("accepted the result of wave %q (%d of %d devices failed or timed out) of updatecampaign %s; %s",
		a.wave, c.Failed+c.TimedOut, c.Succeeded+c.Failed+c.TimedOut+c.Pending+c.Skipped, key, goesOn)
}

// decideApproval is the rule of `approve` (its help says the same to users): for a named wave, let it
// start if it has not, or accept its result if it is the current wave and failures pause the
// campaign; with wave "", the same for the current wave, when the campaign waits for either.
func decideApproval(uc *v1.UpdateCampaign, wave string) (approval, error) {
	if wave == "" {
		return waitingApproval(uc)
	}
	k := waveIndex(uc, wave)
	if k < 0 {
		return approval{}, fmt.Errorf("%w %q: the campaign's waves are %s", errNoSuchWave, wave, strings.Join(waveNames(uc), ", "))
	}
	current := int(uc.Status.CurrentWave)
	switch {
	case k >= current && !waveStarted(uc, wave):
		return approval{wave: wave}, nil
	case k == current && pausedByFailures(uc):
		return approval{wave: wave, accept: true}, nil
	}
	return approval{}, fmt.Errorf("%w: %s is %s and the campaign is %s; only a wave that has not started can be approved, "+
		"and only the current wave's result while its failures pause the campaign can be accepted",
		errWaveStarted, wavePosition(uc, wave), wavePhaseName(uc, wave), phaseName(uc))
}

// waitingApproval is what approve without a wave does: let the current wave start when it is Manual
// and waits, or accept its result when failures pause the campaign.
func waitingApproval(uc *v1.UpdateCampaign) (approval, error) {
	if uc.Status.Phase.IsFinal() {
		return approval{}, fmt.Errorf("%w: the campaign is %s", errNoWaveWaiting, uc.Status.Phase)
	}
	waves := uc.Spec.Waves
	current := int(uc.Status.CurrentWave)
	if current >= len(waves) {
		return approval{}, fmt.Errorf("%w: status.currentWave %d is past the last of %d waves", errNoWaveWaiting, current, len(waves))
	}
	wave := waves[current]
	switch {
	case wave.Approval == v1.ApprovalManual && !waveStarted(uc, wave.Name):
		return approval{wave: wave.Name}, nil
	case pausedByFailures(uc):
		return approval{wave: wave.Name, accept: true}, nil
	}
	doing := fmt.Sprintf("the campaign is %s at %s", phaseName(uc), wavePosition(uc, wave.Name))
	if ready := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionReady); ready != nil && ready.Message != "" {
		doing += ": " + ready.Message
	}
	return approval{}, fmt.Errorf("%w: %s; name a wave to approve it ahead of time", errNoWaveWaiting, doing)
}

// pausedByFailures reports whether the failure policy (Pause) holds the campaign: a spent failure
// budget, a class over its rule or a missed success threshold, which a person may accept.
func pausedByFailures(uc *v1.UpdateCampaign) bool {
	if uc.Status.Phase != v1.CampaignPaused {
		return false
	}
	ready := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionReady)
	return ready != nil && v1.IsFailurePolicyReason(ready.Reason)
}

// abortCampaign sets status.abort and records who did it.
func abortCampaign(ctx context.Context, c client.Client, key client.ObjectKey, who actor) (string, error) {
	var already bool
	_, err := changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) error {
		if uc.Status.Phase.IsFinal() {
			return fmt.Errorf("%w: it is %s", errCampaignFinished, uc.Status.Phase)
		}
		already = uc.Status.Abort
		if !already {
			uc.Status.Abort = true
			who.record(&uc.Status, v1.InterventionAbort, "")
		}
		return nil
	})
	if err != nil {
		return "", campaignError("abort", key, err)
	}
	if already {
		return fmt.Sprintf("abort of updatecampaign %s was already requested", key), nil
	}
	return fmt.Sprintf("requested abort of updatecampaign %s", key), nil
}

// retryCampaign raises status.attempt, clears status.abort and records who did it.
func retryCampaign(ctx context.Context, c client.Client, key client.ObjectKey, who actor) (string, error) {
	uc, err := changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) error {
		switch uc.Status.Phase {
		case v1.CampaignAborted, v1.CampaignFailed, v1.CampaignPaused:
		default:
			return fmt.Errorf("%w: only an Aborted, Failed or Paused campaign can be, and this one is %s", errNotRetryable, phaseName(uc))
		}
		uc.Status.Attempt++
		uc.Status.Abort = false
		// Trying the wave again withdraws an earlier acceptance of its result: should the retry fail
		// too, a person decides again.
		var current string
		if k := int(uc.Status.CurrentWave); k < len(uc.Spec.Waves) {
			current = uc.Spec.Waves[k].Name
			uc.Status.AcceptedWaves = slices.DeleteFunc(uc.Status.AcceptedWaves, func(name string) bool {
				return name == current
			})
		}
		who.record(&uc.Status, v1.InterventionRetry, current)
		return nil
	})
	if err != nil {
		return "", campaignError("retry", key, err)
	}
	return fmt.Sprintf("requested retry of updatecampaign %s (attempt %d)", key, uc.Status.Attempt), nil
}

// setPaused sets spec.paused, or removes it (false is its default), with a merge patch.
func setPaused(ctx context.Context, c client.Client, key client.ObjectKey, paused bool) (string, error) {
	verb, patch := "resume", `{"spec":{"paused":null}}`
	if paused {
		verb, patch = "pause", `{"spec":{"paused":true}}`
	}
	uc := &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.Patch(ctx, uc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return "", campaignError(verb, key, err)
	}
	return fmt.Sprintf("%sd updatecampaign %s (spec.paused=%t)", verb, key, uc.Spec.Paused), nil
}

// changeStatus reads the campaign, lets change edit its status, and writes the status back with a
// merge patch that carries the resourceVersion read. When the campaign changed in between, the
// API server refuses the patch with a conflict and the whole read-change-write runs again, so no
// concurrent change is lost. Nothing is written when change changed nothing.
func changeStatus(ctx context.Context, c client.Client, key client.ObjectKey, change func(*v1.UpdateCampaign) error) (*v1.UpdateCampaign, error) {
	var uc v1.UpdateCampaign
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, key, &uc); err != nil {
			return err
		}
		read := uc.DeepCopy()
		if err := change(&uc); err != nil {
			return err
		}
		if apiequality.Semantic.DeepEqual(read.Status, uc.Status) {
			return nil
		}
		return c.Status().Patch(ctx, &uc, client.MergeFromWithOptions(read, client.MergeFromWithOptimisticLock{}))
	})
	return &uc, err
}

// campaignError says which command failed on which campaign and why, in words, and keeps the API
// error underneath for errors.Is and the apierrors.Is... helpers.
func campaignError(verb string, key client.ObjectKey, err error) error {
	var cause string
	switch {
	case apierrors.IsNotFound(err):
		cause = "not found"
	case apierrors.IsForbidden(err):
		// The API server says who may not do what; drop its repetition of the object's name.
		_, why, found := strings.Cut(err.Error(), "is forbidden: ")
		if !found {
			why = err.Error()
		}
		cause = "forbidden: " + why
	case apierrors.IsConflict(err):
		cause = "conflict: the campaign kept changing while this command updated it; run it again"
	default:
		cause = err.Error()
	}
	return &commandError{verb: verb, key: key, cause: cause, err: err}
}

// commandError is a campaign command's failure: the verb, the campaign and the cause.
type commandError struct {
	verb  string
	key   client.ObjectKey
	cause string
	err   error
}

func (e *commandError) Error() string {
	return fmt.Sprintf("%s updatecampaign %s: %s", e.verb, e.key, e.cause)
}

func (e *commandError) Unwrap() error { return e.err }

// phaseName is the campaign's phase for a sentence.
func phaseName(uc *v1.UpdateCampaign) string {
	if uc.Status.Phase == "" {
		return "not reconciled yet"
	}
	return string(uc.Status.Phase)
}

// waveStarted reports whether the controller has started the named wave.
func waveStarted(uc *v1.UpdateCampaign, name string) bool {
	ws := waveStatus(uc, name)
	return ws != nil && ws.StartedAt != nil
}

// wavePosition names a wave of the spec with its place: wave "half" (3 of 4).
func wavePosition(uc *v1.UpdateCampaign, name string) string {
	return fmt.Sprintf("wave %q (%d of %d)", name, waveIndex(uc, name)+1, len(uc.Spec.Waves))
}

// wavePhaseName is the wave's phase for a sentence.
func wavePhaseName(uc *v1.UpdateCampaign, name string) string {
	if ws := waveStatus(uc, name); ws != nil && ws.Phase != "" {
		return string(ws.Phase)
	}
	return "done"
}

// waveIndex is the position of the named wave in the spec, or -1.
func waveIndex(uc *v1.UpdateCampaign, name string) int {
	return slices.IndexFunc(uc.Spec.Waves, func(w v1.Wave) bool { return w.Name == name })
}

func waveNames(uc *v1.UpdateCampaign) []string {
	names := make([]string, len(uc.Spec.Waves))
	for i, w := range uc.Spec.Waves {
		names[i] = w.Name
	}
	return names
}
