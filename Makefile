# autonous: `make run` to try it, `make test` to check it. See README.md.

SWIFT ?= swift

# The build products' directory; `=` so swift is asked only by the targets that use it.
BIN = $(shell $(SWIFT) build --show-bin-path 2>/dev/null || echo .build/debug)
# The runtime directory scripts/run-local.sh used last (it may move to /tmp when the path is long).
RUNTIME_DIR = $(shell cat .local/runtime-dir 2>/dev/null || echo '$(CURDIR)/.local/run')

.PHONY: all deps run chat build check test e2e e2e-systemd lint format bench clean release install uninstall deb install-check

# Where `make install` puts things (README, "Install"); DESTDIR is prepended to each. Units, sysusers and tmpfiles
# snippets go under PREFIX/lib, which systemd searches for /usr and /usr/local alike.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
DOCDIR ?= $(PREFIX)/share/doc/autonous
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SOURCEDIR ?= $(PREFIX)/share/autonous/source
MANIFEST ?= $(PREFIX)/share/autonous/install-manifest
INSTALL_VARIABLES = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' BINDIR='$(BINDIR)' MANDIR='$(MANDIR)' DOCDIR='$(DOCDIR)' \
	UNITDIR='$(UNITDIR)' SYSUSERSDIR='$(SYSUSERSDIR)' TMPFILESDIR='$(TMPFILESDIR)' BASHCOMPDIR='$(BASHCOMPDIR)' \
	ZSHCOMPDIR='$(ZSHCOMPDIR)' FISHCOMPDIR='$(FISHCOMPDIR)' SOURCEDIR='$(SOURCEDIR)' MANIFEST='$(MANIFEST)'
# The release build the install and the .deb ship: the Swift runtime linked in, so the binaries need only the
# Debian packages of the C libraries (autonous-sandbox is a static executable anyway).
RELEASE_FLAGS = -c release --static-swift-stdlib
RELEASE_BIN = $(shell $(SWIFT) build $(RELEASE_FLAGS) --show-bin-path 2>/dev/null || echo .build/release)
# autonousctl's man page, made from its command definitions by generate-manual, the tool swift-argument-parser's
# GenerateManual plugin runs. Called directly: the plugin would first rebuild the whole package in release without
# --static-swift-stdlib (relinking every executable, then again for the install).
MANUAL = .build/manual/autonousctl.1

all: build

deps:
	scripts/install-deps.sh

run: deps
	scripts/run-local.sh

chat:
	@test -x '$(BIN)/autonousctl' || { echo "make chat: $(BIN)/autonousctl is not built yet; start 'make run' first" >&2; exit 1; }
	'$(BIN)/autonousctl' chat --socket '$(RUNTIME_DIR)/control.sock'

build: deps
	$(SWIFT) build

# Formatting lint, then the fixtures' self-test (fast, and every integration test depends on the fakes), the install
# check on the debug build (make install/uninstall into a scratch DESTDIR, and a .deb's paths), then the Swift
# suites in three test processes, one after the other: the unit tests, the integration tests (real daemons) and the
# containment suite (real sandboxes, run by blocking calls). Swift Testing runs the tests of one process concurrently
# on a cooperative pool as wide as the machine has cores; a containment test that blocks a pool thread for a minute
# must not hold up a unit test that waits for a wake-up. No --parallel, for the same reason.
UNIT_SKIP = '^(SandboxTests|SandboxLibraryTests|IntegrationTests)\.'
check: deps
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
	python3 Tests/Fixtures/test_fakes.py
	python3 Tests/Fixtures/test_misbehaving_worker.py
	$(SWIFT) build --build-tests
	scripts/check-install.sh '$(BIN)'
	$(SWIFT) test --skip-build --skip $(UNIT_SKIP)
	$(SWIFT) test --skip-build --filter '^IntegrationTests\.'
	$(SWIFT) test --skip-build --filter '^(SandboxTests|SandboxLibraryTests)\.'

