// Command everest-accounts checks a password against an Everest users.yaml the way Everest's Go code does:
// the YAML decoded with gopkg.in/yaml.v3 into Everest's account fields (a !!binary passwordHash becomes the
// raw bytes of a Go string), then PBKDF2-HMAC-SHA256(password, salt, 4096, 32) compared with the stored
// hash. It proves that what the bootstrap function writes is what Everest itself reads, not only what
// the JavaScript side round-trips. Usage: everest-accounts <salt> <username> <password> < users.yaml;
// prints "match" or "mismatch" (exit 0), or the error (exit 1).
package main

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

type account struct {
	Enabled       bool     `yaml:"enabled"`
	Capabilities  []string `yaml:"capabilities"`
	PasswordMtime string   `yaml:"passwordMtime"`
	PasswordHash  string   `yaml:"passwordHash"`
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: everest-accounts <salt> <username> <password> < users.yaml")
		os.Exit(2)
	}
	salt, username, password := os.Args[1], os.Args[2], os.Args[3]
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var accounts map[string]account
	if err := yaml.Unmarshal(data, &accounts); err != nil {
		fmt.Fprintln(os.Stderr, "users.yaml:", err)
		os.Exit(1)
	}
	acc, ok := accounts[username]
	if !ok {
		fmt.Fprintln(os.Stderr, "account not found")
		os.Exit(1)
	}
	hash, err := pbkdf2.Key(sha256.New, password, []byte(salt), 4096, 32)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if subtle.ConstantTimeCompare(hash, []byte(acc.PasswordHash)) == 1 && acc.Enabled {
		fmt.Println("match")
	} else {
		fmt.Println("mismatch")
	}
}
