package server

import (
	"bytes"
	"encoding/json"
	"errors"
)

// bodyError says why a request body did not decode into its request
// struct: it is not a JSON object, a value has the wrong JSON type (want
// is set), or it is not valid JSON. Each surface words it in its own
// error shape (oa, an).
type bodyError struct {
	notObject bool
	// field is the dotted path of a value of the wrong type and want the
	// JSON type it should have been (jsonType); both empty otherwise.
	field, want string
}

// unmarshalObject decodes body, which must be a JSON object, into v.
func unmarshalObject(body []byte, v any) *bodyError {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return &bodyError{notObject: true}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &bodyError{field: te.Field, want: jsonType(te.Type)}
		}
		return &bodyError{}
	}
	return nil
}

// oa is e as an OpenAI invalid_request_error.
func (e *bodyError) oa() *oaFail {
	switch {
	case e.notObject:
		return invalidParam("", "the request body must be a JSON object")
	case e.want != "":
		return invalidParam(e.field, "invalid type for '%s': expected %s", e.field, e.want)
	}
	return invalidParam("", "the request body is not valid JSON")
}

// an is e as an Anthropic invalid_request_error.
func (e *bodyError) an() *anFail {
	switch {
	case e.notObject:
		return anInvalid("the request body must be a JSON object")
	case e.want != "":
		return anInvalid("%s: Input should be %s", e.field, e.want)
	}
	return anInvalid("the request body is not valid JSON")
}

// modelFail checks the model (required) and provider names of an
// OpenAI-shaped body; nil when both are fine.
func modelFail(model, provider string) *oaFail {
	switch {
	case model == "":
		return invalidParam("model", "you must provide a model parameter")
	case checkModelName("model", model, maxModelName) != "":
		return invalidParam("model", "%s", checkModelName("model", model, maxModelName))
	case checkModelName("provider", provider, maxProviderName) != "":
		return invalidParam("provider", "%s", checkModelName("provider", provider, maxProviderName))
	}
	return nil
}
