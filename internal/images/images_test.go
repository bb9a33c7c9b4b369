package images

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// A 1×1 PNG and the first bytes of a JPEG.
var (
	pngBytes, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
	jpegBytes   = []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}
)

func dataURL(mime string, b []byte) string {
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b)
}

func request(imgs ...llm.Image) *llm.Request {
	return &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "what is it?", Images: imgs}}}
}

// TestPrepareInline: data URLs are decoded and typed by their bytes;
// everything else that is not a supported image is a KindInvalid error
// that says why.
func TestPrepareInline(t *testing.T) {
	big := make([]byte, 2000)
	copy(big, pngBytes)
	tests := []struct {
		name    string
		cfg     Config
		imgs    []llm.Image
		want    string // MIME type of the first image, or
		wantErr string // the error's text
	}{
		{"png data URL", Config{}, []llm.Image{{URL: dataURL("image/png", pngBytes)}}, "image/png", ""},
		{"type from the bytes, not the claim", Config{}, []llm.Image{{URL: dataURL("image/png", jpegBytes)}}, "image/jpeg", ""},
		{"inline bytes", Config{}, []llm.Image{{Data: jpegBytes, MIMEType: "image/png"}}, "image/jpeg", ""},
		{"unpadded base64", Config{}, []llm.Image{{URL: "data:image/png;base64," + base64.RawStdEncoding.EncodeToString(pngBytes)}}, "image/png", ""},
		{"not base64", Config{}, []llm.Image{{URL: "data:image/png;base64,@@@"}}, "", "not valid base64"},
		{"not a base64 data URL", Config{}, []llm.Image{{URL: "data:image/png,rawbytes"}}, "", "data:<image type>;base64"},
		{"svg refused", Config{}, []llm.Image{{URL: dataURL("image/svg+xml", []byte("<svg/>"))}}, "", "not supported"},
		{"bytes that are no image", Config{}, []llm.Image{{URL: dataURL("image/png", []byte("hello, world"))}}, "", "not an image"},
		{"other URL scheme", Config{}, []llm.Image{{URL: "file:///etc/passwd"}}, "", "unsupported image URL"},
		{"nothing", Config{}, []llm.Image{{}}, "", "no image data"},
		{"too large", Config{MaxBytes: 1000}, []llm.Image{{URL: dataURL("image/png", big)}}, "", "too large"},
		{"too many", Config{MaxCount: 2}, []llm.Image{{Data: pngBytes}, {Data: pngBytes}, {Data: pngBytes}}, "", "too many images: at most 2"},
		{"too large together", Config{MaxTotal: 3000}, []llm.Image{{Data: big}, {Data: big}}, "", "too large together"},
		{"URLs not fetched by default", Config{}, []llm.Image{{URL: "https://example.com/cat.png"}}, "", "IMAGE_FETCH is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(tt.imgs...)
			err := New(tt.cfg).Prepare(context.Background(), req)
			if tt.wantErr != "" {
				if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want invalid containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := req.Messages[0].Images[0]
			if img.MIMEType != tt.want || len(img.Data) == 0 || img.URL != "" {
				t.Errorf("image = %s, %d bytes, URL %q; want %s inline", img.MIMEType, len(img.Data), img.URL, tt.want)
			}
		})
	}
}

func TestImagesOnlyInUserTurns(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Images: []llm.Image{{Data: pngBytes}}}}}
	if err := New(Config{}).Prepare(context.Background(), req); llm.KindOf(err) != llm.KindInvalid {
		t.Fatalf("err = %v", err)
	}
}

