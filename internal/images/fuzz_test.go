package images

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// FuzzDataURL: whatever a caller puts in an image URL, Prepare either
// refuses it with KindInvalid or leaves inline bytes of a supported
// type within the size cap, and never fetches (fetching is off).
func FuzzDataURL(f *testing.F) {
	for _, s := range []string{dataURL("image/png", pngBytes), dataURL("image/jpeg", jpegBytes), "data:image/png;base64,", "data:,",
		"data:image/gif;base64,R0lGODlhAQABAAAAACw=", "data:image/webp;base64,UklGRg==", "https://example.com/a.png", "data:text/html;base64,PGh0bWw+"} {
		f.Add(s)
	}
	p := New(Config{MaxBytes: 4096})
	f.Fuzz(func(t *testing.T, url string) {
		req := request(llm.Image{URL: url})
		err := p.Prepare(context.Background(), req)
		if err != nil {
			if llm.KindOf(err) != llm.KindInvalid {
				t.Fatalf("error of kind %v: %v", llm.KindOf(err), err)
			}
			return
		}
		img := req.Messages[0].Images[0]
		if !slices.Contains(Types, img.MIMEType) || http.DetectContentType(img.Data) != img.MIMEType || len(img.Data) > 4096 || img.URL != "" {
			t.Fatalf("accepted %q as %s, %d bytes", url, img.MIMEType, len(img.Data))
		}
	})
}
