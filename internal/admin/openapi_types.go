package admin

import (
	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
)

// APITypes are the values this package's handlers encode and decode, by
// schema name, for the OpenAPI document (internal/openapi).
func APITypes() map[string]any {
	return map[string]any{
		"KeySpec": auth.KeySpec{},
		"CreatedKey": struct {
			Plain string `json:"key"`
			auth.Key
			Note string `json:"note"`
		}{},
		"KeyList": struct {
			Keys []auth.Key `json:"keys"`
		}{},
		"Revoked": struct {
			ID      string `json:"id"`
			Revoked bool   `json:"revoked"`
		}{},
		"Usage":         usageAnswer{},
		"Stats":         cost.Stats{},
		"RequestPage":   cost.RequestPage{},
		"RequestDetail": RequestDetail{},
		"Budgets": struct {
			Keys []KeyBudget `json:"keys"`
		}{},
		"Login": struct {
			Key string `json:"key"`
		}{},
		"Session": sessionAnswer{},
		// AuthError is auth.WriteOpenAIError's shape, which every admin
		// error and every refused API key has.
		"AuthError": struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    string `json:"code"`
			} `json:"error"`
		}{},
		"LoggedOut": struct {
			LoggedOut bool `json:"logged_out"`
		}{},
	}
}
