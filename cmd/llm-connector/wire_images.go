package main

import (
	"log/slog"
	"strings"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/images"
)

// imagePolicy builds the gateway's image policy from IMAGE_*.
func imagePolicy(cfg *config.Config, log *slog.Logger) *images.Policy {
	c := cfg.Images
	var hosts []string
	for _, h := range strings.Split(c.FetchHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if c.Fetch {
		log.Info("image URLs are fetched by the gateway (IMAGE_FETCH)", "hosts", hosts, "max_bytes", c.MaxBytes)
	}
	return images.New(images.Config{Fetch: c.Fetch, Hosts: hosts, MaxBytes: int64(c.MaxBytes), MaxTotal: int64(c.MaxTotal),
		MaxCount: c.MaxCount, Timeout: c.FetchTimeout})
}
