# scrub: `make demo` runs a real erasure on the bundled test data,
# `make test` runs every check CI runs. Only Go is needed.

GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 15s
PKGS     := ./... ./testdata/gen
GOFILES   = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')

.PHONY: all build test vet fmt-check race fuzz demo bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/scrub ./cmd/scrub

## test: everything CI runs: vet, gofmt, the race-enabled test suite, a short fuzz run.
test: vet fmt-check race fuzz

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

race:
	$(GO) test -race -count=1 $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./scrub/filter

## demo: erase the IDs of testdata/ids.txt from a scratch copy of testdata/export.
demo: build
	rm -rf build/demo && mkdir -p build/demo && cp -R testdata/export/. build/demo/
	@echo "== erasing the IDs of testdata/ids.txt from build/demo"
	$(BIN)/scrub erase --ids testdata/ids.txt --no-progress build/demo
	@echo "== a second run finds nothing left to erase"
	$(BIN)/scrub erase --ids testdata/ids.txt --no-progress --dry-run build/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./scrub/filter ./archive

clean:
	rm -rf bin build
