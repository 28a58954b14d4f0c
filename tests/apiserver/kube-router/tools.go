//go:build tools

// Never compiled: keeps kube-router's command in the module graph so `go mod tidy`
// records every go.sum line build.sh needs to build it.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
