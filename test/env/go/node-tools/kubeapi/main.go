// Command kubeapi calls the Kubernetes API from inside a pod as an in-cluster client does: it finds the
// apiserver through KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, verifies its certificate against
// the cluster CA of the pod's ServiceAccount volume, and sends that volume's token. It prints the status
// code and the body, and exits non-zero unless the answer is 2xx.
//
//	kubeapi [-method POST] [-data JSON] [-no-token] /apis/...
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	method := flag.String("method", http.MethodGet, "HTTP method")
	data := flag.String("data", "", "JSON request body")
	noToken := flag.Bool("no-token", false, "send no token (anonymous request)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: kubeapi [-method M] [-data JSON] [-no-token] PATH")
		os.Exit(2)
	}
	if err := call(*method, *data, *noToken, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "kubeapi:", err)
		os.Exit(1)
	}
}

func call(method, data string, noToken bool, path string) error {
	caPEM, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in %s/ca.crt", serviceAccountDir)
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
	}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	request, err := http.NewRequest(method, "https://"+host+path, strings.NewReader(data))
	if err != nil {
		return err
	}
	request.Header.Set("Content-Type", "application/json")
	if !noToken {
		token, err := os.ReadFile(serviceAccountDir + "/token")
		if err != nil {
			return err
		}
		request.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	response, err := client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		return err
	}
	fmt.Printf("status %d\n%s\n", response.StatusCode, body)
	if response.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", response.StatusCode)
	}
	return nil
}
