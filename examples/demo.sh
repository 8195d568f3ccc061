#!/usr/bin/env bash
# examples/demo.sh - the whole of zmicro on one machine, step by step.
#
#   examples/demo.sh                            binaries of build/release
#   ZM_DEMO_BUILD=build/debug examples/demo.sh  another build (tests/test_demo.c)
#
# Makes a cluster key and three node keypairs with `zm keygen`, starts three
# examples/demo_node processes n1, n2, n3 on 127.0.0.1 (each told of the
# other two as static peers; beacons stay off), then shows, each step
# explained in a line before it and checked after it:
#
#   1. keys          the cluster key and a keypair per node
#   2. nodes         three nodes start and find each other
#   3. discovery     `zm services`: a client sees greeter on all three
#   4. calls         `zm call`, then greeter_client: calls spread over the nodes
#   5. events        `zm publish`: every node prints the event
#   6. locks         two `zm lock` at once: one at a time, tokens increase
#   7. a node dies   kill -9 of the election's leader: another leads, calls
#                    and locks go on with the two left
#
# The nodes' own lines (examples/demo_node.c) are shown indented, as they
# come. Every process the script starts is stopped by pid when it ends,
# however it ends. Exits 0 only when every step did what it should; each
# wait is bounded (the whole runs in about 10 s).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZM_DEMO_BUILD:-build/release}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
zm_bin="$build/bin/zm"
node_bin="$build/examples/demo_node"
client_bin="$build/examples/greeter_client"
for bin in "$zm_bin" "$node_bin" "$client_bin"; do
    if [ ! -x "$bin" ]; then
        echo "!! $bin is missing: build first (scons variant=release, or ./run.sh demo)" >&2
        exit 2
    fi
done

# Nothing here broadcasts beacons on the machine's network: every node and
# tool gets its peers as a list (step 3 shows the same export)
export ZM_REGISTRY_BEACON=false

# The demo runs in a scratch directory, so that the commands it shows read
# as you would type them: keys, stores and the nodes' output all live there
dir=$(mktemp -d "${TMPDIR:-/tmp}/zm-demo.XXXXXX")
cd "$dir" || exit 2
pids=()  # every process started, by pid
names=() # what each one is (n1, zm lock (A), ...), by index of pids

