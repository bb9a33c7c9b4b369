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

// TestReadSized: whatever the announced size, ReadSized (and
// ReadSizedString) reads what io.ReadAll reads and hands back the same
// error.
func TestReadSized(t *testing.T) {
	boom := errors.New("boom")
	body := strings.Repeat("0123456789", 300)
	for _, size := range []int64{-1, 0, 1, 511, 512, 2999, 3000, 3001, 100000, MaxBody + 1} {
		for _, src := range []struct {
			name string
			r    func() io.Reader
			err  error
		}{
			{"whole", func() io.Reader { return strings.NewReader(body) }, nil},
			{"one byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }, nil},
			{"read error", func() io.Reader { return io.MultiReader(strings.NewReader(body), iotest.ErrReader(boom)) }, boom},
		} {
			raw, err := ReadSized(src.r(), size)
			if string(raw) != body || !errors.Is(err, src.err) {
				t.Errorf("size %d, %s: ReadSized = %d bytes, %v; want %d bytes, %v", size, src.name, len(raw), err, len(body), src.err)
			}
			text, err := ReadSizedString(src.r(), size)
			if text != body || !errors.Is(err, src.err) {
				t.Errorf("size %d, %s: ReadSizedString = %d bytes, %v; want %d bytes, %v", size, src.name, len(text), err, len(body), src.err)
			}
		}
	}
}
