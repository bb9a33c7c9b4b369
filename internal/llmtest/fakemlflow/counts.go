package fakemlflow

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
