package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// simulator is `bin/fleetwave sim` running as a process on 127.0.0.1, and a client for its admin
// endpoint and its device directory.
type simulator struct {
	proc   *proc
	url    string // http://127.0.0.1:PORT
	apiKey string
	http   *http.Client
	svc    *pelion.Client
}

// errNotSupported says the simulator does not have an admin endpoint (yet).
var errNotSupported = errors.New("not supported by this simulator")

var simReady = regexp.MustCompile(`Update Service simulator on (http://127\.0\.0\.1:\d+)`)

// simConfig is what the simulator is started with.
type simConfig struct {
	bin, dir   string
	devices    int
	seed       int64
	trustKey   string
	profile    string // JSON
	domain     string
	model      string
	apiKeyFile string
	apiKey     string
}

func startSimulator(ctx context.Context, c simConfig) (*simulator, error) {
	profile := filepath.Join(c.dir, "profile.json")
	if err := os.WriteFile(profile, []byte(c.profile), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc(filepath.Join(c.dir, "sim.log"), nil, c.bin, "sim",
		"--listen", "127.0.0.1:0", "--api-key-file", c.apiKeyFile, "--devices", strconv.Itoa(c.devices),
		"--domain", c.domain, "--model", c.model, "--installed-version", "1.0.0", "--trust-key", c.trustKey,
		"--profile", profile, "--seed", strconv.FormatInt(c.seed, 10))
	if err != nil {
		return nil, err
	}
	m, err := p.waitForLine(ctx, simReady, 2*time.Minute)
	if err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	svc, err := pelion.New(m[1], c.apiKey)
	if err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return &simulator{proc: p, url: m[1], apiKey: c.apiKey, http: &http.Client{Timeout: 30 * time.Second}, svc: svc}, nil
}

// admin sends one request to the admin endpoint; out, when set, receives the JSON answer.
func (s *simulator) admin(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd) //nolint:gosec // the simulator on 127.0.0.1
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req) //nolint:gosec // the simulator on 127.0.0.1
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.Contains(string(data), "No such endpoint"),
		resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("%s %s: %w", method, path, errNotSupported)
	case resp.StatusCode >= 300:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	case out != nil:
		return json.Unmarshal(data, out)
	}
	return nil
}

// ledger reads the ledger; without targets it is small enough to poll.
func (s *simulator) ledger(ctx context.Context, targets bool) (*Ledger, error) {
	path := "/admin/ledger"
	if !targets {
		path += "?targets=false"
	}
	l := &Ledger{}
	return l, s.admin(ctx, http.MethodGet, path, nil, l)
}

// adminDevices is the body of POST /admin/devices.
type adminDevices struct {
	Count      int               `json:"count"`
	VendorID   string            `json:"vendor_id"`
	ClassID    string            `json:"class_id"`
	Version    string            `json:"version,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Offline    bool              `json:"offline,omitempty"`
}

func (s *simulator) addDevices(ctx context.Context, req adminDevices) ([]string, error) {
	var ids []string
	return ids, s.admin(ctx, http.MethodPost, "/admin/devices", req, &ids)
}

// removeDevice deregisters a device: it leaves the directory; its pending targets end deregistered.
func (s *simulator) removeDevice(ctx context.Context, id string) error {
	return s.admin(ctx, http.MethodDelete, "/admin/devices/"+url.PathEscape(id), nil, nil)
}

// patchAttributes merges attributes into a device's (an empty value removes the key).
func (s *simulator) patchAttributes(ctx context.Context, id string, attrs map[string]string) error {
	return s.admin(ctx, http.MethodPatch, "/admin/devices/"+url.PathEscape(id), map[string]any{"attributes": attrs}, nil)
}

// setFaults replaces the injected faults.
func (s *simulator) setFaults(ctx context.Context, faults []fault) error {
	return s.admin(ctx, http.MethodPut, "/admin/faults", faults, nil)
}

// listFleet lists the devices a filter selects, through the Update Service API as the operator does.
func (s *simulator) listFleet(ctx context.Context, filter pelion.Filter) ([]pelion.Device, error) {
	var out []pelion.Device
	for d, err := range pelion.All(ctx, pelion.ListOptions{Limit: pelion.MaxPageSize, Filter: filter}, s.svc.ListDevices) {
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
