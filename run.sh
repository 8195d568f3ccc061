#!/usr/bin/env bash
# zmicro's one entry point for a fresh Debian machine.
#
#   ./run.sh demo     install what is missing, build, run the demo: three
#                     nodes on loopback that find each other, answer calls,
#                     get an event, share a lock and survive the death of
#                     one (examples/demo.sh), then the actor demo
#   ./run.sh test     install what is missing, build, run the whole suite:
#                     every Criterion test (debug build), the same suite under
#                     ASan+UBSan, and every fuzz target for a bounded time
#   ./run.sh bench    build release and run every benchmark (JSON lines)
#
# Packages come from Debian (apt-get) and are installed only when missing.
# FUZZ_SECONDS (default 30) bounds each fuzz target; JOBS the build jobs.
set -euo pipefail
cd "$(dirname "$0")"

JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
BUILD_PKGS="build-essential pkg-config scons libzmq3-dev libczmq-dev libmsgpack-dev \
libsodium-dev liblmdb-dev"
TEST_PKGS="libcriterion-dev clang libclang-rt-14-dev iproute2 procps tcpdump python3 python3-zmq \
python3-msgpack"

need_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
            "${missing[@]}"
    fi
}

build() {
    echo "== building variant=$1"
    scons -Q -j"$JOBS" variant="$1"
}

# Run every Criterion binary of a variant; print one summary line.
# Criterion forks a process per test and does not fail a test whose process
# reports a leak or sanitizer error at exit, so the output is checked too.
run_tests() {
    local variant=$1 passed=0 failed=0 log
    for t in build/"$variant"/tests/test_*; do
        [ -x "$t" ] || continue
        echo "== $variant: $(basename "$t")"
        log="build/$variant/$(basename "$t").log"
        if "$t" --jobs=1 --short-filename 2>&1 | tee "$log" && [ "${PIPESTATUS[0]}" = 0 ] &&
            ! grep -qE "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|crashed during" "$log"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            echo "!! $variant: $(basename "$t") FAILED"
        fi
    done
    echo "== $variant: $passed test binaries passed, $failed failed"
    [ "$failed" = 0 ]
}

# One closing line over every test case run, for humans and CI alike.
summary() {
    cat build/debug/test_*.log build/asan/test_*.log 2>/dev/null |
        sed -n 's/.*Synthesis: Tested: \([0-9]*\) | Passing: \([0-9]*\) .*/\1 \2/p' |
        awk '{ t += $1; p += $2 } END { printf "tests: %d passed, %d failed\n", p, t - p }'
}

run_fuzz() {
    local failed=0
    for f in build/fuzz/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        local name corpus
        name=$(basename "$f")
        corpus=$(mktemp -d)
        [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
        echo "== fuzz: $name for ${FUZZ_SECONDS}s"
        if ! "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="build/fuzz/$name-" "$corpus" \
            >"build/fuzz/$name.log" 2>&1; then
            echo "!! fuzz: $name found a failure:"
            tail -n 40 "build/fuzz/$name.log"
            failed=1
        else
            grep -E "stat::number_of_executed_units|Done" "build/fuzz/$name.log" | tail -n 2
        fi
        rm -rf "$corpus"
    done
    [ "$failed" = 0 ]
}

case "${1:-}" in
demo)
    need_packages $BUILD_PKGS
    build release
    # Part 1: the whole product on one machine. examples/demo.sh makes the
    # keys, starts three nodes on loopback, and shows them finding each
    # other, answering calls, getting an event, sharing a lock and going on
    # when one dies; it checks every step and stops what it started.
    echo "== demo 1/2: three nodes that find each other, call, publish, lock, and lose one"
    status=0
    ZM_DEMO_BUILD=build/release examples/demo.sh || status=$?
    # Part 2: actors on one node, no network.
    echo
    echo "== demo 2/2: one node, 8 worker actors over 2 reactors counting primes"
    build/release/examples/demo || status=$?
    exit $status
    ;;
test)
    need_packages $BUILD_PKGS $TEST_PKGS
    status=0
    # The suite never broadcasts beacons on this machine's network: nodes
    # it starts read this (tests/support.h sets it too). The discovery tests
    # turn beacons on inside their own network namespaces.
    export ZM_REGISTRY_BEACON=false
    build debug
    run_tests debug || status=1
    build asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_tests asan || status=1
    build fuzz
    run_fuzz || status=1
    summary
    if [ $status = 0 ]; then echo "== all passed"; else echo "== FAILED"; fi
    exit $status
    ;;
bench)
    need_packages $BUILD_PKGS etcd-server etcd-client # etcd: bench_sync's baseline
    build release
    for b in build/release/bench/bench_*; do
        [ -x "$b" ] && "$b"
    done
    ;;
*)
    echo "usage: ./run.sh demo | test | bench" >&2
    exit 2
    ;;
esac
