package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// errNotPublic is the dial-time refusal of a non-public address.
var errNotPublic = errors.New("the address is not a public one")

// nonPublic are the ranges beyond what netip's predicates cover that no
// image URL may reach: this network, carrier-grade NAT, IETF protocol
// assignments, benchmarking, reserved, and NAT64 (which can embed any
// IPv4 address, private ones included).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// publicAddr reports whether the gateway may connect to a: not
// loopback, private, link-local, multicast, unspecified or reserved.
func publicAddr(a netip.AddrPort) bool {
	ip := a.Addr().Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// newClient returns the fetching client: no proxy (a proxy would hide
// the real target), every connection's address checked by allow after
// DNS resolution (so DNS rebinding cannot slip through), and redirects
// checked like the first URL.
func (p *Policy) newClient(allow func(netip.AddrPort) bool) *http.Client {
	d := &net.Dialer{
		Timeout: p.cfg.Timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			a, err := netip.ParseAddrPort(address)
			if err != nil || !allow(a) {
				return errNotPublic
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   p.cfg.Timeout,
		ResponseHeaderTimeout: p.cfg.Timeout,
		MaxIdleConns:          8,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return p.checkURL(r.URL)
		},
	}
}

// checkURL is what any URL fetched (the first or a redirect's) must be.
func (p *Policy) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("only http and https image URLs are fetched")
	}
	if u.User != nil {
		return fmt.Errorf("image URLs with credentials are not fetched")
	}
	host := strings.ToLower(u.Hostname())
	if len(p.cfg.Hosts) > 0 && !slices.Contains(p.cfg.Hosts, host) {
		return fmt.Errorf("host %q is not in IMAGE_FETCH_HOSTS", truncate(host, 80))
	}
	return nil
}

// fetch downloads one image URL under the policy.
func (p *Policy) fetch(ctx context.Context, raw string) ([]byte, error) {
	if !p.cfg.Fetch {
		return nil, fmt.Errorf("image URLs are not fetched by this gateway (IMAGE_FETCH is off): send the image inline as a data: URL")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("the image URL is not a valid URL")
	}
	if err := p.checkURL(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("the image URL is not a valid URL")
	}
	req.Header.Set("Accept", strings.Join(Types, ", "))
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fetchError(u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the image from %s answered HTTP %d", u.Hostname(), resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !strings.HasPrefix(mt, "image/") {
		return nil, fmt.Errorf("the image URL answered content type %q, not an image", truncate(mt, 60))
	}
	if resp.ContentLength > p.cfg.MaxBytes {
		return nil, fmt.Errorf("image too large: %d bytes, at most %d", resp.ContentLength, p.cfg.MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxBytes+1))
	if err != nil {
		return nil, fetchError(u, err)
	}
	if int64(len(data)) > p.cfg.MaxBytes {
		return nil, fmt.Errorf("image too large: more than %d bytes", p.cfg.MaxBytes)
	}
	return data, nil
}

// fetchError says why a fetch failed without echoing resolver or
// socket details.
func fetchError(u *url.URL, err error) error {
	host := truncate(u.Hostname(), 80)
	switch {
	case errors.Is(err, errNotPublic):
		return fmt.Errorf("refused to fetch the image from %s: it resolves to a private, loopback or otherwise non-public address", host)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("fetching the image from %s timed out", host)
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil && !errors.Is(ue.Err, errNotPublic) {
		var ne *net.OpError
		if !errors.As(ue.Err, &ne) {
			return fmt.Errorf("could not fetch the image from %s: %v", host, ue.Err)
		}
	}
	return fmt.Errorf("could not fetch the image from %s", host)
}
