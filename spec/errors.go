package spec

import "fmt"

// Error is a front-door refusal: Field names what was wrong (a flag or
// spec field), Value the value given, Problem what is wrong with it and
// Fix what to do. Conflict marks a clash with the cluster's state (a name
// or port already taken) rather than a bad value: the API answers it with
// 409 instead of 400.
type Error struct {
	Subject  string // e.g. `service "web"`; may be empty
	Field    string
	Value    string
	Problem  string
	Fix      string
	Conflict bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %q %s: %s", e.Field, e.Value, e.Problem, e.Fix)
	if e.Subject != "" {
		msg = e.Subject + ": " + msg
	}
	return msg
}

func invalid(field, value, problem, fix string) *Error {
	return &Error{Field: field, Value: value, Problem: problem, Fix: fix}
}

// about sets e's subject when e is an *Error without one.
func about(err error, subject string) error {
	if e, ok := err.(*Error); ok && e.Subject == "" {
		e.Subject = subject
	}
	return err
}
