//go:build tools

// Never compiled: these imports only keep the renderers' packages in the module graph, so
// `go mod tidy` records every go.sum line build.sh needs for `build.sh render-tools` (kubectl
// is built from cmd/kubectl, a package of this module).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
