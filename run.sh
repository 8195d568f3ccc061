#!/usr/bin/env bash
# zmicro's one entry point for a fresh Debian machine.
#
#   ./run.sh demo     install what is missing, build, run the demo: two greeter
#                     services and a client calling them, then the actor demo
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
    # Part 1: two greeter services on loopback (ephemeral ports, read from
    # their READY lines) and a client calling them in turn. The servers are
    # stopped by pid however this script ends.
    echo "== demo 1/2: two greeter_server nodes and a greeter_client calling them"
    ex=build/release/examples
    dir=$(mktemp -d)
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
    trap 'exit 130' INT TERM
    peers=""
    for name in alpha beta; do
        "$ex/greeter_server" --node.name="$name" --rpc.bind=127.0.0.1 \
            --node.shutdown_timeout=1000 --auth.keys=:memory: >"$dir/$name.out" &
        pid=$!
        pids+=("$pid")
        port=""
        for _ in $(seq 100); do # up to 5 s: "READY <port> <public key>"
            port=$(sed -n 's/^READY \([0-9]*\) .*$/\1/p' "$dir/$name.out")
            key=$(sed -n 's/^READY [0-9]* \(.*\)$/\1/p' "$dir/$name.out")
            if [ -n "$port" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
            sleep 0.05
        done
        if [ -z "$port" ]; then
            echo "!! greeter_server $name did not start:" >&2
            cat "$dir/$name.out" >&2
            exit 1
        fi
        echo "greeter_server $name: pid $pid, tcp://127.0.0.1:$port, public key $key"
        peers="$peers${peers:+,}tcp://127.0.0.1:$port#$key"
    done
    status=0
    ZM_AUTH_KEYS=:memory: "$ex/greeter_client" "$peers" 6 || status=$?
    # Part 2: actors on one node, no network.
    echo "== demo 2/2: one node, 8 worker actors over 2 reactors counting primes"
    "$ex/demo" || status=$?
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
