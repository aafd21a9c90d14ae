package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/dashboard/auth"
)

// PurgeSessions deletes the dashboard sessions that ended by now; central's
// job runner calls it (hourly is plenty).
func (s *Server) PurgeSessions(ctx context.Context) (int64, error) { return s.auth.Purge(ctx, s.now()) }

func (s *Server) usersPage(c *gin.Context) { s.users(c, http.StatusOK, s.flash(c), "") }

func (s *Server) users(c *gin.Context, status int, flash, errMsg string) {
	us, err := s.deps.Users.Users(ctxOf(c), userOf(c).Operator)
	if err != nil {
		s.fail(c, "users", err)
		return
	}
	s.opsPage(c, status, "users", "users", us, flash, errMsg)
}

func (s *Server) createUser(c *gin.Context) {
	email, err := auth.NormalizeEmail(c.PostForm("email"))
	role := auth.Role(c.PostForm("role"))
	if err != nil || !role.Valid() {
		s.users(c, http.StatusBadRequest, "", T(s.lang(c), "err.input"))
		return
	}
	hash, err := s.auth.HashPassword(c.PostForm("password"))
	if err != nil {
		s.users(c, http.StatusBadRequest, "", err.Error())
		return
	}
	id, err := auth.RandomToken(9)
	if err != nil {
		s.fail(c, "create user", err)
		return
	}
	u := auth.User{ID: "u-" + id, Operator: userOf(c).Operator, Email: email, Name: strings.TrimSpace(c.PostForm("name")),
		Role: role, PasswordHash: hash, CreatedAt: s.now()}
	if err := s.deps.Users.CreateUser(ctxOf(c), u); err != nil {
		if errors.Is(err, auth.ErrExists) || errors.Is(err, auth.ErrInvalid) {
			s.users(c, http.StatusBadRequest, "", err.Error())
			return
		}
		s.fail(c, "create user", err)
		return
	}
	if s.audit(c, "user.create", u.ID, email+" as "+string(role)) != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/users", "saved")
}

// updateUser changes a user's role or disables/enables them; either ends
// the user's sessions. An admin cannot change themselves (no lock-out).
func (s *Server) updateUser(c *gin.Context) {
	me := userOf(c)
	u, err := s.deps.Users.UserByID(ctxOf(c), c.Param("id"))
	if errors.Is(err, auth.ErrNotFound) || (err == nil && u.Operator != me.Operator) {
		s.errorPage(c, http.StatusNotFound, "err.notfound")
		return
	}
	if err != nil {
		s.fail(c, "user", err)
		return
	}
	if u.ID == me.ID {
		s.users(c, http.StatusBadRequest, "", T(s.lang(c), "user.self"))
		return
	}
	role := auth.Role(c.PostForm("role"))
	if !role.Valid() {
		s.users(c, http.StatusBadRequest, "", T(s.lang(c), "err.input"))
		return
	}
	u.Role, u.Disabled = role, c.PostForm("disabled") == "on"
	if err := s.deps.Users.UpdateUser(ctxOf(c), u); err != nil {
		s.fail(c, "update user", err)
		return
	}
	if err := s.auth.EndUserSessions(ctxOf(c), u.ID); err != nil {
		s.fail(c, "update user", err)
		return
	}
	if s.audit(c, "user.update", u.ID, fmt.Sprintf("%s: role %s, disabled %v", u.Email, u.Role, u.Disabled)) != nil {
		s.errorPage(c, http.StatusInternalServerError, "err.internal")
		return
	}
	redirectFlash(c, "/ops/users", "saved")
}
