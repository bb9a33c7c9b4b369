package ratelimit

// Peek returns key's state under l without charging anything: what an
// admission now would see (the router's usage strategy reads it).
func (m *Memory) Peek(key string, l Limits) (requests, tokens State) {
	now := m.now().UnixNano()
	v, ok := m.keys.Load(key)
	if !ok {
		return state(l.RPM, 0), state(l.TPM, 0)
	}
	e := v.(*entry)
	e.mu.Lock()
	req, tok := e.req, e.tok
	e.mu.Unlock()
	return state(l.RPM, req-now), state(l.TPM, tok-now)
}

// OutboundKey is the limiter key of an outbound budget named name (and
// of model, when the budget is per model).
func OutboundKey(name, model string, perModel bool) string {
	if perModel {
		return "outbound:" + name + "/" + model
	}
	return "outbound:" + name
}
