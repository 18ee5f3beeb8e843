package scanner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// maxPreloadList bounds the HSTS preload list file (Chromium's is about 15 MB).
const maxPreloadList = 64 << 20

// LoadPreloadList reads an HSTS preload list in Chromium's format
// (transport_security_state_static.json: JSON with // comment lines, the
// entries under "entries") and returns the Options.Preloaded test: a host
// is preloaded when it is listed with mode "force-https", or sits under
// such an entry that includes subdomains.
func LoadPreloadList(r io.Reader) (func(host string) bool, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxPreloadList+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxPreloadList {
		return nil, fmt.Errorf("HSTS preload list: larger than %d bytes", maxPreloadList)
	}
	var clean bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "//") {
			continue
		}
		clean.Write(sc.Bytes())
		clean.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("HSTS preload list: %w", err)
	}
	var list struct {
		Entries []struct {
			Name              string `json:"name"`
			IncludeSubdomains bool   `json:"include_subdomains"`
			Mode              string `json:"mode"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(clean.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("HSTS preload list: %w", err)
	}
	// exact[name] is whether the entry covers its subdomains.
	exact := make(map[string]bool, len(list.Entries))
	for _, e := range list.Entries {
		if e.Mode == "force-https" && e.Name != "" {
			exact[strings.ToLower(e.Name)] = e.IncludeSubdomains
		}
	}
	return func(host string) bool {
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if _, ok := exact[host]; ok {
			return true
		}
		for i := strings.IndexByte(host, '.'); i >= 0; i = strings.IndexByte(host, '.') {
			host = host[i+1:]
			if sub, ok := exact[host]; ok {
				return sub
			}
		}
		return false
	}, nil
}
