package mlflow

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ship performs every step for one window; it is safe to repeat.
func (s *windowShipper) ship(ctx context.Context, w *window) error {
	if w.name == "" { // named and recorded before any MLflow call
		name := newWindowName(s.d.now())
		if err := s.q.Group(ctx, name, w.seqs()); err != nil {
			return fmt.Errorf("mlflow windows: record window group: %w", err)
		}
		w.name, w.size = name, len(w.entries)
	}
	expID, err := s.d.experiment(ctx)
	if err != nil {
		return err
	}
	if w.run.RunID == "" {
		if err := s.findOrCreate(ctx, expID, w); err != nil {
			return err
		}
	}
	if !w.finished {
		if err := s.fill(ctx, w); err != nil {
			if !retryable(err) { // e.g. the run was deleted by another instance's re-check
				w.forgetRun()
			}
			return err
		}
	}
	return s.recheck(ctx, expID, w)
}

// findOrCreate finds the window's run on a replay, else creates it.
func (s *windowShipper) findOrCreate(ctx context.Context, expID string, w *window) error {
	if w.recovered || w.createTried {
		runs, err := s.d.cl.runsByTag(ctx, expID, TagWindowID, w.name)
		if err != nil {
			return err
		}
		if r, ok := pickRun(runs); ok {
			w.run = r.Info
			w.finished = r.Info.Status == "FINISHED"
			if set := r.tag(TagStepMetrics); set == StepMetricsCore || set == StepMetricsFull || set == StepMetricsNone {
				w.set = set
			}
			// Params are immutable: a run that has them keeps them (its
			// route may have been "<endpoint>:other" when it was made).
			w.paramsKept = len(r.Data.Params) > 0
			if rt := r.tag(TagWindowRoute); rt != "" {
				w.key = rt
			}
			return nil
		}
	}
	start, _ := w.span()
	tags := []kv{
		{TagWindowID, w.name}, {TagSourceName, s.opt.SourceName}, {TagRunName, w.runName()},
		{TagWindowRoute, truncateRunes(w.route(), maxTagValue)}, {TagStepMetrics, w.set},
	}
	if w.endpoint != "" {
		tags = append(tags, kv{"endpoint", truncateRunes(w.endpoint, maxTagValue)})
	}
	ri, err := s.d.cl.createRun(ctx, createRunReq{ExperimentID: expID, RunName: w.runName(), StartTime: start, Tags: tags})
	if err != nil {
		// Unless the request never left, the server may have created
		// the run: look before creating next time.
		w.createTried = w.createTried || !notSent(err)
		return err
	}
	w.run = ri
	return nil
}

// pickRun prefers a FINISHED run (the smallest run ID), else the oldest.
func pickRun(runs []runFull) (runFull, bool) {
	if len(runs) == 0 {
		return runFull{}, false
	}
	if id := keeperID(runs); id != "" {
		for _, r := range runs {
			if r.Info.RunID == id {
				return r, true
			}
		}
	}
	return runs[0], true
}

// keeperID is the FINISHED run with the smallest run ID, "" if none.
func keeperID(runs []runFull) string {
	id := ""
	for _, r := range runs {
		if r.Info.Status == "FINISHED" && (id == "" || r.Info.RunID < id) {
			id = r.Info.RunID
		}
	}
	return id
}

func (s *windowShipper) stepKeys(set string) []string {
	switch set {
	case StepMetricsCore:
		return s.opt.CoreMetrics
	case StepMetricsNone:
		return nil
	}
	return s.opt.FullMetrics
}

// fill logs params, steps, the table and the summary, and finishes the run.
func (s *windowShipper) fill(ctx context.Context, w *window) error {
	calls := w.calls()
	params := []kv{{"route", truncateRunes(w.route(), maxParamValue)}, {"endpoint", truncateRunes(w.endpoint, maxParamValue)},
		{"requested_model", truncateRunes(w.model, maxParamValue)}}
	// Settings can change between restarts: tags (overwritten), not params.
	tags := []kv{{TagWindowRoute, truncateRunes(w.route(), maxTagValue)}, {"window_size_max", strconv.Itoa(s.opt.Size)}, {"window_max_age_s", strconv.FormatFloat(s.opt.MaxAge.Seconds(), 'g', -1, 64)}}
	ms := stepMetrics(calls, s.stepKeys(w.set))
	first := maxMetricsPerCall - len(params) - len(tags)
	for w.batches < batchCount(len(ms), first) {
		lo, hi := batchBounds(w.batches, len(ms), first)
		req := logBatchReq{RunID: w.run.RunID, Metrics: ms[lo:hi], Params: []kv{}, Tags: []kv{}}
		if w.batches == 0 {
			req.Tags = tags
			if !w.paramsKept {
				req.Params = params
			}
		}
		if err := s.d.cl.logBatch(ctx, req); err != nil {
			return err
		}
		w.batches++
	}
	if !w.tableDone {
		table := windowTable(calls, s.opt.MaxCell, s.d.secrets)
		if err := s.putArtifact(ctx, w.run.ArtifactURI, WindowTable, table); err != nil {
			return err
		}
		w.tableDone = true
	}
	_, end := w.span()
	if !w.summaryDone {
		req := logBatchReq{RunID: w.run.RunID, Metrics: windowSummary(calls, end), Params: []kv{},
			Tags: []kv{{TagLoggedArts, windowTableTag}, {"first_request_id", truncateRunes(calls[0].ID, maxTagValue)},
				{"last_request_id", truncateRunes(calls[len(calls)-1].ID, maxTagValue)}}}
		if err := s.d.cl.logBatch(ctx, req); err != nil {
			return err
		}
		w.summaryDone = true
	}
	if err := s.d.cl.updateRun(ctx, w.run.RunID, "FINISHED", end); err != nil {
		return err
	}
	w.finished = true
	return nil
}

