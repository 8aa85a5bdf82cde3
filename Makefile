# scrub: `make demo` runs a real erasure on the bundled test data,
# `make test` runs every check CI runs. Only Go is needed for scrub; the
# S3 servers the tests use are built with Go (MinIO, SeaweedFS, versitygw)
# or installed with npm (s3rver) into bin/, and moto is python3's.

GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT   := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# FUZZTIME (e.g. 60s) overrides the per-target execution counts below, which
# take about 10 s each here; counts, not durations, because a timed run can
# end in a spurious "context deadline exceeded" (golang/go#75804).
FUZZTIME ?=
PKGS     := ./... ./testdata/gen
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
# The other S3 servers of the compatibility tier (cmd/withs3). moto is not
# built: it is the machine's python3 module, and its tests skip, saying so,
# where python3 cannot import it.
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
VERSITYGW_VERSION := v1.8.0
S3RVER_VERSION    := 3.7.1
S3RVER            := $(BIN)/npm/node_modules/s3rver/bin/s3rver.js
S3_SERVERS        := minio,seaweedfs,versitygw,moto,s3rver
S3_PROGRAMS       := $(BIN)/minio $(BIN)/weed $(BIN)/versitygw $(S3RVER)
# staticcheck runs through go run at this version; v0.8.2 is the newest
# release, and it runs cleanly on go1.26.
STATICCHECK_VERSION := v0.8.2
GOFILES   = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')

.PHONY: all build test lint vet fmt-check race fuzz demo demo-s3 bench clean s3-servers s3-probe chromium report-screenshot

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/scrub ./cmd/scrub

## test: everything CI runs: vet and staticcheck, gofmt, the race-enabled test suite, a short fuzz run.
## Chromium is installed first when missing: the audit report's browser test
## (cmd/scrub TestReportInBrowser) needs it, and fails without it under CI=true.
test: chromium lint fmt-check race fuzz

## chromium: headless Chromium for the report's browser test, from apt when
## missing (as root, or through sudo -n); a failure only warns here: the test
## then skips, or under CI=true fails, saying so.
chromium:
	-@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get install -y chromium || { apt-get update && apt-get install -y chromium; } || \
		  sudo -n sh -c 'apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }'; } >/dev/null 2>&1 || \
		echo "make: could not install chromium; the report's browser test skips without it (and fails under CI=true)"

## report-screenshot: regenerate testdata/report/report.png and
## report-tampered.png, the first screens of scrub audit report for a good
## and a tampered bundle, as headless Chromium shows them.
report-screenshot: chromium
	mkdir -p testdata/report
	cd cmd/scrub && CI=true $(GO) test -count=1 -run '^TestReportInBrowser$$' . -args -report-screenshots=$(CURDIR)/testdata/report

## lint: go vet and staticcheck over every package.
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# One throw-away server of each kind (cmd/withs3: MinIO, SeaweedFS,
# versitygw, moto, s3rver) serves the whole suite; the MinIO tests see
# the environment cmd/withminio gives them.
race: $(S3_PROGRAMS)
	$(GO) run ./cmd/withs3 -bin $(BIN) -servers $(S3_SERVERS) -- $(GO) test -race -count=1 $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(or $(FUZZTIME),300000x) -fuzzminimizetime 5s ./scrub/filter
	$(GO) test -run '^$$' -fuzz '^FuzzExtract$$' -fuzztime $(or $(FUZZTIME),100000x) -fuzzminimizetime 5s ./scrub/filter
	$(GO) test -run '^$$' -fuzz '^FuzzParseTime$$' -fuzztime $(or $(FUZZTIME),200000x) -fuzzminimizetime 5s ./scrub/filter
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(or $(FUZZTIME),50000x) -fuzzminimizetime 5s ./archive
	$(GO) test -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(or $(FUZZTIME),30000x) -fuzzminimizetime 5s ./archive
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(or $(FUZZTIME),100000x) -fuzzminimizetime 5s ./scrub/audit
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(or $(FUZZTIME),500000x) -fuzzminimizetime 5s ./scrub/audit/sshsig
	$(GO) test -run '^$$' -fuzz '^FuzzChange$$' -fuzztime $(or $(FUZZTIME),5000x) -fuzzminimizetime 5s ./scrub/queue
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeShard$$' -fuzztime $(or $(FUZZTIME),300000x) -fuzzminimizetime 5s ./scrub/index

