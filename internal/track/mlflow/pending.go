package mlflow

import (
	"context"
	"errors"
	"github.com/llm-connector/llm-connector/internal/track/spool"
	"time"
)

// Placeholders until the window and trace shippers are merged.
func (t *Tracker) openWindows() (*channel, error) { return nil, errors.New("windows: not merged") }

// spoolQueue stands in until spool.Group is merged.
type spoolQueue struct{ *spool.Spool }

func (spoolQueue) Group(context.Context, string, []uint64) error {
	return errors.New("spool: groups not merged")
}

// WindowOptions stands in until the window shipper is merged.
type WindowOptions struct {
	Size     int
	Interval time.Duration
}
