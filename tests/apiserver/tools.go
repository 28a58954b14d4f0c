//go:build tools

// Never compiled: this import only keeps kube-apiserver's packages in the module graph,
// so `go mod tidy` records every go.sum line build.sh needs.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
