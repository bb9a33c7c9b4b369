package jsonscan

import (
	"encoding/json"
	"math"
	"testing"
)

func checkFloat(t *testing.T, f float64) {
	t.Helper()
	got, ok := AppendFloat(nil, f)
	want, err := json.Marshal(f)
	if ok != (err == nil) || (ok && string(got) != string(want)) {
		t.Errorf("AppendFloat(%v) = %q, %v; encoding/json: %q, %v", f, got, ok, want, err)
	}
}

func TestAppendFloatMatchesJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 0.7, 1e-6, 9.99e-7, 1e-7, 1e-9, 1e20, 1e21, 1.5e21,
		-1e-9, 123456789.125, 1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.000123, 2.5e-10,
		math.NaN(), math.Inf(1), math.Inf(-1)} {
		checkFloat(t, f)
	}
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1e-7, 1e21, 0.7, -3.25e-12} {
		f.Add(v)
	}
	f.Fuzz(checkFloat)
}
