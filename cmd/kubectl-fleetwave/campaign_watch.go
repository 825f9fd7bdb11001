package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// campaignView shows each version of a campaign that status reads.
type campaignView interface {
	show(uc *v1.UpdateCampaign) error
	// ticks delivers the time whenever time alone changes what the view shows (a soak counting
	// down); nil for a view that time does not change.
	ticks() <-chan time.Time
	// refresh shows the last version again as of now.
	refresh(now time.Time) error
}

// newCampaignView picks how status shows a campaign:
//   - -o json or yaml: every version as the object, for scripts;
//   - -w on a terminal: the live view, redrawn in place, colour unless NO_COLOR;
//   - -w elsewhere (CI, a log, a pipe): a compact line per change;
//   - without -w: the table view, once.
func newCampaignView(format string, watching bool, out io.Writer) (campaignView, error) {
	switch format {
	case "json":
		return jsonPrinter(out), nil
	case "yaml":
		return yamlPrinter(out), nil
	case "":
	default:
		return nil, fmt.Errorf("-o %q: want json or yaml, or no -o for the table view", format)
	}
	if !watching {
		return printView(func(uc *v1.UpdateCampaign) error {
			_, err := io.WriteString(out, renderCampaign(uc, time.Now()))
			return err
		}), nil
	}
	if tty, ok := terminalOf(out); ok {
		return newLiveView(tty, colorWanted()), nil
	}
	return &lineView{out: out}, nil
}

// printView is a view that prints each version once and that time does not change.
type printView func(uc *v1.UpdateCampaign) error

func (p printView) show(uc *v1.UpdateCampaign) error { return p(uc) }
func (printView) ticks() <-chan time.Time            { return nil }
func (printView) refresh(time.Time) error            { return nil }

func jsonPrinter(out io.Writer) printView {
	return func(uc *v1.UpdateCampaign) error {
		data, err := json.MarshalIndent(forOutput(uc), "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", data)
		return err
	}
}

// yamlPrinter separates versions with "---", so a watch prints a YAML stream.
func yamlPrinter(out io.Writer) printView {
	printed := false
	return func(uc *v1.UpdateCampaign) error {
		data, err := yaml.Marshal(forOutput(uc))
		if err != nil {
			return err
		}
		if printed {
			data = append([]byte("---\n"), data...)
		}
		printed = true
		_, err = out.Write(data)
		return err
	}
}

// forOutput is the campaign as kubectl prints it: with its kind, without managedFields.
func forOutput(uc *v1.UpdateCampaign) *v1.UpdateCampaign {
	out := uc.DeepCopy()
	out.APIVersion = v1.GroupVersion.String()
	out.Kind = "UpdateCampaign"
	out.ManagedFields = nil
	return out
}

// lineView prints the column names, then a compact line for each version that differs from the last
// in what the line shows, as `kubectl get -w` does.
type lineView struct {
	out     io.Writer
	lastKey string
	printed bool
}

func (v *lineView) show(uc *v1.UpdateCampaign) error {
	line, key := compactLine(uc, time.Now())
	if v.printed && key == v.lastKey {
		return nil
	}
	text := line + "\n"
	if !v.printed {
		text = compactHeader(uc) + "\n" + text
	}
	v.printed, v.lastKey = true, key
	_, err := io.WriteString(v.out, text)
	return err
}

func (*lineView) ticks() <-chan time.Time { return nil }
func (*lineView) refresh(time.Time) error { return nil }

// liveRefresh is how often the live view redraws with nothing new from the API server: countdowns
// and ages move on the second, and a resized terminal is drawn for its new size.
const liveRefresh = time.Second

// liveView is the live view of `status -w` on a terminal.
type liveView struct {
	tty    *os.File
	color  bool
	screen screen
	last   *v1.UpdateCampaign
	ticker *time.Ticker
}

func newLiveView(tty *os.File, color bool) *liveView {
	return &liveView{tty: tty, color: color, screen: screen{out: tty}, ticker: time.NewTicker(liveRefresh)}
}

func (v *liveView) show(uc *v1.UpdateCampaign) error {
	v.last = uc
	return v.refresh(time.Now())
}

func (v *liveView) ticks() <-chan time.Time { return v.ticker.C }

func (v *liveView) refresh(now time.Time) error {
	if v.last == nil {
		return nil
	}
	size := sizeOf(v.tty)
	return v.screen.draw(renderLive(v.last, now, liveLayout{width: size.width, height: size.height, color: v.color}), size)
}
