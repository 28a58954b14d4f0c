// etcd built at the version k8s.io/kubernetes pins (see go.mod); no distro package needed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
