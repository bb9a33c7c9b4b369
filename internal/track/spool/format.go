package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/llm-connector/llm-connector/internal/track"
)

// A record line is "<crc32c hex> <seq> <appended unix ns> <Call JSON>\n";
// the checksum covers everything after the first space.

func encodeLine(seq uint64, at int64, body []byte) []byte {
	return finishLine(append(append(startLine(nil), body...), '\n'), seq, at)
}

// headRoom is the most a line's header "<crc> <seq> <at> " takes.
const headRoom = 8 + 1 + 20 + 1 + 20 + 1

var zeroHead [headRoom]byte

// startLine empties buf and reserves room for a line's header; the body
// and '\n' are appended after it, then finishLine writes the header.
func startLine(buf []byte) []byte { return append(buf[:0], zeroHead[:]...) }

// finishLine turns buf (startLine's headroom, the body, '\n') into the
// line: it writes the header just before the body and returns the line,
// a suffix of buf.
func finishLine(buf []byte, seq uint64, at int64) []byte {
	var h [headRoom]byte
	hd := strconv.AppendUint(h[:0], seq, 10)
	hd = append(hd, ' ')
	hd = strconv.AppendInt(hd, at, 10)
	hd = append(hd, ' ')
	start := headRoom - len(hd) - 9
	copy(buf[start+9:], hd)
	hexTo(buf[start:start+8], crcOf(buf[start+9:len(buf)-1]))
	buf[start+8] = ' '
	return buf[start:]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func hexTo(dst []byte, v uint32) {
	const digits = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// parseLine checks a line (without its '\n') and splits it.
func parseLine(line []byte) (seq uint64, at int64, body []byte, ok bool) {
	if len(line) < 14 || line[8] != ' ' {
		return 0, 0, nil, false
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil || uint32(sum) != crcOf(line[9:]) {
		return 0, 0, nil, false
	}
	rest := line[9:]
	i := bytes.IndexByte(rest, ' ')
	if i < 0 {
		return 0, 0, nil, false
	}
	seq, err = strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, 0, nil, false
	}
	rest = rest[i+1:]
	if i = bytes.IndexByte(rest, ' '); i < 0 {
		return 0, 0, nil, false
	}
	at, err = strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, 0, nil, false
	}
	return seq, at, rest[i+1:], true
}

func readCall(f *os.File, off, n int64) (track.Call, error) {
	bp := lineBufs.Get().(*[]byte)
	defer putLineBuf(bp)
	buf := append((*bp)[:0], make([]byte, n)...)
	*bp = buf
	if _, err := f.ReadAt(buf, off); err != nil {
		return track.Call{}, fmt.Errorf("read: %w", err)
	}
	_, _, body, ok := parseLine(bytes.TrimSuffix(buf, []byte{'\n'}))
	if !ok {
		return track.Call{}, errors.New("checksum mismatch")
	}
	if c, ok := decodeCall(string(body)); ok {
		return c, nil
	}
	var c track.Call
	if err := json.Unmarshal(body, &c); err != nil {
		return track.Call{}, fmt.Errorf("decode: %w", err)
	}
	return c, nil
}

// scanLines calls fn for every '\n'-terminated line of r with its offset;
// a last line without '\n' is passed with complete=false.
func scanLines(r io.Reader, fn func(off int64, line []byte, complete bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			fn(off, bytes.TrimSuffix(line, []byte{'\n'}), complete)
			off += int64(len(line))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func listSegments(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names) // zero-padded first seq: lexical order is numeric order
	return names, nil
}
