package content

// Phone and payment card numbers: one scan reads a sequence of digit
// groups joined by single separators, then the sequence is classified.

const (
	maxGroups    = 16 // groups in one sequence; more is a table of numbers, skipped
	maxSeqDigits = 64 // digits in one sequence; more is one long number, skipped
)

// numSeq is a scanned sequence of digit groups, e.g. "+1 (555) 123-4567".
type numSeq struct {
	plus    bool // starts with '+'
	n       int  // groups
	digits  int
	start   [maxGroups]int  // byte index of each group's first digit
	end     [maxGroups]int  // byte index after each group (after ')' for a parenthesised one)
	length  [maxGroups]int  // digits in each group
	sep     [maxGroups]byte // separator before each group: ' ', '-', '.', or 0 for none
	paren   [maxGroups]bool
	tooLong bool
}

func isSep(c byte) bool { return c == ' ' || c == '-' || c == '.' }

func digit(c byte) bool { return c >= '0' && c <= '9' }

// glued reports whether c continues a word, so the digits before it are
// part of that word, not a number of their own.
func glued(c byte) bool { return is(c, cAlnum) || c == '_' }

// scanNumber reads the sequence starting at i (a digit, '+' or '(').
// seq.n == 0 when there is none. A group glued to a letter or '_' at the
// end is dropped: "1234 5678abc" is the sequence "1234".
func scanNumber(s string, i int) (seq numSeq) {
	j := i
	if s[j] == '+' {
		seq.plus = true
		j++
	}
	var sep byte
	for seq.n < maxGroups {
		paren := j < len(s) && s[j] == '('
		g := j
		if paren {
			g++
		}
		k := g
		for k < len(s) && digit(s[k]) && k-g <= maxSeqDigits {
			k++
		}
		if k == g || (paren && (k >= len(s) || s[k] != ')')) {
			break
		}
		end := k
		if paren {
			end++
		}
		seq.start[seq.n], seq.end[seq.n], seq.length[seq.n] = g, end, k-g
		seq.sep[seq.n], seq.paren[seq.n] = sep, paren
		seq.n++
		seq.digits += k - g
		if seq.digits > maxSeqDigits {
			seq.tooLong = true
			return seq
		}
		j = end
		if j+1 < len(s) && isSep(s[j]) && (digit(s[j+1]) || s[j+1] == '(') {
			sep = s[j]
			j++
			continue
		}
		if paren && j < len(s) && digit(s[j]) {
			sep = 0
			continue
		}
		break
	}
	if seq.n == maxGroups {
		seq.tooLong = true
		return seq
	}
	if seq.n > 0 && seq.end[seq.n-1] < len(s) && glued(s[seq.end[seq.n-1]]) {
		seq.n--
		seq.digits -= seq.length[seq.n]
	}
	return seq
}

// number reports a phone or card number starting at i. kind 0 means none;
// end is then how far the caller may skip (a sequence is not re-read
// from its middle, which keeps the pass linear and avoids masking a
// piece of a longer number). A sequence may hold a phone number and a
// card after it ("+14155552671 4111111111111111"): the phone is the
// longest leading run of groups that is one, the card any run of groups.
func number(s string, i int) (end int, kind Kind) {
	if i >= 2 && (s[i-1] == '.' || s[i-1] == ',') && digit(s[i-2]) {
		return i + 1, 0 // the decimals of a number
	}
	if fewDigits(s, i) {
		return i + 1, 0
	}
	seq := scanNumber(s, i)
	if seq.n == 0 {
		return i + 1, 0
	}
	last := seq.end[seq.n-1]
	if seq.tooLong {
		return skipNumber(s, last), 0
	}
	a, b, isCard := seq.card(s)
	if isCard && a == 0 {
		return seq.end[b-1], Card
	}
	upTo := seq.n
	if isCard {
		upTo = a
	}
	digits := seq.digits
	for g := upTo; g < seq.n; g++ {
		digits -= seq.length[g]
	}
	for p := upTo; p > 0; p-- {
		if seq.phone(s, p, digits) {
			return seq.end[p-1], Phone
		}
		digits -= seq.length[p-1]
	}
	if isCard {
		return seq.start[a], 0 // skip to the card
	}
	return last, 0
}

// fewDigits is the fast path: fewer than 8 digits from i on, counting
// over any separators, cannot hold a phone or card number (nor can any
// part of them, so the caller need not skip).
func fewDigits(s string, i int) bool {
	d, j := 0, i
	if s[j] == '+' {
		j++
	}
	for ; j < len(s) && d < 8; j++ {
		switch c := s[j]; {
		case digit(c):
			d++
		case isSep(c) || c == '(' || c == ')':
		default:
			return true
		}
	}
	return d < 8
}

