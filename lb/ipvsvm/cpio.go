package ipvsvm

import (
	"fmt"
	"io"
	"os"
)

// cpioWriter writes a "newc" cpio archive, the format the kernel unpacks
// as an initramfs. The first error sticks and is returned by close.
type cpioWriter struct {
	w   io.Writer
	ino int
	n   int64
	err error
}

func newCpio(w io.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1} }

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// header writes an entry's header and name; its data follows.
func (c *cpioWriter) header(name string, mode uint32, size int64) {
	nlink := 1
	if mode&modeDir != 0 {
		nlink = 2
	}
	c.ino++
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(h))
	c.write([]byte(name + "\x00"))
	c.pad()
}

func (c *cpioWriter) dir(name string) { c.header(name, modeDir|0o755, 0) }

func (c *cpioWriter) data(name string, perm uint32, b []byte) {
	c.header(name, modeFile|perm, int64(len(b)))
	c.write(b)
	c.pad()
}

func (c *cpioWriter) symlink(name, target string) {
	c.header(name, modeLink|0o777, int64(len(target)))
	c.write([]byte(target))
	c.pad()
}

// file copies the host file src into the archive as name.
func (c *cpioWriter) file(name string, perm uint32, src string) {
	if c.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		c.err = fmt.Errorf("add %s to initramfs: %w", src, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.err = fmt.Errorf("stat %s: %w", src, err)
		return
	}
	c.header(name, modeFile|perm, st.Size())
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, f)
	c.n += n
	if err == nil && n != st.Size() {
		err = fmt.Errorf("%s changed size while copied", src)
	}
	if err != nil {
		c.err = fmt.Errorf("copy %s into initramfs: %w", src, err)
		return
	}
	c.pad()
}

// close writes the trailer and returns the first error.
func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0)
	return c.err
}
