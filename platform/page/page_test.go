package page_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/page"
)

func TestPage(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{-1: page.Default, 0: page.Default, 1: 1, 100: 100, 101: page.Default} {
		if got := page.Size(in); got != want {
			t.Errorf("Size(%d) = %d, want %d", in, got, want)
		}
	}
	if a, err := page.After(""); a != page.First || err != nil {
		t.Errorf("After(\"\") = %q, %v", a, err)
	}
	var fe *invalid.Field
	if _, err := page.After("'; DROP TABLE x; --"); !errors.As(err, &fe) || fe.Name != "pageToken" {
		t.Errorf("a forged token: %v", err)
	}
	items := []string{"c", "b", "a"}
	if got, next := page.Trim(items, 2, func(s string) string { return s }); !slices.Equal(got, []string{"c", "b"}) || next != "b" {
		t.Errorf("Trim over a full page: %v %q", got, next)
	}
	if got, next := page.Trim(items, 3, func(s string) string { return s }); len(got) != 3 || next != "" {
		t.Errorf("Trim on the last page: %v %q", got, next)
	}
}
