// Command pause is the first process of every pod sandbox on the test node: it holds the pod's namespaces
// open, reaps the orphans a shared PID namespace hands it, and exits on SIGINT or SIGTERM. It does what
// Kubernetes' own pause.c does, as a static Go binary (no C toolchain in the image build).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
