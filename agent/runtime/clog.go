package runtime

import (
	"context"
	"io"
	"log/slog"

	"github.com/containerd/log"
	"github.com/sirupsen/logrus"
)

// containerdLogger returns a logrus entry that forwards what the containerd
// client library logs (the registry resolver's "trying next host", say) to
// l, so that the agent writes one log format. containerd's info messages
// come out at debug level: the errors that matter are returned anyway.
func containerdLogger(l *slog.Logger) *log.Entry {
	lg := logrus.New()
	lg.SetOutput(io.Discard)
	lg.SetFormatter(nopFormatter{})
	lg.SetLevel(logrus.WarnLevel)
	if l.Enabled(context.Background(), slog.LevelDebug) {
		lg.SetLevel(logrus.DebugLevel)
	}
	lg.AddHook(slogHook{l})
	return logrus.NewEntry(lg)
}

type nopFormatter struct{}

func (nopFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// slogHook forwards logrus entries to slog.
type slogHook struct{ l *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	level := slog.LevelDebug
	switch {
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelError
	case e.Level == logrus.WarnLevel:
		level = slog.LevelWarn
	}
	attrs := make([]slog.Attr, 0, len(e.Data)+1)
	attrs = append(attrs, slog.String("component", "containerd-client"))
	for k, v := range e.Data {
		attrs = append(attrs, slog.Any(k, v))
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	h.l.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}
