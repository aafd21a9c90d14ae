package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// TariffBody is a tariff on the wire: gross prices in minor units of
// Currency, free time in whole minutes.
type TariffBody struct {
	ID                    string       `json:"id"`
	Class                 tariff.Class `json:"class"`
	Currency              string       `json:"currency"`
	EnergyPerKWhMinor     int64        `json:"energyPerKWhMinor"`
	StartFeeMinor         int64        `json:"startFeeMinor"`
	TimeFeePerMinuteMinor int64        `json:"timeFeePerMinuteMinor"`
	FreeMinutes           int64        `json:"freeMinutes"`
	CapMinor              int64        `json:"capMinor"`
	VATRateBP             int64        `json:"vatRateBp"`
	Version               int64        `json:"version,omitempty"`
}

func tariffBody(t tariff.Tariff) TariffBody {
	return TariffBody{ID: t.ID, Class: t.Class, Currency: t.Currency, EnergyPerKWhMinor: t.EnergyPerKWhMinor, StartFeeMinor: t.StartFeeMinor,
		TimeFeePerMinuteMinor: t.TimeFeePerMinuteMinor, FreeMinutes: int64(t.FreeTime / time.Minute), CapMinor: t.CapMinor, VATRateBP: t.VATRateBP}
}

func (b TariffBody) tariff() tariff.Tariff {
	return tariff.Tariff{ID: b.ID, Class: b.Class, Currency: b.Currency, EnergyPerKWhMinor: b.EnergyPerKWhMinor, StartFeeMinor: b.StartFeeMinor,
		TimeFeePerMinuteMinor: b.TimeFeePerMinuteMinor, FreeTime: time.Duration(b.FreeMinutes) * time.Minute, CapMinor: b.CapMinor, VATRateBP: b.VATRateBP}
}

func versioned(t catalog.Tariff) TariffBody {
	b := tariffBody(t.Tariff)
	b.Version = t.Version
	return b
}

func (a *API) points(c *gin.Context) {
	ps, err := a.c.Catalog.Points(c.Request.Context(), operatorOf(c))
	if err != nil {
		a.internal(c, "points", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"points": ps})
}

func (a *API) listTariffs(c *gin.Context) {
	ts, err := a.c.Catalog.Tariffs(c.Request.Context(), operatorOf(c))
	if err != nil {
		a.internal(c, "tariffs", err)
		return
	}
	out := make([]TariffBody, 0, len(ts))
	for _, t := range ts {
		out = append(out, versioned(t))
	}
	c.JSON(http.StatusOK, gin.H{"tariffs": out})
}

func (a *API) getTariff(c *gin.Context) {
	t, err := a.c.Catalog.Tariff(c.Request.Context(), operatorOf(c), c.Param("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such tariff")
		return
	}
	if err != nil {
		a.internal(c, "tariff", err)
		return
	}
	c.JSON(http.StatusOK, versioned(t))
}

func (a *API) createTariff(c *gin.Context) {
	var b TariffBody
	if !bind(c, &b) {
		return
	}
	if _, err := a.c.Catalog.Tariff(c.Request.Context(), operatorOf(c), b.ID); err == nil {
		fail(c, http.StatusConflict, "conflict", "tariff exists; PUT /operator/tariffs/{id} stores a new version")
		return
	}
	a.saveTariff(c, b, http.StatusCreated)
}

func (a *API) putTariff(c *gin.Context) {
	var b TariffBody
	if !bind(c, &b) {
		return
	}
	if b.ID != "" && b.ID != c.Param("id") {
		fail(c, http.StatusBadRequest, "bad_request", "id in the body differs from the path")
		return
	}
	b.ID = c.Param("id")
	if _, err := a.c.Catalog.Tariff(c.Request.Context(), operatorOf(c), b.ID); errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such tariff; POST /operator/tariffs creates one")
		return
	}
	a.saveTariff(c, b, http.StatusOK)
}

