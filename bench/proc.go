package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a measured subprocess: the floor proxy or the service.
type proc struct {
	name string
	addr string // host:port it listens on
	cmd  *exec.Cmd
	log  string // file with its stdout and stderr
	idle uint64 // RSS bytes once ready, before any load
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procSpec describes a subprocess to start.
type procSpec struct {
	name      string
	argv      []string
	env       []string // added to PATH, HOME and LISTEN_ADDR
	dir       string   // for its log file
	core      int      // pin to this core with taskset; -1: no pinning
	nice      bool     // lowest CPU priority (helpers that must not disturb the generator)
	readyPath string   // GET path that answers once it serves
}

// startProc runs spec.argv and waits until GET readyPath answers.
func startProc(ctx context.Context, spec procSpec) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := spec.argv
	if spec.core >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(spec.core)}, argv...)
	}
	if spec.nice {
		argv = append([]string{"nice", "-n", "19"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDR=" + addr}, spec.env...)
	logPath := filepath.Join(spec.dir, strings.ReplaceAll(spec.name, "/", "_")+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", spec.name, err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", spec.name, err)
	}
	p := &proc{name: spec.name, addr: addr, cmd: cmd, log: logPath}
	if err := waitReady(ctx, "http://"+addr+spec.readyPath); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: not ready: %w\n%s", spec.name, err, p.tail())
	}
	p.idle, _ = p.rss()
	return p, nil
}

func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// tail returns the end of the process's log.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// pid is the measured process: nice and taskset exec the program in
// place, so the pid is the same.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
var clockTick = func() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && n > 0 {
		return time.Second / time.Duration(n)
	}
	return 10 * time.Millisecond
}()

// cpu returns utime+stime of the process (all its threads, living and
// exited), from /proc/<pid>/stat. Resolution: one clock tick (10 ms).
func (p *proc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, fmt.Errorf("%s: read stat: %w", p.name, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads fields 14 (utime) and 15 (stime) of a /proc stat
// line; the command name (field 2) may contain spaces, so fields are
// counted after its closing parenthesis.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// syscalls returns the read and write system calls the process has made
// (syscr + syscw of /proc/<pid>/io): a stream's writes show how well it
// coalesces what it sends.
func (p *proc) syscalls() (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.pid()))
	if err != nil {
		return 0, fmt.Errorf("%s: read io: %w", p.name, err)
	}
	return parseIOSyscalls(b)
}

func parseIOSyscalls(b []byte) (uint64, error) { return sumFields(b, "io", "syscr", "syscw") }

// sumFields sums the two "key: number" lines k1 and k2 of a /proc file
// (what names the file in errors).
func sumFields(b []byte, what, k1, k2 string) (uint64, error) {
	var n uint64
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != k1 && k != k2) {
			continue
		}
		c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", what, k, err)
		}
		n += c
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("%s: no %s/%s", what, k1, k2)
	}
	return n, nil
}

// switches returns the context switches of the process's threads so far
// (voluntary_ctxt_switches + nonvoluntary_ctxt_switches of each
// /proc/<pid>/task/<tid>/status; a Go process keeps its threads, so
// none that ran in a slice is missing at its end).
func (p *proc) switches() (uint64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p.pid()))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("%s: no tasks: %v", p.name, err)
	}
	var n uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		c, err := parseSwitches(b)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		n += c
	}
	return n, nil
}

func parseSwitches(b []byte) (uint64, error) {
	return sumFields(b, "status", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
}

// rss returns VmRSS in bytes; hwm returns VmHWM (peak RSS).
func (p *proc) rss() (uint64, error) { return p.status("VmRSS:") }
func (p *proc) hwm() (uint64, error) { return p.status("VmHWM:") }

func (p *proc) status(field string) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.name, err)
	}
	defer f.Close()
	return parseStatusKB(f, field)
}

func parseStatusKB(r interface{ Read([]byte) (int, error) }, field string) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("status %s: %w", field, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("status: no %s", field)
}

// anon returns RssAnon in bytes: the resident pages the process
// allocated itself (heap, stacks, runtime), without the file-backed
// pages of its executable. Those (RssFile) are clean, shared with the page
// cache and reclaimable, and how many of them are mapped depends on the
// kernel's fault-around over a binary that is in the page cache, not on
// what the process does.
func (p *proc) anon() (uint64, error) { return p.status("RssAnon:") }

// rssPeak is the largest total and anonymous RSS sampled.
type rssPeak struct{ total, anon uint64 }

// rssSampler records the largest RSS seen while running.
type rssSampler struct {
	stop chan struct{}
	done chan rssPeak
}

func sampleRSS(p *proc, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan rssPeak, 1)}
	go func() {
		var peak rssPeak
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v, err := p.rss(); err == nil {
				peak.total = max(peak.total, v)
			}
			if v, err := p.anon(); err == nil {
				peak.anon = max(peak.anon, v)
			}
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) end() rssPeak {
	close(s.stop)
	return <-s.done
}
