package mlflow

import (
	"context"
	"net/http"
	"strings"
)

// searchByTag returns the active runs of the experiment whose tag key
// equals value, oldest first (at most 100: more would be a bug).
func (c *client) searchByTag(ctx context.Context, expID, key, value string) ([]runInfo, error) {
	q := "'"
	if strings.Contains(value, "'") {
		if strings.Contains(value, `"`) {
			return nil, nil // cannot be quoted
		}
		q = `"`
	}
	in := map[string]any{
		"experiment_ids": []string{expID},
		"filter":         "tags.`" + key + "` = " + q + value + q,
		"max_results":    100,
		"order_by":       []string{"attributes.start_time ASC"},
	}
	var out struct {
		Runs []runJSON `json:"runs"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/2.0/mlflow/runs/search", nil, in, &out); err != nil {
		return nil, err
	}
	infos := make([]runInfo, len(out.Runs))
	for i, r := range out.Runs {
		infos[i] = r.Info
	}
	return infos, nil
}
