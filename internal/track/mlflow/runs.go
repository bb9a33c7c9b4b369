package mlflow

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-connector/llm-connector/internal/track/spool"
)

// runShipper logs one run per interaction (the seed's shape): create (or,
// on a replay, find) a run tagged with the interaction ID, one log-batch,
// prompt.txt and response.txt, FINISHED or FAILED; then a re-check that
// deletes any other run carrying the same interaction ID (the orphan a
// congested server makes from a dead process's queued runs/create).
type runShipper struct {
	d       shipDeps
	q       Queue
	workers int
	source  string
	backoff func(n int) time.Duration

	progMu sync.Mutex
	prog   map[uint64]*progress

	// Replayed interactions are checked for duplicates once more after
	// recheckAfter: a congested server may still create a run from a dead
	// process's queued request after the first re-check.
	recheckAfter time.Duration
	recheckMu    sync.Mutex
	rechecks     []recheck

	shipped atomic.Uint64
}

type recheck struct {
	expID, id, keep string
	at              time.Time
}

// maxRechecks bounds the deferred re-checks held in memory; past it the
// oldest are done at once rather than dropped.
const maxRechecks = 10000

// progress is what this process already did for one record.
type progress struct {
	run         runInfo
	fromSearch  bool
	createTried bool
	batchDone   bool
	artsDone    bool
	runDone     bool
}

func (r *runShipper) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.workers {
		wg.Go(func() { r.worker(ctx) })
	}
	wg.Go(func() { r.recheckLoop(ctx) })
	wg.Wait()
}

// recheckLoop runs the deferred duplicate checks when they are due.
func (r *runShipper) recheckLoop(ctx context.Context) {
	tick := time.NewTicker(max(r.recheckAfter/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, rc := range r.dueRechecks(time.Now()) {
			if err := r.dedupe(ctx, rc.expID, rc.id, rc.keep); err != nil {
				r.later(rc) // try again next round
			}
		}
	}
}

func (r *runShipper) later(rc recheck) {
	r.recheckMu.Lock()
	defer r.recheckMu.Unlock()
	if len(r.rechecks) >= maxRechecks {
		r.rechecks = r.rechecks[1:]
	}
	r.rechecks = append(r.rechecks, rc)
}

func (r *runShipper) dueRechecks(now time.Time) []recheck {
	r.recheckMu.Lock()
	defer r.recheckMu.Unlock()
	n := 0
	for n < len(r.rechecks) && !r.rechecks[n].at.After(now) {
		n++
	}
	due := append([]recheck(nil), r.rechecks[:n]...)
	r.rechecks = r.rechecks[n:]
	return due
}

func (r *runShipper) worker(ctx context.Context) {
	for {
		if err := r.d.wait(ctx); err != nil {
			return
		}
		e, err := r.q.Next(ctx)
		if err != nil {
			return
		}
		err = r.ship(ctx, e)
		if err == nil {
			r.q.Ack(e.Seq)
			r.forget(e.Seq)
			r.shipped.Add(1)
			r.d.report(nil)
			continue
		}
		if ctx.Err() != nil {
			r.q.Release(e.Seq, time.Time{})
			return
		}
		r.d.report(err) // a retryable error also closes the shared gate
		if retryable(err) {
			r.q.Release(e.Seq, time.Time{})
		} else {
			r.q.Release(e.Seq, time.Now().Add(r.backoff(e.Attempts)))
		}
	}
}

func (r *runShipper) forget(seq uint64) {
	r.progMu.Lock()
	delete(r.prog, seq)
	r.progMu.Unlock()
}

func (r *runShipper) progressFor(seq uint64) *progress {
	r.progMu.Lock()
	defer r.progMu.Unlock()
	p := r.prog[seq]
	if p == nil {
		p = &progress{}
		r.prog[seq] = p
	}
	return p
}

// ship performs every call for one record; it is safe to repeat.
func (r *runShipper) ship(ctx context.Context, e spool.Entry) error {
	expID, err := r.d.experiment(ctx)
	if err != nil {
		return err
	}
	p := r.progressFor(e.Seq)
	if err := r.shipRun(ctx, e, expID, p); err != nil {
		if isCode(err, "RESOURCE_DOES_NOT_EXIST") && p.run.RunID == "" {
			r.d.forgetExperiment()
		}
		return err
	}
	return nil
}

func (r *runShipper) shipRun(ctx context.Context, e spool.Entry, expID string, p *progress) error {
	if p.runDone {
		return nil
	}
	c := e.Call
	d := buildRun(c, r.source, r.d.secrets)
	if p.run.RunID == "" && (e.Recovered || p.createTried) {
		ri, ok, err := r.d.cl.findRun(ctx, expID, TagInteractionID, c.ID)
		if err != nil {
			return err
		}
		if ok {
			p.run, p.fromSearch = ri, true
		}
	}
	if p.run.RunID == "" {
		ri, err := r.d.cl.createRun(ctx, createRunReq{ExperimentID: expID, RunName: d.name, UserID: d.user, StartTime: d.startMS, Tags: d.create})
		if err != nil {
			// Unless the request never left (dial failed), the server may
			// have created the run: look before creating next time.
			p.createTried = p.createTried || !notSent(err)
			return err
		}
		p.run = ri
	}
	if p.fromSearch && terminal(p.run.Status) { // an earlier process finished it
		p.runDone = true
		r.later(recheck{expID: expID, id: c.ID, keep: p.run.RunID, at: time.Now().Add(r.recheckAfter)})
		return r.dedupe(ctx, expID, c.ID, p.run.RunID)
	}
	if !p.batchDone {
		if err := r.d.cl.logBatch(ctx, logBatchReq{RunID: p.run.RunID, Params: d.params, Metrics: d.metrics, Tags: d.tags}); err != nil {
			return err
		}
		p.batchDone = true
	}
	if !p.artsDone {
		if err := r.d.put(ctx, p.run.ArtifactURI, PromptArtifact, []byte(promptText(c))); err != nil {
			return err
		}
		if err := r.d.put(ctx, p.run.ArtifactURI, ResponseArtifact, []byte(c.Response)); err != nil {
			return err
		}
		p.artsDone = true
	}
	if err := r.d.cl.updateRun(ctx, p.run.RunID, d.status, d.endMS); err != nil {
		return err
	}
	p.runDone = true
	if e.Recovered || p.createTried {
		r.later(recheck{expID: expID, id: c.ID, keep: p.run.RunID, at: time.Now().Add(r.recheckAfter)})
		return r.dedupe(ctx, expID, c.ID, p.run.RunID)
	}
	return nil
}

// dedupe deletes every other active run tagged with the interaction ID:
// only a replay can have made one, so only a replay pays for the search.
func (r *runShipper) dedupe(ctx context.Context, expID, id, keep string) error {
	if _, ok := tagEquals(TagInteractionID, id); !ok {
		return nil // cannot be searched for, so none was found before creating either
	}
	runs, err := r.d.cl.runsByTag(ctx, expID, TagInteractionID, id)
	if err != nil {
		return err
	}
	for _, rf := range runs {
		if ri := rf.Info; ri.RunID != keep {
			if err := r.d.cl.deleteRun(ctx, ri.RunID); err != nil && !isCode(err, "RESOURCE_DOES_NOT_EXIST") {
				return err
			}
			r.d.log.Info("mlflow: deleted a duplicate run of a replayed interaction", "run_id", ri.RunID, "kept", keep)
		}
	}
	return nil
}
