package cost

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// usageDim picks the per-dimension rollup that answers q: q must not be
// limited to a user or key, and group by at most one of user, key and
// model or team (and perhaps day). ok is false otherwise (a team filter
// reads the team rollup).
func usageDim(q UsageQuery) (dim Dimension, grouped, byDay, ok bool) {
	if q.User != "" || q.KeyID != "" || q.Team != "" {
		return "", false, false, false
	}
	dim = DimProvider // the total: every row has exactly one provider
	for _, d := range q.GroupBy {
		switch {
		case d == DimDay && !byDay:
			byDay = true
		case d != DimDay && !grouped:
			dim, grouped = d, true
		default:
			return "", false, false, false
		}
	}
	return dim, grouped, byDay, true
}

// usageByDim is Usage over usage_daily_by: days × values rows instead of
// days × users × keys × models.
func (l *Ledger) usageByDim(ctx context.Context, q UsageQuery, dim Dimension, grouped, byDay bool) ([]UsageRow, error) {
	var keys []string
	if byDay {
		keys = append(keys, "day")
	}
	if grouped {
		keys = append(keys, "value")
	}
	sums := make([]string, len(baseMeasures))
	for i, c := range baseMeasures {
		sums[i] = fmt.Sprintf("CAST(COALESCE(SUM(%s), 0) AS BIGINT)", c)
		if c == "cost_usd" {
			sums[i] = "COALESCE(SUM(cost_usd), 0)"
		}
	}
	where, args := []string{"dim = ?"}, []any{string(dim)}
	if dim == DimTeam {
		where = append(where, "value <> ''") // calls without a team are in no team's usage
	}
	if !q.From.IsZero() {
		where, args = append(where, "day >= ?"), append(args, q.From.UTC().Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		where, args = append(where, "day <= ?"), append(args, q.To.UTC().Format(time.DateOnly))
	}
	sel := strings.Join(append(slices.Clone(keys), sums...), ", ")
	query := "SELECT " + sel + " FROM " + dailyByTable.name + " WHERE " + strings.Join(where, " AND ")
	if len(keys) > 0 {
		query += " GROUP BY " + strings.Join(keys, ", ")
	}
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("cost: usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var u UsageRow
		var value string
		var dest []any
		if byDay {
			dest = append(dest, &u.Day)
		}
		if grouped {
			dest = append(dest, &value)
		}
		dest = append(dest, &u.Requests, &u.Errors, &u.InputTokens, &u.OutputTokens, &u.ThinkingTokens,
			&u.CachedInputTokens, &u.CostUSD, &u.CostUnknown, &u.CacheWriteTokens, &u.CacheWrite1hTokens)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cost: usage: scan: %w", err)
		}
		switch dim {
		case DimUser:
			u.User = value
		case DimKey:
			u.KeyID = value
		case DimModel:
			u.Provider, u.Model, _ = strings.Cut(value, "/")
		case DimTeam:
			u.Team = value
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cost: usage: %w", err)
	}
	if !grouped && !byDay && len(out) == 0 {
		out = []UsageRow{{}}
	}
	slices.SortFunc(out, func(a, b UsageRow) int { return compareUsage(q.GroupBy, a, b) })
	return out, nil
}

// compareUsage orders rows by the grouping columns, as Usage's ORDER BY.
func compareUsage(dims []Dimension, a, b UsageRow) int {
	for _, d := range dims {
		var c int
		switch d {
		case DimDay:
			c = cmp.Compare(a.Day, b.Day)
		case DimUser:
			c = cmp.Compare(a.User, b.User)
		case DimKey:
			c = cmp.Compare(a.KeyID, b.KeyID)
		case DimModel:
			c = cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
