package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the site-file parser: it must return a
// site or an error, never panic, and a site it returns must convert.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{goodDir, badDir} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("grid: &a [*a]"))
	f.Add([]byte("site: x\nbuses: [{id: b, tcp: 'a:1', devices: [{id: d, driver: phoenix, unit: 255}]}]\ngrid: {limit_a: [1,2,3]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := LoadBytes("fuzz.yaml", b)
		if err != nil {
			return
		}
		_ = s.LoadSite().Validate()
		for _, c := range s.ChargePoints {
			_ = c.GridPhases()
		}
	})
}
