package content

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// e-mail
		{"email", "write to john.doe@example.com today", "write to [email] today"},
		{"email plus tag", "<user+tag@sub.example.co.uk>", "<[email]>"},
		{"email at start and end", "a@b.io", "[email]"},
		{"email trailing dot", "mail me: x_y-z@mail-server.org.", "mail me: [email]."},
		{"email mailto", "mailto:ana@example.es", "mailto:[email]"},
		{"email odd local start", "-john@x.com and +tag@x.com and _a.b@x.co", "[email] and [email] and [email]"},
		{"two emails", "a@x.com,b@y.net", "[email],[email]"},
		// phone
		{"phone e164", "call +14155552671 now", "call [phone] now"},
		{"phone intl groups", "tel: +44 20 7946 0958.", "tel: [phone]."},
		{"phone intl dashes", "+49-30-1234567", "[phone]"},
		{"phone intl parens", "+1 (555) 123-4567", "[phone]"},
		{"phone 00 prefix", "0049 30 1234567", "[phone]"},
		{"phone nanp parens", "(555) 123-4567", "[phone]"},
		{"phone nanp dots", "555.123.4567", "[phone]"},
		{"phone nanp with 1", "1-800-555-0199", "[phone]"},
		{"phone uk national", "ring 020 7946 0958 please", "ring [phone] please"},
		{"phone uk mobile plain", "07700900123", "[phone]"},
		{"phone fr pairs", "06 12 34 56 78", "[phone]"},
		{"phone de area parens", "(030) 1234567", "[phone]"},
		{"phone es mobile", "mi móvil es 612 345 678", "mi móvil es [phone]"},
		{"phone fr intl", "+33 1 23 45 67 89", "[phone]"},
		// card
		{"card plain", "4111111111111111", "[card]"},
		{"card spaces", "card 4111 1111 1111 1111 exp 12/27", "card [card] exp 12/27"},
		{"card dashes", "5500-0000-0000-0004", "[card]"},
		{"card amex", "3782 822463 10005", "[card]"},
		{"card 19 digits", "6011000990139424000", "6011000990139424000"}, // fails Luhn: kept
		{"card then digit", "4111 1111 1111 1111 2", "[card] 2"},
		{"phone then card", "+14155552671 4111111111111111", "[phone] [card]"},
		{"card after number", "qty 12 4111 1111 1111 1111", "qty 12 [card]"},
		// IBAN
		{"iban de grouped", "IBAN DE89 3704 0044 0532 0130 00, thanks", "IBAN [iban], thanks"},
		{"iban gb plain", "GB82WEST12345698765432", "[iban]"},
		{"iban es grouped then word", "ES91 2100 0418 4502 0005 1332 es la mía", "[iban] es la mía"},
		{"iban lowercase", "de89370400440532013000", "de89370400440532013000"}, // country code must be upper
		{"iban fr", "FR14 2004 1010 0505 0001 3M02 606", "[iban]"},
		// secrets
		{"openai key", "key=sk-proj-AbCdEf0123456789GhIjKlMnOp", "key=[secret]"},
		{"anthropic key", "sk-" + "ant-api03-aBcDeFgHiJkLmNoPqRsTuVwXyZ012345-_abc", "[secret]"},
		{"google key", "AI" + "zaSyD-1234567890abcdefghijklmnopqrstu", "[secret]"},
		{"gateway key", "lc-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo", "[secret]"},
		{"github token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "[secret]"},
		{"slack token", "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", "[secret]"},
		{"aws key id", "AKIAIOSFODNN7EXAMPLE", "[secret]"},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
			"token [secret] end"},
		{"bearer", "Authorization: Bearer abc.def-ghi_jkl~mno+pqr/stu==", "Authorization: Bearer [secret]"},
		{"bearer lower", "bearer  0123456789", "bearer  [secret]"},
		{"random base64", "tok 9fK2_xQ7-LmN4pRt8vWz1yBc3dEg5hJk6 end", "tok [secret] end"},
		{"hex key", "md5 9e107d9d372bb6826bd81d3542a419d6", "md5 [secret]"},
		{"uuid", "550e8400-e29b-41d4-a716-446655440000", "[secret]"},
		{"mixed", "I am ana@x.org, card 4111111111111111, key sk-0123456789abcdefghijKLMN",
			"I am [email], card [card], key [secret]"},

		// false-positive guards
		{"iso date", "on 2024-01-15 at 10:30", "on 2024-01-15 at 10:30"},
		{"eu date", "15.01.2024 and 01.02.2024", "15.01.2024 and 01.02.2024"},
		{"slash date", "12/31/2025", "12/31/2025"},
		{"datetime", "2024-01-15T10:00:00Z", "2024-01-15T10:00:00Z"},
		{"order number", "Order #123456789 shipped", "Order #123456789 shipped"},
		{"order number 12", "order 100234567891", "order 100234567891"},
		{"long number fails luhn", "id 1234567890123456", "id 1234567890123456"},
		{"long number grouped fails luhn", "1234 5678 9012 3456", "1234 5678 9012 3456"},
		{"very long number", "12345678901234567890123456789012345678901234", "12345678901234567890123456789012345678901234"},
		{"inner of long number", "pi 3.14159265358979323846 ok", "pi 3.14159265358979323846 ok"},
		{"table of numbers", strings.Repeat("12 ", 20) + "4111111111111111", strings.Repeat("12 ", 20) + "4111111111111111"},
		{"epoch ms passing luhn", "ts=1733011200008 ok", "ts=1733011200008 ok"},
		{"luhn-valid 9 number", "account 9876543210123452", "account 9876543210123452"},
		{"money", "$1,234,567.89", "$1,234,567.89"},
		{"ip address", "host 192.168.100.200", "host 192.168.100.200"},
		{"version", "go1.26.0 v10.20.30", "go1.26.0 v10.20.30"},
		{"thousands", "123 456 789 users", "123 456 789 users"},
		{"digits in word", "SKU4111111111111111X", "SKU4111111111111111X"},
		{"words", "Donaudampfschifffahrtsgesellschaft internationalization", "Donaudampfschifffahrtsgesellschaft internationalization"},
		{"camel identifier", "TestGatewayRecordsRedactedPromptInSpool", "TestGatewayRecordsRedactedPromptInSpool"},
		{"camel with digits", "convertUtf8ToUtf16StringWithBuffer", "convertUtf8ToUtf16StringWithBuffer"},
		{"snake identifier", "this_is_a_long_snake_case_identifier_name", "this_is_a_long_snake_case_identifier_name"},
		{"kebab", "internationalization-and-localization-team", "internationalization-and-localization-team"},
		{"cipher suite", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
		{"repeated", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{"sk word", "sk-learn and task-force", "sk-learn and task-force"},
		{"not an email", "user@localhost and a@b and @home", "user@localhost and a@b and @home"},
		{"bearer word", "the bearer of bad news", "the bearer of bad news"},
		{"not iban", "DE12 is a code, DE89370400440532013001", "DE12 is a code, DE89370400440532013001"},
		{"short phone", "ext 12345", "ext 12345"},
		{"plus small", "2+2 = 4, C++ 11", "2+2 = 4, C++ 11"},
		{"empty", "", ""},
		{"unicode", "¿Cómo estás? 你好 😀", "¿Cómo estás? 你好 😀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFindKinds(t *testing.T) {
	in := "a@b.co +14155552671 4111111111111111 GB82WEST12345698765432 AKIAIOSFODNN7EXAMPLE"
	want := []Kind{Email, Phone, Card, IBAN, Secret}
	got := Find(in)
	if len(got) != len(want) {
		t.Fatalf("Find = %v, want kinds %v", got, want)
	}
	for i, sp := range got {
		if sp.Kind != want[i] {
			t.Errorf("span %d (%q) kind %v, want %v", i, in[sp.Start:sp.End], sp.Kind, want[i])
		}
	}
}

// TestOpaqueRandomTokens: the shape rule flags random keys without a
// known prefix. Deterministic seed; the bound is loose (measured ~0.3%
// missed for 32-byte base64, none for 40+ hex).
func TestOpaqueRandomTokens(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 48)
	for _, tt := range []struct {
		name    string
		enc     func([]byte) string
		n       int
		maxMiss int
	}{
		{"base64url-32", base64.RawURLEncoding.EncodeToString, 32, 10},
		{"base64url-43", base64.RawURLEncoding.EncodeToString, 43, 10},
		{"hex-40", hex.EncodeToString, 40, 0},
	} {
		miss := 0
		for range 1000 {
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			tok := tt.enc(b)[:tt.n]
			if Mask(tok) != "[secret]" {
				miss++
			}
		}
		if miss > tt.maxMiss {
			t.Errorf("%s: %d of 1000 random tokens not masked, want at most %d", tt.name, miss, tt.maxMiss)
		}
	}
}

func TestMaskReturnsInputWhenClean(t *testing.T) {
	s := strings.Repeat("plain words and 2024-01-15, nothing to hide. ", 40)
	if got := Mask(s); got != s {
		t.Fatalf("clean text changed: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { Mask(s) }); n != 0 {
		t.Errorf("Mask of clean text allocates %.0f times, want 0", n)
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"", Full, true}, {"full", Full, true}, {"REDACTED", Redacted, true}, {" none ", None, true},
		{"off", "", false}, {"partial", "", false},
	} {
		got, err := ParseMode(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), Modes) {
			t.Errorf("ParseMode(%q) error %q does not list %q", tt.in, err, Modes)
		}
	}
}
