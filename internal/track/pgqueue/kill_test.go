package pgqueue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
)

const helperEnv = "PGQUEUE_HELPER"

// TestHelperProcess is the instance TestKilledInstance kills: it appends
// 50 records, commits them, holds 10 (5 of them grouped) and waits.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestKilledInstance")
	}
	fail := func(err error) {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DatabaseURL: os.Getenv("PGQUEUE_DSN")})
	if err != nil {
		fail(err)
	}
	q, err := Open(ctx, db, Options{Channel: "windows", Owner: "victim", Lease: 2 * time.Second, Logger: quiet()})
	if err != nil {
		fail(err)
	}
	for i := range 50 {
		if err := q.Record(ctx, call("v", i)); err != nil {
			fail(err)
		}
	}
	if err := q.Sync(ctx); err != nil {
		fail(err)
	}
	var seqs []string
	var group []uint64
	for i := range 10 {
		e, err := q.Next(ctx)
		if err != nil {
			fail(err)
		}
		if i < 5 {
			group = append(group, e.Seq)
		}
		seqs = append(seqs, strconv.FormatUint(e.Seq, 10))
	}
	if err := q.Group(ctx, "win-1", group); err != nil {
		fail(err)
	}
	fmt.Println("HELD " + strings.Join(seqs, ","))
	for { // renewing its leases until the kill
		time.Sleep(time.Hour)
	}
}

// TestKilledInstance: an instance holding ten records (a group of five
// among them) is killed with SIGKILL; while it lived the survivor got
// only the other forty, after its leases ran out the survivor gets the
// ten, recovered, the group whole and in one piece; every record exactly
// once.
func TestKilledInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	db, cfg := testDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "PGQUEUE_DSN="+cfg.DatabaseURL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	list, ok := strings.CutPrefix(strings.TrimSpace(line), "HELD ")
	if !ok {
		t.Fatalf("helper said %q", line)
	}
	var held []uint64
	for _, s := range strings.Split(list, ",") {
		n, _ := strconv.ParseUint(s, 10, 64)
		held = append(held, n)
	}

	b := openQ(t, db, Options{Owner: "survivor", Lease: 2 * time.Second, PollInterval: 20 * time.Millisecond})
	count := map[string]int{}
	for range 40 {
		e := next(t, b)
		count[e.Call.ID]++
		if slices.Contains(held, e.Seq) || e.Recovered || e.Attempts != 1 {
			t.Errorf("while the holder lived got seq %d recovered %v attempts %d", e.Seq, e.Recovered, e.Attempts)
		}
		b.Ack(e.Seq)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	var got []uint64
	for range 10 {
		e := next(t, b)
		count[e.Call.ID]++
		got = append(got, e.Seq)
		grouped := slices.Contains(held[:5], e.Seq)
		if !e.Recovered || e.Attempts != 2 || grouped != (e.Group == "win-1") || (grouped && e.GroupSize != 5) {
			t.Errorf("recovered seq %d: recovered %v attempts %d group %q/%d", e.Seq, e.Recovered, e.Attempts, e.Group, e.GroupSize)
		}
		b.Ack(e.Seq)
	}
	syncQ(t, b)
	slices.Sort(got)
	if !slices.Equal(got, slices.Sorted(slices.Values(held))) {
		t.Errorf("recovered seqs %v, want the held %v", got, held)
	}
	if i := slices.Index(got, held[0]); i < 0 || i+5 > len(got) {
		t.Errorf("group members not together in %v", got)
	}
	for i := range 50 {
		if id := call("v", i).ID; count[id] != 1 {
			t.Errorf("%s handed out %d times, want 1", id, count[id])
		}
	}
	if n := rows(t, db, "windows"); n != 0 {
		t.Errorf("%d rows left", n)
	}
}
