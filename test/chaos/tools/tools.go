//go:build tools

// Keeps toxiproxy in this module's requirements: build.sh builds its
// server (github.com/Shopify/toxiproxy/v2/cmd/server) from here.
package tools

import _ "github.com/Shopify/toxiproxy/v2"
