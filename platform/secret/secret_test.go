package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pythorix/pythorix/platform/secret"
)

func TestStringNeverPrintsItsValue(t *testing.T) {
	t.Parallel()
	const plain = "hunter2-postgres://user:pw@db"
	s := secret.New(plain)
	type wrapper struct {
		DSN secret.String `json:"dsn"`
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "dsn", s, "w", wrapper{s})
	js, err := json.Marshal(wrapper{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%#v": fmt.Sprintf("%#v", s), "%+v struct": fmt.Sprintf("%+v", wrapper{s}), "%x": fmt.Sprintf("%x", s),
		"json": string(js), "slog": logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "pw@") {
			t.Errorf("%s leaked the secret: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") && name != "%x" {
			t.Errorf("%s does not say REDACTED: %s", name, out)
		}
	}
	if s.Reveal() != plain {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
}
