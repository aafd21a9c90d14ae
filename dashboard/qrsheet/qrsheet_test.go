package qrsheet

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNDEF(t *testing.T) {
	for _, c := range []struct {
		url  string
		want []byte
	}{
		{"https://a.de/c/1", append([]byte{0xD1, 0x01, 9, 'U', 0x04}, "a.de/c/1"...)},
		{"https://www.a.de/c/1", append([]byte{0xD1, 0x01, 9, 'U', 0x02}, "a.de/c/1"...)},
		{"http://localhost:8080/c/p1", append([]byte{0xD1, 0x01, 20, 'U', 0x03}, "localhost:8080/c/p1"...)},
	} {
		got, err := NDEF(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("NDEF(%s) (-want +got):\n%s", c.url, d)
		}
	}
	if _, err := NDEF("https://" + strings.Repeat("a", 300)); err == nil {
		t.Error("a URL too long for a short record was accepted")
	}
}

func TestRender(t *testing.T) {
	var labels []Label
	for i := range 9 { // two pages
		labels = append(labels, Label{Point: fmt.Sprint("p", i), Title: fmt.Sprint("P-0", i), Site: "Parkhaus Süd", URL: fmt.Sprint("https://charge.example.com/c/p", i)})
	}
	var b bytes.Buffer
	if err := Render(&b, "Stadtwerke Müller", labels); err != nil {
		t.Fatal(err)
	}
	pdf := b.String()
	if !strings.HasPrefix(pdf, "%PDF-") {
		t.Fatalf("not a PDF: %.20q", pdf)
	}
	if n := strings.Count(pdf, "/Type /Page\n") + strings.Count(pdf, "/Type /Page\r"); n != 2 && !strings.Contains(pdf, "/Count 2") {
		t.Errorf("want 2 pages for 9 labels")
	}
	if n := strings.Count(pdf, "/Subtype /Image"); n != 9 {
		t.Errorf("%d images, want 9 QR codes", n)
	}
	if err := Render(&b, "x", nil); err == nil {
		t.Error("an empty sheet was rendered")
	}
}
