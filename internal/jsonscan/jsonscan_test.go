package jsonscan

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestReadersAgreeWithEncodingJSON reads a small object with every
// reader and compares it with encoding/json on the inputs it accepts;
// the inputs it refuses are the ones outside its exact subset.
func TestReadersAgreeWithEncodingJSON(t *testing.T) {
	type obj struct {
		S string `json:"s"`
		N int    `json:"n"`
		B bool   `json:"b"`
		L []int  `json:"l"`
	}
	read := func(data string) (obj, bool) {
		var o obj
		p := New(data)
		p.WS()
		ok := p.Object(func(key string) (int, bool) {
			switch key {
			case "s":
				return 0, p.Str(&o.S)
			case "n":
				return 1, p.Int(&o.N)
			case "b":
				return 2, p.Bool(&o.B)
			case "l":
				if p.Null() {
					o.L = nil
					return 3, true
				}
				o.L = []int{}
				return 3, p.Array(func() bool {
					var n int
					ok := p.Int(&n)
					o.L = append(o.L, n)
					return ok
				})
			}
			return NoField, p.Other(key, "s", "n", "b", "l")
		})
		return o, ok && p.AtEnd()
	}
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{`{"s":"x","n":-3,"b":true,"l":[1, 2 ,3]}`, true},
		{` { "b" : false , "l" : [ ] , "other" : {"deep":[null,1.5e3,"\u00e9"]} } `, true},
		{`{"l":null,"s":null,"b":null}`, true},
		{`{}`, true},
		{`{"s":"esc\n"}`, false},
		{`{"S":"case-folded"}`, false},
		{`{"ſ":"folds to s, one byte longer"}`, false},
		{`{"ss":1,"nn":2,"other":3}`, true},
		{`{"n":1,"n":2}`, false},
		{`{"b":"true"}`, false},
		{`{"l":[1,]}`, false},
		{`{"n":1} trailing`, false},
		{`{"n":1.5}`, false},
	} {
		got, ok := read(tc.data)
		if ok != tc.ok {
			t.Errorf("%s: read %v, want %v", tc.data, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		var want obj
		if err := json.Unmarshal([]byte(tc.data), &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, encoding/json %+v (%v)", tc.data, got, want, err)
		}
	}
}

// Other works out a key's ASCII-ness itself when the key is not the one
// Object handed over last.
func TestOtherForeignKey(t *testing.T) {
	p := New(`{"x":1} 2`)
	if !p.Object(func(string) (int, bool) { return NoField, p.Skip() }) {
		t.Fatal("object not read")
	}
	p.WS()
	if p.Other("ſ", "s") {
		t.Error("ſ skipped although it folds to the kept s")
	}
	if !p.Other("ss", "s") || !p.AtEnd() {
		t.Error("ss not skipped")
	}
}
