package llmtest

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// Vector is the fakes' embedding of text: n values from a hash of the
// text, normalised to length 1. Equal texts get equal vectors.
func Vector(text string, n int) []float32 {
	v := make([]float32, n)
	var sum float64
	seed := sha256.Sum256([]byte(text))
	for i := range v {
		h := sha256.Sum256(append(seed[:], byte(i), byte(i>>8)))
		f := float64(int32(binary.LittleEndian.Uint32(h[:]))) / math.MaxInt32
		v[i] = float32(f)
		sum += f * f
	}
	norm := float32(math.Sqrt(sum))
	for i := range v {
		v[i] /= norm
	}
	return v
}
