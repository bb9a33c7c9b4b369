package fakeprovider

import (
	"context"
	"errors"
	"testing"

	"github.com/llm-connector/llm-connector/internal/llm"
)

func TestScriptsPlayInOrderThenDefault(t *testing.T) {
	boom := errors.New("boom")
	p := New("fake", []Step{Text("a"), Text("b")}, []Step{Err(boom)})
	p.SetDefault(Text("d"))
	want := []struct {
		text string
		err  error
	}{{"ab", nil}, {"", boom}, {"d", nil}, {"d", nil}}
	for i, w := range want {
		r, err := llm.Collect(p.Stream(context.Background(), &llm.Request{Model: "m"}))
		if r.Text != w.text || !errors.Is(err, w.err) {
			t.Errorf("call %d: %q, %v; want %q, %v", i, r.Text, err, w.text, w.err)
		}
	}
	if p.NumCalls() != 4 || p.Calls()[0].Request.Model != "m" {
		t.Errorf("calls = %+v", p.Calls())
	}
}

func TestUnscriptedCallFails(t *testing.T) {
	p := New("fake")
	_, err := llm.Collect(p.Stream(context.Background(), &llm.Request{}))
	if llm.KindOf(err) != llm.KindInternal {
		t.Errorf("err = %v, want internal", err)
	}
}

func TestHangEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := New("fake", []Step{Do(func(context.Context) { cancel() }), Hang()})
	_, err := llm.Collect(p.Stream(ctx, &llm.Request{}))
	if llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", err)
	}
	if c := p.Calls()[0]; !errors.Is(c.CtxErr, context.Canceled) || c.Stopped {
		t.Errorf("call = %+v", c)
	}
}

func TestStoppedIsRecorded(t *testing.T) {
	p := New("fake", []Step{Text("a"), Text("b")})
	for range p.Stream(context.Background(), &llm.Request{}) {
		break
	}
	if c := p.Calls()[0]; !c.Stopped {
		t.Errorf("call = %+v, want stopped", c)
	}
}