// saveTariff stores a new version; sessions already started keep theirs.
func (a *API) saveTariff(c *gin.Context, b TariffBody, status int) {
	if b.Version != 0 {
		fail(c, http.StatusBadRequest, "bad_request", "version is set by the server")
		return
	}
	t, err := a.c.Catalog.PutTariff(c.Request.Context(), catalog.Tariff{Operator: operatorOf(c), Tariff: b.tariff()}, a.now())
	if errors.Is(err, catalog.ErrInvalid) {
		fail(c, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		a.internal(c, "store tariff", err)
		return
	}
	a.log.Info("tariff stored", "operator", operatorOf(c), "tariff", t.Tariff.ID, "version", t.Version)
	c.JSON(status, versioned(t))
}

func (a *API) retireTariff(c *gin.Context) {
	err := a.c.Catalog.RetireTariff(c.Request.Context(), operatorOf(c), c.Param("id"), a.now())
	if errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such tariff")
		return
	}
	if err != nil {
		a.internal(c, "retire tariff", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// CodeRequest makes an access code.
type CodeRequest struct {
	ID         string          `json:"id"`
	Kind       accesscode.Kind `json:"kind"`
	Label      string          `json:"label"`
	Group      string          `json:"group,omitempty"` // user group; see accesscode.CheckGroup
	CostCentre string          `json:"costCentre,omitempty"`
	ValidFrom  time.Time       `json:"validFrom,omitzero"`
	ValidUntil time.Time       `json:"validUntil,omitzero"`
	MaxUses    int64           `json:"maxUses,omitempty"`
}

// CodeAnswer is a new code with its secret, shown this once.
type CodeAnswer struct {
	Code   accesscode.Code `json:"code"`
	Secret string          `json:"secret"`
}

func (a *API) listCodes(c *gin.Context) {
	cs, err := a.c.Codes.Codes(c.Request.Context(), operatorOf(c))
	if err != nil {
		a.internal(c, "access codes", err)
		return
	}
	if g, ok := c.GetQuery("group"); ok {
		cs = slices.DeleteFunc(cs, func(x accesscode.Code) bool { return x.Group != g })
	}
	c.JSON(http.StatusOK, gin.H{"codes": cs})
}

func (a *API) createCode(c *gin.Context) {
	var r CodeRequest
	if !bind(c, &r) {
		return
	}
	secret, hash, err := catalog.NewSecret("")
	if err != nil {
		a.internal(c, "code secret", err)
		return
	}
	now := a.now().UTC()
	code := accesscode.Code{ID: r.ID, Operator: operatorOf(c), Kind: r.Kind, Label: r.Label, Group: r.Group, CostCentre: r.CostCentre,
		ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil, MaxUses: r.MaxUses, CreatedAt: now, Hash: hash}
	if code.ValidFrom.IsZero() {
		code.ValidFrom = now
	}
	err = a.c.Codes.Create(c.Request.Context(), code)
	if errors.Is(err, accesscode.ErrInvalid) {
		fail(c, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		a.internal(c, "create access code", err)
		return
	}
	a.log.Info("access code created", "operator", code.Operator, "code", code.ID, "kind", code.Kind, "group", code.Group)
	c.JSON(http.StatusCreated, CodeAnswer{Code: code, Secret: secret})
}

func (a *API) codeNotFound(c *gin.Context, what string, err error) {
	if errors.Is(err, accesscode.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such access code")
		return
	}
	a.internal(c, what, err)
}

func (a *API) getCode(c *gin.Context) {
	code, err := a.c.Codes.Code(c.Request.Context(), operatorOf(c), c.Param("id"))
	if err != nil {
		a.codeNotFound(c, "access code", err)
		return
	}
	c.JSON(http.StatusOK, code)
}

func (a *API) updateCode(c *gin.Context) {
	var e accesscode.Edit
	if !bind(c, &e) {
		return
	}
	code, err := a.c.Codes.Update(c.Request.Context(), operatorOf(c), c.Param("id"), e)
	if errors.Is(err, accesscode.ErrInvalid) {
		fail(c, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		a.codeNotFound(c, "update access code", err)
		return
	}
	a.log.Info("access code updated", "operator", code.Operator, "code", code.ID, "group", code.Group)
	c.JSON(http.StatusOK, code)
}

func (a *API) revokeCode(c *gin.Context) {
	code, err := a.c.Codes.Revoke(c.Request.Context(), operatorOf(c), c.Param("id"), a.now())
	if err != nil {
		a.codeNotFound(c, "revoke access code", err)
		return
	}
	a.log.Info("access code revoked", "operator", code.Operator, "code", code.ID)
	c.JSON(http.StatusOK, code)
}

func (a *API) codeUses(c *gin.Context) {
	op, id := operatorOf(c), c.Param("id")
	code, err := a.c.Codes.Code(c.Request.Context(), op, id)
	if err != nil {
		a.codeNotFound(c, "access code", err)
		return
	}
	uses, err := a.c.Codes.Uses(c.Request.Context(), op, id)
	if err != nil {
		a.internal(c, "access code uses", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"code": code.ID, "count": code.Uses, "uses": uses})
}

func (a *API) listSessions(c *gin.Context) {
	limit := 100
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			fail(c, http.StatusBadRequest, "bad_request", "limit: 1..1000")
			return
		}
		limit = n
	}
	starts, err := a.c.Catalog.Starts(c.Request.Context(), operatorOf(c), limit)
	if err != nil {
		a.internal(c, "sessions", err)
		return
	}
	out := make([]SessionView, 0, len(starts))
	for _, st := range starts {
		s, err := a.c.SessionStore.Session(c.Request.Context(), st.Session)
		if err != nil {
			continue // a start refused before its session was stored
		}
		if s.Operator != operatorOf(c) {
			a.internal(c, "sessions", fmt.Errorf("session %s of operator %s listed for %s", s.ID, s.Operator, operatorOf(c)))
			return
		}
		out = append(out, view(s, nil))
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

func (a *API) getSession(c *gin.Context) {
	st, err := a.c.Catalog.OperatorStart(c.Request.Context(), operatorOf(c), c.Param("id"))
	if errors.Is(err, catalog.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such session")
		return
	}
	if err != nil {
		a.internal(c, "session", err)
		return
	}
	s, ok := a.session(c, st.Session)
	if !ok {
		return
	}
	if s.Operator != st.Operator {
		a.internal(c, "session", fmt.Errorf("session %s: operator %s, start of %s", s.ID, s.Operator, st.Operator))
		return
	}
	trs, err := a.c.SessionStore.Transitions(c.Request.Context(), s.ID)
	if err != nil {
		a.internal(c, "transitions", err)
		return
	}
	v := view(s, trs)
	v.Start = &st
	c.JSON(http.StatusOK, v)
}
