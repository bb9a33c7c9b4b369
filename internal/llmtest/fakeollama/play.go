package fakeollama

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/llmtest/fakeserver"
)

// line is one answer line, fields in the order Ollama's api.ChatResponse
// marshals them; zero metrics are omitted as Ollama does.
type line struct {
	Model              string      `json:"model"`
	CreatedAt          time.Time   `json:"created_at"`
	Message            lineMessage `json:"message"`
	Done               bool        `json:"done"`
	DoneReason         string      `json:"done_reason,omitempty"`
	TotalDuration      int64       `json:"total_duration,omitempty"`
	LoadDuration       int64       `json:"load_duration,omitempty"`
	PromptEvalCount    int         `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64       `json:"prompt_eval_duration,omitempty"`
	EvalCount          int         `json:"eval_count,omitempty"`
	EvalDuration       int64       `json:"eval_duration,omitempty"`
}

type lineMessage struct {
	Role      string        `json:"role"`
	Content   string        `json:"content"`
	ToolCalls []outToolCall `json:"tool_calls,omitempty"`
}

type outToolCall struct {
	ID       string      `json:"id,omitempty"`
	Function outFunction `json:"function"`
}

type outFunction struct {
	Index     int             `json:"index"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// player writes one scripted answer.
type player struct {
	*fakeserver.Call
	w       http.ResponseWriter
	release <-chan struct{} // Server.Release
	reply   Reply
	start   time.Time
}

// stream writes the answer as NDJSON. Like Ollama, headers go out with the
// first line, so a stall before it leaves the client waiting for headers.
func (p *player) stream() {
	rep := p.reply
	switch rep.Fault {
	case FaultCutBeforeFirstByte:
		p.Cut()
	case FaultStallBeforeFirst:
		if !p.Hold(p.release) {
			return
		}
	}
	p.w.Header().Set("Content-Type", "application/x-ndjson")
	lines := p.answerLines()
	delay := rep.Delay
	if rep.Endless && delay == 0 {
		delay = time.Millisecond
	}
	for i := 0; rep.Endless && len(lines) > 0 || i < len(lines); i++ {
		if i == rep.After && !p.fault() {
			return
		}
		if !p.Sleep(delay) || !p.write(lines[i%len(lines)]) {
			return
		}
	}
	if rep.After >= len(lines) && !p.fault() {
		return
	}
	if p.Sleep(delay) {
		p.write(p.doneLine())
	}
}

// fault plays an "after N lines" fault; it reports whether the answer
// goes on.
func (p *player) fault() bool {
	switch p.reply.Fault {
	case FaultCutAfter:
		p.Cut()
	case FaultStallAfter:
		return p.Hold(p.release)
	case FaultMalformedAfter:
		p.Send([]byte(fmt.Sprintf(`{"model":%q,"created_at":"%s","message":{"role":"assistant","content":" fo`+"\n",
			p.reply.Model, time.Now().UTC().Format(time.RFC3339Nano))))
		return false
	case FaultErrorLineAfter:
		b, _ := json.Marshal(map[string]string{"error": p.reply.ErrorText})
		p.Send(append(b, '\n'))
		return false
	}
	return true
}

// whole writes a "stream": false answer: one JSON object.
func (p *player) whole() {
	rep := p.reply
	switch rep.Fault {
	case FaultCutBeforeFirstByte, FaultCutAfter, FaultMalformedAfter:
		p.Cut()
	case FaultStallBeforeFirst, FaultStallAfter:
		if !p.Hold(p.release) {
			return
		}
	case FaultErrorLineAfter:
		writeError(p.w, http.StatusInternalServerError, rep.ErrorText)
		return
	}
	// The model takes as long to write the answer either way: the one
	// object comes when the stream's done line would have.
	if !p.Sleep(rep.Delay * time.Duration(len(p.answerLines())+1)) {
		return
	}
	l := p.doneLine()
	l.Message.Content = strings.Join(rep.Deltas, "")
	l.Message.ToolCalls = toolCalls(rep.ToolCalls)
	writeJSON(p.w, http.StatusOK, l)
}

func (p *player) answerLines() []line {
	var out []line
	for _, d := range p.reply.Deltas {
		out = append(out, p.line(lineMessage{Role: "assistant", Content: d}))
	}
	if len(p.reply.ToolCalls) > 0 {
		out = append(out, p.line(lineMessage{Role: "assistant", ToolCalls: toolCalls(p.reply.ToolCalls)}))
	}
	return out
}

func toolCalls(calls []ToolCall) []outToolCall {
	var out []outToolCall
	for i, c := range calls {
		args := c.Arguments
		if args == "" {
			args = "{}"
		}
		out = append(out, outToolCall{ID: c.ID, Function: outFunction{Index: i, Name: c.Name, Arguments: json.RawMessage(args)}})
	}
	return out
}

func (p *player) line(m lineMessage) line {
	return line{Model: p.reply.Model, CreatedAt: time.Now().UTC(), Message: m}
}

func (p *player) doneLine() line {
	l := p.line(lineMessage{Role: "assistant"})
	l.Done = true
	l.DoneReason = p.reply.DoneReason
	if l.DoneReason == "" {
		l.DoneReason = "stop"
	}
	total := time.Since(p.start).Nanoseconds() + 1
	l.TotalDuration, l.LoadDuration = total, total/4+1
	l.PromptEvalCount, l.PromptEvalDuration = p.reply.PromptEvalCount, total/8+1
	l.EvalCount, l.EvalDuration = p.reply.EvalCount, total/2+1
	return l
}

func (p *player) write(l line) bool { return p.Send(append(fakeserver.MustJSON(l), '\n')) }

// tinyReply answers like the model "tiny": with tools offering
// get_weather after a user turn it calls get_weather(Paris); otherwise it
// says TinyAnswer, cut by options.num_predict (done_reason "length") or
// options.stop. Prompt token counts are estimates, not Ollama's tokenizer.
func tinyReply(req *ChatRequest) Reply {
	prompt := 2
	for _, m := range req.Messages {
		prompt += 3 + len(strings.Fields(m.Content))
	}
	last := req.Messages[len(req.Messages)-1].Role
	if last == "user" && offers(req.Tools, "get_weather") {
		return Reply{ToolCalls: []ToolCall{{ID: "call_sre5n3br", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			PromptEvalCount: prompt + 10*len(req.Tools), EvalCount: 5}
	}
	rep := Reply{PromptEvalCount: prompt, DoneReason: "stop"}
	limit := len(TinyWords) + 1 // the words and EOS
	if n, ok := req.Options["num_predict"].(float64); ok && n >= 0 && int(n) < limit {
		limit = int(n)
		rep.DoneReason = "length"
	}
	stops := stopStrings(req.Options["stop"])
	text := ""
	for i, w := range TinyWords {
		if i >= limit {
			break
		}
		rep.EvalCount++
		if cut, ok := cutAtStop(text+w, stops); ok {
			if piece := cut[len(text):]; piece != "" {
				rep.Deltas = append(rep.Deltas, piece)
			}
			rep.DoneReason = "stop"
			return rep
		}
		text += w
		rep.Deltas = append(rep.Deltas, w)
	}
	if limit > len(TinyWords) {
		rep.EvalCount++ // EOS
	}
	return rep
}

func offers(tools []Tool, name string) bool {
	for _, t := range tools {
		if t.Function.Name == name {
			return true
		}
	}
	return false
}

func stopStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, s := range list {
		if s, ok := s.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func cutAtStop(text string, stops []string) (string, bool) {
	best := -1
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return text[:best], true
}

// tags lists the known models in /api/tags shape.
func (s *Server) tags() any {
	type details struct {
		ParentModel       string   `json:"parent_model"`
		Format            string   `json:"format"`
		Family            string   `json:"family"`
		Families          []string `json:"families"`
		ParameterSize     string   `json:"parameter_size"`
		QuantizationLevel string   `json:"quantization_level"`
	}
	type model struct {
		Name       string    `json:"name"`
		Model      string    `json:"model"`
		ModifiedAt time.Time `json:"modified_at"`
		Size       int64     `json:"size"`
		Digest     string    `json:"digest"`
		Details    details   `json:"details"`
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	out := struct {
		Models []model `json:"models"`
	}{Models: []model{}}
	for _, n := range names {
		out.Models = append(out.Models, model{Name: n + ":latest", Model: n + ":latest",
			ModifiedAt: time.Date(2026, 11, 25, 23, 51, 36, 781029571, time.UTC), Size: 553650,
			Digest:  fmt.Sprintf("%064x", len(n)),
			Details: details{Format: "gguf", Family: "llama", Families: []string{"llama"}, ParameterSize: "135K", QuantizationLevel: "unknown"}})
	}
	return out
}
