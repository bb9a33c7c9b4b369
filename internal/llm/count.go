package llm

import "errors"

// ErrNoCounter is returned by a TokenCounter that has no exact count for
// a request (a router whose primary target cannot count): the caller
// gives a stated estimate instead.
var ErrNoCounter = errors.New("llm: no token counter for this target")
