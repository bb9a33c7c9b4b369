package fakemlflow

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// clause is one "<type>.<key> <op> <value>" of a runs/search filter.
type clause struct {
	kind, key, op, value string
}

// parseFilter understands the subset of MLflow's search grammar that
// clients use: clauses joined by AND; params/tags/attributes compared with
// = != LIKE ILIKE; metrics with = != < <= > >=; keys may be `quoted`.
func parseFilter(f string) ([]clause, string) {
	toks := tokenize(f)
	var out []clause
	for i := 0; i < len(toks); {
		if i > 0 {
			if !strings.EqualFold(toks[i], "and") {
				return nil, fmt.Sprintf("Invalid clause(s) in filter string: '%s'", f)
			}
			i++
		}
		if i+3 > len(toks) {
			return nil, fmt.Sprintf("Invalid filter '%s'. Could not be parsed.", f)
		}
		c, msg := parseClause(toks[i], toks[i+1], toks[i+2])
		if msg != "" {
			return nil, msg
		}
		out = append(out, c)
		i += 3
	}
	return out, ""
}

func parseClause(ident, op, val string) (clause, string) {
	kind, key, ok := strings.Cut(ident, ".")
	if !ok {
		kind, key = "attributes", ident
	}
	switch strings.ToLower(kind) {
	case "params", "param", "parameter", "parameters":
		kind = "params"
	case "tags", "tag":
		kind = "tags"
	case "metrics", "metric":
		kind = "metrics"
	case "attributes", "attribute", "attr", "run":
		kind = "attributes"
	default:
		return clause{}, fmt.Sprintf("Invalid entity type '%s'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']", kind)
	}
	key = strings.Trim(key, "`\"")
	op = strings.ToUpper(op)
	if kind == "metrics" {
		switch op {
		case "=", "!=", "<", "<=", ">", ">=":
		default:
			return clause{}, fmt.Sprintf("Invalid comparator '%s' not one of '{'!=', '<', '<=', '=', '>', '>='}'", op)
		}
		if _, err := strconv.ParseFloat(val, 64); err != nil {
			return clause{}, fmt.Sprintf("Expected numeric value type for metric. Found %s", val)
		}
		return clause{kind, key, op, val}, ""
	}
	switch op {
	case "=", "!=", "LIKE", "ILIKE":
	default:
		return clause{}, fmt.Sprintf("Invalid comparator '%s' not one of '{'!=', '=', 'ILIKE', 'LIKE'}'", op)
	}
	if len(val) < 2 || (val[0] != '\'' && val[0] != '"') || val[len(val)-1] != val[0] {
		if kind != "attributes" {
			return clause{}, fmt.Sprintf("Parameter value is either not quoted or unidentified quote types used for string value %s. Use either single or double quotes.", val)
		}
	} else {
		val = val[1 : len(val)-1]
	}
	return clause{kind, key, op, val}, ""
}

// tokenize splits on spaces, keeping quoted strings whole and splitting
// comparison operators from their neighbours.
func tokenize(f string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(f[i+1:], c)
			if j < 0 {
				j = len(f) - i - 1
			}
			cur.WriteString(f[i : i+j+2])
			i += j + 1
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case strings.IndexByte("=!<>", c) >= 0:
			flush()
			j := i
			for j < len(f) && strings.IndexByte("=!<>", f[j]) >= 0 {
				j++
			}
			toks = append(toks, f[i:j])
			i = j - 1
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return toks
}

func matchAll(r *Run, cs []clause) bool {
	for _, c := range cs {
		if !match(r, c) {
			return false
		}
	}
	return true
}

func match(r *Run, c clause) bool {
	var have string
	var ok bool
	switch c.kind {
	case "params":
		have, ok = r.Params[c.key]
	case "tags":
		have, ok = r.Tags[c.key]
	case "metrics":
		v, found := r.LatestMetric(c.key)
		want, _ := strconv.ParseFloat(c.value, 64)
		return found && cmpNum(v, c.op, want)
	case "attributes":
		have, ok = attribute(r, c.key)
	}
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return have == c.value
	case "!=":
		return have != c.value
	case "LIKE":
		return like(c.value, false).MatchString(have)
	case "ILIKE":
		return like(c.value, true).MatchString(have)
	}
	return false
}

func attribute(r *Run, key string) (string, bool) {
	switch key {
	case "status":
		return r.Status, true
	case "run_name":
		return r.Name, true
	case "run_id":
		return r.ID, true
	case "user_id":
		return r.UserID, true
	case "start_time":
		return strconv.FormatInt(r.StartTime, 10), true
	case "end_time":
		return strconv.FormatInt(r.EndTime, 10), true
	}
	return "", false
}

func cmpNum(v float64, op string, want float64) bool {
	switch op {
	case "=":
		return v == want
	case "!=":
		return v != want
	case "<":
		return v < want
	case "<=":
		return v <= want
	case ">":
		return v > want
	case ">=":
		return v >= want
	}
	return false
}

func like(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
