# Every target runs with Node.js 24: .ci/node.sh fetches it from the npm registry when the machine's is older.
SHELL := /bin/bash
NODE_BIN := $(shell bash .ci/node.sh)
export PATH := $(NODE_BIN):$(PATH)

.PHONY: docs openapi bundle images install check typecheck lint format test test-unit test-integration test-faults test-node test-knative fuzz servers servers-node servers-knative testenv dev cluster bench bench-knative clean

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json

check: install typecheck lint ## typecheck + lint + formatting
	npx prettier --check .

typecheck: install
	npx tsc --noEmit -p tsconfig.json

lint: install
	npm run -s lint

format: install
	npx prettier --write .

test: check test-unit fuzz test-node test-knative test-integration ## everything CI runs; the integration summary prints last

test-unit: install
	npm run -s test:unit

# The OpenAPI documents fuzzed by schemathesis (PyPI, cached under $TL_CACHE_DIR) against the stack `make dev`
# starts; any 5xx fails. FUZZ_EXAMPLES, FUZZ_FUNCTIONS, FUZZ_STACK_FILE: see test/fuzz/run.ts.
fuzz: install servers ## every function's OpenAPI document fuzzed against the local real stack
	node test/fuzz/run.ts

servers: ## build (or reuse cached) etcd, kube-apiserver, kube-controller-manager; download Keycloak
	bash test/env/build-servers.sh >/dev/null
	node --input-type=module -e "await (await import('./test/env/keycloak.ts')).keycloakHome()"

# The fault tests start servers of their own and freeze or kill them: they run after the shared run.
test-integration: install servers
	npm run -s test:integration
	npm run -s test:faults

test-faults: install servers ## the fault suite alone (its own servers, frozen and killed)
	npm run -s test:faults

servers-node: ## also build (or reuse cached) the test node: kubelet, kube-scheduler, kube-proxy, CoreDNS, crane
	bash test/env/build-servers.sh --node >/dev/null

# The tests that need running pods (*.node.test.ts), on the test environment with its node (test/env/node.ts).
test-node: install servers servers-node ## the node tests: pods on a kubelet, containerd, kube-proxy, CoreDNS
	npx vitest run --config test/vitest.node.config.ts

servers-knative: ## also build (or reuse cached) Knative Serving and Eventing v0.50.0 and Traefik for the node
	bash test/env/build-servers.sh --knative >/dev/null

# End-to-end tests on Knative (test/e2e/), installed on the test node from its own sources (test/env/knative.ts).
test-knative: install servers servers-node servers-knative ## the end-to-end tests on Knative Serving and Eventing
	npx vitest run --config test/vitest.knative.config.ts

testenv: install servers ## start the test environment and leave it running (Ctrl-C stops it); TL_TESTENV_NODE=1 adds the node, TL_TESTENV_KNATIVE=1 Knative
	node test/env/cli.ts

dev: install servers ## the local stack: the test servers and the functions that have landed (Ctrl-C stops it)
	node test/env/dev-stack.ts

cluster: install servers servers-node servers-knative ## the product on a local Knative (kubectl apply -k), URLs in .dev/stack.json as make dev writes them (Ctrl-C stops it)
	node test/env/cluster.ts

# Each bench starts its own local stack; BENCH=bench/sync.ts runs just one. bench/knative.ts needs Knative on
# the test node: it joins the list when TL_TESTENV_FILE names a running environment (it must have Knative:
# TL_TESTENV_KNATIVE=1 make testenv), so that `make bench` on a fresh machine builds no Knative.
BENCH ?= bench/provision.ts bench/sync.ts bench/reset.ts bench/bundles.ts bench/pg-reconcile.ts bench/load.ts $(if $(TL_TESTENV_FILE),bench/knative.ts)
bench: install servers ## the benchmarks of docs/benchmarks.md on the local real stack
	@set -e; for b in $(BENCH); do echo "== $$b"; node $$b; done

# The functions as Knative Services beside a hello world (bench/knative.ts): on the environment TL_TESTENV_FILE
# names, or on one it starts with the node and Knative (built from source the first time: long).
bench-knative: install servers servers-node servers-knative ## cold start from zero, warm overhead and memory of the functions on Knative
	node bench/knative.ts

docs: install openapi ## docs/configuration.md and docs/openapi/ from the functions' zod schemas
	node docs/configuration.ts

openapi: install ## docs/openapi/<function>.json from the functions' zod schemas
	node docs/openapi/generate.ts
	npx prettier --write docs/openapi

bundle: install ## each function bundled into dist/<name>/ (what the image holds); FUNCTIONS=a,b for some
	node knative/image/bundle.ts

# crane: go-containerregistry's (`make servers-node` builds one into $$TL_CACHE_DIR/bin/registry-*/crane).
images: install ## each function's image without a Docker engine, pushed to REGISTRY=host:port with crane (CRANE=path, FUNCTIONS=a,b, TAG=t)
	@test -n "$(REGISTRY)" || { echo 'make images REGISTRY=host:port [CRANE=path] [FUNCTIONS=a,b] [TAG=t]'; exit 2; }
	node knative/image/build-images.ts --registry $(REGISTRY) --crane $(or $(CRANE),crane) --tag $(or $(TAG),latest) $(if $(FUNCTIONS),--functions $(FUNCTIONS))

clean:
	rm -rf node_modules dist .dev
