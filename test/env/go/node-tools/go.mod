// Small programs for the test node's images, standard library only: the pod sandbox's pause, and kubeapi,
// an in-cluster API client for the node's tests.
module tenant-lifecycle/test/env/node-tools

go 1.26.0
