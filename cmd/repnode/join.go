package main

// --join: a new site joins a running group. At its first start (an
// empty --dir) it asks a member, followed to the master, to add it
// (POST /v1/admin/members, with the admin token of --join-token-file),
// and keeps the master it was added by in --dir (join.json) as the
// contact it first follows. It then starts as a joining site
// (site.Config.Join): not counted, it takes the membership from the
// master, catches up (from the log, or by internal init) and is
// promoted by the master. A restart uses the membership stored in its
// log and the contact in join.json, and asks nobody.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"logship/cmd/internal/api"
)

// joinFile is where a joined site keeps the master that added it.
const joinFile = "join.json"

// joinContact is join.json: the master that added this site.
type joinContact struct {
	Master     uint64 `json:"master"`
	MasterAddr string `json:"master_addr"`
	MasterHTTP string `json:"master_http,omitempty"`
	// Members are the replication addresses of the members the master's
	// answer named, the master's included: the joining site dials them
	// all, since a membership record may lack the address of a founding
	// site (its own, which a founding site's configuration does not name).
	Members map[uint64]string `json:"members,omitempty"`
}

// errJoinRefused is a refusal that asking again will not change.
var errJoinRefused = errors.New("join refused")

// joinGroup returns cfg with the contact as its only peer (the site's
// configured sites), after asking the group to add this site at a first
// start. It waits, retrying, until the group answers or ctx ends.
func joinGroup(ctx context.Context, cfg Config, log *slog.Logger) (Config, error) {
	path := filepath.Join(cfg.Dir, joinFile)
	var c joinContact
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &c); err != nil || c.Master == 0 || c.MasterAddr == "" {
			return cfg, fmt.Errorf("--join: %s is damaged (%v): the site joined before; remove it only with the whole --dir", path, err)
		}
		log.Info("join: restart of a joined site: using the membership stored in its log; --join is not asked", "contact", c.Master, "contact_addr", c.MasterAddr)
	case errors.Is(err, fs.ErrNotExist):
		if ents, err := os.ReadDir(cfg.Dir); err == nil && len(ents) > 0 {
			return cfg, UsageError{Err: fmt.Errorf("--join: --dir %s holds data but this site never joined with --join: a joining site starts from an empty directory (a founding site restarts with --peers)", cfg.Dir)}
		}
		if c, err = askToJoin(ctx, cfg, log); err != nil {
			return cfg, err
		}
		if err := writeJoinFile(cfg.Dir, c); err != nil {
			return cfg, err
		}
	default:
		return cfg, fmt.Errorf("--join: %w", err)
	}
	cfg.Peers = Peers{c.Master: c.MasterAddr}
	for id, addr := range c.Members {
		if id != cfg.ID && addr != "" {
			cfg.Peers[id] = addr
		}
	}
	if cfg.Client && cfg.MasterID == 0 {
		cfg.MasterID = c.Master
	}
	return cfg, nil
}

func writeJoinFile(dir string, c joinContact) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--join: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := filepath.Join(dir, joinFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("--join: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, joinFile)); err != nil {
		return fmt.Errorf("--join: %w", err)
	}
	return nil
}

// joiner asks the group's members over HTTP.
type joiner struct {
	cfg    Config
	client *http.Client
	scheme string
	token  string
	log    *slog.Logger
}

