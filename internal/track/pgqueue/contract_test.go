package pgqueue_test

import (
	"github.com/llm-connector/llm-connector/internal/track/mlflow"
	"github.com/llm-connector/llm-connector/internal/track/pgqueue"
)

// An external test package, so that mlflow may import pgqueue.
var _ mlflow.Queue = (*pgqueue.Queue)(nil)
