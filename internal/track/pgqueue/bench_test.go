package pgqueue

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkAppendClaimAck is the database cost of a record's whole life
// (appended, committed, claimed, handed out, acked, deleted) on one
// connection: records/s, and the PostgreSQL backend's CPU per record
// when its /proc entry is readable (a local server).
func BenchmarkAppendClaimAck(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprintf("claim=%d", n), func(b *testing.B) { benchAppendClaimAck(b, n) })
	}
}

func benchAppendClaimAck(b *testing.B, claimBatch int) {
	db, _ := testDB(b)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	var pid int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	q := openQ(b, db, Options{ClaimBatch: claimBatch})
	ctx := context.Background()
	c := call("bench", 0)
	cpu0, cpuOK := backendCPU(pid)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ID = fmt.Sprintf("bench-%08d", i)
		if err := q.Record(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	syncQ(b, q)
	appended, _ := backendCPU(pid)
	var seqs []uint64
	for i := 0; i < b.N; i++ {
		seqs = append(seqs, next(b, q).Seq)
	}
	claimed, _ := backendCPU(pid)
	for _, s := range seqs {
		q.Ack(s)
	}
	syncQ(b, q)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if cpu1, ok := backendCPU(pid); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)*1e6/100/float64(b.N), "db-cpu-µs/record")
		b.ReportMetric(float64(appended-cpu0)*1e6/100/float64(b.N), "db-cpu-µs/append")
		b.ReportMetric(float64(claimed-appended)*1e6/100/float64(b.N), "db-cpu-µs/claim")
	}
	if n := rows(b, db, "windows"); n != 0 {
		b.Fatalf("%d rows left", n)
	}
}

// backendCPU reads a process's user+system CPU in clock ticks (1/100 s).
func backendCPU(pid int) (int64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + k, err1 == nil && err2 == nil
}
