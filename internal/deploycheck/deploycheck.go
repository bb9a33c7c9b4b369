// Package deploycheck reads the deployment files (Dockerfile,
// docker-compose.yml, deploy/mlflow/Dockerfile, .dockerignore) so that
// tests can check what can be checked without a Docker engine: pinned
// images, health conditions, restart policies, optional secrets and the
// image's writable paths.
package deploycheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

// Instruction is one Dockerfile instruction, continuation lines joined.
type Instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, ENV, USER, ...
	Args string
	Line int
}

// Dockerfile is a parsed Dockerfile: every instruction, in order.
type Dockerfile struct{ Instructions []Instruction }

// ParseDockerfile reads the instructions of the Dockerfile at path.
func ParseDockerfile(path string) (*Dockerfile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dockerfile
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		d.Instructions = append(d.Instructions, Instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	return &d, sc.Err()
}

// Stage is the instructions of one build stage.
type Stage struct {
	Image, Name  string
	Instructions []Instruction
}

// Stages splits the file at each FROM.
func (d *Dockerfile) Stages() []Stage {
	var out []Stage
	for _, in := range d.Instructions {
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			st := Stage{}
			for _, w := range f {
				if !strings.HasPrefix(w, "--") && st.Image == "" {
					st.Image = w
				}
			}
			if len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				st.Name = f[len(f)-1]
			}
			out = append(out, st)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].Instructions = append(out[len(out)-1].Instructions, in)
		}
	}
	return out
}

// Env returns the ENV settings of a stage (KEY=VALUE form).
func (s Stage) Env() map[string]string {
	env := map[string]string{}
	for _, in := range s.Instructions {
		if in.Cmd != "ENV" {
			continue
		}
		for _, kv := range strings.Fields(in.Args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = strings.Trim(v, `"`)
			}
		}
	}
	return env
}

// Last returns the stage's last instruction named cmd.
func (s Stage) Last(cmd string) (Instruction, bool) {
	for i := len(s.Instructions) - 1; i >= 0; i-- {
		if s.Instructions[i].Cmd == cmd {
			return s.Instructions[i], true
		}
	}
	return Instruction{}, false
}

var versionTag = regexp.MustCompile(`[0-9]`)

// PinError says why an image reference is not pinned to a version, or
// returns nil. A digest counts; so does a tag with a version number in
// it. "scratch" is the empty image and needs no pin.
func PinError(image string) error {
	if image == "scratch" {
		return nil
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return fmt.Errorf("image %q has no tag (means latest)", image)
	}
	tag := image[colon+1:]
	if tag == "latest" || !versionTag.MatchString(tag) {
		return fmt.Errorf("image %q: tag %q is not a version", image, tag)
	}
	return nil
}

// Compose is the part of docker-compose.yml the checks read.
type Compose struct {
	Services map[string]Service `yaml:"services"`
	Secrets  map[string]any     `yaml:"secrets"`
}

// Service is one compose service.
type Service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Restart     string            `yaml:"restart"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []any             `yaml:"volumes"`
	Secrets     []any             `yaml:"secrets"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck map[string]any `yaml:"healthcheck"`
	Command     any            `yaml:"command"`
}

// ParseCompose reads docker-compose.yml (anchors and merge keys resolved).
// depends_on must be in its long form (a map with conditions): the short
// list form fails to parse here, which is the point.
func ParseCompose(path string) (*Compose, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Mount is a volume entry in either compose syntax.
type Mount struct {
	Source, Target string
	CreateHostPath bool
}

// Mounts returns the service's volumes in one form.
func (s Service) Mounts() []Mount {
	var out []Mount
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) >= 2 {
				out = append(out, Mount{Source: parts[0], Target: parts[1], CreateHostPath: true})
			}
		case map[string]any:
			m := Mount{}
			m.Source, _ = v["source"].(string)
			m.Target, _ = v["target"].(string)
			if b, ok := v["bind"].(map[string]any); ok {
				m.CreateHostPath, _ = b["create_host_path"].(bool)
			}
			out = append(out, m)
		}
	}
	return out
}
