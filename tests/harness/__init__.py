"""Real test infrastructure: a kube-apiserver, runc containers and network namespaces."""
