package gateway

import (
	"context"

	"github.com/llm-connector/llm-connector/internal/images"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// ImagePolicy turns a request's images into checked inline bytes (or
// refuses them with a KindInvalid error) before the request is routed:
// one policy for every surface. *images.Policy implements it.
type ImagePolicy interface {
	Prepare(ctx context.Context, req *llm.Request) error
}

// defaultImages decodes data URLs and fetches nothing.
var defaultImages = images.New(images.Config{})

// prepareImages runs the image policy when the request carries images.
// It runs after admission, so that fetching counts against the
// caller's limits like the call itself.
func (g *Gateway) prepareImages(ctx context.Context, in *Input) error {
	if in.Req == nil || !in.Req.HasImages() {
		return nil
	}
	p := g.Images
	if p == nil {
		p = defaultImages
	}
	return p.Prepare(ctx, in.Req)
}

// imageTokens is what the budget's worst case counts for one image: the
// most Anthropic bills (about 1,600 tokens for an image at its largest
// size); Gemini bills 258 a tile. A call billed more is charged its
// real cost at commit, like any overshoot.
const imageTokens = 1600

func countImages(req *llm.Request) int {
	n := 0
	for i := range req.Messages {
		n += len(req.Messages[i].Images)
	}
	return n
}
