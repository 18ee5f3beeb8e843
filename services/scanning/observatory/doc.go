// Package observatory grades a site's HTTP security headers exactly as the MDN HTTP Observatory does, from responses the scanner already fetched.
package observatory
