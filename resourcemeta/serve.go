package resourcemeta

import (
	"encoding/json"
	"net/http"

	"github.com/caddy-stepup/caddy-stepup/apierror"
)

// Serve answers a request for a metadata document of origin's resources
// and reports true, or reports false when path is not a metadata path
// (the request is someone else's). The bare well-known path describes the
// site's own resource (siteRoutes, its routes that name none, and the
// routes that name the origin); a path-suffixed one, the resource some
// route names, else 404.
// The documents are public: any origin may read them (CORS), and they are
// the same for every caller.
func Serve(w http.ResponseWriter, r *http.Request, path, origin string, catalog *Catalog, siteRoutes func() []Route, site Site, common Common) bool {
	resource, ok := ResourceOf(origin, path)
	if !ok {
		return false
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hdr.Set("Access-Control-Allow-Methods", "GET, HEAD")
		hdr.Set("Access-Control-Allow-Headers", "*")
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	default:
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		apierror.WriteJSON(w, apierror.MethodNotAllowed.Status(),
			apierror.Body(apierror.MethodNotAllowed, "method_not_allowed", "Metadata is read with GET.", nil))
		return true
	}
	resource = Canonical(resource)
	var others []Route
	if resource == Canonical(origin) {
		others = siteRoutes()
	} else if !catalog.Has(resource) {
		apierror.WriteJSON(w, apierror.NotFound.Status(),
			apierror.Body(apierror.NotFound, "not_found", "No protected resource has this identifier.", nil))
		return true
	}
	doc := catalog.Document(resource, others, site, common)
	if site.Sign != nil {
		if err := site.Sign(&doc); err != nil {
			apierror.WriteJSON(w, apierror.Unavailable.Status(),
				apierror.Body(apierror.Unavailable, "internal", "The service is temporarily unavailable.", nil))
			return true
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return false // cannot happen: strings, slices and a bool
	}
	hdr.Set("Content-Type", "application/json")
	// Reloads change the documents; clients should not keep them long.
	hdr.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}
