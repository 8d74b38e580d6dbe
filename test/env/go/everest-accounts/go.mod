// Everest's password check in Go, for the bootstrap function's tests (see main.go).
module tenant-lifecycle/test/env/everest-accounts

go 1.26.0

require gopkg.in/yaml.v3 v3.0.1
