package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/snapshot"
)

func TestAuth(t *testing.T) {
	const (
		client = "client-token-1"
		admin  = "admin-token-1"
	)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	type req struct {
		method, path string
		hdr          map[string]string
		status       int
	}
	cases := []struct {
		name      string
		auth      bool
		adminAuth bool
		reqs      []req
	}{
		{"auth off", false, false, []req{
			{"POST", PathChat, nil, 200},
			{"GET", PathModels, nil, 200},
			{"GET", PathAdminSnap, nil, 200},
			{"GET", PathAdminRoute + "?model=gpt-4o-mini", nil, 200},
		}},
		{"client auth on", true, false, []req{
			{"POST", PathChat, nil, 401},
			{"POST", PathChat, bearer("wrong"), 401},
			{"POST", PathChat, bearer(client + "x"), 401},
			{"POST", PathChat, map[string]string{"Authorization": "Basic " + client}, 401},
			{"POST", PathChat, bearer(client), 200},
			{"POST", PathChat, map[string]string{"Authorization": "bearer   " + client}, 200},
			{"POST", PathChat, map[string]string{"x-api-key": client}, 200},
			{"GET", PathModels, nil, 401},
			{"GET", PathModels, bearer(client), 200},
			{"GET", PathAdminSnap, nil, 401},
			{"GET", PathAdminSnap, bearer(client), 200}, // admin auth off: the client token is enough
			{"GET", "/", nil, 200},
			{"GET", PathHealth, nil, 200},
			{"GET", PathMetrics, nil, 200},
		}},
		{"admin auth on, client auth off", false, true, []req{
			{"POST", PathChat, nil, 200},
			{"GET", PathAdminSnap, nil, 401},
			{"GET", PathAdminSnap, bearer(client), 401},
			{"GET", PathAdminSnap, bearer(admin), 200},
			{"GET", PathAdminRoute + "?model=gpt-4o-mini", map[string]string{"x-api-key": admin}, 200},
			{"POST", PathAdminReload, nil, 401},
		}},
		{"both on", true, true, []req{
			{"POST", PathChat, bearer(admin), 401},
			{"POST", PathChat, bearer(client), 200},
			{"GET", PathAdminSnap, bearer(client), 401},
			{"GET", PathAdminSnap, bearer(admin), 200},
			{"GET", PathHealth, nil, 200},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
				s.Settings.AuthEnabled, s.Settings.APIToken = tc.auth, format.Secret{Env: "ROUTER_TOKEN"}
				s.Settings.AdminEnabled, s.Settings.AdminToken = tc.adminAuth, format.Secret{Env: "ADMIN_TOKEN"}
			}})
			for _, r := range tc.reqs {
				var body []byte
				if r.method == "POST" && r.path == PathChat {
					body = []byte(hello)
				}
				a := h.do(r.method, r.path, body, r.hdr)
				if a.status != r.status {
					t.Errorf("%s %s %v: status %d, want %d: %s", r.method, r.path, r.hdr, a.status, r.status, a.body)
					continue
				}
				if r.status == 401 {
					if code := a.errorCode(t); code != codeAuth {
						t.Errorf("%s %s: code %q", r.method, r.path, code)
					}
					if strings.Contains(string(a.body), client) || strings.Contains(string(a.body), admin) {
						t.Errorf("401 body shows a token: %s", a.body)
					}
				}
			}
		})
	}
}

// auth.enabled with a token that does not resolve refuses the snapshot,
// saying which variable to set and never a secret.
func TestAuthTokenUnset(t *testing.T) {
	spec := baseSpec("http://127.0.0.1:9")
	spec.Settings.AuthEnabled = true
	spec.Settings.APIToken = format.Secret{Env: "MISSING_TOKEN"}
	b, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), Options{Snapshot: snapshot.Options{Embedded: b}, Logger: quietLogger(), LookupEnv: lookup(testEnv)})
	if err == nil {
		t.Fatal("New accepted auth without a token")
	}
	if snapshot.ReasonOf(err) != snapshot.ReasonPublish || !strings.Contains(err.Error(), "${MISSING_TOKEN}") {
		t.Errorf("error %v", err)
	}
	var se *snapshot.Error
	if !errors.As(err, &se) {
		t.Errorf("not a snapshot error: %T", err)
	}
	// A literal token is used as is and not printed.
	spec.Settings.APIToken = format.Secret{Literal: "   "}
	b, _ = spec.Encode()
	_, err = New(context.Background(), Options{Snapshot: snapshot.Options{Embedded: b}, Logger: quietLogger(), LookupEnv: lookup(testEnv)})
	if err == nil || !strings.Contains(err.Error(), "auth.api_token") {
		t.Errorf("blank literal token: %v", err)
	}
}
