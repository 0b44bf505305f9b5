// etcd for the test control plane: the etcd server's own main, built from the module the
// Kubernetes release in go.mod was tested with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
