package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
)

// runMLflowCalibrated serves the fake MLflow in its calibrated mode (one
// serialised core that spends per call what a real 3.11 server spends) on
// LISTEN_ADDR, and a control API on CONTROL_ADDR: GET /stats?experiment=
// counts what landed, POST /down closes the listener and every connection
// (clients see connection refused), POST /up listens again.
func runMLflowCalibrated() error {
	f, err := fakemlflow.Start(fakemlflow.Options{Cost: fakemlflow.Calibrated(), Version: "3.11.1", Workers: 16})
	if err != nil {
		return err
	}
	defer f.Close()
	sw := &switchable{addr: os.Getenv("LISTEN_ADDR"), h: f}
	if err := sw.up(); err != nil {
		return err
	}
	defer sw.down()
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(storeStats(f, r.URL.Query().Get("experiment")))
	})
	ctl.HandleFunc("POST /down", func(w http.ResponseWriter, r *http.Request) { sw.down() })
	ctl.HandleFunc("POST /up", func(w http.ResponseWriter, r *http.Request) {
		if err := sw.up(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	ln, err := net.Listen("tcp", os.Getenv("CONTROL_ADDR"))
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	cs := &http.Server{Handler: ctl, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); cs.Close() }()
	if err := cs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// switchable serves h on addr, and can stop (listener and connections
// closed) and start again on the same address.
type switchable struct {
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func (s *switchable) up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.srv = &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return nil
}

func (s *switchable) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// landed is what the fake's store holds for one experiment.
type landed struct {
	WindowRuns     int     `json:"window_runs"`
	WindowRows     int     `json:"window_rows"`   // interaction rows in every window's table
	WindowUnique   int     `json:"window_unique"` // distinct request ids among them
	InteractionRun int     `json:"interaction_runs"`
	RunsUnique     int     `json:"runs_unique"`
	Traces         int     `json:"traces"`
	Orphans        int     `json:"orphans"`  // active RUNNING runs
	Deleted        int     `json:"deleted"`  // duplicates the service deleted
	BusySec        float64 `json:"busy_sec"` // the fake core's work so far
}

func storeStats(f *fakemlflow.Server, experiment string) landed {
	out := landed{BusySec: f.Busy().Seconds()}
	exp, ok := f.ExperimentID(experiment)
	if !ok {
		return out
	}
	ids := map[string]bool{}
	runIDs := map[string]bool{}
	for _, r := range f.Runs(exp) {
		if r.LifecycleStage == "deleted" {
			out.Deleted++
			continue
		}
		if r.Status == "RUNNING" {
			out.Orphans++
		}
		if id := r.Tags["llm_connector.interaction_id"]; id != "" {
			out.InteractionRun++
			runIDs[id] = true
		}
		if r.Tags["llm_connector.window_id"] == "" {
			continue
		}
		out.WindowRuns++
		rows, _ := f.TableColumn(r.ID, "interactions.json", "request_id")
		for _, id := range rows {
			out.WindowRows++
			ids[id] = true
		}
	}
	out.WindowUnique, out.RunsUnique = len(ids), len(runIDs)
	out.Traces = len(f.Traces(exp))
	return out
}
