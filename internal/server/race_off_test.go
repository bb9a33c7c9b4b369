//go:build !race

package server

// raceEnabled: the race detector is on; it moves more values to the
// heap, so allocation counts of encoding/json paths differ.
const raceEnabled = false
