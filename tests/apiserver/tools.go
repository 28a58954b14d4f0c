//go:build tools

// Never compiled: these imports only keep the control plane's and the node's packages in
// the module graph, so `go mod tidy` records every go.sum line build.sh needs.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
