package scanner_test

import (
	"strings"
	"testing"

	"github.com/pythorix/pythorix/services/scanning/scanner"
)

func TestLoadPreloadList(t *testing.T) {
	const list = `// Chromium's file opens with comments
{
  // and has them inside too
  "entries": [
    { "name": "bank.example", "policy": "custom", "mode": "force-https", "include_subdomains": true },
    { "name": "shop.example", "mode": "force-https" },
    { "name": "pinned.example", "include_subdomains": true }
  ]
}`
	preloaded, err := scanner.LoadPreloadList(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"bank.example": true, "www.bank.example": true, "a.b.bank.example": true, "BANK.example.": true,
		"shop.example": true, "www.shop.example": false, "pinned.example": false, "example": false, "otherbank.example": false,
	} {
		if got := preloaded(host); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
	if _, err := scanner.LoadPreloadList(strings.NewReader(`{"entries": [`)); err == nil {
		t.Error("a broken list loaded")
	}
}
