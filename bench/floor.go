package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

// runFloor is the floor: a bare httputil.ReverseProxy to the upstream,
// run as a subprocess (bench -floor) so that its CPU and memory are
// measured the same way as the service's. Its transport pools
// connections like the service's provider client does.
func runFloor(upstreamURL string) error {
	target, err := url.Parse(upstreamURL)
	if err != nil {
		return fmt.Errorf("floor: upstream url: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = 90 * time.Second
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport: tr,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench-ready", func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("/", rp)
	// Profile mode with -profile-floor reads the floor's profiles the way
	// it reads the service's, so that the two compare function by function.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return serveUntilSignal("floor", mux)
}

// runMLflow serves the in-memory fake MLflow (internal/llmtest/fakemlflow)
// as a subprocess, so that its work does not run inside the generator.
// calibrated gives it the real server's cost per call on one serialised
// core; GET /bench-busy answers the core time spent so far in nanoseconds.
func runMLflow(calibrated bool) error {
	opt := fakemlflow.Options{}
	if calibrated {
		opt.Cost = fakemlflow.Calibrated()
	}
	s, err := fakemlflow.Start(opt)
	if err != nil {
		return err
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench-busy", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, int64(s.Busy()))
	})
	mux.Handle("/", s)
	return serveUntilSignal("mlflow", mux)
}

// serveUntilSignal serves h on LISTEN_ADDR until SIGINT or SIGTERM.
func serveUntilSignal(name string, h http.Handler) error {
	ln, err := net.Listen("tcp", os.Getenv("LISTEN_ADDR"))
	if err != nil {
		return fmt.Errorf("%s: listen: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: serve: %w", name, err)
	}
	return nil
}
