// Package images is the gateway's one image policy, applied to every
// request of every surface before routing: each llm.Image leaves it as
// inline bytes of a known image type, or the request is refused with a
// clear llm.KindInvalid error (a 400 on every surface).
//
//   - data: URLs (base64) are decoded.
//   - http(s) URLs are fetched by the gateway only when Config.Fetch is
//     on (IMAGE_FETCH, default off), only from Config.Hosts when that
//     list is set, never from a private, loopback, link-local or other
//     non-public address: the address is checked at dial time, after DNS
//     resolution, so a name that resolves (or re-resolves) to 127.0.0.1
//     is refused too; every redirect is checked again. A fetch is bounded
//     by Config.Timeout and Config.MaxBytes and must answer an image
//     content type.
//   - The bytes must be PNG, JPEG, GIF or WebP (sniffed, whatever the
//     caller claimed): the four types every backend accepts.
//   - At most Config.MaxCount images and Config.MaxTotal bytes a request.
package images

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llm"
)

// Config bounds the images of one request and says whether (and from
// where) the gateway fetches image URLs.
type Config struct {
	Fetch    bool          // fetch http(s) image URLs; default off
	Hosts    []string      // when set, the only hosts fetched from (exact names, lower case)
	MaxBytes int64         // largest image, decoded; default DefaultMaxBytes
	MaxTotal int64         // all images of a request together; default DefaultMaxTotal
	MaxCount int           // images a request may carry; default DefaultMaxCount
	Timeout  time.Duration // one fetch, redirects included; default DefaultTimeout
}

// Defaults.
const (
	DefaultMaxBytes = 5 << 20 // Anthropic's per-image limit
	DefaultMaxTotal = 20 << 20
	DefaultMaxCount = 8
	DefaultTimeout  = 10 * time.Second
	maxRedirects    = 3
)

// Types are the image types accepted: those all four backends take.
var Types = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// Policy applies a Config. It is safe for concurrent use.
type Policy struct {
	cfg    Config
	client *http.Client
}

// New returns the policy of cfg with the defaults filled in.
func New(cfg Config) *Policy {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = DefaultMaxTotal
	}
	if cfg.MaxCount <= 0 {
		cfg.MaxCount = DefaultMaxCount
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	for i, h := range cfg.Hosts {
		cfg.Hosts[i] = strings.ToLower(strings.TrimSpace(h))
	}
	p := &Policy{cfg: cfg}
	p.client = p.newClient(publicAddr)
	return p
}

// Prepare turns every image of req into checked inline bytes, in place.
// Its errors are llm.KindInvalid with a message for the caller.
func (p *Policy) Prepare(ctx context.Context, req *llm.Request) error {
	count := 0
	var total int64
	for i := range req.Messages {
		m := &req.Messages[i]
		if len(m.Images) == 0 {
			continue
		}
		if m.Role != llm.RoleUser {
			return invalid("message %d: only user messages may carry images", i)
		}
		imgs := slices.Clone(m.Images) // the decoder's slice may be shared
		for j := range imgs {
			count++
			if count > p.cfg.MaxCount {
				return invalid("too many images: at most %d a request", p.cfg.MaxCount)
			}
			if err := p.prepare(ctx, &imgs[j]); err != nil {
				return invalid("message %d, image %d: %v", i, j, err)
			}
			total += int64(len(imgs[j].Data))
			if total > p.cfg.MaxTotal {
				return invalid("the images are too large together: at most %d bytes a request", p.cfg.MaxTotal)
			}
		}
		m.Images = imgs
	}
	return nil
}

func invalid(format string, args ...any) error {
	return llm.Errorf(llm.KindInvalid, "", "image: "+format, args...)
}

// prepare fills img.Data and img.MIMEType from whatever the caller sent.
func (p *Policy) prepare(ctx context.Context, img *llm.Image) error {
	switch {
	case len(img.Data) > 0:
	case strings.HasPrefix(img.URL, "data:"):
		data, err := p.decodeDataURL(img.URL)
		if err != nil {
			return err
		}
		img.Data = data
	case strings.HasPrefix(img.URL, "https://") || strings.HasPrefix(img.URL, "http://"):
		data, err := p.fetch(ctx, img.URL)
		if err != nil {
			return err
		}
		img.Data = data
	case img.URL == "":
		return fmt.Errorf("no image data or URL")
	default:
		return fmt.Errorf("unsupported image URL: send a data: URL (base64) or an http(s) URL")
	}
	if int64(len(img.Data)) > p.cfg.MaxBytes {
		return fmt.Errorf("image too large: %d bytes, at most %d", len(img.Data), p.cfg.MaxBytes)
	}
	sniffed := http.DetectContentType(img.Data)
	if !slices.Contains(Types, sniffed) {
		return fmt.Errorf("the bytes are not an image of a supported type (%s); got %s", strings.Join(Types, ", "), sniffed)
	}
	img.MIMEType, img.URL = sniffed, ""
	return nil
}

// decodeDataURL decodes data:<image type>;base64,<data>.
func (p *Policy) decodeDataURL(u string) ([]byte, error) {
	meta, payload, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, fmt.Errorf("a data URL must be data:<image type>;base64,<data>")
	}
	mime := strings.ToLower(strings.TrimSuffix(meta, ";base64"))
	if !slices.Contains(Types, mime) {
		return nil, fmt.Errorf("data URL type %q is not supported: use one of %s", truncate(mime, 40), strings.Join(Types, ", "))
	}
	if int64(base64.StdEncoding.DecodedLen(len(payload))) > p.cfg.MaxBytes+3 {
		return nil, fmt.Errorf("image too large: at most %d bytes", p.cfg.MaxBytes)
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(payload); err != nil {
			return nil, fmt.Errorf("the data URL is not valid base64")
		}
	}
	return data, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
