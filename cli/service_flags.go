package cli

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"
)

// optValue is a flag value kept as typed, with whether it was given at all:
// `service update` changes only what was asked for, and validation (not the
// parser) explains a bad value, naming the flag and the fix. Unlike kong's
// string mapper it accepts a value that starts with '-' and looks like a
// number, so `--replicas -1` reaches validation.
type optValue struct {
	Value string
	Set   bool
}

var negativeNumber = regexp.MustCompile(`^-[0-9.]`)

// Decode takes the next command-line token as the value.
func (o *optValue) Decode(ctx *kong.DecodeContext) error {
	t := ctx.Scan.Pop()
	if t.IsEOL() {
		return fmt.Errorf("expected a value")
	}
	s := t.String()
	if !t.IsValue() && !negativeNumber.MatchString(s) {
		return fmt.Errorf("expected a value, got %q", s)
	}
	o.Value, o.Set = s, true
	return nil
}

// flagError is a bad flag value; its message names the flag, the value and
// the fix: `--replicas -1: must be 0 or more`.
type flagError struct {
	Flag  string // without dashes
	Value string
	Fix   string
}

func (e *flagError) Error() string {
	return fmt.Sprintf("--%s %s: %s", e.Flag, showValue(e.Value), e.Fix)
}

func flagErr(flag, value, format string, args ...any) error {
	return &flagError{Flag: flag, Value: value, Fix: fmt.Sprintf(format, args...)}
}

// showValue quotes a value only where it would otherwise be unreadable.
func showValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"'") {
		return strconv.Quote(v)
	}
	return v
}

// parseCount reads a whole number, 0 or more.
func parseCount(flag, v string) (uint64, error) {
	if strings.HasPrefix(v, "-") {
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return 0, flagErr(flag, v, "must be 0 or more")
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, flagErr(flag, v, "use a whole number, 0 or more")
	}
	return n, nil
}

// parseDuration reads a Go/swarm duration such as 10s or 1m30s; "0" is 0.
func parseDuration(flag, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, flagErr(flag, v, "use a duration such as 10s, 500ms or 1m30s")
	}
	if d < 0 {
		return 0, flagErr(flag, v, "must not be negative")
	}
	return d, nil
}

// parseCPUs reads a number of CPUs (0.5, 2) into nano-CPUs.
func parseCPUs(flag, v string) (int64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, flagErr(flag, v, "use a number of CPUs such as 0.5 or 2")
	}
	if f < 0 {
		return 0, flagErr(flag, v, "must not be negative")
	}
	if f > 1e9 {
		return 0, flagErr(flag, v, "too many CPUs")
	}
	return int64(math.Round(f * 1e9)), nil
}

var sizePattern = regexp.MustCompile(`^(?i)([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?b)?$`)

// parseBytes reads a memory size as docker does (binary units, case
// insensitive): 64M, 1G, 512k, 1.5g, 64MiB, 64mb, or a number of bytes.
func parseBytes(flag, v string) (int64, error) {
	if strings.HasPrefix(v, "-") {
		return 0, flagErr(flag, v, "must not be negative")
	}
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, flagErr(flag, v, "use a size such as 64M, 1G, 512k or a number of bytes")
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, flagErr(flag, v, "use a size such as 64M, 1G, 512k or a number of bytes")
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[strings.ToLower(m[2])]
	b := f * mult
	if b > math.MaxInt64/2 {
		return 0, flagErr(flag, v, "too large")
	}
	return int64(b), nil
}

// parseRatio reads a fraction between 0 and 1.
func parseRatio(flag, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return 0, flagErr(flag, v, "use a number between 0 and 1, such as 0.2")
	}
	if f < 0 || f > 1 {
		return 0, flagErr(flag, v, "must be between 0 and 1")
	}
	return f, nil
}

// parseChoice checks v against the allowed values ("use a, b or c").
func parseChoice(flag, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", flagErr(flag, v, "use %s", orList(allowed))
}

// orList renders [a b c] as "a, b or c".
func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// parseSignal accepts a signal name (TERM, SIGTERM) or number.
func parseSignal(flag, v string) (string, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 64 {
			return "", flagErr(flag, v, "signal numbers run from 1 to 64")
		}
		return v, nil
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 {
		return "", flagErr(flag, v, "unknown signal; use a name such as SIGTERM or SIGINT, or a number")
	}
	return name, nil
}

// parseKeyValue splits K=V; the key must not be empty.
func parseKeyValue(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return "", "", flagErr(flag, s, "expected KEY=VALUE")
	}
	return k, v, nil
}

// splitWords splits a command line as a POSIX shell would split words:
// single and double quotes group, backslash escapes outside single quotes.
func splitWords(flag, s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote, escaped := false, rune(0), false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, flagErr(flag, s, "unterminated quote or trailing backslash")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
