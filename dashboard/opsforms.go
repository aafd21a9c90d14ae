package dashboard

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/dashboard/brand"
	"github.com/parkgrid/parkgrid/dashboard/qrsheet"
)

// tariffRow is a tariff as the edit form shows it (decimal strings).
type tariffRow struct {
	Site, ID, Class, Currency                   string
	Energy, Start, PerMinute, FreeMin, Cap, VAT string
}

func rowOf(t SiteTariff) tariffRow {
	f := func(v int64) string { s, _ := tariff.FormatAmount(v, t.Tariff.Currency); return s }
	return tariffRow{Site: t.Site, ID: t.Tariff.ID, Class: string(t.Tariff.Class), Currency: t.Tariff.Currency,
		Energy: f(t.Tariff.EnergyPerKWhMinor), Start: f(t.Tariff.StartFeeMinor), PerMinute: f(t.Tariff.TimeFeePerMinuteMinor),
		FreeMin: strconv.Itoa(int(t.Tariff.FreeTime / time.Minute)), Cap: f(t.Tariff.CapMinor),
		VAT: strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%d.%02d", t.Tariff.VATRateBP/100, t.Tariff.VATRateBP%100), "00"), ".")}
}

// parseTariff reads the tariff form; amounts are decimals with a dot or a
// comma, the VAT a percentage ("19", "7.7").
func parseTariff(c *gin.Context) (SiteTariff, error) {
	cur := strings.ToUpper(strings.TrimSpace(c.PostForm("currency")))
	amount := func(field string) (int64, error) {
		v := strings.ReplaceAll(strings.TrimSpace(c.PostForm(field)), ",", ".")
		if v == "" {
			return 0, nil
		}
		n, err := tariff.ParseAmount(v, cur)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return n, nil
	}
	t := tariff.Tariff{ID: strings.TrimSpace(c.PostForm("id")), Class: tariff.Class(c.PostForm("class")), Currency: cur}
	var err error
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"energy", &t.EnergyPerKWhMinor}, {"start", &t.StartFeeMinor}, {"perMinute", &t.TimeFeePerMinuteMinor}, {"cap", &t.CapMinor}} {
		if *f.dst, err = amount(f.name); err != nil {
			return SiteTariff{}, err
		}
	}
	vat := strings.ReplaceAll(strings.TrimSpace(c.PostForm("vat")), ",", ".")
	if t.VATRateBP, err = tariff.ParseAmount(vat, "EUR"); err != nil { // percent with 2 decimals = basis points
		return SiteTariff{}, fmt.Errorf("vat: %w", err)
	}
	free, err := strconv.Atoi(strings.TrimSpace(c.DefaultPostForm("freeMin", "0")))
	if err != nil || free < 0 || free > 24*60 {
		return SiteTariff{}, fmt.Errorf("free minutes %q: %w", c.PostForm("freeMin"), ErrInvalidInput)
	}
	t.FreeTime = time.Duration(free) * time.Minute
	if err := t.Validate(); err != nil {
		return SiteTariff{}, err
	}
	site := strings.TrimSpace(c.PostForm("site"))
	if site == "" || t.ID == "" {
		return SiteTariff{}, fmt.Errorf("site and tariff id: %w", ErrInvalidInput)
	}
	return SiteTariff{Site: site, Tariff: t}, nil
}

func (s *Server) tariffsPage(c *gin.Context) { s.tariffs(c, http.StatusOK, s.flash(c), "") }

func (s *Server) tariffs(c *gin.Context, status int, flash, errMsg string) {
	if s.deps.Tariffs == nil {
		s.unavailable(c)
		return
	}
	ts, err := s.deps.Tariffs.Tariffs(ctxOf(c), userOf(c).Operator)
	if err != nil {
		s.fail(c, "tariffs", err)
		return
	}
	rows := make([]tariffRow, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, rowOf(t))
	}
	s.opsPage(c, status, "tariffs", "tariffs", rows, flash, errMsg)
}

func (s *Server) saveTariff(c *gin.Context) {
	if s.deps.Tariffs == nil {
		s.unavailable(c)
		return
	}
	t, err := parseTariff(c)
	if err != nil {
		s.tariffs(c, http.StatusBadRequest, "", err.Error())
		return
	}
	u := userOf(c)
	if err := s.deps.Tariffs.SaveTariff(ctxOf(c), u.Operator, t); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidInput) || errors.Is(err, tariff.ErrInvalid) {
			s.tariffs(c, http.StatusBadRequest, "", err.Error())
			return
		}
		s.fail(c, "save tariff", err)
		return
	}
	r := rowOf(t)
	if s.audit(c, "tariff.update", t.Site+"/"+t.Tariff.ID, fmt.Sprintf("%s %s/kWh, start %s, per minute %s after %s min, cap %s, VAT %s %%",
		r.Currency, r.Energy, r.Start, r.PerMinute, r.FreeMin, r.Cap, r.VAT)) != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/tariffs", "tariff.saved")
}

