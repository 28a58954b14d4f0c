// kubectl as k8s.io/kubernetes/cmd/kubectl builds it, from the published k8s.io/kubectl
// module at the version helm already requires: the scan's `kubectl kustomize` path is tested
// with the real command.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
