//go:build unix

package content

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// prompt2K is a 2 KB prompt of ordinary text with a few items to mask.
var prompt2K = func() string {
	var b strings.Builder
	para := "Hello, I need help with my order #100234 placed on 2024-01-15. The total was $1,234.56 " +
		"and the delivery to Calle Mayor 12, 28013 Madrid is late. You can reach me at ana.garcia@example.es " +
		"or +34 612 345 678. My card ending in 1111 was charged twice; the reference is TX-99812. "
	for b.Len() < 2048-len(para) {
		b.WriteString(para)
	}
	b.WriteString("Please refund to IBAN ES91 2100 0418 4502 0005 1332. My API key sk-proj-AbCdEf0123456789GhIjKlMnOp.")
	for b.Len() < 2048 {
		b.WriteByte(' ')
	}
	return b.String()[:2048]
}()

func BenchmarkMask(b *testing.B) {
	for _, bm := range []struct{ name, in string }{
		{"2KB-with-items", prompt2K},
		{"2KB-clean", strings.Repeat("plain words and 2024-01-15, nothing to hide. ", 46)[:2048]},
		{"32KB-with-items", strings.Repeat(prompt2K, 16)},
		// Inputs built to make a naive scanner re-read: MB/s should stay
		// in the range of the ordinary text above.
		{"2KB-hostile-at", strings.Repeat("a.b@", 512)},
		{"2KB-hostile-digits", strings.Repeat("1 ", 1024)},
		{"2KB-hostile-plus", strings.Repeat("+1 2", 512)},
		{"2KB-hostile-domain", "x@" + strings.Repeat("a.", 1023)},
		{"2KB-hostile-token", strings.Repeat("Ab1", 683)[:2048]},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(bm.in)))
			cpu0 := cpuTime()
			for b.Loop() {
				Mask(bm.in)
			}
			// CPU time per op: on a shared, loaded machine the wall-clock
			// ns/op includes time the process waited for a core.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var sinkN int

// BenchmarkScanBaseline is one table lookup per byte over the same 2 KB:
// the floor any byte scanner pays. Compare Mask to it within one run
// (the ratio holds on a loaded machine; absolute times do not).
func BenchmarkScanBaseline(b *testing.B) {
	for b.Loop() {
		n := 0
		for i := 0; i < len(prompt2K); i++ {
			if is(prompt2K[i], cTok) {
				n++
			}
		}
		sinkN = n
	}
}