func (s *Server) codesPage(c *gin.Context) { s.codes(c, http.StatusOK, s.flash(c), "") }

func (s *Server) codes(c *gin.Context, status int, flash, errMsg string) {
	if s.deps.Codes == nil {
		s.unavailable(c)
		return
	}
	cs, err := s.deps.Codes.Codes(ctxOf(c), userOf(c).Operator)
	if err != nil {
		s.fail(c, "codes", err)
		return
	}
	s.opsPage(c, status, "codes", "codes", codesData{Groups: groupCodes(cs), Suggested: accesscode.SuggestedGroups()}, flash, errMsg)
}

// codesData is the codes page: the codes by user group, and the groups
// the forms suggest.
type codesData struct {
	Groups    []codeGroup
	Suggested []string
}

// codeGroup is one user group's codes ("" : codes in no group).
type codeGroup struct {
	Name  string
	Codes []AccessCode
}

// groupCodes sorts cs into their groups, by name, the codes in no group
// last; each group keeps the order of cs.
func groupCodes(cs []AccessCode) []codeGroup {
	var out []codeGroup
	for _, c := range cs {
		i := slices.IndexFunc(out, func(g codeGroup) bool { return g.Name == c.Group })
		if i < 0 {
			out = append(out, codeGroup{Name: c.Group})
			i = len(out) - 1
		}
		out[i].Codes = append(out[i].Codes, c)
	}
	slices.SortStableFunc(out, func(a, b codeGroup) int {
		if (a.Name == "") != (b.Name == "") {
			return cmp.Compare(b.Name, a.Name) // "" last
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// formGroup reads a code's user group from the form: trimmed, checked
// with accesscode.CheckGroup.
func formGroup(c *gin.Context) (string, error) {
	g := strings.TrimSpace(c.PostForm("group"))
	if err := accesscode.CheckGroup(g); err != nil {
		return "", err
	}
	return g, nil
}

func (s *Server) setCodeGroup(c *gin.Context) {
	if s.deps.Codes == nil {
		s.unavailable(c)
		return
	}
	g, err := formGroup(c)
	if err != nil {
		s.codes(c, http.StatusBadRequest, "", err.Error())
		return
	}
	id := c.Param("id")
	made, err := s.deps.Codes.SetCodeGroup(ctxOf(c), userOf(c).Operator, id, g)
	switch {
	case errors.Is(err, ErrNotFound):
		s.errorPage(c, http.StatusNotFound, "err.notfound")
		return
	case errors.Is(err, ErrInvalidInput):
		s.codes(c, http.StatusBadRequest, "", err.Error())
		return
	case err != nil:
		s.fail(c, "set code group", err)
		return
	}
	if s.audit(c, "code.group", made.ID, "group "+strconv.Quote(made.Group)) != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/codes", "saved")
}

func (s *Server) createCode(c *gin.Context) {
	if s.deps.Codes == nil {
		s.unavailable(c)
		return
	}
	kind := c.PostForm("kind")
	uses, err := strconv.ParseInt(c.DefaultPostForm("uses", "-1"), 10, 64)
	if (kind != "flatrate" && kind != "visitor" && kind != "cost-centre") || err != nil || uses < -1 {
		s.codes(c, http.StatusBadRequest, "", T(s.lang(c), "err.input"))
		return
	}
	group, err := formGroup(c)
	if err != nil {
		s.codes(c, http.StatusBadRequest, "", err.Error())
		return
	}
	ac := AccessCode{Kind: kind, Label: strings.TrimSpace(c.PostForm("label")), Group: group, UsesLeft: uses}
	if d := c.PostForm("validUntil"); d != "" {
		until, err := time.Parse("2006-01-02", d)
		if err != nil {
			s.codes(c, http.StatusBadRequest, "", T(s.lang(c), "err.input"))
			return
		}
		ac.ValidUntil = until.Add(24*time.Hour - time.Second)
	}
	made, err := s.deps.Codes.CreateCode(ctxOf(c), userOf(c).Operator, ac)
	if errors.Is(err, ErrInvalidInput) {
		s.codes(c, http.StatusBadRequest, "", err.Error())
		return
	}
	if err != nil {
		s.fail(c, "create code", err)
		return
	}
	if s.audit(c, "code.create", made.ID, kind+" "+made.Label+" group "+strconv.Quote(made.Group)) != nil { // never the code itself
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/codes", "saved")
}

func (s *Server) revokeCode(c *gin.Context) {
	if s.deps.Codes == nil {
		s.unavailable(c)
		return
	}
	id := c.Param("id")
	if err := s.deps.Codes.RevokeCode(ctxOf(c), userOf(c).Operator, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.errorPage(c, http.StatusNotFound, "err.notfound")
			return
		}
		s.fail(c, "revoke code", err)
		return
	}
	if s.audit(c, "code.revoke", id, "") != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/codes", "saved")
}

func (s *Server) brandingPage(c *gin.Context) {
	s.opsPage(c, http.StatusOK, "branding", "branding", s.theme(c, userOf(c).Operator), s.flash(c), "")
}

// maxUploadBytes bounds the whole branding form.
const maxUploadBytes = brand.MaxLogoBytes + brand.MaxBackgroundBytes + 64<<10

func (s *Server) saveBranding(c *gin.Context) {
	u := userOf(c)
	fail := func(status int, msg string) {
		s.opsPage(c, status, "branding", "branding", s.theme(c, u.Operator), "", msg)
	}
	if err := parseForm(c.Request); err != nil { // parsed already by requireCSRF; limited by limitBody
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("%v: %v", brand.ErrTooLarge, err))
		return
	}
	th := s.theme(c, u.Operator)
	th.Operator, th.UpdatedAt = u.Operator, s.now()
	th.Name = strings.TrimSpace(c.PostForm("name"))
	th.PrimaryColor, th.AccentColor = c.PostForm("primary"), c.PostForm("accent")
	th.ImprintURL, th.TermsURL = strings.TrimSpace(c.PostForm("imprint")), strings.TrimSpace(c.PostForm("terms"))
	for _, slot := range []struct {
		kind brand.Kind
		dst  *string
	}{{brand.KindLogo, &th.LogoHash}, {brand.KindBackground, &th.BackgroundHash}} {
		fh, err := c.FormFile(string(slot.kind))
		if errors.Is(err, http.ErrMissingFile) {
			continue
		}
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		if fh.Size > int64(slot.kind.MaxBytes()) {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: %v: %d bytes, at most %d", slot.kind, brand.ErrTooLarge, fh.Size, slot.kind.MaxBytes()))
			return
		}
		f, err := fh.Open()
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		data, err := io.ReadAll(io.LimitReader(f, int64(slot.kind.MaxBytes())+1))
		f.Close()
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		a, err := brand.NewAsset(u.Operator, slot.kind, data, s.now())
		if err != nil {
			status := http.StatusUnsupportedMediaType
			if errors.Is(err, brand.ErrTooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			fail(status, err.Error())
			return
		}
		if err := s.deps.Brand.PutAsset(ctxOf(c), a); err != nil {
			s.fail(c, "put asset", err)
			return
		}
		*slot.dst = a.Hash
	}
	if err := th.Validate(); err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if err := s.deps.Brand.SaveTheme(ctxOf(c), th); err != nil {
		s.fail(c, "save theme", err)
		return
	}
	if s.audit(c, "branding.update", u.Operator, fmt.Sprintf("name %q, colours %s %s, logo %.12s, background %.12s",
		th.Name, th.PrimaryColor, th.AccentColor, th.LogoHash, th.BackgroundHash)) != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/branding", "brand.saved")
}

// asset serves an uploaded image by hash: the URL names the bytes, so it
// is cached for a year as immutable, with the hash as ETag.
func (s *Server) asset(c *gin.Context) {
	h := c.Param("hash")
	if !brand.ValidHash(h) {
		c.Status(http.StatusNotFound)
		return
	}
	etag := `"` + h + `"`
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	a, err := s.deps.Brand.Asset(ctxOf(c), h)
	if errors.Is(err, brand.ErrNotFound) {
		c.Status(http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("dashboard: asset", "hash", h, "err", err)
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Header("ETag", etag)
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Data(http.StatusOK, a.ContentType, a.Data)
}

// qrSheet renders the printable QR/NFC sheet of the operator's points.
func (s *Server) qrSheet(c *gin.Context) {
	if s.deps.Sites == nil {
		s.unavailable(c)
		return
	}
	u := userOf(c)
	sites, err := s.deps.Sites.Sites(ctxOf(c), u.Operator)
	if err != nil {
		s.fail(c, "qr sheet", err)
		return
	}
	var labels []qrsheet.Label
	for _, site := range sites {
		for _, p := range site.Points {
			labels = append(labels, qrsheet.Label{Point: p.ID, Title: p.Label, Site: site.Name, URL: s.PointURL(p.ID)})
		}
	}
	var b bytes.Buffer
	if err := qrsheet.Render(&b, s.theme(c, u.Operator).Name, labels); err != nil {
		s.fail(c, "qr sheet", err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="qr-nfc-sheet.pdf"`)
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, "application/pdf", b.Bytes())
}

// PointURL is what a charge point's QR code and NFC tag carry.
func (s *Server) PointURL(point string) string {
	return s.opts.PublicURL + "/c/" + url.PathEscape(point)
}
