package content

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMask: no input panics Mask, valid UTF-8 stays valid, and no detected
// item's original text survives in the output (checked for items whose
// text occurs once in the input: a second, undetected copy, e.g. inside
// a longer word, may rightly stay).
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		"write to john.doe@example.com today",
		"+1 (555) 123-4567 and 020 7946 0958",
		"card 4111 1111 1111 1111 exp 12/27",
		"IBAN DE89 3704 0044 0532 0130 00",
		"key=sk-proj-AbCdEf0123456789GhIjKlMnOp Bearer abc.def-ghi",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig AKIAIOSFODNN7EXAMPLE",
		"on 2024-01-15 order #123456789, pi 3.14159265358979",
		"+14155552671 4111111111111111 a@b.co",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Mask(in)
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("Mask(%q) = %q: invalid UTF-8", in, out)
		}
		last := 0
		for _, sp := range Find(in) {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(in) {
				t.Fatalf("Find(%q): bad span %+v after %d", in, sp, last)
			}
			last = sp.End
			orig := in[sp.Start:sp.End]
			if strings.Count(in, orig) == 1 && strings.Contains(out, orig) {
				t.Fatalf("Mask(%q) = %q still contains %q (%s)", in, out, orig, sp.Kind.Placeholder())
			}
		}
	})
}
