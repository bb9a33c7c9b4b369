// Package ui serves the dashboard: static files embedded in the binary
// (no CDN, no external font: it works offline) that read the documented
// admin JSON endpoints. Its one library, uPlot, is vendored in
// assets/vendor from the version package-lock.json pins
// (check-vendor.sh verifies the copy).
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Assets are the dashboard's files (tests).
func Assets() fs.FS {
	sub, _ := fs.Sub(assets, "assets")
	return sub
}

// csp allows only this origin's scripts, styles and connections; uPlot
// styles its elements from script (CSSOM), which style-src does not
// govern.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Register adds GET /ui/ (the dashboard) and GET /ui (a redirect to it).
func Register(mux *http.ServeMux) {
	files := http.StripPrefix("/ui/", http.FileServerFS(Assets()))
	mux.Handle("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
}
