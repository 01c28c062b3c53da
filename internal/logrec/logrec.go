// Package logrec is the format of a task's log: one record per line of
// output, with the time it was read and the stream it came on, so that
// logs can be shown with timestamps, cut by time (--since, --until) and
// split back into stdout and stderr (the Engine API's multiplexed
// stream).
//
// A log file (and an agent's answer for one task's log) starts with
// Header; each record is then one line:
//
//	2026-12-04T21:00:00.123456789Z stdout F the line, without its newline
//
// The tag is F for a full line (it ended with a newline) and P for a part
// of one: a line longer than MaxLine is cut into parts, and output that
// ends without a newline is a last part. Text without Header (a file
// written by an older agent, or by the shim's own copy) reads as stdout
// lines with no time.
package logrec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// Header starts a log in this format.
const Header = "shoal-log 1\n"

// MaxLine is the longest text one record holds; longer lines are cut into
// parts (as docker's 16 KiB).
const MaxLine = 16 << 10

// timeLayout is RFC 3339 with nanoseconds, fixed width (docker's
// RFC3339NanoFixed), so that records sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Stream is where a line was written. Its values are the stream numbers
// of docker's multiplexed stream.
type Stream uint8

// The streams of a task.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Record is one line of a log, or a part of one.
type Record struct {
	Time   time.Time // zero for a line of a log without times
	Stream Stream
	// Partial: the line goes on in the stream's next record (or the
	// output ended without a newline).
	Partial bool
	Line    []byte // without the newline
}

// Append appends r's encoding, newline included, to b.
func Append(b []byte, r Record) []byte {
	b = r.Time.UTC().AppendFormat(b, timeLayout)
	b = append(b, ' ')
	b = append(b, r.Stream.String()...)
	if r.Partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, r.Line...)
	return append(b, '\n')
}

// Parse decodes one record from line (without its newline). r.Line
// aliases line.
func Parse(line []byte) (Record, error) {
	var r Record
	ts, rest, ok1 := bytes.Cut(line, []byte{' '})
	stream, rest, ok2 := bytes.Cut(rest, []byte{' '})
	tag, text, ok3 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !ok3 {
		return r, fmt.Errorf("log record %.40q: want TIME STREAM TAG TEXT", line)
	}
	t, err := time.Parse(timeLayout, string(ts))
	if err != nil {
		return r, fmt.Errorf("log record %.40q: %w", line, err)
	}
	r.Time, r.Line = t, text
	switch string(stream) {
	case "stdout":
		r.Stream = Stdout
	case "stderr":
		r.Stream = Stderr
	default:
		return r, fmt.Errorf("log record %.40q: stream %q", line, stream)
	}
	switch string(tag) {
	case "F":
	case "P":
		r.Partial = true
	default:
		return r, fmt.Errorf("log record %.40q: tag %q", line, tag)
	}
	return r, nil
}

// Splitter cuts one stream's output into records, each stamped with the
// time its first byte was read.
type Splitter struct {
	Stream Stream
	buf    []byte
	since  time.Time
}

// Feed takes output read at now and emits the records it completes. A
// record's Line is only valid during the call to emit.
func (s *Splitter) Feed(p []byte, now time.Time, emit func(Record)) {
	if len(s.buf) == 0 {
		s.since = now
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			for len(s.buf) >= MaxLine {
				emit(Record{Time: s.since, Stream: s.Stream, Partial: true, Line: s.buf[:MaxLine]})
				s.buf, s.since = append([]byte(nil), s.buf[MaxLine:]...), now
			}
			return
		}
		line := p[:i]
		if len(s.buf) > 0 {
			line = append(s.buf, line...)
		}
		for len(line) > MaxLine {
			emit(Record{Time: s.since, Stream: s.Stream, Partial: true, Line: line[:MaxLine]})
			line, s.since = line[MaxLine:], now
		}
		emit(Record{Time: s.since, Stream: s.Stream, Line: line})
		s.buf, s.since, p = s.buf[:0], now, p[i+1:]
	}
}

// Flush emits what is left without a newline, as a last part.
func (s *Splitter) Flush(emit func(Record)) {
	if len(s.buf) > 0 {
		emit(Record{Time: s.since, Stream: s.Stream, Partial: true, Line: s.buf})
		s.buf = s.buf[:0]
	}
}

// Reader reads records from a log that may still grow: at the end of what
// is there, Next returns io.EOF and keeps an incomplete last line for the
// next call, once more has been written.
type Reader struct {
	r       io.Reader
	pending []byte // read, not yet returned
	buf     []byte
	raw     bool // no Header: lines of plain text
	decided bool // whether Header was looked for
}

// NewReader reads the log in r from its start, where Header says which
// format it is in.
func NewReader(r io.Reader) *Reader { return &Reader{r: r, buf: make([]byte, 32<<10)} }

// NewReaderAt reads a log from a line in its middle: framed says whether
// the log started with Header.
func NewReaderAt(r io.Reader, framed bool) *Reader {
	return &Reader{r: r, buf: make([]byte, 32<<10), decided: true, raw: !framed}
}

// Next returns the next record. Its Line is valid until the next call.
// A record that does not parse is skipped.
func (r *Reader) Next() (Record, error) {
	for {
		if rec, ok := r.take(); ok {
			return rec, nil
		}
		n, err := r.r.Read(r.buf)
		r.pending = append(r.pending, r.buf[:n]...)
		if n > 0 {
			continue
		}
		if err == nil {
			err = io.EOF
		}
		if !errors.Is(err, io.EOF) {
			return Record{}, err
		}
		return Record{}, io.EOF
	}
}

// Rest returns the incomplete last line, if any, as a last part: what a
// reader of a log that will not grow any more still has to show.
func (r *Reader) Rest() (Record, bool) {
	if len(r.pending) == 0 || (!r.decided && bytes.HasPrefix([]byte(Header), r.pending)) {
		return Record{}, false
	}
	line := r.pending
	r.pending = nil
	if r.raw || !r.decided {
		return Record{Stream: Stdout, Partial: true, Line: line}, true
	}
	rec, err := Parse(line)
	return rec, err == nil
}

// take returns the next complete record in pending.
func (r *Reader) take() (Record, bool) {
	for {
		if !r.decided {
			switch {
			case bytes.HasPrefix(r.pending, []byte(Header)):
				r.pending, r.decided = r.pending[len(Header):], true
			case bytes.HasPrefix([]byte(Header), r.pending):
				return Record{}, false // too short to tell yet
			default:
				r.raw, r.decided = true, true
			}
		}
		i := bytes.IndexByte(r.pending, '\n')
		if i < 0 {
			return Record{}, false
		}
		line := r.pending[:i]
		r.pending = r.pending[i+1:]
		if r.raw {
			return Record{Stream: Stdout, Line: line}, true
		}
		if rec, err := Parse(line); err == nil {
			return rec, true
		}
	}
}

// Text is the output a log holds, as the task wrote it (stdout and stderr
// interleaved as they were read), up to max bytes (all when max <= 0).
func Text(r io.Reader, max int) string {
	rd := NewReader(r)
	var b []byte
	add := func(rec Record) {
		b = append(b, rec.Line...)
		if !rec.Partial {
			b = append(b, '\n')
		}
	}
	for max <= 0 || len(b) < max {
		rec, err := rd.Next()
		if err != nil {
			if rest, ok := rd.Rest(); ok {
				add(rest)
			}
			break
		}
		add(rec)
	}
	if max > 0 && len(b) > max {
		b = b[:max]
	}
	return string(b)
}
