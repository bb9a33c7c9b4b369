package upstream

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAnswer(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		body     io.Reader
		limit    int
		want     string
		tooLarge bool
		err      error
	}{
		{"under the limit", strings.NewReader("abc"), 4, "abc", false, nil},
		{"at the limit", strings.NewReader("abcd"), 4, "abcd", false, nil},
		{"over the limit is cut", strings.NewReader("abcde"), 4, "abcd", true, nil},
		{"read error is handed back", io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(boom)), 4, "ab", false, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, tooLarge, err := ReadAnswer(tt.body, tt.limit)
			if string(raw) != tt.want || tooLarge != tt.tooLarge || !errors.Is(err, tt.err) {
				t.Fatalf("ReadAnswer = %q, %v, %v; want %q, %v, %v", raw, tooLarge, err, tt.want, tt.tooLarge, tt.err)
			}
		})
	}
}

func TestEmbedProblem(t *testing.T) {
	tests := []struct {
		name    string
		vectors [][]float32
		inputs  int
		want    string
	}{
		{"one per input", [][]float32{{1}, {2, 3}}, 2, ""},
		{"too few", [][]float32{{1}}, 2, "embeddings answer has 1 vectors for 2 inputs"},
		{"too many", [][]float32{{1}, {2}}, 1, "embeddings answer has 2 vectors for 1 inputs"},
		{"an empty one", [][]float32{{1}, {}}, 2, "embeddings answer has an empty vector at 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EmbedProblem(tt.vectors, tt.inputs); got != tt.want {
				t.Fatalf("EmbedProblem = %q, want %q", got, tt.want)
			}
		})
	}
}