// skipNumber returns the end of the digits and separators from j on: a
// number too long to be a card or phone is skipped whole, never masked
// in pieces.
func skipNumber(s string, j int) int {
	for j < len(s) && (digit(s[j]) || (isSep(s[j]) && j+1 < len(s) && digit(s[j+1]))) {
		j++
	}
	return j
}

// card finds the longest run of groups [a,b), joined by spaces or
// dashes, of 13 to 19 digits that starts with 2 to 6 (the payment card
// industries: Mir and Mastercard 2-series, Amex/Diners/JCB, Visa,
// Mastercard, Discover/UnionPay/Maestro) and passes the Luhn check. The
// first-digit rule keeps epoch-millisecond timestamps (1…) and most
// order and account numbers that happen to pass Luhn (one in ten does).
func (q *numSeq) card(s string) (a, b int, ok bool) {
	if q.digits < 13 {
		return 0, 0, false
	}
	best, x0 := 0, 0
	if q.plus {
		x0 = 1 // the first group is a phone's country code
	}
	for x := x0; x < q.n; x++ {
		if c := s[q.start[x]]; c < '2' || c > '6' {
			continue
		}
		d := 0
		for y := x; y < q.n; y++ {
			if q.paren[y] || (y > x && q.sep[y] != ' ' && q.sep[y] != '-') {
				break
			}
			d += q.length[y]
			if d > 19 {
				break
			}
			if d >= 13 && d > best && q.luhn(s, x, y+1) {
				a, b, best = x, y+1, d
			}
		}
	}
	return a, b, best > 0
}

// luhn checks the digits of groups [a,b).
func (q *numSeq) luhn(s string, a, b int) bool {
	sum, double := 0, false
	for g := b - 1; g >= a; g-- {
		for k := q.start[g] + q.length[g] - 1; k >= q.start[g]; k-- {
			d := int(s[k] - '0')
			if double {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

// phone reports whether the first n groups (of the given digits) are a
// phone number in an
// international or a common national format:
//   - "+" and 8 to 15 digits (E.164), any grouping: "+44 20 7946 0958";
//   - "00" and 8 to 15 more digits: "0049 30 1234567";
//   - North American 3-3-4, optionally after "1": "(555) 123-4567", "555.123.4567";
//   - a national trunk "0" and 9 to 12 digits, plain ("07700900123") or in
//     groups of two or more joined by one kind of separator
//     ("020 7946 0958", "06 12 34 56 78", "(030) 1234567");
//   - Spanish and Italian mobile 3-3-3 starting with 6 or 7: "612 345 678".
//
// Dates ("2024-01-15", "15.01.2024"), times, versions and plain numbers
// not starting with 0 match none of these.
func (q *numSeq) phone(s string, n, digits int) bool {
	first := s[q.start[0]]
	second := byte(0)
	if q.start[0]+1 < len(s) {
		second = s[q.start[0]+1]
	}
	switch {
	case q.plus:
		return digits >= 8 && digits <= 15
	case first == '0' && second == '0' && q.length[0] >= 2:
		return digits >= 10 && digits <= 17
	case q.nanp(s, n):
		return true
	case first == '0' && digits >= 9 && digits <= 12:
		return q.trunk(n)
	case n == 3 && (first == '6' || first == '7'):
		return q.length[0] == 3 && q.length[1] == 3 && q.length[2] == 3 &&
			q.sep[1] == q.sep[2] && (q.sep[1] == ' ' || q.sep[1] == '-')
	}
	return false
}

func (q *numSeq) nanp(s string, n int) bool {
	g := 0
	if n == 4 && q.length[0] == 1 && s[q.start[0]] == '1' {
		g = 1
	}
	if n-g != 3 || q.length[g] != 3 || q.length[g+1] != 3 || q.length[g+2] != 4 {
		return false
	}
	return !q.paren[g+1] && !q.paren[g+2] && (q.sep[g+1] != 0 || q.paren[g])
}

func (q *numSeq) trunk(n int) bool {
	if n == 1 {
		return q.length[0] >= 10
	}
	var sep byte
	for g := 0; g < n; g++ {
		if q.length[g] < 2 || (g > 0 && q.paren[g]) {
			return false
		}
		if g == 0 || (g == 1 && q.paren[0]) {
			continue
		}
		if sep == 0 {
			sep = q.sep[g]
		}
		if q.sep[g] != sep || sep == '.' {
			return false
		}
	}
	return true
}
