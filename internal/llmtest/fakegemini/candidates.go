package fakegemini

// addAlternatives spreads candidates 1.. over the planned chunks, one
// text part per chunk (the rest joined into the last), each candidate's
// finish reason on the last chunk, as Gemini interleaves candidates.
func addAlternatives(out []Response, alts [][]string, finish string) {
	if len(out) == 0 {
		return
	}
	last := len(out) - 1
	for k, alt := range alts {
		idx := k + 1
		for i := range out {
			var text string
			switch {
			case i < last && i < len(alt):
				text = alt[i]
			case i == last:
				for _, d := range alt[min(i, len(alt)):] {
					text += d
				}
			}
			c := Candidate{Index: idx}
			if text != "" {
				t := text
				c.Content = &Content{Role: "model", Parts: []Part{{Text: &t}}}
			}
			if i == last {
				c.FinishReason = finish
			}
			if c.Content != nil || c.FinishReason != "" {
				out[i].Candidates = append(out[i].Candidates, c)
			}
		}
	}
}

// mergeAlternatives joins each further candidate's parts across chunks
// for the unary answer, in index order.
func mergeAlternatives(chunks []Response) []Candidate {
	var out []Candidate
	at := map[int]int{}
	for _, ch := range chunks {
		for _, c := range ch.Candidates {
			if c.Index == 0 {
				continue
			}
			i, ok := at[c.Index]
			if !ok {
				i = len(out)
				at[c.Index] = i
				out = append(out, Candidate{Index: c.Index})
			}
			if c.Content != nil {
				var parts []Part
				if out[i].Content != nil {
					parts = out[i].Content.Parts
				}
				out[i].Content = &Content{Role: "model", Parts: mergeParts(parts, c.Content.Parts)}
			}
			if c.FinishReason != "" {
				out[i].FinishReason = c.FinishReason
			}
		}
	}
	return out
}
