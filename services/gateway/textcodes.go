package gateway

import (
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
)

// backupCodesText serves backup codes as a text file to clients that ask
// with "Accept: text/plain" (POST /v1/me/totp:confirm and
// /v1/me/backup-codes:regenerate); anything else stays JSON.
type backupCodesText struct{ runtime.Marshaler }

func backupCodes(v any) []string {
	switch m := v.(type) {
	case *identityv1.ConfirmTotpResponse:
		return m.GetBackupCodes()
	case *identityv1.RegenerateBackupCodesResponse:
		return m.GetBackupCodes()
	}
	return nil
}

func (b backupCodesText) ContentType(v any) string {
	if backupCodes(v) != nil {
		return "text/plain; charset=utf-8"
	}
	return b.Marshaler.ContentType(v)
}

func (b backupCodesText) Marshal(v any) ([]byte, error) {
	codes := backupCodes(v)
	if codes == nil {
		return b.Marshaler.Marshal(v)
	}
	var s strings.Builder
	s.WriteString("Pythorix backup codes\n")
	s.WriteString("Each code signs you in once when your authenticator is not at hand. Keep them somewhere safe.\n\n")
	for _, c := range codes {
		s.WriteString(c + "\n")
	}
	return []byte(s.String()), nil
}

// asDownload marks the backup-code text answer as a file to save.
func asDownload(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Accept") == "text/plain" &&
		(strings.HasSuffix(r.URL.Path, "/totp:confirm") || strings.HasSuffix(r.URL.Path, "/backup-codes:regenerate")) {
		w.Header().Set("Content-Disposition", `attachment; filename="pythorix-backup-codes.txt"`)
	}
}