## demo: erase the IDs of testdata/ids.txt from a scratch copy of testdata/export,
## then check the signed audit bundle with scrub verify and with stock tools.
DEMO_KEYS := build/demo-keys
demo: build
	rm -rf build/demo build/demo-audit && mkdir -p build/demo && cp -R testdata/export/. build/demo/
	@test -f $(DEMO_KEYS)/signer || { mkdir -p $(DEMO_KEYS) && $(BIN)/scrub keygen --out $(DEMO_KEYS)/signer --id-key $(DEMO_KEYS)/id.key --principal demo@scrub >/dev/null; }
	@echo "== erasing the IDs of testdata/ids.txt from build/demo (audit bundle in build/demo-audit)"
	$(BIN)/scrub erase --ids testdata/ids.txt --key $(DEMO_KEYS)/signer --id-key $(DEMO_KEYS)/id.key \
		--audit build/demo-audit --ticket DEMO-1 --no-progress build/demo
	@echo "== a second run finds nothing left to erase"
	$(BIN)/scrub erase --ids testdata/ids.txt --key $(DEMO_KEYS)/signer --id-key $(DEMO_KEYS)/id.key \
		--audit build/demo-audit --no-progress --dry-run build/demo
	@echo "== the auditor's checks: scrub verify, then ssh-keygen and sha256sum on the first batch"
	$(BIN)/scrub verify --allowed-signers $(DEMO_KEYS)/signer.allowed_signers build/demo-audit
	cd build/demo-audit && b=$$(ls batch-*-SHA256SUMS | head -1) && \
		ssh-keygen -Y verify -f ../../$(DEMO_KEYS)/signer.allowed_signers -I demo@scrub -n scrub-audit -s $$b.sig < $$b && \
		sha256sum -c $$b
	@echo "== was each listed client erased? (only the holder of the ID key can ask)"
	$(BIN)/scrub audit lookup --id-key $(DEMO_KEYS)/id.key --ids testdata/ids.txt \
		--allowed-signers $(DEMO_KEYS)/signer.allowed_signers build/demo-audit

## demo-s3: the same erasure on a versioned bucket of a throw-away MinIO,
## with the audit bundle in the same MinIO.
demo-s3: build $(BIN)/minio
	@test -f $(DEMO_KEYS)/signer || { mkdir -p $(DEMO_KEYS) && $(BIN)/scrub keygen --out $(DEMO_KEYS)/signer --id-key $(DEMO_KEYS)/id.key --principal demo@scrub >/dev/null; }
	$(GO) run ./cmd/withminio -bin $(BIN)/minio -load testdata/export=scrub-demo/exports -versioned -- sh -c '\
		echo "== erasing the IDs of testdata/ids.txt from s3://scrub-demo/exports (versioned)" && \
		$(BIN)/scrub erase --ids testdata/ids.txt --key $(DEMO_KEYS)/signer --id-key $(DEMO_KEYS)/id.key \
			--audit s3://scrub-demo/audit --no-progress s3://scrub-demo/exports && \
		echo "== a second run finds nothing left to erase" && \
		$(BIN)/scrub erase --ids testdata/ids.txt --key $(DEMO_KEYS)/signer --id-key $(DEMO_KEYS)/id.key \
			--audit s3://scrub-demo/audit --no-progress --dry-run s3://scrub-demo/exports && \
		$(BIN)/scrub verify --allowed-signers $(DEMO_KEYS)/signer.allowed_signers s3://scrub-demo/audit'

