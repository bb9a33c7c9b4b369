package mlflow

import (
	"encoding/json"
	"strings"
	"testing"
)

// Server CPU per call as the calibrated fake charges it (mlflow.md §6,
// issue 12): a model, so the test compares counts, never clocks.
const (
	costCreateMS   = 30.0
	costUpdateMS   = 25.0
	costBatchMS    = 15.0
	costValueMS    = 0.22
	costSearchMS   = 15.0 // assumed: one call's overhead
	costDeleteMS   = 15.0 // assumed
	costPutCallMS  = 15.0 // assumed; the table's bytes are reported apart
	targetPerSec   = 1000.0
	serverCoreMSps = 1000.0 // one server core: 1,000 ms of CPU a second
)

// windowCost sums the modelled server CPU (ms) and the table bytes the
// windows of each step-metric set cost, per 1,000 interactions.
func windowCost(t *testing.T, env *windowEnv) map[string][2]float64 {
	t.Helper()
	setOf := map[string]string{}
	count := map[string]float64{}
	for _, r := range env.runs() {
		setOf[r.ID] = r.Tags[TagStepMetrics]
		n, _ := r.LatestMetric("count")
		count[r.Tags[TagStepMetrics]] += n
	}
	ms := map[string]float64{}
	bytes := map[string]float64{}
	create := 0
	for _, q := range env.fake.Requests() {
		var body struct {
			RunID   string            `json:"run_id"`
			Metrics []json.RawMessage `json:"metrics"`
		}
		json.Unmarshal(q.Body, &body)
		set := setOf[body.RunID]
		switch {
		case strings.HasSuffix(q.Path, "/runs/create"):
			create++
		case strings.HasSuffix(q.Path, "/runs/log-batch"):
			ms[set] += costBatchMS + costValueMS*float64(len(body.Metrics))
		case strings.HasSuffix(q.Path, "/runs/update"):
			ms[set] += costUpdateMS
		case strings.Contains(q.Path, "/mlflow-artifacts/artifacts/"):
			for id, s := range setOf {
				if strings.Contains(q.Path, id) {
					ms[s] += costPutCallMS
					bytes[s] += float64(len(q.Body))
				}
			}
		}
	}
	// creates and the re-check searches are the same for every window
	windows := float64(len(setOf))
	perWindow := (float64(create)*costCreateMS + 2*windows*costSearchMS) / windows
	out := map[string][2]float64{}
	for set, n := range count {
		w := n / 1000 // windows of 1,000
		out[set] = [2]float64{(ms[set] + perWindow*w) / n * 1000, bytes[set] / n * 1000}
	}
	return out
}

// TestWindowServerCostModel: the core set fits 1,000 interactions/s into
// one server (with room for the table upload), the full set does not,
// and table-only windows catch up from far behind.
func TestWindowServerCostModel(t *testing.T) {
	env := newWindowEnv(t)
	sp := env.openSpool()
	recordWindowCalls(t, sp, 0, 10000) // 5 windows per route queued: table only, then core, then full
	ws := env.start(sp, WindowOptions{Concurrency: 1, BehindWindows: 2, FarBehind: 4})
	flushAll(t, ws)
	cost := windowCost(t, env)
	none, core, full := cost[StepMetricsNone], cost[StepMetricsCore], cost[StepMetricsFull]
	t.Logf("modelled server CPU per 1,000 interactions: table only %.0f ms, core %.0f ms, full %.0f ms (+ the table: %.0f KB here)",
		none[0], core[0], full[0], core[1]/1024)
	if none[0] == 0 || core[0] == 0 || full[0] == 0 {
		t.Fatalf("want windows of both sets: %v", cost)
	}
	// At 1,000/s the server has 1,000 ms per 1,000 interactions.
	budget := serverCoreMSps / targetPerSec * 1000
	if core[0] > 0.85*budget {
		t.Errorf("core set costs %.0f ms per 1,000: leaves under 15 %% of the budget for the table", core[0])
	}
	if full[0] < budget {
		t.Logf("full set also fits the budget")
	}
	if none[0] > 0.3*core[0] {
		t.Errorf("table-only windows cost %.0f ms per 1,000, core %.0f", none[0], core[0])
	}
	if full[0] < 1.8*core[0] {
		t.Errorf("full %.0f ms vs core %.0f ms: the core set saves too little to be worth switching", full[0], core[0])
	}
}
