package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// The driver app installs on a phone: a web app manifest, PNG icons drawn
// here (no binary in the repository), a service worker that caches the
// offline page and shows it when the network is gone.

func (s *Server) pwaRoutes(r *gin.Engine) {
	r.GET("/manifest.webmanifest", s.manifest)
	r.GET("/icons/:file", s.icon)
	r.GET("/sw.js", s.serviceWorker)
	r.GET("/offline.html", s.offline)
	r.GET("/static/*file", s.staticFile)
}

func (s *Server) manifest(c *gin.Context) {
	lang := s.lang(c)
	th := s.theme(c, c.Query("op"))
	body := fmt.Sprintf(`{"name":%q,"short_name":%q,"start_url":"/","scope":"/","display":"standalone","lang":%q,`+
		`"background_color":"#ffffff","theme_color":%q,"icons":[`+
		`{"src":"/icons/192.png","sizes":"192x192","type":"image/png","purpose":"any maskable"},`+
		`{"src":"/icons/512.png","sizes":"512x512","type":"image/png","purpose":"any maskable"}]}`,
		th.Name+" – "+T(lang, "app.title"), th.Name, lang, th.PrimaryColor)
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/manifest+json", []byte(body))
}

func (s *Server) icon(c *gin.Context) {
	var size int
	switch c.Param("file") {
	case "192.png":
		size = 192
	case "512.png":
		size = 512
	default:
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, "image/png", s.icons[size])
}

// appIcons draws the app icon: a bolt on a green rounded square.
func appIcons() (map[int][]byte, error) {
	out := map[int][]byte{}
	for _, n := range []int{192, 512} {
		img := image.NewNRGBA(image.Rect(0, 0, n, n))
		bg, fg := color.NRGBA{0x0b, 0x6e, 0x4f, 0xff}, color.NRGBA{0xf2, 0xa5, 0x41, 0xff}
		r := n / 6
		for y := range n {
			for x := range n {
				if inRounded(x, y, n, r) {
					img.Set(x, y, bg)
				}
				if inBolt(float64(x)/float64(n), float64(y)/float64(n)) {
					img.Set(x, y, fg)
				}
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return nil, fmt.Errorf("dashboard: icon %d: %w", n, err)
		}
		out[n] = b.Bytes()
	}
	return out, nil
}

func inRounded(x, y, n, r int) bool {
	cx, cy := min(max(x, r), n-1-r), min(max(y, r), n-1-r)
	dx, dy := x-cx, y-cy
	return dx*dx+dy*dy <= r*r
}

// inBolt: two triangles forming a lightning bolt in unit coordinates.
func inBolt(x, y float64) bool {
	tri := func(ax, ay, bx, by, cx, cy float64) bool {
		d1 := (x-bx)*(ay-by) - (ax-bx)*(y-by)
		d2 := (x-cx)*(by-cy) - (bx-cx)*(y-cy)
		d3 := (x-ax)*(cy-ay) - (cx-ax)*(y-ay)
		neg := d1 < 0 || d2 < 0 || d3 < 0
		pos := d1 > 0 || d2 > 0 || d3 > 0
		return !(neg && pos)
	}
	return tri(0.58, 0.12, 0.28, 0.56, 0.52, 0.56) || tri(0.48, 0.44, 0.72, 0.44, 0.42, 0.88)
}

// swVersion names the cache of the offline page; it changes with the
// worker's source so an update replaces the old cache.
func (s *Server) swVersion() string {
	b, _ := staticFiles.ReadFile("static/sw.js")
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

func (s *Server) serviceWorker(c *gin.Context) {
	b, err := staticFiles.ReadFile("static/sw.js")
	if err != nil {
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Header("Service-Worker-Allowed", "/")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", bytes.ReplaceAll(b, []byte("__VERSION__"), []byte(s.swVersion())))
}

func (s *Server) offline(c *gin.Context) {
	lang := s.lang(c)
	s.render(c, http.StatusOK, "offline", page{Lang: lang, Title: T(lang, "offline.title")})
}

// staticFile serves the embedded CSS and JavaScript with a short cache and
// an ETag of the content.
func (s *Server) staticFile(c *gin.Context) {
	name := c.Param("file")[1:]
	b, err := staticFiles.ReadFile("static/" + name)
	if err != nil || name == "sw.js" {
		c.Status(http.StatusNotFound)
		return
	}
	h := sha256.Sum256(b)
	etag := strconv.Quote(hex.EncodeToString(h[:8]))
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	ct := "text/plain; charset=utf-8"
	switch {
	case len(name) > 4 && name[len(name)-4:] == ".css":
		ct = "text/css; charset=utf-8"
	case len(name) > 3 && name[len(name)-3:] == ".js":
		ct = "text/javascript; charset=utf-8"
	}
	c.Header("ETag", etag)
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, ct, b)
}
