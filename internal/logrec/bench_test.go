package logrec

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkWrite is the log driver's path for one 32 KiB read of 100-byte
// lines: cut into records and encoded into the one buffer the driver
// writes.
func BenchmarkWrite(b *testing.B) {
	chunk := bytes.Repeat(append(bytes.Repeat([]byte("x"), 99), '\n'), 32<<10/100)
	s := Splitter{Stream: Stdout}
	var out []byte
	now := time.Now()
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	add := func(r Record) { out = Append(out, r) }
	for b.Loop() {
		s.Feed(chunk, now, add)
		out = out[:0]
	}
}

// BenchmarkRead reads back 10,000 records of 100-byte lines.
func BenchmarkRead(b *testing.B) {
	var log []byte
	log = append(log, Header...)
	line := bytes.Repeat([]byte("x"), 99)
	for range 10000 {
		log = Append(log, Record{Time: time.Now(), Stream: Stderr, Line: line})
	}
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(log))
		n := 0
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("read %d records", n)
		}
	}
}
