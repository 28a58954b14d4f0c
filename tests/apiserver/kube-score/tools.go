//go:build tools

// Never compiled: keeps kube-score's command in the module graph so `go mod tidy` records
// every go.sum line build.sh needs to build it (the benchmark suite's Go peer).
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