## bin/minio: the MinIO server for the S3 tests; built once, kept in bin/.
$(BIN)/minio:
	@echo "== building MinIO $(MINIO_VERSION) into $(BIN) (about 10 s with a warm Go cache, about 6 min cold)"
	GOBIN=$(BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

## bin/weed: SeaweedFS. `go install` refuses its module (its go.mod has
## replace directives), so it is built inside the module cache's copy.
$(BIN)/weed:
	@echo "== building SeaweedFS $(SEAWEEDFS_VERSION) into $(BIN) (under a minute with a warm Go cache, about 9 min cold)"
	dir=$$(cd "$${TMPDIR:-/tmp}" && $(GO) mod download -json github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION) | \
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && test -n "$$dir" && \
	cd "$$dir" && $(GO) build -o $(abspath $@) ./weed

## bin/versitygw: versitygw (its posix backend serves the tests).
$(BIN)/versitygw:
	@echo "== building versitygw $(VERSITYGW_VERSION) into $(BIN) (under a minute with a warm Go cache, about 4 min cold)"
	GOBIN=$(abspath $(BIN)) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## bin/npm/.../s3rver.js: s3rver, a Node.js S3 server, from npm.
$(S3RVER):
	@echo "== installing s3rver $(S3RVER_VERSION) into $(BIN)/npm"
	npm install --prefix $(BIN)/npm --no-audit --no-fund s3rver@$(S3RVER_VERSION)
	@touch $@

## s3-servers: every server program of the compatibility tier.
s3-servers: $(S3_PROGRAMS)

## s3-probe: what each S3 server does about versions, object lock,
## conditional writes and checksums, as a markdown table; it fails where
## docs/s3-compatibility.md says otherwise (make test runs it too).
s3-probe: $(S3_PROGRAMS)
	$(GO) run ./cmd/withs3 -bin $(BIN) -servers $(S3_SERVERS) -- $(GO) test -count=1 -v -run '^TestServersProbe$$' ./scrub/scrubtest

ifneq ($(BIN),bin)
bin/minio: $(BIN)/minio
bin/weed: $(BIN)/weed
bin/versitygw: $(BIN)/versitygw
endif

## bench: Go benchmarks of the filter, the formats and whole batches (local
## disk and a single-drive MinIO, the server as usually run locally), then
## the scale rows (bench scale: many small archives, memory against their
## number, a million IDs, S3 behind 20 ms of latency, zip against gzip) and
## the index rows (bench index: a request with and without the keyed index,
## its build cost, size and load), rewritten into cmd/bench/RESULTS.md.
## BENCH_SCALE_ARGS=-ids10m adds 10M IDs.
bench: build $(BIN)/minio
	$(GO) run ./cmd/withminio -bin $(BIN)/minio -drives 1 -- $(GO) test -run '^$$' -bench . -benchmem ./scrub/filter ./archive ./scrub/ids ./scrub/index ./scrub/s3store
	cd cmd/scrub && $(GO) test -run '^$$' -bench BenchmarkMemory -benchtime 1x .
	$(GO) run ./cmd/bench scale -scrub $(BIN)/scrub -minio $(BIN)/minio $(BENCH_SCALE_ARGS)
	$(GO) run ./cmd/bench index

## bench-peers: scrub against grep, awk, Miller, DuckDB and the gunzip floor on
## the same generated archives, with a correctness check of every output; a
## markdown table. BENCH_SIZE=50MB for a smoke run. See cmd/bench/README.md.
BENCH_SIZE ?= 1GB
BENCH_DIR  := build/bench
BENCH_ARGS ?=
.PHONY: bench-peers bench-peers-tools
bench-peers: build $(BIN)/minio bench-peers-tools
	$(GO) run ./cmd/bench gen -size $(BENCH_SIZE) -out $(BENCH_DIR)/data-$(BENCH_SIZE)
	$(GO) run ./cmd/bench run -data $(BENCH_DIR)/data-$(BENCH_SIZE) -report $(BENCH_DIR)/report-$(BENCH_SIZE).md $(BENCH_ARGS)

# The peers, installed when missing; a failure only leaves their rows "not installed".
bench-peers-tools:
	-@command -v mlr >/dev/null && command -v gawk >/dev/null || \
		{ apt-get install -y miller gawk || { apt-get update && apt-get install -y miller gawk; } || \
		  sudo -n sh -c 'apt-get update && apt-get install -y miller gawk'; } >/dev/null 2>&1 || \
		echo "bench-peers: could not install miller and gawk; their rows will say not installed"
	-@test -d cmd/bench/duckdb/node_modules/@duckdb/node-api || \
		(cd cmd/bench/duckdb && npm install --no-audit --no-fund --no-package-lock) || \
		echo "bench-peers: could not install @duckdb/node-api; its row will say not installed"

clean:
	rm -rf bin build
