package ui

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestVendoredMatchesLock: the committed uPlot is the version
// package.json and package-lock.json pin (check-vendor.sh, run by CI,
// also checks the bytes against the lock's integrity).
func TestVendoredMatchesLock(t *testing.T) {
	var pkg struct{ Dependencies map[string]string }
	var lock struct {
		Packages map[string]struct{ Version, Integrity string }
	}
	for file, v := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	locked := lock.Packages["node_modules/uplot"]
	js, err := fs.ReadFile(Assets(), "vendor/uPlot.iife.min.js")
	if err != nil {
		t.Fatal(err)
	}
	banner := regexp.MustCompile(`^/\*! \S+ \(v([0-9.]+)\) \*/`).FindSubmatch(js)
	if banner == nil || string(banner[1]) != locked.Version || pkg.Dependencies["uplot"] != locked.Version ||
		!strings.HasPrefix(locked.Integrity, "sha512-") {
		t.Errorf("vendored uPlot %q, package.json %q, lock %+v", banner, pkg.Dependencies["uplot"], locked)
	}
}

// TestServesOffline: every file the page loads is embedded and local; the
// page names no other origin.
func TestServesOffline(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /ui/ = %d %v", resp.StatusCode, resp.Header)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllSubmatch(page, -1)
	if len(refs) < 4 {
		t.Fatalf("page loads %d files", len(refs))
	}
	for _, m := range refs {
		ref := string(m[1])
		if strings.Contains(ref, "//") {
			t.Errorf("page loads %s from another origin", ref)
			continue
		}
		r, err := http.Get(srv.URL + "/ui/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("GET /ui/%s = %d", ref, r.StatusCode)
		}
	}
	for _, name := range []string{"app.js", "app.css"} {
		b, _ := fs.ReadFile(Assets(), name)
		if regexp.MustCompile(`https?://`).Match(b) || strings.Contains(string(b), "@import") || strings.Contains(string(b), "innerHTML") {
			t.Errorf("%s names another origin or writes HTML", name)
		}
	}
}
