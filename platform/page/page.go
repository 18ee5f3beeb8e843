// Package page implements the keyset pagination every list RPC uses: the
// page token is the id of the previous page's last item (ids are UUIDv7, so
// they sort by creation), pages run newest first.
package page

import (
	"github.com/google/uuid"

	"github.com/pythorix/pythorix/platform/invalid"
)

// Default and Max bound a page's size.
const (
	Default = 50
	Max     = 100
)

// First is the bound that precedes every id ("id < First" matches all).
const First = "ffffffff-ffff-ffff-ffff-ffffffffffff"

// Size clamps a requested page size.
func Size(n int) int {
	if n <= 0 || n > Max {
		return Default
	}
	return n
}

// After turns a page token into the keyset bound of the next page.
func After(token string) (string, error) {
	if token == "" {
		return First, nil
	}
	if _, err := uuid.Parse(token); err != nil {
		return "", &invalid.Field{Name: "pageToken", Reason: "is not a token this API issued"}
	}
	return token, nil
}

// Trim cuts a result fetched with size+1 rows to size and returns the next
// page token ("" on the last page).
func Trim[T any](items []T, size int, id func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, id(items[len(items)-1])
}
