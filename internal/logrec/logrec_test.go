package logrec

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 21, 0, 0, 123456789, time.UTC)

func TestAppendParse(t *testing.T) {
	for _, r := range []Record{
		{Time: t0, Stream: Stdout, Line: []byte("hello world")},
		{Time: t0, Stream: Stderr, Partial: true, Line: []byte("")},
		{Time: t0, Stream: Stderr, Line: []byte("a  b P F")},
	} {
		b := Append(nil, r)
		if b[len(b)-1] != '\n' {
			t.Fatalf("%q: no newline", b)
		}
		got, err := Parse(b[:len(b)-1])
		if err != nil || !got.Time.Equal(r.Time) || got.Stream != r.Stream || got.Partial != r.Partial || !bytes.Equal(got.Line, r.Line) {
			t.Errorf("round trip of %+v: %+v, %v (encoded %q)", r, got, err, b)
		}
	}
	if got := string(Append(nil, Record{Time: t0, Stream: Stdout, Line: []byte("x")})); got != "2026-12-04T21:00:00.123456789Z stdout F x\n" {
		t.Errorf("encoding: %q", got)
	}
	for _, bad := range []string{"", "x y", "2026-12-04T21:00:00.123456789Z stdin F x", "2026-12-04T21:00:00.123456789Z stdout X x", "yesterday stdout F x"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestSplitter: lines cut across reads, a line longer than MaxLine in
// parts, and output without a final newline.
func TestSplitter(t *testing.T) {
	var got []string
	emit := func(r Record) {
		tag := "F"
		if r.Partial {
			tag = "P"
		}
		got = append(got, r.Time.Format("05")+" "+tag+" "+string(r.Line))
	}
	s := Splitter{Stream: Stderr}
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	s.Feed([]byte("one\ntw"), at(1), emit)
	s.Feed([]byte("o\nthree"), at(2), emit)
	s.Feed([]byte(strings.Repeat("x", MaxLine+3)+"\n"), at(3), emit)
	s.Feed([]byte("end"), at(4), emit)
	s.Flush(emit)
	// "three" and MaxLine-5 x's fill the first part (read at 2 s), the
	// other 8 x's end the line (read at 3 s).
	want := []string{"01 F one", "01 F two", "02 P three" + strings.Repeat("x", MaxLine-5), "03 F xxxxxxxx", "04 P end"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records:\n%q\nwant\n%q", got, want)
	}
}

// growing is a log being written: Read returns what was appended so far.
type growing struct{ data []byte }

func (g *growing) Read(p []byte) (int, error) {
	if len(g.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

// TestReader: records come out as they are completed, an incomplete line
// waits for the rest, a log without Header reads as stdout lines, and
// Rest returns a last line without its newline.
func TestReader(t *testing.T) {
	g := &growing{}
	r := NewReader(g)
	next := func() string {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return "EOF"
		}
		if err != nil {
			t.Fatal(err)
		}
		return rec.Stream.String() + ":" + string(rec.Line)
	}
	g.data = []byte("shoal-lo")
	if got := next(); got != "EOF" {
		t.Fatalf("half a header: %s", got)
	}
	rec := Append([]byte("g 1\n"), Record{Time: t0, Stream: Stderr, Line: []byte("first")})
	g.data = append(rec, Append(nil, Record{Time: t0, Stream: Stdout, Line: []byte("second")})[:20]...)
	if got := next(); got != "stderr:first" {
		t.Fatalf("first record: %s", got)
	}
	if got := next(); got != "EOF" {
		t.Fatalf("half a record: %s", got)
	}
	g.data = Append(nil, Record{Time: t0, Stream: Stdout, Line: []byte("second")})[20:]
	if got := next(); got != "stdout:second" {
		t.Fatalf("completed record: %s", got)
	}

	raw := NewReader(strings.NewReader("plain\nold log\nno newline"))
	var lines []string
	for {
		rec, err := raw.Next()
		if err != nil {
			break
		}
		if !rec.Time.IsZero() || rec.Stream != Stdout {
			t.Errorf("raw record %+v: want stdout without time", rec)
		}
		lines = append(lines, string(rec.Line))
	}
	if last, ok := raw.Rest(); !ok || string(last.Line) != "no newline" || !last.Partial {
		t.Errorf("Rest = %+v, %v", last, ok)
	}
	if strings.Join(lines, "|") != "plain|old log" {
		t.Errorf("raw lines: %q", lines)
	}
}
