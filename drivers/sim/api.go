package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Handler returns the control API (see the package doc). Start serves it
// on Config.API; tests can mount it on an httptest server.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /api/fault", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readJSON(w, r, &f) {
			return
		}
		respond(w, s.InjectFault(f))
	})
	mux.HandleFunc("POST /api/car", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Point  string `json:"point"`
			Action string `json:"action"` // plug | unplug
			Car
		}
		if !readJSON(w, r, &req) {
			return
		}
		switch req.Action {
		case "plug":
			respond(w, s.PlugCar(req.Point, req.Car))
		case "unplug":
			respond(w, s.UnplugCar(req.Point))
		default:
			respond(w, fmt.Errorf("car: %w: action %q, want plug or unplug", ErrBadRequest, req.Action))
		}
	})
	mux.HandleFunc("POST /api/step", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Seconds float64 `json:"seconds"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Seconds <= 0 || req.Seconds > 7*24*3600 {
			respond(w, fmt.Errorf("step: %w: seconds %v outside (0, 604800]", ErrBadRequest, req.Seconds))
			return
		}
		s.Step(time.Duration(req.Seconds * float64(time.Second)))
		respond(w, nil)
	})
	return mux
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "decode request: " + err.Error()})
		return false
	}
	return true
}

func respond(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case errors.Is(err, ErrUnknownDevice):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrOccupied):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}
