package sse

import (
	"bytes"
	"errors"
)

// EventCRLF writes one data-only event framed with CRLF, as Google's
// servers frame Gemini streams: "data: <data>\r\n\r\n". data must be one
// line (compact JSON is). A client's splitter that looks for one
// line-ending style must see only that one in a stream, so a stream
// written with EventCRLF uses it for every event and sends no comments.
func (s *Writer) EventCRLF(data []byte) error {
	if bytes.ContainsAny(data, "\r\n") {
		return errors.New("sse: EventCRLF data holds a line break")
	}
	b := append(s.begin(), "data: "...)
	b = append(b, data...)
	b = append(b, "\r\n\r\n"...)
	return s.end(b)
}