// askToJoin asks each --join address in turn, and again after a pause,
// until the master added this site or refused it for good.
func askToJoin(ctx context.Context, cfg Config, log *slog.Logger) (joinContact, error) {
	j := &joiner{cfg: cfg, log: log, scheme: "http", client: &http.Client{Timeout: memberChangeTimeout + 10*time.Second}}
	if cfg.JoinTokenFile != "" {
		b, err := os.ReadFile(cfg.JoinTokenFile)
		if err != nil {
			return joinContact{}, UsageError{Err: fmt.Errorf("--join-token-file: %w", err)}
		}
		j.token = strings.TrimSpace(string(b))
	}
	if cfg.JoinCA != "" {
		pool, err := readPool("--join-ca", cfg.JoinCA)
		if err != nil {
			return joinContact{}, UsageError{Err: err}
		}
		j.scheme = "https"
		j.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	voting := !cfg.JoinNonVoting
	req := api.MemberRequest{ID: cfg.ID, Addr: cfg.Listen, HTTP: cfg.AdvertisedHTTP(), RESP: cfg.AdvertisedRESP(), Voting: &voting}
	wait := 500 * time.Millisecond
	for {
		for _, addr := range cfg.JoinAddrs() {
			c, err := j.ask(ctx, addr, req)
			if err == nil {
				log.Info("join: added to the group by the master; joining", "master", c.Master, "master_addr", c.MasterAddr, "voting_once_caught_up", voting)
				return c, nil
			}
			if errors.Is(err, errJoinRefused) {
				return joinContact{}, fmt.Errorf("--join: %w", err)
			}
			log.Warn("join: not added yet; will ask again", "asked", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return joinContact{}, fmt.Errorf("--join: stopped before the group added this site: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// ask asks addr, and the master it names, to add this site.
func (j *joiner) ask(ctx context.Context, addr string, req api.MemberRequest) (joinContact, error) {
	var res api.MemberChange
	code, eb, err := j.do(ctx, http.MethodPost, addr, "/v1/admin/members", req, &res)
	if err == nil && code == http.StatusServiceUnavailable && eb.MasterHTTP != "" && eb.MasterHTTP != addr {
		addr = eb.MasterHTTP
		code, eb, err = j.do(ctx, http.MethodPost, addr, "/v1/admin/members", req, &res)
	}
	switch {
	case err != nil:
		return joinContact{}, err
	case code == http.StatusOK:
		return contactOf(res.Members, addr)
	case code == http.StatusConflict && strings.Contains(eb.Error, "already a member"):
		// Added before (an answer lost, a crash before join.json): fine if
		// it names this site at this address.
		var m api.Members
		if code, _, err := j.do(ctx, http.MethodGet, addr, "/v1/members", nil, &m); err != nil || code != http.StatusOK {
			return joinContact{}, fmt.Errorf("site %d is a member already; reading the members at %s: %d %v", req.ID, addr, code, err)
		}
		for _, row := range m.Members {
			if row.ID == req.ID && row.Addr != req.Addr {
				return joinContact{}, fmt.Errorf("%w: site %d is already a member at %s, not at --listen %s: pick another --id", errJoinRefused, req.ID, row.Addr, req.Addr)
			}
		}
		return contactOf(m, addr)
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return joinContact{}, fmt.Errorf("%w: %s answered %d: %s (--join-token-file must hold an admin token of the group's --auth-tokens)", errJoinRefused, addr, code, eb.Error)
	case code == http.StatusBadRequest, code == http.StatusConflict, code == http.StatusNotFound:
		return joinContact{}, fmt.Errorf("%w: %s answered %d: %s", errJoinRefused, addr, code, eb.Error)
	}
	return joinContact{}, fmt.Errorf("%s answered %d: %s", addr, code, eb.Error)
}

// contactOf is the master of m (asked at addr) and its replication
// address.
func contactOf(m api.Members, addr string) (joinContact, error) {
	for _, row := range m.Members {
		if row.ID == m.Master && m.Master != 0 && row.Addr != "" {
			http := row.HTTPAddr
			if row.ID == m.ID {
				http = addr
			}
			c := joinContact{Master: row.ID, MasterAddr: row.Addr, MasterHTTP: http, Members: map[uint64]string{}}
			for _, r := range m.Members {
				if r.Addr != "" {
					c.Members[r.ID] = r.Addr
				}
			}
			return c, nil
		}
	}
	return joinContact{}, fmt.Errorf("%s names no master with a replication address (master %d)", addr, m.Master)
}

// do sends one request; a non-200 answer's error body is returned with
// its code.
func (j *joiner) do(ctx context.Context, method, addr, path string, body, out any) (int, api.ErrorBody, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, api.ErrorBody{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, j.scheme+"://"+addr+path, rd)
	if err != nil {
		return 0, api.ErrorBody{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if j.token != "" {
		req.Header.Set("Authorization", "Bearer "+j.token)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return 0, api.ErrorBody{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, api.ErrorBody{}, err
	}
	var eb api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		_ = json.Unmarshal(raw, &eb)
		if eb.Error == "" {
			eb.Error = strings.TrimSpace(string(raw))
		}
		return resp.StatusCode, eb, nil
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, eb, fmt.Errorf("%s%s: not a repnode answer: %w", addr, path, err)
		}
	}
	return resp.StatusCode, eb, nil
}
