// Command llm-connector is an LLM gateway: the seed's /chat API (and an
// OpenAI-compatible one) on Gemini with Ollama fallback, more providers,
// tracking, caching, limits and cost accounting. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/redact"
	"github.com/llm-connector/llm-connector/internal/server"
	"github.com/llm-connector/llm-connector/internal/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// GC defaults (memtune.go): GOGC=300 under a soft memory limit that
	// follows the live heap; GOGC or GOMEMLIMIT in the environment wins.
	if tune := gcDefaults(os.Getenv); tune != nil {
		go tune(ctx)
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "llm-connector:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment injected so that tests
// can start it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, getenv, stdout)
	}
	if len(args) > 0 && args[0] == "keys" {
		return runKeys(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "-help", "help":
			printHelp(stdout)
			return nil
		case "-v", "--version", "-version", "version":
			printVersion(stdout)
			return nil
		}
		return fmt.Errorf("unknown argument %q (try --help)", args[0])
	}
	if err := start(ctx, getenv, stdout, nil); err != nil {
		// Start-up errors quote configuration (a DSN, a URL): no
		// password, key or credential may reach stderr.
		return errors.New(redact.String(err.Error(), envSecrets(getenv)...))
	}
	return nil
}

// start loads the configuration, wires the service and serves until ctx
// ends. ready, when set, receives the bound address.
func start(ctx context.Context, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	tcfg, err := tracing.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg)
	app, err := build(ctx, cfg, tcfg, log)
	if err != nil {
		return err
	}
	sd := newShutdown(cfg.ShutdownTimeout)
	defer func() { app.close(log, sd.deadline) }()
	return serve(ctx, cfg, app, sd, log, ready)
}

const usage = `usage: llm-connector              run the service (configuration from the environment; see README.md)
       llm-connector keys ...     manage API keys (create, list, revoke, usage)
       llm-connector healthcheck  exit 0 when the local service answers GET /health with 200 (for containers)
       llm-connector --version    print the version
       llm-connector --help       this text`

// healthcheck probes the local service, for container health checks
// (distroless images have no curl).
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	port := getenv("PORT")
	if port == "" {
		port = "8000"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "%s", body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: status %d", resp.StatusCode)
	}
	return nil
}

// shutdown is the one deadline of a graceful shutdown, shared by its
// phases: drain (in-flight requests finish by themselves), stop (streams
// still running are ended with their error event), and flush (ledger,
// tracking spool, spans) in what is left of SHUTDOWN_TIMEOUT.
type shutdown struct {
	timeout  time.Duration
	deadline time.Time // set when the shutdown begins
}

func newShutdown(timeout time.Duration) *shutdown { return &shutdown{timeout: timeout} }

// begin fixes the deadline and returns when each phase ends: drain at
// 60 % of the timeout, stop at 75 %; the rest is the flush's.
func (s *shutdown) begin(now time.Time) (drainEnd, stopEnd time.Time) {
	s.deadline = now.Add(s.timeout)
	return now.Add(s.timeout * 6 / 10), now.Add(s.timeout * 3 / 4)
}

// serve runs the HTTP server until ctx ends, then shuts down gracefully
// within sd's one deadline: it stops accepting, lets in-flight requests
// finish, ends the streams still running with an error event, closes the
// connections left, and returns nil (the flush follows in app.close).
// ready, when set, receives the bound address (tests listen on port 0).
func serve(ctx context.Context, cfg *config.Config, a *app, sd *shutdown, log *slog.Logger, ready chan<- string) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	base := context.WithoutCancel(ctx) // SIGTERM starts the drain; it cancels no request
	if a.baseContext != nil {
		base = a.baseContext(ctx)
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout, // no WriteTimeout: answers stream for as long as the model writes
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	// net/http's own plain-text 400/431 answers become JSON.
	go func() { errc <- srv.Serve(server.JSONErrorListener(ln)) }()
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	drainEnd, stopEnd := sd.begin(time.Now())
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	if !shutdownBy(srv, drainEnd) {
		log.Warn("drain time passed; ending the streams still running with an error event")
		a.stopStreams()
		if !shutdownBy(srv, stopEnd) {
			log.Warn("shutdown deadline near; closing remaining connections")
			_ = srv.Close()
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// shutdownBy runs srv.Shutdown until t and reports whether every
// connection was idle and closed by then.
func shutdownBy(srv *http.Server, t time.Time) bool {
	sctx, cancel := context.WithDeadline(context.Background(), t)
	defer cancel()
	return srv.Shutdown(sctx) == nil
}
