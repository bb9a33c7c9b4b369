package fakemlflow

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Counts is everything the server stores.
type Counts struct {
	Runs, ActiveRuns, DeletedRuns int
	Traces, Spans                 int
}

// Count counts what is stored, over every experiment.
func (s *Server) Count() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counts{Runs: len(s.runs), Traces: len(s.traces)}
	for _, r := range s.runs {
		if r.LifecycleStage == "deleted" {
			c.DeletedRuns++
		} else {
			c.ActiveRuns++
		}
	}
	for _, set := range s.spans {
		c.Spans += len(set.order)
	}
	return c
}

// RunsByTag returns every run (any experiment, deleted ones included) whose
// tag key has value, in creation order.
func (s *Server) RunsByTag(key, value string) []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Run
	for _, id := range s.runOrder {
		if r := s.runs[id]; r.Tags[key] == value {
			out = append(out, r.clone())
		}
	}
	return out
}

// TagValues counts runs (deleted ones excluded) per value of tag key, e.g.
// how many runs carry each llm_connector.interaction_id.
func (s *Server) TagValues(key string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, r := range s.runs {
		if v, ok := r.Tags[key]; ok && r.LifecycleStage != "deleted" {
			out[v]++
		}
	}
	return out
}

// TableColumn reads a run's table artifact in mlflow.log_table's format
// (`{"columns": [...], "data": [[...], ...]}`), as mlflow.load_table
// would, and returns one column of every row as text; ok is false when
// the artifact is missing, not a table, or has no such column.
func (s *Server) TableColumn(runID, path, column string) (values []string, ok bool) {
	b, found := s.Artifact(runID, path)
	if !found {
		return nil, false
	}
	var t struct {
		Columns []string `json:"columns"`
		Data    [][]any  `json:"data"`
	}
	if json.Unmarshal(b, &t) != nil {
		return nil, false
	}
	col := slices.Index(t.Columns, column)
	if col < 0 {
		return nil, false
	}
	for _, row := range t.Data {
		if col < len(row) {
			values = append(values, fmt.Sprint(row[col]))
		}
	}
	return values, true
}
