package sse

import (
	"bytes"
	"strings"
	"testing"
)

func collect(t *testing.T, in string) []Event {
	t.Helper()
	var out []Event
	for ev, err := range Read(strings.NewReader(in)) {
		if err != nil {
			t.Fatalf("Read(%q): %v", in, err)
		}
		out = append(out, ev)
	}
	return out
}

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"lf", "data: a\n\ndata: b\n\n", []Event{{Data: "a"}, {Data: "b"}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []Event{{Data: "a"}, {Data: "b"}}},
		{"cr", "data: a\r\rdata: b\r\r", []Event{{Data: "a"}, {Data: "b"}}},
		{"multiline", "data: a\ndata: b\n\n", []Event{{Data: "a\nb"}}},
		{"three lines, then one", "data: a\ndata: b\ndata: c\n\ndata: d\n\n", []Event{{Data: "a\nb\nc"}, {Data: "d"}}},
		{"empty lines of data", "data\ndata\ndata: x\n\n", []Event{{Data: "\n\nx"}}},
		{"empty second line", "data: a\ndata:\n\n", []Event{{Data: "a\n"}}},
		{"typed", "event: delta\nid: 7\ndata: {}\n\n", []Event{{Type: "delta", ID: "7", Data: "{}"}}},
		{"comment", ": ping\n\ndata: x\n\n", []Event{{Data: "x"}}},
		{"no space", "data:x\n\n", []Event{{Data: "x"}}},
		{"unterminated", "data: last", []Event{{Data: "last"}}},
		{"empty data", "data\n\n", []Event{{Data: ""}}},
		{"unknown field", "foo: bar\ndata: y\n\n", []Event{{Data: "y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(t, tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %+v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Event("delta", []byte("line1\nline2\r\nline3")); err != nil {
		t.Fatal(err)
	}
	if err := w.Comment("keep-alive"); err != nil {
		t.Fatal(err)
	}
	if err := w.Event("", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	got := collect(t, buf.String())
	want := []Event{{Type: "delta", Data: "line1\nline2\nline3"}, {Data: `{"a":1}`}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("round trip = %+v, want %+v", got, want)
	}
	if err := w.Event("bad\ntype", nil); err == nil {
		t.Fatal("event type with a newline accepted")
	}
}

func FuzzRead(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "event: x\r\ndata: y\r\n\r\n", ": c\rdata:z\r\r", "data"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		for ev, err := range Read(strings.NewReader(in)) {
			if err != nil {
				return
			}
			if len(ev.Data) > len(in) {
				t.Fatalf("event data longer than input")
			}
			n++
		}
		if n > len(in) {
			t.Fatalf("%d events from %d bytes", n, len(in))
		}
	})
}
