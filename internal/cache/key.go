package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"slices"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/llm-connector/llm-connector/internal/llm"
)

// keyMagic starts every canonical form. Change its version whenever the
// form changes, so that old entries are never read under a new meaning.
const keyMagic = "llm-connector cache key v1\x00"

// Field tags of the canonical form. Each field is a tag of its own
// followed by a self-delimiting payload (a uvarint length and the bytes,
// or a varint, or 8 bytes), fields come in a fixed order, and a tag says
// which field of which element it is; so the form is injective: two
// requests share a form only when every field that changes the answer is
// equal.
const (
	tagRoute          = 'r'
	tagModel          = 'm'
	tagSystem         = 's'
	tagMessage        = 'M' // starts a message
	tagRole           = 'o'
	tagContent        = 'c'
	tagToolCall       = 'C' // starts a tool call of the message
	tagToolCallID     = 'I'
	tagToolCallName   = 'N'
	tagArgsJSON       = 'A' // canonical JSON arguments
	tagArgsRaw        = 'B' // arguments that are not JSON, verbatim
	tagAnswersCallID  = 'i' // the call a tool message answers
	tagMessageName    = 'n'
	tagMaxTokens      = 'x'
	tagTemperature    = 't'
	tagTopP           = 'p'
	tagStop           = 'S'
	tagSeed           = 'd'
	tagJSON           = 'j'
	tagTool           = 'T' // starts a tool definition
	tagToolName       = 'a'
	tagToolDesc       = 'e'
	tagParamsJSON     = 'P'
	tagParamsRaw      = 'Q'
	tagToolChoice     = 'h'
	tagThinkingBudget = 'b'
	tagThinkingLevel  = 'v'
	tagImage          = 'g' // an image of the message: its type and the SHA-256 of its bytes
	tagImageURL       = 'u' // an image not inlined (never reaches a provider so)
	tagSchemaName     = 'y'
	tagSchemaJSON     = 'Y'
	tagSchemaRaw      = 'Z'
	tagSchemaStrict   = 'k'
	tagCandidates     = 'K'
)

// Key returns the cache key of req sent to route (a provider or route
// name): the hex SHA-256 of a versioned canonical form of every field
// that changes the answer. User is left out: it names the caller, not the
// question. JSON inside the request (tool schemas, tool call arguments)
// is canonicalised, so key order and spacing do not matter; stop
// sequences are a set, so their order and repeats do not either; nil and
// empty slices are alike.
func Key(route string, req *llm.Request) string {
	w := keyBufs.Get().(*keyWriter)
	w.b = append(w.b[:0], keyMagic...)
	w.str(tagRoute, route)
	w.str(tagModel, req.Model)
	w.str(tagSystem, req.System)
	for _, m := range req.Messages {
		w.b = append(w.b, tagMessage)
		w.str(tagRole, string(m.Role))
		w.str(tagContent, m.Content)
		for _, tc := range m.ToolCalls {
			w.b = append(w.b, tagToolCall)
			w.str(tagToolCallID, tc.ID)
			w.str(tagToolCallName, tc.Name)
			w.json(tagArgsJSON, tagArgsRaw, tc.Arguments)
		}
		w.str(tagAnswersCallID, m.ToolCallID)
		w.str(tagMessageName, m.Name)
		for _, img := range m.Images {
			w.image(img)
		}
	}
	w.int(tagMaxTokens, int64(req.MaxTokens))
	w.float(tagTemperature, req.Temperature)
	w.float(tagTopP, req.TopP)
	if len(req.Stop) > 0 {
		stop := slices.Compact(slices.Sorted(slices.Values(req.Stop)))
		for _, s := range stop {
			w.b = append(w.b, tagStop)
			w.b = binary.AppendUvarint(w.b, uint64(len(s)))
			w.b = append(w.b, s...)
		}
	}
	if req.Seed != nil {
		w.int(tagSeed, *req.Seed)
	}
	if req.JSON {
		w.b = append(w.b, tagJSON)
	}
	for _, t := range req.Tools {
		w.b = append(w.b, tagTool)
		w.str(tagToolName, t.Name)
		w.str(tagToolDesc, t.Description)
		w.json(tagParamsJSON, tagParamsRaw, string(t.Parameters))
	}
	w.str(tagToolChoice, req.ToolChoice)
	if req.ThinkingBudget != nil {
		w.int(tagThinkingBudget, int64(*req.ThinkingBudget))
	}
	w.str(tagThinkingLevel, req.ThinkingLevel)
	if s := req.Schema; s != nil {
		w.str(tagSchemaName, s.Name)
		w.json(tagSchemaJSON, tagSchemaRaw, string(s.Schema))
		if s.Strict {
			w.b = append(w.b, tagSchemaStrict)
		}
	}
	if req.Candidates > 1 {
		w.int(tagCandidates, int64(req.Candidates))
	}
	sum := sha256.Sum256(w.b)
	if cap(w.b) <= 64<<10 {
		keyBufs.Put(w)
	}
	return hex.EncodeToString(sum[:])
}

