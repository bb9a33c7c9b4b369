package deploycheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/llm-connector/llm-connector/internal/config"
	"github.com/llm-connector/llm-connector/internal/store"
)

const root = "../.."

func compose(t *testing.T) *Compose {
	t.Helper()
	c, err := ParseCompose(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

func dockerfile(t *testing.T, path string) *Dockerfile {
	t.Helper()
	d, err := ParseDockerfile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPinError(t *testing.T) {
	for image, pinned := range map[string]bool{
		"redis:7.4.2-alpine": true, "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z": true,
		"x@sha256:abc": true, "scratch": true, "localhost:5000/app:1.2": true,
		"redis": false, "minio/minio:latest": false, "gcr.io/distroless/static-debian12:nonroot": false,
		"localhost:5000/app": false,
	} {
		if got := PinError(image) == nil; got != pinned {
			t.Errorf("PinError(%q) pinned=%v, want %v", image, got, pinned)
		}
	}
}

// TestImagesPinned: every image the stack pulls or builds from names a version.
func TestImagesPinned(t *testing.T) {
	for name, s := range compose(t).Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s: neither image nor build", name)
		}
		if s.Image != "" {
			if err := PinError(s.Image); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
		}
	}
	for _, path := range []string{"Dockerfile", "deploy/mlflow/Dockerfile"} {
		stages := dockerfile(t, path).Stages()
		names := map[string]bool{}
		for _, st := range stages {
			if err := PinError(st.Image); err != nil && !names[st.Image] {
				t.Errorf("%s: %v", path, err)
			}
			names[st.Name] = true
		}
	}
}

// TestMLflowImagePackagesPinned: the MLflow image installs exact versions
// of mlflow, psycopg2 (PostgreSQL backend store) and boto3 (S3 artifacts).
func TestMLflowImagePackagesPinned(t *testing.T) {
	want := map[string]bool{"mlflow": false, "psycopg2-binary": false, "boto3": false}
	for _, in := range dockerfile(t, "deploy/mlflow/Dockerfile").Instructions {
		if in.Cmd != "RUN" || !strings.Contains(in.Args, "pip install") {
			continue
		}
		for _, w := range strings.Fields(in.Args) {
			if strings.HasPrefix(w, "-") || w == "pip" || w == "install" {
				continue
			}
			name, ver, ok := strings.Cut(w, "==")
			if !ok || !regexp.MustCompile(`^[0-9]+(\.[0-9]+)+$`).MatchString(ver) {
				t.Errorf("pip package %q is not pinned with ==X.Y.Z", w)
			}
			if _, known := want[name]; known {
				want[name] = true
			}
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("the MLflow image does not install %s", name)
		}
	}
}

// TestDependsOnHealthy: every dependency waits for a health condition (or
// for a one-shot to complete), every service waited on as healthy has a
// health check, and every service has a restart policy.
func TestDependsOnHealthy(t *testing.T) {
	c := compose(t)
	imageHealth := false
	for _, in := range dockerfile(t, "Dockerfile").Instructions {
		imageHealth = imageHealth || in.Cmd == "HEALTHCHECK"
	}
	for name, s := range c.Services {
		if s.Restart == "" {
			t.Errorf("service %s has no restart policy", name)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			switch d.Condition {
			case "service_healthy":
				if target.Healthcheck == nil && !(target.Build == "." && imageHealth) {
					t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case "service_completed_successfully":
				if target.Restart == "unless-stopped" || target.Restart == "always" {
					t.Errorf("one-shot %s restarts forever (restart: %s)", dep, target.Restart)
				}
			default:
				t.Errorf("%s depends on %s without a health condition (condition %q)", name, dep, d.Condition)
			}
		}
	}
	gw := c.Services["llm-connector"]
	if gw.DependsOn["ollama-pull"].Condition != "service_completed_successfully" {
		t.Error("the gateway does not wait for the Ollama model pull to complete")
	}
	if pull := c.Services["ollama-pull"]; !strings.Contains(strings.Join(toStrings(pull.Command), " "), "pull") {
		t.Errorf("ollama-pull does not pull a model: command %v", pull.Command)
	}
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestSecretsOptional: `docker compose up` works without ./secrets or a
// key: no compose secret needs a file, the secrets directory is created
// when missing, and GOOGLE_API_KEY_FILE (an error when the file is
// missing) is not set, so the default path is read only if present.
func TestSecretsOptional(t *testing.T) {
	c := compose(t)
	if len(c.Secrets) > 0 {
		t.Errorf("top-level secrets need their files to exist: %v", c.Secrets)
	}
	gw := c.Services["llm-connector"]
	if _, set := gw.Environment["GOOGLE_API_KEY_FILE"]; set {
		t.Error("GOOGLE_API_KEY_FILE is set: a missing key file would stop the service")
	}
	var mounted bool
	for _, m := range gw.Mounts() {
		if strings.Contains(m.Source, "secrets") {
			mounted = true
			if !m.CreateHostPath {
				t.Errorf("mount %s → %s fails when the directory is missing", m.Source, m.Target)
			}
			if m.Target+"/google_api_key" != config.DefaultGoogleKeyFile {
				t.Errorf("secrets mounted at %s, the service reads %s", m.Target, config.DefaultGoogleKeyFile)
			}
		}
	}
	if !mounted {
		t.Error("the gateway does not mount ./secrets")
	}
	for name, s := range c.Services {
		if len(s.Secrets) > 0 {
			t.Errorf("service %s uses compose secrets, which need their files", name)
		}
	}
}

// TestIgnoreFiles: local data and secrets stay out of the build context
// and out of git.
func TestIgnoreFiles(t *testing.T) {
	for file, want := range map[string][]string{
		".dockerignore": {"data/", "secrets/"},
		".gitignore":    {"/data/", "/secrets/"},
	} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		for _, w := range want {
			if !lines[w] {
				t.Errorf("%s does not list %s", file, w)
			}
		}
	}
}

// runtime returns the gateway image's final stage.
func runtime(t *testing.T) Stage {
	st := dockerfile(t, "Dockerfile").Stages()
	return st[len(st)-1]
}

// imageConfig is the service's configuration with the image's ENV.
func imageConfig(t *testing.T) *config.Config {
	env := runtime(t).Env()
	env["GOOGLE_API_KEY_FILE"] = ""
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestImageWritablePaths lays out the image's filesystem with the script
// the Dockerfile runs, and checks that every path the service writes (the
// data directory, the spool, the SQLite ledger's directory) exists and
// belongs to the image's USER, that the compose volume is mounted there,
// and that the Dockerfile really copies that layout.
func TestImageWritablePaths(t *testing.T) {
	st := runtime(t)
	user, ok := st.Last("USER")
	if !ok {
		t.Fatal("the runtime stage has no USER: it runs as root")
	}
	uidStr, _, _ := strings.Cut(user.Args, ":")
	uid, err := strconv.Atoi(uidStr)
	if err != nil || uid == 0 {
		t.Fatalf("USER %q: want a numeric non-root uid", user.Args)
	}
	cfg := imageConfig(t)
	paths := []string{cfg.DataDir, cfg.MLflow.SpoolDir, filepath.Dir(filepath.Join(cfg.DataDir, store.DefaultFile))}
	var copies string
	for _, in := range st.Instructions {
		if in.Cmd == "COPY" {
			copies += in.Args + "\n"
		}
	}
	if !strings.Contains(copies, "/rootfs/ /") || !strings.Contains(copies, "--chown="+uidStr) {
		t.Errorf("the runtime stage does not copy the rootfs.sh layout with /data owned by %d:\n%s", uid, copies)
	}
	vol, _ := st.Last("VOLUME")
	if !strings.Contains(vol.Args, cfg.DataDir) {
		t.Errorf("VOLUME %s is not DATA_DIR %s", vol.Args, cfg.DataDir)
	}
	var mountsData bool
	for _, m := range compose(t).Services["llm-connector"].Mounts() {
		mountsData = mountsData || m.Target == cfg.DataDir
	}
	if !mountsData {
		t.Errorf("compose does not mount a volume on %s", cfg.DataDir)
	}
	if os.Geteuid() != 0 {
		t.Skip("laying out the image filesystem needs root (chown); CI runs as root")
	}
	out := t.TempDir()
	bin := filepath.Join(t.TempDir(), "llm-connector")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("sh", filepath.Join(root, "deploy/rootfs.sh"), out, bin).CombinedOutput(); err != nil {
		t.Fatalf("rootfs.sh: %v\n%s", err, b)
	}
	for _, p := range paths {
		fi, err := os.Stat(filepath.Join(out, p))
		if err != nil {
			t.Errorf("%s is not in the image: %v", p, err)
			continue
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || int(sys.Uid) != uid || fi.Mode().Perm()&0o700 != 0o700 {
			t.Errorf("%s: dir=%v uid=%d mode=%v, want a directory the uid %d can write", p, fi.IsDir(), sys.Uid, fi.Mode(), uid)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(out, "etc/passwd"))
	if !strings.Contains(string(passwd), ":"+uidStr+":") {
		t.Errorf("/etc/passwd has no user %d:\n%s", uid, passwd)
	}
}

// TestReadmeNamesComposeServices: the README says what the stack starts.
func TestReadmeNamesComposeServices(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range compose(t).Services {
		if !strings.Contains(string(b), "`"+name+"`") {
			t.Errorf("README does not name the compose service `%s`", name)
		}
	}
}
