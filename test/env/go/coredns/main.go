// Command coredns is CoreDNS (Apache-2.0) with only the plugins the test node's cluster DNS uses: it answers
// for cluster.local from the Kubernetes API and forwards nothing (pods reach no resolver outside the
// machine). Upstream's main imports every plugin, with the cloud providers' SDKs; this one builds in a
// fraction of the time.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
