//go:build !unix

package outbox

import (
	"io"
	"os"
)

func syncDir(string) error { return nil }

func lockDir(path string) (io.Closer, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
