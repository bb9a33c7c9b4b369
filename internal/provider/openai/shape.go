package openai

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/llm-connector/llm-connector/internal/jsonscan"
)

// shape is the form of a stream's last plain text delta with its
// strings that vary as holes: the delta's text, and the string values of
// the top-level keys the decoder skips (an id a server renumbers, the
// random "obfuscation" padding OpenAI adds). The text deltas of one
// stream differ in nothing else, so a chunk that is the shape with other
// plain strings in its holes decodes to the shape's chunk with its own
// text — found with a few comparisons instead of a parse, which was most
// of what a streamed answer cost the adapter.
//
// Why that is exact: the shape's bytes parsed (fastChunk) to one choice,
// index 0, a delta with only content, no finish reason, no usage; each
// hole is the content of one string token in it. Another chunk made of
// the same bytes around holes that are again plain string contents (no
// quote, no backslash, no control byte; the text also valid UTF-8, as
// plainString requires) is the same sequence of tokens but for those
// strings' values, so it parses to the same chunk but for the text.
// FuzzShape checks it against decodeChunk.
type shape struct {
	buf   []byte // the learned chunk's data (a copy: the event's is reused)
	holes []span // in buf, in order
	text  int    // which hole is the delta's text; -1: nothing learned
	model string // the learned chunk's model (its own copy)
	// misses counts chunks since the last hit, so that a stream whose
	// deltas differ elsewhere (a timestamp per chunk) stops learning.
	misses int
}

// span is a hole: the bytes between a string's quotes.
type span struct{ start, end int }

// shapeGiveUp is how many misses in a row end learning for the stream:
// the deltas of a stream that matches at all match from the second on.
const shapeGiveUp = 8

func newShape() shape { return shape{text: -1} }

// decode decodes one event's data into ch (zero but for Choices, as
// fastChunk takes it): by the shape when data matches it, else as
// decodeChunk does, learning the shape from a plain text delta. The
// strings of ch may be substrings of data.
func (sh *shape) decode(data []byte, ch *chunk) error {
	if text, ok := sh.match(data); ok {
		ch.Model = sh.model
		ch.Choices = append(ch.Choices[:0], chunkChoice{Delta: delta{Content: text}})
		return nil
	}
	s := unsafe.String(unsafe.SliceData(data), len(data))
	if fastChunk(s, ch) {
		sh.learn(s, ch)
		return nil
	}
	return slowChunk(data, ch)
}

// match returns the text of data if data is the shape with plain strings
// in its holes.
func (sh *shape) match(data []byte) (string, bool) {
	if sh.text < 0 {
		return "", false
	}
	at := 0 // end of the shape's bytes matched so far
	var text string
	for i, h := range sh.holes {
		seg := sh.buf[at:h.start]
		if !bytes.HasPrefix(data, seg) {
			return "", sh.miss()
		}
		data = data[len(seg):]
		n := bytes.IndexByte(data, '"')
		if n < 0 || !plainHole(data[:n], i == sh.text) {
			return "", sh.miss()
		}
		if i == sh.text {
			text = unsafe.String(unsafe.SliceData(data), n)
		}
		data, at = data[n:], h.end
	}
	if !bytes.Equal(data, sh.buf[at:]) {
		return "", sh.miss()
	}
	sh.misses = 0
	return text, true
}

func (sh *shape) miss() bool {
	sh.misses++
	return false
}

// plainHole reports whether b can stand between a string's quotes
// without an escape: no backslash, no control byte (the quote ends it),
// and, for the text, valid UTF-8.
func plainHole(b []byte, text bool) bool {
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || !text || utf8.Valid(b)
}

// learn makes data, which fastChunk decoded into ch (so that its strings
// are substrings of data), the shape if ch is a plain text delta.
func (sh *shape) learn(data string, ch *chunk) {
	if sh.misses >= shapeGiveUp || !plainDelta(ch) {
		return
	}
	content := ch.Choices[0].Delta.Content
	start := int(uintptr(unsafe.Pointer(unsafe.StringData(content))) - uintptr(unsafe.Pointer(unsafe.StringData(data))))
	if start <= 0 || start+len(content) >= len(data) || data[start-1] != '"' || data[start+len(content)] != '"' {
		return // not a substring of data where a string's contents are (cannot happen; checked all the same)
	}
	holes, ok := skippedStrings(data, sh.holes[:0])
	if !ok {
		return
	}
	text := span{start, start + len(content)}
	i, _ := slices.BinarySearchFunc(holes, text, func(a, b span) int { return a.start - b.start })
	holes = slices.Insert(holes, i, text)
	sh.buf = append(sh.buf[:0], data...)
	sh.holes, sh.text = holes, i
	if ch.Model != sh.model {
		sh.model = strings.Clone(ch.Model)
	}
}

// plainDelta reports whether ch is one choice, index 0, whose delta is
// text alone: no role change to report, no refusal, no tool calls, no
// finish reason, no usage.
func plainDelta(ch *chunk) bool {
	if len(ch.Choices) != 1 || ch.Usage != nil || ch.Error != nil {
		return false
	}
	c := &ch.Choices[0]
	return c.Index == 0 && c.FinishReason == "" && c.Message == nil &&
		c.Delta.Content != "" && c.Delta.Refusal == "" && c.Delta.ToolCalls == nil
}

// skippedStrings appends to holes the contents of the string values of
// data's top-level keys that fastChunk skips.
func skippedStrings(data string, holes []span) ([]span, bool) {
	p := jsonscan.New(data)
	p.WS()
	ok := p.Object(func(key string) (int, bool) {
		switch key {
		case "model", "choices", "usage", "error":
			return jsonscan.NoField, p.Skip()
		}
		start := p.Pos()
		if !p.Skip() {
			return jsonscan.NoField, false
		}
		// A string with an escape stays in the shape's bytes: a hole
		// takes plain strings only.
		if v := data[start:p.Pos()]; v[0] == '"' && !strings.ContainsRune(v, '\\') {
			holes = append(holes, span{start + 1, p.Pos() - 1})
		}
		return jsonscan.NoField, true
	})
	return holes, ok && p.AtEnd()
}
