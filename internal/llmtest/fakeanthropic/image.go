package fakeanthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
)

// imageSource is an image block's source: base64 bytes (or a URL, which
// the API fetches itself and the fake does not).
type imageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// checkImage validates an image block as the API does: a base64 source
// of one of the four image types whose bytes are that type.
func checkImage(src *imageSource, i, j int) string {
	at := fmt.Sprintf("messages.%d.content.%d.image.source", i, j)
	switch {
	case src == nil:
		return at + ": Field required"
	case src.Type == "url" && src.URL != "":
		return ""
	case src.Type != "base64":
		return at + ".type: Input should be 'base64' or 'url'"
	}
	switch src.MediaType {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
	default:
		return at + ".base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
	}
	data, err := base64.StdEncoding.DecodeString(src.Data)
	if err != nil || len(data) == 0 {
		return at + ".base64.data: The image data is not valid base64"
	}
	if got := http.DetectContentType(data); got != src.MediaType {
		return fmt.Sprintf("%s.base64: Image does not match the provided media type %s", at, src.MediaType)
	}
	return ""
}

// checkInputSchema: a custom tool's input_schema describes an object.
func checkInputSchema(typ string, schema json.RawMessage, i int) string {
	if typ != "" && typ != "custom" || len(schema) == 0 {
		return ""
	}
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(schema, &s) != nil || !bytes.Equal(bytes.TrimSpace(s.Type), []byte(`"object"`)) {
		return fmt.Sprintf("tools.%d.custom.input_schema.type: Input should be 'object'", i)
	}
	return ""
}
