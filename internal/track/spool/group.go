package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Delivery groups. A shipper that delivers several records as one unit
// (a window run in MLflow) names the unit before it sends anything and
// records the name with Group. The ack log then holds
//
//	"<crc32c hex> G <name> <members>"
//
// where members is a comma-separated list of seqs and seq ranges
// ("7-9,12"); the checksum covers everything after the first space. A torn
// G line fails its checksum and is skipped on reopen: its Group call never
// returned, so nothing was sent under that name. Compaction keeps the G
// lines of groups that still have undelivered members, in the order the
// groups were made (a later group wins a record named by both).

// Group bounds.
const (
	MaxGroupName    = 200    // bytes, printable ASCII without spaces
	MaxGroupMembers = 10_000 // seqs per group
)

// ErrBadGroup is returned by Group for a name or member list out of bounds.
var ErrBadGroup = errors.New("spool: bad group")

type group struct {
	id   uint64 // the creation order: entries name their group by it
	name string
	seqs []uint64 // sorted
	live int      // members not yet done
}

func validGroupName(name string) bool {
	if name == "" || len(name) > MaxGroupName {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == ',' {
			return false
		}
	}
	return true
}

// Group durably records that seqs form one delivery group called name:
// the G line is fsynced before Group returns. Entries handed out by Next
// afterwards, also after a reopen, carry Group == name and GroupSize ==
// len(seqs) (duplicates removed). Members already delivered are allowed
// and stay counted in GroupSize. Grouping a record again moves it to the
// new group; a name used again replaces the earlier group.
func (s *Spool) Group(ctx context.Context, name string, seqs []uint64) error {
	if !validGroupName(name) {
		return fmt.Errorf("%w: name must be 1-%d printable ASCII bytes without spaces or commas", ErrBadGroup, MaxGroupName)
	}
	members := append([]uint64(nil), seqs...)
	sort.Slice(members, func(i, j int) bool { return members[i] < members[j] })
	members = dedup(members)
	if len(members) == 0 || len(members) > MaxGroupMembers {
		return fmt.Errorf("%w: %d members (want 1-%d)", ErrBadGroup, len(members), MaxGroupMembers)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	g := s.installGroupLocked(name, members)
	if g.live > 0 {
		s.ackBuf = appendGroup(s.ackBuf, g)
		s.markDirtyLocked()
	}
	s.mu.Unlock()
	return s.Sync(ctx)
}

func dedup(sorted []uint64) []uint64 {
	out := sorted[:0]
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// installGroupLocked makes g current for its live members.
func (s *Spool) installGroupLocked(name string, members []uint64) *group {
	if s.groups == nil {
		s.groups = make(map[string]*group)
		s.groupIDs = make(map[uint64]*group)
	}
	if old := s.groups[name]; old != nil {
		for _, seq := range old.seqs {
			if e := s.lookupLocked(seq); e != nil && e.grp == old.id {
				e.grp = 0
			}
		}
		s.forgetGroupLocked(old)
	}
	s.groupOrder++
	g := &group{id: s.groupOrder, name: name, seqs: members}
	for _, seq := range members {
		e := s.lookupLocked(seq)
		if e == nil {
			continue
		}
		if e.grp != 0 {
			s.leaveGroupLocked(e)
		}
		e.grp = g.id
		g.live++
	}
	if g.live > 0 {
		s.groups[name] = g
		s.groupIDs[g.id] = g
	}
	return g
}

// leaveGroupLocked detaches e from its group, forgetting the group once
// no undelivered member is left.
func (s *Spool) leaveGroupLocked(e *entry) {
	g := s.groupIDs[e.grp]
	e.grp = 0
	if g == nil {
		return
	}
	g.live--
	if g.live <= 0 {
		s.forgetGroupLocked(g)
	}
}

func (s *Spool) forgetGroupLocked(g *group) {
	if s.groups[g.name] == g {
		delete(s.groups, g.name)
	}
	delete(s.groupIDs, g.id)
}

// appendGroupsLocked appends the G lines of the live groups, oldest first.
func (s *Spool) appendGroupsLocked(dst []byte) []byte {
	gs := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	for _, g := range gs {
		dst = appendGroup(dst, g)
	}
	return dst
}

func appendGroup(dst []byte, g *group) []byte {
	start := len(dst)
	dst = append(dst, "00000000 G "...)
	dst = append(dst, g.name...)
	dst = append(dst, ' ')
	for i := 0; i < len(g.seqs); {
		j := i
		for j+1 < len(g.seqs) && g.seqs[j+1] == g.seqs[j]+1 {
			j++
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, g.seqs[i], 10)
		if j > i {
			dst = append(dst, '-')
			dst = strconv.AppendUint(dst, g.seqs[j], 10)
		}
		i = j + 1
	}
	hexTo(dst[start:start+8], crcOf(dst[start+9:]))
	return append(dst, '\n')
}

// parseGroup checks and splits a G line (without its '\n').
func parseGroup(line []byte) (name string, seqs []uint64, ok bool) {
	if len(line) < 14 || line[8] != ' ' || line[9] != 'G' || line[10] != ' ' {
		return "", nil, false
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil || uint32(sum) != crcOf(line[9:]) {
		return "", nil, false
	}
	rest := line[11:]
	i := bytes.IndexByte(rest, ' ')
	if i <= 0 || !validGroupName(string(rest[:i])) {
		return "", nil, false
	}
	name = string(rest[:i])
	for _, part := range bytes.Split(rest[i+1:], []byte{','}) {
		lo, hi, isRange := bytes.Cut(part, []byte{'-'})
		a, err := strconv.ParseUint(string(lo), 10, 64)
		if err != nil {
			return "", nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(string(hi), 10, 64); err != nil || b < a || b-a >= MaxGroupMembers {
				return "", nil, false
			}
		}
		for v := a; ; v++ { // not v <= b: b may be the largest uint64
			seqs = append(seqs, v)
			if v == b {
				break
			}
		}
		if len(seqs) > MaxGroupMembers {
			return "", nil, false
		}
	}
	return name, seqs, true
}

// groupLine is a G line read back from the ack log.
type groupLine struct {
	name string
	seqs []uint64
}

// restoreGroupsLocked re-installs the groups read at open, in file order,
// onto the recovered entries.
func (s *Spool) restoreGroupsLocked(lines []groupLine) {
	for _, gl := range lines {
		s.installGroupLocked(gl.name, gl.seqs)
	}
}
