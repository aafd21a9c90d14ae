package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpenAPI is the API's OpenAPI 3 document (also docs/api.md's reference);
// TestOpenAPIMatchesRouter checks it against the router both ways.
//
//go:embed openapi.yaml
var OpenAPI []byte

func (a *API) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", OpenAPI)
}
