package main

import (
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// attention is why a campaign waits for a person, and the command that person would type: what the
// live view shows under the current wave and the compact lines end with. The zero value means the
// campaign needs nobody.
type attention struct {
	state   string // "paused"
	reason  string // "failure budget exceeded", or ""
	command string // "kubectl fleetwave approve NAME", or "" when no command helps
	hint    string // what the command does, when the command alone does not say
}

func (a attention) needed() bool { return a.state != "" || a.command != "" }

// why is the state with its reason.
func (a attention) why() string { return joinNonEmpty(", ", a.state, a.reason) }

// text is the attention in one line.
func (a attention) text() string {
	if !a.needed() {
		return ""
	}
	return joinNonEmpty(": ", a.why(), joinNonEmpty(" ", a.command, a.hint))
}

// shorter is the attention with its least needed part left out: the hint, then the reason, then
// the state, which the view says elsewhere too. The command stays: it is what a person came to read.
func (a attention) shorter() (attention, bool) {
	switch {
	case a.hint != "":
		a.hint = ""
	case a.reason != "":
		a.reason = ""
	case a.state != "" && a.command != "":
		a.state = ""
	default:
		return a, false
	}
	return a, true
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// attentionFor says what a person can do about the campaign now. It follows what `approve` without
// a wave does (waitingApproval), so the command shown is the one that works.
func attentionFor(uc *v1.UpdateCampaign) attention {
	cmd := func(verb string) string { return campaignCommand(verb, uc) }
	switch uc.Status.Phase {
	case v1.CampaignWaitingForApproval:
		return attention{state: "waiting for approval", command: cmd("approve")}
	case v1.CampaignPaused:
		return pausedAttention(uc, cmd)
	case v1.CampaignFailed:
		return attention{state: "failed", reason: reasonWords(uc), command: cmd("retry"), hint: "(sends the wave again)"}
	case v1.CampaignAborted:
		return attention{state: "aborted", command: cmd("retry"), hint: "(sends the wave again)"}
	}
	return attention{}
}

func pausedAttention(uc *v1.UpdateCampaign, cmd func(string) string) attention {
	switch {
	case uc.Spec.Paused:
		return attention{state: "paused", reason: "spec.paused", command: cmd("resume")}
	case pausedByFailures(uc):
		return attention{state: "paused", reason: reasonWords(uc), command: cmd("approve"),
			hint: "(accepts the result; or retry, abort)"}
	}
	return attention{state: "paused", reason: reasonWords(uc)}
}

// campaignCommand is the kubectl fleetwave command line of verb for the campaign; -n is left out
// for the default namespace.
func campaignCommand(verb string, uc *v1.UpdateCampaign) string {
	parts := []string{"kubectl fleetwave", verb, uc.Name}
	if uc.Namespace != "" && uc.Namespace != "default" {
		parts = append(parts, "-n", uc.Namespace)
	}
	return strings.Join(parts, " ")
}

// reasonWords is the Ready condition's reason (else Stalled's) in lower-case words:
// "FailureBudgetExceeded" reads "failure budget exceeded".
func reasonWords(uc *v1.UpdateCampaign) string {
	for _, t := range []string{v1.ConditionReady, v1.ConditionStalled} {
		if c := meta.FindStatusCondition(uc.Status.Conditions, t); c != nil && c.Reason != "" {
			return camelToWords(printable(c.Reason))
		}
	}
	return "no reason given"
}

func camelToWords(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte(' ')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