// TestPublicAddr: the dial-time check refuses every non-public range.
func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8:443": true, "[2606:4700::1111]:443": true,
		"127.0.0.1:80": false, "[::1]:80": false, "10.1.2.3:80": false, "172.16.0.1:80": false, "192.168.1.1:80": false,
		"169.254.169.254:80": false, "[fe80::1]:80": false, "0.0.0.0:80": false, "[::]:80": false, "100.64.0.1:80": false,
		"[::ffff:127.0.0.1]:80": false, "[::ffff:10.0.0.1]:80": false, "[fd00::1]:80": false, "[64:ff9b::a00:1]:80": false,
		"224.0.0.1:80": false, "255.255.255.255:80": false, "198.18.0.1:80": false,
	} {
		if got := publicAddr(netip.MustParseAddrPort(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestFetchRefusesPrivateTargets: with fetching on, a loopback target is
// refused at dial time, by address and by a name that resolves to it.
func TestFetchRefusesPrivateTargets(t *testing.T) {
	srv := imageServer(t)
	u, _ := url.Parse(srv.URL)
	p := New(Config{Fetch: true, Timeout: 5 * time.Second})
	for _, target := range []string{srv.URL + "/cat.png", "http://localhost:" + u.Port() + "/cat.png"} {
		err := p.Prepare(context.Background(), request(llm.Image{URL: target}))
		if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), "non-public address") {
			t.Errorf("%s: err = %v, want the non-public refusal", target, err)
		}
	}
	if n := srv.hits(); n != 0 {
		t.Errorf("the private server was reached %d times", n)
	}
}

// TestFetch runs the fetch rules against a local server that a test
// dialer (allowing that one server's port only) lets through.
func TestFetch(t *testing.T) {
	other := imageServer(t) // a second "private" server: never allowed
	srv := imageServer(t)
	srv.redirectTo = other.URL + "/cat.png"
	port := mustPort(t, srv.URL)
	tests := []struct {
		name, path string
		cfg        Config
		wantErr    string
	}{
		{"an image", "/cat.png", Config{}, ""},
		{"not an image type", "/page.html", Config{}, "not an image"},
		{"too large", "/big.png", Config{MaxBytes: 1000}, "too large"},
		{"too large, no length", "/big-chunked.png", Config{MaxBytes: 1000}, "too large"},
		{"redirect to a private address", "/redirect", Config{}, "non-public address"},
		{"not found", "/missing.png", Config{}, "HTTP 404"},
		{"host not allowed", "/cat.png", Config{Hosts: []string{"images.example.com"}}, "not in IMAGE_FETCH_HOSTS"},
		{"host allowed", "/cat.png", Config{Hosts: []string{"127.0.0.1"}}, ""},
		{"timeout", "/hang.png", Config{Timeout: 50 * time.Millisecond}, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Fetch = true
			p := New(tt.cfg)
			p.client = p.newClient(func(a netip.AddrPort) bool { return a.Port() == port })
			req := request(llm.Image{URL: srv.URL + tt.path})
			err := p.Prepare(context.Background(), req)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if img := req.Messages[0].Images[0]; img.MIMEType != "image/png" || len(img.Data) != len(pngBytes) {
					t.Errorf("image = %s, %d bytes", img.MIMEType, len(img.Data))
				}
				return
			}
			if llm.KindOf(err) != llm.KindInvalid || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want invalid containing %q", err, tt.wantErr)
			}
		})
	}
	if n := other.hits(); n != 0 {
		t.Errorf("the redirect target was reached %d times", n)
	}
}

type testServer struct {
	*httptest.Server
	redirectTo string
	count      chan struct{}
}

func (s *testServer) hits() int { return len(s.count) }

func imageServer(t *testing.T) *testServer {
	s := &testServer{count: make(chan struct{}, 1000)}
	hang := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count <- struct{}{}
		switch r.URL.Path {
		case "/cat.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(pngBytes)
		case "/page.html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html></html>"))
		case "/big.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(make([]byte, 5000))
		case "/big-chunked.png":
			w.Header().Set("Content-Type", "image/png")
			for range 5 {
				w.Write(make([]byte, 1000))
				w.(http.Flusher).Flush()
			}
		case "/redirect":
			http.Redirect(w, r, s.redirectTo, http.StatusFound)
		case "/hang.png":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(hang); s.Close() })
	return s
}

func mustPort(t *testing.T, raw string) uint16 {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}