# The whole suite, as CI runs it: `check`, then the real self-update of `e2e` (about 11 minutes more on two cores
# with a cold build cache; README, "An end-to-end self-update"), then autonous under a real systemd in
# systemd-nspawn with the debug build (`e2e-systemd`, about 1.5 minutes).
test: check
	scripts/e2e-self-update
	scripts/e2e-systemd

# A real self-update of the worker built from this checkout, through the fakes: the agent proposes a patch, SwiftPM
# builds and tests it in the build sandbox with no network, autonousctl approves it, probation promotes it, and
# autonousctl rollback brings the old worker back (scripts/e2e-self-update; README, "An end-to-end self-update").
e2e: deps
	scripts/e2e-self-update

# autonous under a real systemd booted in systemd-nspawn (as root): installed as the package will be, started with
# systemctl against the fakes, then status, a chat reply, the journal by run id, a killed worker, a deploy and a
# rollback, the watchdog on a stopped supervisor, a stop that leaves nothing behind, and the containment suite as the
# service user under the unit's hardening options (scripts/e2e-systemd; README, "An end-to-end test under systemd").
# Part of `test`: about 1.5 minutes once the binaries and the test bundle are built.
e2e-systemd: deps
	scripts/e2e-systemd

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

# Benchmarks run on a release build, built first; then scripts/bench/all.sh runs every benchmark one after the other
# (autonous against nanobot, bubblewrap and GNU grep in the same run) and regenerates BENCHMARKS.md and
# benchmarks.svg. Figures vary with the machine, so they are reported, never asserted. BENCH_NOTE='...' adds a
# sentence to the report's head; scripts/bench/all.sh lists the other knobs.
# The self-update's clean build of the worker (timed, in .build/bench) is the release build the benchmarks use: the
# other products are built on top of it, so a fresh clone compiles everything once. All of them link the Swift
# runtime in, as the install and every self-update do: the figures are those of what runs.
BENCH_BUILD = $(SWIFT) build -c release --static-swift-stdlib --scratch-path ../scratch --skip-update
bench: deps
	$(SWIFT) package resolve
	SWIFT='$(SWIFT)' python3 scripts/bench/build_times.py clean .build/bench --runs $${BENCH_CLEAN_BUILD_RUNS:-1}
	cd .build/bench/tree && $(BENCH_BUILD) --product autonous-sandbox
	cd .build/bench/tree && $(BENCH_BUILD) --product autonous-supervisord
	cd .build/bench/tree && $(BENCH_BUILD) --product autonous-bench
	SWIFT='$(SWIFT)' BENCH_COMMAND='make bench' BENCH_BUILD_DIR=.build/bench \
		scripts/bench/all.sh "$$(cd .build/bench/tree && $(BENCH_BUILD) --show-bin-path)"

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)
	$(SWIFT) build $(RELEASE_FLAGS) --product generate-manual
	mkdir -p .build/manual
	'$(RELEASE_BIN)/generate-manual' '$(RELEASE_BIN)/autonousctl' --output-directory .build/manual

install: release
	$(INSTALL_VARIABLES) MANUAL='$(MANUAL)' scripts/install.sh '$(RELEASE_BIN)'

uninstall:
	DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' MANIFEST='$(MANIFEST)' scripts/uninstall.sh

deb: release
	scripts/build-deb.sh '$(RELEASE_BIN)' '$(MANUAL)'

# Installs into a scratch DESTDIR with PREFIX=/usr, uninstalls, and checks nothing is left; then the .deb's paths.
install-check: release
	scripts/check-install.sh '$(RELEASE_BIN)' '$(MANUAL)'

clean:
	@dir=$$(cat .local/runtime-dir 2>/dev/null || true); \
	case "$$dir" in /tmp/autonous-run.*) rm -rf "$$dir" ;; esac
	rm -rf .build .local build
