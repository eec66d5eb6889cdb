# Skiff. `make run` and `make test` each set up what they need on a fresh Debian 12 machine.
PREFIX ?= /usr/local
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: run test build install bench clean

## Install dependencies, build (release) and serve the API on the default socket.
run:
	bash scripts/run.sh

## Install dependencies and the test user, build, and run every test (as root).
test:
	bash scripts/test.sh

build:
	bash scripts/install-deps.sh
	swift build -c release --static-swift-stdlib --product skiff
	swift build -c release --static-swift-stdlib --product skiff-runtime
	swift build -c release --static-swift-stdlib --product skiff-image
	swift build -c release --static-swift-stdlib --product skiff-monitor
	swift build -c release --static-swift-stdlib --product skiff-relay
	swift build -c release --static-swift-stdlib --product skiff-tls

## Binary to $(PREFIX)/bin, systemd user units to $(PREFIX)/lib/systemd/user.
install: build
	install -D -m 0755 .build/release/skiff $(DESTDIR)$(PREFIX)/bin/skiff
	install -D -m 0755 .build/release/skiff-runtime $(DESTDIR)$(PREFIX)/bin/skiff-runtime
	install -D -m 0755 .build/release/skiff-image $(DESTDIR)$(PREFIX)/bin/skiff-image
	install -D -m 0755 .build/release/skiff-monitor $(DESTDIR)$(PREFIX)/bin/skiff-monitor
	install -D -m 0755 .build/release/skiff-relay $(DESTDIR)$(PREFIX)/bin/skiff-relay
	install -D -m 0755 .build/release/skiff-tls $(DESTDIR)$(PREFIX)/bin/skiff-tls
	install -D -m 0644 share/seccomp.json $(DESTDIR)$(PREFIX)/share/skiff/seccomp.json
	install -D -m 0644 systemd/skiff.socket $(DESTDIR)$(PREFIX)/lib/systemd/user/skiff.socket
	sed 's|/usr/local/bin/skiff|$(PREFIX)/bin/skiff|' systemd/skiff.service > skiff.service.tmp
	install -D -m 0644 skiff.service.tmp $(DESTDIR)$(PREFIX)/lib/systemd/user/skiff.service
	rm -f skiff.service.tmp

## Side-by-side benchmarks: the API against Podman and Docker, the runtime against crun and runc,
## images against Podman, containers against Podman and Docker (installs them).
## BENCH_PARTS="api runtime images containers" picks parts.
bench:
	bash bench/run.sh

clean:
	rm -rf .build bench/out
