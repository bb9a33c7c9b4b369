package fakemlflow

// DeleteRunForTest removes a run the way runs/delete hides it from the
// real server's searches (which return active runs only), and reports
// whether it existed. It stands in for a runs/delete handler until the
// fake has one: the windows shipper's tests route runs/delete to it.
func (s *Server) DeleteRunForTest(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs[id] == nil {
		return false
	}
	delete(s.runs, id)
	for i, x := range s.runOrder {
		if x == id {
			s.runOrder = append(s.runOrder[:i], s.runOrder[i+1:]...)
			break
		}
	}
	return true
}
