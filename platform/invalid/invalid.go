// Package invalid describes bad input in domain terms: which request field
// (by its JSON name) and why. The service edge turns it into InvalidArgument.
package invalid

// Field is bad input in one request field.
type Field struct {
	Name   string
	Reason string
}

func (e *Field) Error() string { return e.Name + ": " + e.Reason }
