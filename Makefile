# bsi-rollout developer entry points. `make test` works from a fresh clone: it installs what is missing, starts the
# servers, runs every check and stops what it started. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TSX := node_modules/.bin/tsx
# npm ci rewrites this file; it is older than package-lock.json when dependencies changed since the last install.
NPM_STAMP := node_modules/.package-lock.json

.PHONY: help deps build test test-long demo demo-regression lint typecheck test-unit test-integration \
	servers-install servers-up servers-down servers-status servers-reset chaos soak-ingest

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-18s %s\n", $$1, $$2 }'

$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund < /dev/null
	@touch $(NPM_STAMP)

deps: $(NPM_STAMP) ## Install npm dependencies if missing or older than package-lock.json

# The engine's processes (rollout bin, worker, ingest, simulator, demo) run the compiled JavaScript in dist/, so
# every target that starts them builds first (about 20 s: tsc, then the workflow bundle).
build: deps ## npm run build: compile into dist/ and bundle the workflows into dist/workflow-bundle.js
	npm run --silent build

test: deps ## Everything: build, servers up, lint, typecheck, unit and integration tests, servers down
	@bash scripts/run-tests.sh

test-long: deps ## The long suites (test/long: real-time pacing, full-fleet regression run), servers up and down
	@bash scripts/run-tests.sh long

chaos: build ## Chaos suite on real servers: SIGKILL worker/ingest, restart Kafka/Temporal, all four at seeded moments
	@$(TSX) chaos/run.ts

soak-ingest: build ## Ingest recovery+hostile+chaos-short together, 10 rounds (SOAK_ROUNDS); servers up like make test
	@bash scripts/soak-ingest.sh

demo: build ## End to end on local servers: worker, ingest, simulator, the bundled rollout; postmortem in out/
	@node dist/scripts/demo.js

demo-regression: build ## The same with a build that triples app crashes after install, caught against a control
	@node dist/scripts/demo.js regression

lint: deps ## ESLint and Prettier
	npm run --silent lint

typecheck: deps ## tsc --noEmit
	npm run --silent typecheck

test-unit: deps ## Unit tests (no servers)
	npm run --silent test:unit

test-integration: build ## Integration tests against running servers (make servers-up first)
	npm run --silent test:integration

servers-install: deps ## Download Kafka jars, Temporal CLI and test server into the cache
	$(TSX) scripts/servers.ts install

servers-up: deps ## Start Kafka (127.0.0.1:9092) and Temporal (127.0.0.1:7233), or reuse them
	$(TSX) scripts/servers.ts up

servers-down: deps ## Stop the servers this clone started
	$(TSX) scripts/servers.ts down

servers-status: deps ## JSON status of both servers
	$(TSX) scripts/servers.ts status

servers-reset: deps ## Stop the servers and wipe their data
	$(TSX) scripts/servers.ts reset