// batchCount is how many log-batch calls carry n metrics when the first
// call has room for first of them (the rest for maxMetricsPerCall); at
// least one, for the params.
func batchCount(n, first int) int {
	if n <= first {
		return 1
	}
	return 1 + (n-first+maxMetricsPerCall-1)/maxMetricsPerCall
}

func batchBounds(i, n, first int) (lo, hi int) {
	if i == 0 {
		return 0, min(first, n)
	}
	lo = first + (i-1)*maxMetricsPerCall
	return lo, min(lo+maxMetricsPerCall, n)
}

func (s *windowShipper) putArtifact(ctx context.Context, uri, name string, data []byte) error {
	if s.opt.PutArtifact != nil {
		return s.opt.PutArtifact(ctx, uri, name, data)
	}
	root, ok := strings.CutPrefix(uri, "mlflow-artifacts:")
	if !ok {
		scheme, _, _ := strings.Cut(uri, ":")
		return &permanentError{fmt.Errorf("mlflow: artifact %s: unsupported artifact URI scheme %q", name, scheme)}
	}
	if rest, ok := strings.CutPrefix(root, "//"); ok { // mlflow-artifacts://host:port/path
		_, root, _ = strings.Cut(rest, "/")
	}
	return s.d.cl.putProxyArtifact(ctx, root, name, data)
}

// recheck deletes every run carrying w's tag but the keeper: the
// FINISHED one with the smallest run ID (ours, unless another instance
// finished the same window too).
func (s *windowShipper) recheck(ctx context.Context, expID string, w *window) error {
	runs, err := s.d.cl.runsByTag(ctx, expID, TagWindowID, w.name)
	if err != nil {
		return err
	}
	keep := keeperID(runs)
	if keep == "" {
		keep = w.run.RunID
	}
	for _, r := range runs {
		if r.Info.RunID == keep {
			continue
		}
		if err := s.d.cl.deleteRun(ctx, r.Info.RunID); err != nil {
			return err
		}
		s.orphanDeleted(w.name, r.Info.RunID, "re-check")
	}
	return nil
}

func (s *windowShipper) orphanDeleted(window, runID, by string) {
	s.mu.Lock()
	s.stats.OrphansDeleted++
	s.mu.Unlock()
	s.d.log.Info("mlflow windows: deleted a duplicate window run", "window", window, "run_id", runID, "by", by)
}

func (s *windowShipper) sweepLoop(ctx context.Context) {
	for {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.d.log.Debug("mlflow windows: orphan sweep", "err", Redact(err.Error(), s.d.secrets...))
		}
		if sleepCtx(ctx, s.opt.SweepEvery) != nil {
			return
		}
	}
}

// sweep deletes RUNNING window runs older than SweepAge that have a
// FINISHED sibling with the same window tag.
func (s *windowShipper) sweep(ctx context.Context) error {
	if err := s.d.wait(ctx); err != nil {
		return err
	}
	expID, err := s.d.experiment(ctx)
	if err != nil {
		return err
	}
	running, err := s.d.cl.searchAll(ctx, expID, "attributes.status = 'RUNNING' and tags.`"+TagWindowID+"` LIKE 'w-%'")
	if err != nil {
		return err
	}
	cutoff := s.d.now().Add(-s.opt.SweepAge).UnixMilli()
	seen := map[string]bool{}
	for _, r := range running {
		id := r.tag(TagWindowID)
		if r.Info.StartTime > cutoff || seen[id] {
			continue
		}
		seen[id] = true
		sibs, err := s.d.cl.runsByTag(ctx, expID, TagWindowID, id)
		if err != nil {
			return err
		}
		if keeperID(sibs) == "" {
			continue // not finished yet: maybe being shipped right now
		}
		for _, sib := range sibs {
			if sib.Info.Status != "RUNNING" {
				continue
			}
			if err := s.d.cl.deleteRun(ctx, sib.Info.RunID); err != nil {
				return err
			}
			s.orphanDeleted(id, sib.Info.RunID, "sweep")
		}
	}
	return nil
}
