package content

// ibanLength is the length of an IBAN by country (the IBAN registry).
// Knowing it, the scan reads exactly that many characters, so an IBAN
// written in groups of four is not confused with the word after it.
var ibanLength = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
	"LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
	"MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
	"PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// iban reports an IBAN starting at i: a country code, two check digits
// and the country's length of letters and digits, plain or in groups
// separated by single spaces, that passes the ISO 13616 mod-97 check.
func iban(s string, i int) (end int, ok bool) {
	if i+4 > len(s) || !is(s[i+1], cUpper) || !digit(s[i+2]) || !digit(s[i+3]) {
		return 0, false
	}
	want, known := ibanLength[s[i:i+2]]
	if !known {
		return 0, false
	}
	var buf [34]byte
	n, j := 0, i
	for n < want && j < len(s) {
		c := s[j]
		switch {
		case is(c, cDigit|cUpper):
			buf[n] = c
			n++
			j++
		case is(c, cLower):
			buf[n] = c - 'a' + 'A'
			n++
			j++
		case c == ' ' && n > 0 && j+1 < len(s) && is(s[j+1], cAlnum):
			j++
		default:
			return 0, false
		}
	}
	if n < want || (j < len(s) && glued(s[j])) {
		return 0, false
	}
	return j, mod97(buf[:n])
}

// mod97 is the IBAN check: move the first four characters to the end,
// read letters as 10..35, and the number must be 1 modulo 97.
func mod97(b []byte) bool {
	r := 0
	add := func(c byte) {
		if digit(c) {
			r = (r*10 + int(c-'0')) % 97
			return
		}
		r = (r*100 + int(c-'A') + 10) % 97
	}
	for _, c := range b[4:] {
		add(c)
	}
	for _, c := range b[:4] {
		add(c)
	}
	return r == 1
}