# Stop what we started: SIGTERM, up to 5 s to drain, then SIGKILL
stop_all() {
    local pid left=()
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null && left+=("$pid")
    done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${left[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${left[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    [ ${#pids[@]} -gt 0 ] && echo "== stopped every process the demo started: pids ${pids[*]}"
    # What the nodes said on stderr (nothing, unless something went wrong)
    local f
    for f in n*.err; do
        [ -s "$f" ] && { echo "== ${f%.err} said on stderr:"; cat "$f"; }
    done
    cd / && rm -rf "$dir"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# --------------------------------------------------------------------------
# Output: steps, commands, the nodes' lines, checks

steps=7
step=0
failed=()
shown=0 # lines of nodes.log shown so far
: >nodes.log

title() {
    step=$((step + 1))
    printf '\n-- %d/%d %s\n' "$step" "$steps" "$1"
    shift
    local line
    for line in "$@"; do printf '   %s\n' "$line"; done
}

# A command as you would type it (the script runs the real one next to it)
show_cmd() { printf '$ %s\n' "$*"; }

# The nodes' lines not shown yet, indented (not the READY lines, which are
# for programs)
show_nodes() {
    local total
    total=$(wc -l <nodes.log)
    if [ "$total" -gt "$shown" ]; then
        sed -n "$((shown + 1)),${total}p" nodes.log | grep -v '^READY ' | sed 's/^/    /'
        shown=$total
    fi
}

# How many lines of nodes.log after line $1 match the extended regex $2
count_since() { tail -n +"$(($1 + 1))" nodes.log | grep -cE "$2"; }

# Wait at most $4 seconds until $3 lines after line $1 match $2
wait_lines() {
    local since=$1 pattern=$2 want=$3 deadline=$((SECONDS + $4))
    while [ "$(count_since "$since" "$pattern")" -lt "$want" ]; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}

ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf '!! FAILED: %s\n' "$*"
    failed+=("$step")
}

# The end: a line that says whether every step did what it should
finish() {
    show_nodes
    echo
    if [ ${#failed[@]} = 0 ]; then
        echo "== demo: all $steps steps did what they should"
        exit 0
    fi
    echo "== demo FAILED at step(s) ${failed[*]}"
    exit 1
}

# zm and greeter_client as the steps run them: bounded, whatever happens
zm() { timeout 30 "$zm_bin" "$@"; }
greeter_client() { timeout 60 "$client_bin" "$@"; }

printf '== zmicro demo: three nodes on this machine find each other, answer calls,\n'
printf '   get events and share a lock (in %s)\n' "$dir"
printf '   Lines that start with $ are commands (zm is %s/bin/zm, demo_node and\n' "${build#"$root"/}"
printf '   greeter_client are in %s/examples); indented lines are what the nodes\n' "${build#"$root"/}"
printf '   print about themselves, each after its name.\n'

# --------------------------------------------------------------------------
title "Keys. A cluster key makes n1, n2 and n3 one cluster: only its holders connect," \
    "and every connection is encrypted (CURVE). Each node gets a keypair, whose public" \
    "key the others use to reach it."
show_cmd "zm keygen --cluster --out cluster.key"
zm keygen --cluster --out cluster.key >keygen.out 2>&1 || {
    cat keygen.out
    fail "zm keygen --cluster"
    finish
}
cat keygen.out
declare -A key
for n in n1 n2 n3; do
    show_cmd "zm keygen --name node --dir $n"
    if zm keygen --name node --dir "$n" >keygen.out 2>&1; then
        key[$n]=$(sed -n 's/.*"public_key":"\([^"]*\)".*/\1/p' keygen.out)
        echo "   $n's public key: ${key[$n]}"
    else
        cat keygen.out
    fi
done
if [ -n "${key[n1]:-}" ] && [ -n "${key[n2]:-}" ] && [ -n "${key[n3]:-}" ] &&
    [ "$(stat -c %a cluster.key)" = 600 ]; then
    ok "a cluster key (mode 600) and three keypairs"
else
    fail "the keys were not made"
    finish
fi

# --------------------------------------------------------------------------
title "Nodes. Three demo_node processes on 127.0.0.1. Each serves greeter (Say.Hello)," \
    "listens to the topic demo.>, and is a member of a 3-member sync group (Raft) that" \
    "gives locks and elections. Each is told where the other two are (static peers;" \
    "on a LAN, beacons find them with no list) and says what it finds."

# Three free ports in a row below the ephemeral range, tried up to 3 times:
# something else may take one between our check and the node's bind
port_free() { ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
declare -A port addr
start_nodes() {
    local base=$((20000 + RANDOM % 10000)) n i
    for i in 0 1 2; do port_free $((base + i)) || return 1; done
    i=0
    for n in n1 n2 n3; do
        port[$n]=$((base + i))
        addr[$n]="tcp://127.0.0.1:${port[$n]}#${key[$n]}"
        i=$((i + 1))
    done
    for n in n1 n2 n3; do
        local peers="" m
        for m in n1 n2 n3; do
            [ "$m" = "$n" ] || peers="$peers${peers:+,}${addr[$m]}"
        done
        rm -rf "$n/store"
        if [ "$n" = n1 ]; then
            show_cmd "demo_node --node.name=n1 --rpc.bind=127.0.0.1 --rpc.port=${port[n1]} \\"
            echo "      --auth.keys=n1 --auth.cluster_key=cluster.key --store.path=n1/store \\"
            echo "      --sync.members=n1,n2,n3 --registry.beacon=false \\"
            echo "      --registry.peers=tcp://127.0.0.1:${port[n2]}#<n2's key>,tcp://127.0.0.1:${port[n3]}#<n3's key> &"
        else
            show_cmd "demo_node --node.name=$n ... --rpc.port=${port[$n]} ... &     # likewise"
        fi
        "$node_bin" --node.name="$n" --rpc.bind=127.0.0.1 --rpc.port="${port[$n]}" \
            --auth.keys="$n" --auth.cluster_key=cluster.key --store.path="$n/store" \
            --sync.members=n1,n2,n3 --registry.beacon=false --registry.peers="$peers" \
            --registry.ttl=500 --node.shutdown_timeout=1000 --log.level=error \
            >>nodes.log 2>"$n.err" &
        pids+=($!)
        names+=("$n")
    done
    # Up: each says so, or dies (a port taken after all)
    local deadline=$((SECONDS + 10))
    while [ "$(count_since 0 '^n[123]: up on ')" -lt 3 ]; do
        for i in "${!pids[@]}"; do kill -0 "${pids[$i]}" 2>/dev/null || return 1; done
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}
started=false
for attempt in 1 2 3; do
    if start_nodes; then
        started=true
        break
    fi
    # Start again on other ports: stop these first
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    pids=()
    names=()
    echo "   (could not start the three nodes; trying other ports, attempt $((attempt + 1)) of 3)"
    cat n*.err 2>/dev/null
    : >nodes.log
    shown=0
done
if ! $started; then
    fail "the nodes did not start"
    finish
fi
# Each finds the two others (a HELLO to each static peer, every 500 ms),
# then the group elects a Raft leader and one node wins the election
# demo-leader (and says so), the two others learn who won
if ! wait_lines 0 '^n[123]: found n[123] at ' 6 10; then
    show_nodes
    fail "the nodes did not all find each other within 10 s"
elif ! wait_lines 0 '^n[123]: (I lead election demo-leader|n[123] leads election demo-leader) ' 3 10; then
    show_nodes
    fail "the nodes found each other, but nobody won the election demo-leader within 10 s"
else
    show_nodes
    leader_line=$(grep -E '^n[123]: I lead election demo-leader \(term [0-9]+\)$' nodes.log | tail -n 1)
    ok "n1, n2 and n3 are up, each found the two others, and ${leader_line%%:*} leads demo-leader"
fi

# --------------------------------------------------------------------------
title "Discovery, seen by a client. zm (the command line tool) joins the cluster as a" \
    "member with the cluster key and asks the registry what is served, and where."
export ZM_REGISTRY_BEACON=false ZM_AUTH_CLUSTER_KEY=cluster.key
export ZM_REGISTRY_PEERS="${addr[n1]},${addr[n2]},${addr[n3]}"
show_cmd "export ZM_REGISTRY_BEACON=false ZM_AUTH_CLUSTER_KEY=cluster.key"
show_cmd "export ZM_REGISTRY_PEERS=tcp://127.0.0.1:${port[n1]}#KEY1,tcp://127.0.0.1:${port[n2]}#KEY2,tcp://127.0.0.1:${port[n3]}#KEY3"
show_cmd "zm services"
zm services --timeout 5000 >services.out 2>&1
rc=$?
# One node a line (zm prints one JSON value a line when not on a terminal)
sed 's/,"nodes":\[/,"nodes":[\n    /; s/},{"uuid"/},\n    {"uuid"/g' services.out
greeters=$(grep -o '"name":"n[123]","address"' services.out | sort -u | wc -l)
if [ $rc = 0 ] && grep -q '"name":"greeter","version":"1.0.0"' services.out &&
    [ "$greeters" = 3 ]; then
    ok "greeter 1.0.0 is served by n1, n2 and n3"
else
    fail "zm services (exit $rc) does not list greeter on the three nodes"
fi

# --------------------------------------------------------------------------
title "Calls. zm calls greeter once; then greeter_client calls it 6 times, picking the" \
    "instances in turn (rpc.selector=round_robin): the calls spread over the three" \
    "nodes, and each node says which calls it answered."
mark=$(wc -l <nodes.log)
show_cmd "zm call greeter Say.Hello '{\"name\": \"newcomer\"}'"
zm call greeter Say.Hello '{"name": "newcomer"}' --timeout 5000 >call.out 2>&1
rc=$?
cat call.out
show_cmd "ZM_AUTH_KEYS=:memory: greeter_client \"\$ZM_REGISTRY_PEERS\" 6    # its keypair in memory"
ZM_AUTH_KEYS=:memory: greeter_client "$ZM_REGISTRY_PEERS" 6 >client.out 2>&1
client_rc=$?
cat client.out
wait_lines "$mark" '^n[123]: Say\.Hello from member' 7 5
show_nodes
answered=$(count_since "$mark" '^n[123]: Say\.Hello from member')
if [ $rc = 0 ] && grep -q '"greeting":"Hello newcomer","node":"n[123]"' call.out &&
    [ $client_rc = 0 ] && grep -q '6 calls, 6 ok, 0 failed;.* 3 of 3 peers answered' client.out &&
    [ "$answered" = 7 ]; then
    ok "7 calls answered, the 6 of greeter_client by all three nodes"
else
    fail "the calls: zm call exit $rc, greeter_client exit $client_rc, $answered answers seen"
fi

# --------------------------------------------------------------------------
title "Events. zm publishes an event on demo.greeting through one of the nodes (its" \
    "\"\$node publish\" endpoint); every node subscribed to demo.> gets it."
mark=$(wc -l <nodes.log)
show_cmd "zm publish demo.greeting '{\"text\": \"hello, everyone\"}'"
zm publish demo.greeting '{"text": "hello, everyone"}' --timeout 5000 >publish.out 2>&1
rc=$?
cat publish.out
pattern='^n[123]: event demo\.greeting from n[123]: \{"text":"hello, everyone"\}'
wait_lines "$mark" "$pattern" 3 5
show_nodes
got=$(tail -n +"$((mark + 1))" nodes.log | grep -E "$pattern" | cut -d: -f1 | sort -u | wc -l)
if [ $rc = 0 ] && grep -q '"id":' publish.out && [ "$got" = 3 ]; then
    ok "n1, n2 and n3 each got the event"
else
    fail "the event: zm publish exit $rc, $got of 3 nodes got it within 5 s"
fi

# --------------------------------------------------------------------------
title "Locks. Two programs, A and B, want the lock demo-report at the same moment." \
    "zm lock runs each command while holding the lock: one at a time, each with a" \
    "fencing token (ZM_LOCK_TOKEN) higher than the last, granted by the sync group."
: >lock.out
for who in A B; do
    show_cmd "zm lock demo-report --wait 10000 -- sh -c 'echo \"$who holds demo-report, token \$ZM_LOCK_TOKEN\"; sleep 1; echo \"$who lets go\"' &"
done
for who in A B; do
    timeout 20 "$zm_bin" lock demo-report --wait 10000 -- \
        sh -c "echo \"$who holds demo-report, token \$ZM_LOCK_TOKEN\"; sleep 1; echo \"$who lets go\"" \
        >>lock.out 2>&1 &
    pids+=($!)
    names+=("zm lock ($who)")
done
lock_rc=0
wait "${pids[-2]}" || lock_rc=$?
wait "${pids[-1]}" || lock_rc=$?
cat lock.out
# The order must be X holds, X lets go, Y holds, Y lets go, with a higher token for Y
read -r first second < <(sed -n 's/^\([AB]\) holds demo-report, token \([0-9]*\)$/\2/p' lock.out | tr '\n' ' ')
holder=$(sed -n '1s/^\([AB]\) holds .*/\1/p' lock.out)
other=$([ "$holder" = A ] && echo B || echo A)
expected=$(printf '%s holds\n%s lets go\n%s holds\n%s lets go' "$holder" "$holder" "$other" "$other")
actual=$(sed 's/^\([AB]\) \(holds\|lets go\).*/\1 \2/' lock.out)
token_before=${second:-0}
if [ $lock_rc = 0 ] && [ -n "$holder" ] && [ "$actual" = "$expected" ] &&
    [ "${second:-0}" -gt "${first:-0}" ]; then
    ok "one holder at a time: $holder, then $other; tokens $first < $second"
else
    fail "the lock: exit $lock_rc, tokens '${first:-}' '${second:-}', order: $(echo $actual)"
fi

# --------------------------------------------------------------------------
title "A node dies. kill -9 the leader of the election demo-leader: once its lease has" \
    "run out (1.5 s after its last renewal) another node takes over, with a higher term," \
    "and calls and locks go on with the two left (2 of 3 is a majority of the sync group)."
show_nodes
leader_line=$(grep -E '^n[123]: I lead election demo-leader \(term [0-9]+\)$' nodes.log | tail -n 1)
leader=${leader_line%%:*}
term=$(echo "$leader_line" | sed -n 's/.*(term \([0-9]*\))$/\1/p')
victim=""
for i in "${!names[@]}"; do [ "${names[$i]}" = "$leader" ] && victim=${pids[$i]}; done
if [ -z "$leader" ] || [ -z "$victim" ]; then
    fail "no node said it leads demo-leader"
    finish
fi
mark=$(wc -l <nodes.log)
show_cmd "kill -9 $victim    # $leader, the leader (term $term)"
{
    kill -9 "$victim"
    wait "$victim" # quietly: bash would say "Killed"
} 2>/dev/null
killed_at=$(date +%s%3N)
new_line=""
took=""
deadline=$((SECONDS + 10))
while [ -z "$new_line" ] && [ $SECONDS -lt $deadline ]; do
    new_line=$(tail -n +"$((mark + 1))" nodes.log |
        grep -E '^n[123]: I lead election demo-leader \(term [0-9]+\)$' | grep -v "^$leader:" |
        tail -n 1)
    [ -n "$new_line" ] || sleep 0.05
done
[ -n "$new_line" ] && took=$(($(date +%s%3N) - killed_at))
# The survivors notice the silence too (two HELLO rounds of 500 ms)
wait_lines "$mark" "^n[123]: lost $leader " 2 5
show_nodes
lost=$(count_since "$mark" "^n[123]: lost $leader ")
new_leader=${new_line%%:*}
new_term=$(echo "$new_line" | sed -n 's/.*(term \([0-9]*\))$/\1/p')
left=()
for n in n1 n2 n3; do [ "$n" = "$leader" ] || left+=("$n"); done
survivors="${addr[${left[0]}]},${addr[${left[1]}]}"
mark=$(wc -l <nodes.log)
show_cmd "zm call greeter Say.Hello '{\"name\": \"after\"}'"
zm call greeter Say.Hello '{"name": "after"}' --timeout 5000 >call.out 2>&1
rc=$?
cat call.out
show_cmd "ZM_AUTH_KEYS=:memory: greeter_client \"tcp://127.0.0.1:${port[${left[0]}]}#KEY,tcp://127.0.0.1:${port[${left[1]}]}#KEY\" 4    # the two left"
ZM_AUTH_KEYS=:memory: greeter_client "$survivors" 4 >client.out 2>&1
client_rc=$?
cat client.out
wait_lines "$mark" '^n[123]: Say\.Hello from member' 5 5
show_nodes
answered=$(count_since "$mark" '^n[123]: Say\.Hello from member')
show_cmd "zm lock demo-report --wait 10000 -- sh -c 'echo \"C holds demo-report, token \$ZM_LOCK_TOKEN\"'"
timeout 20 "$zm_bin" lock demo-report --wait 10000 -- \
    sh -c 'echo "C holds demo-report, token $ZM_LOCK_TOKEN"' >lock.out 2>&1
lock_rc=$?
cat lock.out
token_after=$(sed -n 's/^C holds demo-report, token \([0-9]*\)$/\1/p' lock.out)
if [ -n "$new_line" ] && [ "${new_term:-0}" -gt "$term" ] && [ "$lost" = 2 ] && [ $rc = 0 ] &&
    grep -q '"greeting":"Hello after","node":"n[123]"' call.out &&
    ! grep -q "\"node\":\"$leader\"" call.out && [ $client_rc = 0 ] &&
    grep -q '4 calls, 4 ok, 0 failed;.* 2 of 2 peers answered' client.out &&
    [ "$answered" = 5 ] && [ $lock_rc = 0 ] && [ "${token_after:-0}" -gt "$token_before" ]; then
    ok "$new_leader leads demo-leader in term $new_term, $took ms after the kill; the two" \
        "left answered 5 calls; the lock was granted with token $token_after"
else
    fail "after the kill: new leader '${new_line:-none}', lost by $lost, zm call exit $rc," \
        "greeter_client exit $client_rc, $answered answers seen, zm lock exit $lock_rc," \
        "token '${token_after:-}'"
fi

finish
