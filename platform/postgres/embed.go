package postgres

import (
	"io/fs"
)

// Sub returns the migrations directory of an embedded file system; the path
// is fixed at build time, so a failure is a programming error.
func Sub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
