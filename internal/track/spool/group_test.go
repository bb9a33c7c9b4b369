package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// groupsOf drains every ready record and returns Group/GroupSize by
// request ID, acking nothing.
func groupsOf(t *testing.T, s *Spool) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	for s.Stats().Backlog > s.Stats().InFlight {
		e := next(t, s)
		out[e.Call.ID] = [2]string{e.Group, strconv.Itoa(e.GroupSize)}
	}
	return out
}

func mustGroup(t *testing.T, s *Spool, name string, seqs ...uint64) {
	t.Helper()
	if err := s.Group(context.Background(), name, seqs); err != nil {
		t.Fatalf("Group(%s): %v", name, err)
	}
}

func TestGroupSurvivesReopenWithPartialAcks(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 8) // seqs 1..8
	var seqs []uint64
	for range 8 {
		seqs = append(seqs, next(t, s).Seq)
	}
	mustGroup(t, s, "w-a", seqs[0], seqs[2], seqs[3], seqs[4]) // req-000, 002, 003, 004
	mustGroup(t, s, "w-b", seqs[5], seqs[6])                   // req-005, 006
	mustGroup(t, s, "w-done", seqs[7])                         // req-007, acked below
	for _, i := range []int{2, 7} {
		if err := s.Ack(seqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // no Sync: Group itself made the lines durable

	want := map[string][2]string{
		"req-000": {"w-a", "4"}, "req-001": {"", "0"}, "req-003": {"w-a", "4"}, "req-004": {"w-a", "4"},
		"req-005": {"w-b", "2"}, "req-006": {"w-b", "2"},
	}
	for round := range 2 { // the second open reads the ack log the first one compacted
		s = open(t, Options{Dir: dir})
		got := groupsOf(t, s)
		if len(got) != len(want) {
			t.Fatalf("open %d: got %v, want %v", round+1, got, want)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("open %d: %s: group %v, want %v", round+1, id, got[id], w)
			}
		}
		s.Close()
	}
	acks, _ := os.ReadFile(filepath.Join(dir, ackName))
	if bytes.Contains(acks, []byte(" G w-done ")) {
		t.Errorf("compacted ack log keeps the G line of a finished group:\n%s", acks)
	}
}

func TestGroupDurableAcrossCrash(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 3)
	a, b := next(t, s), next(t, s)
	mustGroup(t, s, "w-crash", a.Seq, b.Seq)
	// A crash: copy the directory as it is on disk now, without Close.
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	s2 := open(t, Options{Dir: crashed})
	got := groupsOf(t, s2)
	if got["req-000"] != [2]string{"w-crash", "2"} || got["req-001"] != [2]string{"w-crash", "2"} || got["req-002"][0] != "" {
		t.Fatalf("after crash: %v", got)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(from, "*.log"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(n)), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTornGroupLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 4)
	var seqs []uint64
	for range 4 {
		seqs = append(seqs, next(t, s).Seq)
	}
	mustGroup(t, s, "w-ok", seqs[0], seqs[1])
	s.Close()
	// A second group whose line was torn by a crash mid-write, and one
	// whose bytes were damaged.
	torn := appendGroup(nil, &group{name: "w-torn", seqs: seqs[2:]})
	bad := appendGroup(nil, &group{name: "w-bad", seqs: seqs[3:]})
	bad[len(bad)-2] ^= 1
	f, err := os.OpenFile(filepath.Join(dir, ackName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bad)
	f.Write(torn[:len(torn)-4])
	f.Close()

	s = open(t, Options{Dir: dir})
	if c := s.Stats().Corrupt; c != 2 {
		t.Errorf("Corrupt = %d, want 2", c)
	}
	got := groupsOf(t, s)
	if got["req-000"] != [2]string{"w-ok", "2"} || got["req-002"][0] != "" || got["req-003"][0] != "" {
		t.Fatalf("groups after torn line: %v", got)
	}
}

func TestRegroupAndRename(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	record(t, s, 0, 4)
	var seqs []uint64
	for range 4 {
		seqs = append(seqs, next(t, s).Seq)
	}
	mustGroup(t, s, "w-1", seqs[0], seqs[1], seqs[2])
	mustGroup(t, s, "w-2", seqs[2], seqs[3]) // req-002 moves to w-2
	mustGroup(t, s, "w-3", seqs[0])          // w-1 keeps req-001 only...
	mustGroup(t, s, "w-1", seqs[1], seqs[1]) // ...and is then replaced by name; duplicates count once
	s.Close()
	s = open(t, Options{Dir: dir})
	got := groupsOf(t, s)
	want := map[string][2]string{"req-000": {"w-3", "1"}, "req-001": {"w-1", "1"}, "req-002": {"w-2", "2"}, "req-003": {"w-2", "2"}}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %v, want %v", id, got[id], w)
		}
	}
}

func TestGroupBounds(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	record(t, s, 0, 1)
	e := next(t, s)
	big := make([]uint64, MaxGroupMembers+1)
	for i := range big {
		big[i] = uint64(i + 1)
	}
	for _, c := range []struct {
		name string
		seqs []uint64
	}{
		{"", []uint64{e.Seq}},
		{"has space", []uint64{e.Seq}},
		{"a,b", []uint64{e.Seq}},
		{strings.Repeat("x", MaxGroupName+1), []uint64{e.Seq}},
		{"w-empty", nil},
		{"w-big", big},
	} {
		if err := s.Group(context.Background(), c.name, c.seqs); !errors.Is(err, ErrBadGroup) {
			t.Errorf("Group(%.20q, %d seqs) = %v, want ErrBadGroup", c.name, len(c.seqs), err)
		}
	}
	if err := s.Group(context.Background(), "w-max", big[:MaxGroupMembers]); err != nil {
		t.Errorf("Group with %d members: %v", MaxGroupMembers, err)
	}
	s.Close()
	if err := s.Group(context.Background(), "w-x", []uint64{e.Seq}); !errors.Is(err, ErrClosed) {
		t.Errorf("Group after Close = %v", err)
	}
}

func TestGroupLineRoundTrip(t *testing.T) {
	for _, seqs := range [][]uint64{{1}, {1, 2, 3}, {5, 7, 8, 9, 20}, {18446744073709551615}} {
		line := appendGroup(nil, &group{name: "w-x", seqs: seqs})
		name, got, ok := parseGroup(bytes.TrimSuffix(line, []byte{'\n'}))
		if !ok || name != "w-x" || len(got) != len(seqs) {
			t.Fatalf("%v: parse %q = %q %v %v", seqs, line, name, got, ok)
		}
		for i := range seqs {
			if got[i] != seqs[i] {
				t.Fatalf("%v: got %v", seqs, got)
			}
		}
	}
	for _, bad := range []string{"w-x 3-1", "w-x 1-20000", "w-x a", "w-x "} {
		line := appendGroup(nil, &group{name: "w-x", seqs: []uint64{1}})
		line = append(line[:11], bad...)
		hexTo(line[:8], crcOf(line[9:]))
		if _, _, ok := parseGroup(line); ok {
			t.Errorf("parseGroup accepted %q", bad)
		}
	}
}
