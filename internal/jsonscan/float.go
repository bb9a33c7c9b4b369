package jsonscan

import (
	"math"
	"strconv"
)

// AppendFloat appends f as encoding/json writes a float64 (ES6 number to
// string: the shortest representation, exponent form outside [1e-6,
// 1e21), the exponent without a leading zero) and reports true; NaN and
// ±Inf, which encoding/json refuses, append nothing and report false.
func AppendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
