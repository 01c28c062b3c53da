package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// ImageCmd is `agentctl image`.
type ImageCmd struct {
	Load ImageLoadCmd `cmd:"" help:"Load an OCI archive into this node's containerd (run it on each node, or push to a registry)."`
}

// stdin is what `image load` reads without a file; a variable for tests.
var stdin io.Reader = os.Stdin

// ImageLoadCmd is `agentctl image load`.
type ImageLoadCmd struct {
	Input string `short:"i" placeholder:"FILE" help:"Read the archive from FILE instead of stdin."`
	Quiet bool   `short:"q" help:"Print nothing but errors."`
	File  string `arg:"" optional:"" help:"The archive (an OCI archive, as 'skopeo copy ... oci-archive:FILE:NAME:TAG' writes); - or none reads stdin."`
}

// Run streams the archive, unread and unbuffered, as the body of POST
// /v1/images/load to the agent agentctl talks to, which loads it into its
// own node's containerd only; then prints `Loaded image: NAME` per image,
// as docker does, and on stderr which node has them.
func (l *ImageLoadCmd) Run(g *Globals) error {
	path, err := l.path()
	if err != nil {
		return err
	}
	body := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("image load: %w", err)
		}
		defer f.Close()
		body = f
	} else if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		return errors.New("image load: stdin is a terminal: give the archive with -i FILE, or redirect it: agentctl image load < app.tar")
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	resp, err := c.ImageLoad(ctx, body)
	if err != nil {
		return err
	}
	if l.Quiet {
		return nil
	}
	for _, name := range resp.Images {
		fmt.Fprintf(g.Out, "Loaded image: %s\n", name)
	}
	if len(resp.Images) == 0 {
		fmt.Fprintf(stderr, "The archive held no named image; node %s loaded its content, but tasks cannot refer to it: name it when writing the archive (oci-archive:FILE:NAME:TAG).\n", resp.Node)
		return nil
	}
	fmt.Fprintf(stderr, "Loaded on node %s only: images are per node, so load it on every node that may run it, or push it to a registry.\n", resp.Node)
	return nil
}

func isTerminal(f *os.File) bool {
	tty, _ := terminal(f)
	return tty
}

// path is the archive to read, "-" for stdin.
func (l *ImageLoadCmd) path() (string, error) {
	switch {
	case l.Input != "" && l.File != "" && l.Input != l.File:
		return "", fmt.Errorf("image load: both -i %s and %s given: name the archive once", l.Input, l.File)
	case l.Input != "":
		return l.Input, nil
	case l.File != "":
		return l.File, nil
	}
	return "-", nil
}
