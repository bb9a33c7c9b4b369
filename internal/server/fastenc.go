package server

import (
	"strconv"
	"unicode/utf8"
)

// The stream encoders below write the common event — a text delta —
// without encoding/json: one append into a buffer the stream reuses, the
// same bytes json.Marshal writes (TestFastEncodersMatchJSON,
// FuzzAppendJSONString). Everything else (tool calls, the final events,
// errors) still goes through encoding/json.

// appendJSONString appends s as a JSON string exactly as encoding/json
// does: HTML-safe (<, > and & escaped), U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendChatDelta appends /chat's delta event data: {"text":"..."}.
func appendChatDelta(b []byte, text string) []byte {
	b = append(b, `{"text":`...)
	b = appendJSONString(b, text)
	return append(b, '}')
}

// appendOADelta appends a chat.completion.chunk with one choice whose
// delta has the role (first chunk) and content: what json.Marshal writes
// for oaCompletion{Choices: []oaChoice{{Delta: &oaMsgOut{Role, Content}}}}.
func (e *oaEvents) appendOADelta(b []byte, role, content string) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, e.created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, e.model)
	b = append(b, `,"choices":[{"index":0,"delta":{`...)
	if role != "" {
		b = append(b, `"role":`...)
		b = appendJSONString(b, role)
		b = append(b, ',')
	}
	b = append(b, `"content":`...)
	b = appendJSONString(b, content)
	return append(b, `},"logprobs":null,"finish_reason":null}],"usage":null,"system_fingerprint":null}`...)
}