type keyWriter struct{ b []byte }

// image writes an image as its type and the SHA-256 of its bytes (a
// fixed 32 bytes, so the form stays injective and the buffer small).
func (w *keyWriter) image(img llm.Image) {
	if len(img.Data) == 0 {
		w.b = append(w.b, tagImageURL)
		w.b = binary.AppendUvarint(w.b, uint64(len(img.URL)))
		w.b = append(w.b, img.URL...)
		return
	}
	w.b = append(w.b, tagImage)
	w.b = binary.AppendUvarint(w.b, uint64(len(img.MIMEType)))
	w.b = append(w.b, img.MIMEType...)
	sum := sha256.Sum256(img.Data)
	w.b = append(w.b, sum[:]...)
}

var keyBufs = sync.Pool{New: func() any { return &keyWriter{b: make([]byte, 0, 4096)} }}

// str writes a string field; an empty string is the same as none.
func (w *keyWriter) str(tag byte, s string) {
	if s == "" {
		return
	}
	w.b = append(w.b, tag)
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

// int writes a number field; 0 is written too.
func (w *keyWriter) int(tag byte, n int64) {
	w.b = append(w.b, tag)
	w.b = binary.AppendVarint(w.b, n)
}

// float writes an optional number field: unset and 0 differ.
func (w *keyWriter) float(tag byte, f *float64) {
	if f == nil {
		return
	}
	w.b = append(w.b, tag)
	w.b = binary.BigEndian.AppendUint64(w.b, math.Float64bits(*f))
}

// json writes embedded JSON in canonical form under tagJSON, or verbatim
// under tagRaw when it is not one JSON value, so the two cannot collide.
func (w *keyWriter) json(tagJSON, tagRaw byte, raw string) {
	if canon, ok := canonicalJSON(raw); ok {
		w.str(tagJSON, canon)
	} else {
		w.str(tagRaw, canon)
	}
}

// canonicalMemo remembers the canonical form of recent JSON texts: the
// same tool schemas and past tool calls come back with every request of
// a conversation.
var canonicalMemo, _ = lru.New[string, string](4096)

// memoMax is the largest text kept in canonicalMemo.
const memoMax = 16 << 10

// canonicalJSON returns raw re-encoded with sorted object keys and no
// insignificant space (numbers kept as written) and true, or raw and
// false when raw is not one JSON value. Blank text is "" and true.
func canonicalJSON(raw string) (string, bool) {
	if len(raw) <= memoMax {
		if c, ok := canonicalMemo.Get(raw); ok {
			return c, true
		}
	}
	if len(bytes.TrimSpace([]byte(raw))) == 0 {
		return "", true
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.Decode(new(any)) != io.EOF {
		return raw, false
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw, false
	}
	c := string(bytes.TrimRight(b.Bytes(), "\n"))
	if len(raw) <= memoMax {
		canonicalMemo.Add(raw, c)
	}
	return c, true
}
