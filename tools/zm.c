/*  =========================================================================
    zm - the zmicro command-line tool

    A short-lived node that talks to a running cluster: call an endpoint,
    open a stream (JSON lines from stdin to the server, the server's
    messages as JSON lines on stdout), publish an event through a running
    node, print the events of a subscription, list the services the
    registry knows or describe one, print the registry's events as they
    come (zm watch), ask nodes for their health or their counters (their
    "$node" health and stats endpoints), measure an endpoint (zm bench),
    read and write the store of a node (its built-in "$store" service), run
    a command under a distributed lock, campaign in or observe an election
    (the sync members' "$sync" service, docs/sync.md). zm config prints the
    configuration a node would run with and where each value comes from,
    without starting one. JSON in, JSON out on stdout; errors go to stderr
    as one line "zm: ...". docs/zm.1 is the manual.

    Output: on a terminal every JSON value is printed indented over several
    lines (s_put_pretty, over the codec's compact text); otherwise, for
    programs, one compact line per value: a reply, an event, a node, a key.

    Every command is a row of s_commands: its name, its function, its help
    (zm COMMAND --help, zm help COMMAND).

    The store is per node, so `zm store` never picks just any node: --via
    names one, --node picks the node of that name, and otherwise it must be
    the only node (other than the tool's) that serves "$store".

    `zm stream SERVICE ENDPOINT` sends and prints at once: a thread
    receives and prints while the main thread reads stdin (never blocking
    on it: it also waits for signals and for the stream to end) and sends,
    as credit allows. At the end of stdin it closes its sending side and
    prints until the server ends the stream.

    describe, health and stats work on a fleet (s_fleet_new): --via's node
    (described by its "$node" describe answer), or the nodes the registry
    knows once discovery had its say, narrowed by --node or a service. With
    neither, health and stats also ask the static peers the registry does
    not know: a peer that never answered is a node that is down, and health
    says so instead of leaving it out. The calls go out at once, a thread
    each (zm_call runs on its caller's thread), and the answers are printed
    by node name.

    `zm bench` runs C caller threads over one shared counter of N calls;
    each caller makes one call first that is not counted (it finds the
    service and opens that thread's connection), then all start together.
    Latencies are kept per call and sorted for the percentiles.

    `zm lock NAME -- COMMAND` takes the lock, runs COMMAND as a child with
    the fencing token in its environment (ZM_LOCK_TOKEN) while the node's
    renewer keeps the lease, and releases it when COMMAND exits; its exit
    status is COMMAND's. Losing the lock while COMMAND runs stops COMMAND
    (SIGTERM). `zm elect NAME` leads until told to stop, then resigns;
    `zm elect NAME --observe` prints the leader and its changes. Both wait
    in steps of at most a second, so that SIGINT and SIGTERM are heard, as
    do `zm watch` and `zm bench` (which then prints what it measured).

    Every command but config, keygen and help starts a node of its own,
    configured like any other (defaults, file, ZM_* environment,
    --key=value flags), with two defaults of its own: log.level "warning"
    (a tool's stderr is for its errors), and, except for subscribe,
    rpc.bind "" so the tool is a pure client that never shows up in
    anyone's registry. subscribe keeps its RPC socket: queue-group events
    come to it point to point.

    The tool's own options and the config flags may come in any order
    around the command. A --key=value that is not one of the tool's options
    goes to the configuration; the tool's options also take "--opt VALUE".

    Exit status: 0 success; 1 the operation failed (an error from the
    cluster, no node found, a timeout, a stream that failed, a node
    unhealthy or silent, a call of zm bench that failed, a config key that
    is not there); 2 bad usage or input (zm stream: a line of stdin that is
    not JSON). zm lock exits with its command's status instead (128+N when
    signal N ended it).
    =========================================================================
*/
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "zmicro.h"

extern char **environ;

#ifndef ZM_VERSION_STRING
#define ZM_VERSION_STRING "?"
#endif

#define S_OK 0          //  exit: success
#define S_FAILED 1      //  exit: the operation failed
#define S_USAGE 2       //  exit: bad usage or input

//  Longest --via address (the client keeps 128-byte endpoint strings).
#define S_VIA_MAX 100
//  Limits of one --meta pair (those of service metadata).
#define S_META_KEY_MAX 255
#define S_META_VALUE_MAX 4096
//  How long to wait for static peers' first answers when listing: their
//  HELLO times out after 2 s.
#define S_STATIC_WAIT 2500
//  Registry polling period while waiting for discovery.
#define S_POLL_MS 50
//  Longest --ttl: 100 years (the node adds it to the clock).
#define S_TTL_MAX 3153600000000L
//  Most keys --limit and --offset take.
#define S_LIST_MAX 1000000000L
//  Most metadata pairs of a record (include/zmicro/store.h).
#define S_STORE_META_MAX 64
//  lock and elect: the lease and the wait (include/zmicro/sync.h), and
//  their defaults.
#define S_SYNC_TTL_MIN 100L
#define S_SYNC_MS_MAX 3600000L
#define S_LOCK_TTL 10000L
#define S_LOCK_WAIT 30000L
//  Longest step of a wait for a lock or a leader: a signal is heard within it.
#define S_STEP_MS 1000
//  How often zm lock and zm elect check that they still hold what they took.
#define S_HELD_POLL_MS 100
//  bench: most calls (one latency slot each), most callers at once, and
//  the defaults.
#define S_BENCH_REQUESTS_MAX 1000000L
#define S_BENCH_CONCURRENCY_MAX 256L
#define S_BENCH_REQUESTS 1000L
//  health and stats: most nodes asked at once (a thread each).
#define S_FANOUT_MAX 32

//  The options, as bits: which ones a command takes (s_options_fit).
#define S_OPT_VIA 0x001         //  --via
#define S_OPT_META 0x002        //  --meta
#define S_OPT_GROUP 0x004       //  --group
#define S_OPT_ALL 0x008         //  --all
#define S_OPT_NODE 0x010        //  --node
#define S_OPT_WHERE 0x020       //  --database, --table
#define S_OPT_TTL 0x040         //  --ttl
#define S_OPT_VERSION 0x080     //  --version N
#define S_OPT_ABSENT 0x100      //  --absent
#define S_OPT_LIST 0x200        //  --suffix, --limit, --offset
#define S_OPT_KEYGEN 0x400      //  --cluster, --name, --roles, --dir, --out
#define S_OPT_COUNT 0x800       //  --count
#define S_OPT_WAIT 0x1000       //  --wait
#define S_OPT_VALUE 0x2000      //  --value
#define S_OPT_OBSERVE 0x4000    //  --observe
#define S_OPT_OPEN 0x8000       //  --open
#define S_OPT_BENCH 0x10000     //  --requests, --concurrency, --body
#define S_OPT_STORE (S_OPT_VIA | S_OPT_NODE | S_OPT_WHERE)

static const char s_usage[] =
    "usage: zm [FLAGS] COMMAND [ARGS] [OPTIONS]\n"
    "\n"
    "Commands (zm COMMAND --help, or zm help COMMAND, says more of each):\n"
    "  call SERVICE ENDPOINT [JSON]  call an endpoint with a JSON request ({} when\n"
    "                                omitted); prints the JSON reply (null: no body)\n"
    "  stream SERVICE ENDPOINT [--open JSON]\n"
    "                                opens a stream (open message JSON, {} when\n"
    "                                omitted); sends each JSON line of stdin as one\n"
    "                                message and prints each message the server\n"
    "                                sends as one JSON line, both at once; at the end\n"
    "                                of stdin closes its side and prints until the\n"
    "                                server ends the stream (zm stream --help)\n"
    "  publish TOPIC JSON            publish an event through a running node (its\n"
    "                                \"$node\" publish endpoint); prints {\"id\": ...}\n"
    "  subscribe PATTERN             prints each matching event as one JSON line:\n"
    "                                {\"topic\", \"id\", \"publisher\", \"time\",\n"
    "                                 \"metadata\", \"event\"}\n"
    "  services                      prints the services the registry knows, as JSON\n"
    "  describe SERVICE              prints a service: its versions, endpoints,\n"
    "                                streams and nodes\n"
    "  watch                         prints the registry's events as they come\n"
    "  health [SERVICE]              asks the nodes for their health, one value per\n"
    "                                node; exits 1 when one is unhealthy or silent\n"
    "  stats                         prints each node's counters\n"
    "  config [KEY]                  prints the configuration a node would run with,\n"
    "                                and where each value comes from\n"
    "  bench SERVICE ENDPOINT [--requests N] [--concurrency C] [--body JSON]\n"
    "                                calls an endpoint N times, C at once; prints the\n"
    "                                rate and the p50/p99 latencies\n"
    "  store get KEY                 prints a record of a node's store: {\"key\",\n"
    "                                \"value\", \"version\", \"expires\", \"metadata\"};\n"
    "                                the value is a string, or {\"$bin\": BASE64} when\n"
    "                                it is not UTF-8 text\n"
    "  store put KEY VALUE           writes VALUE (the argument's bytes) under KEY;\n"
    "                                prints {\"version\": N}\n"
    "  store del KEY                 deletes the record of KEY; prints {}\n"
    "  store list [PREFIX]           prints the keys (that start with PREFIX) in key\n"
    "                                order: {\"records\": [{\"key\", \"version\",\n"
    "                                \"expires\"}]}\n"
    "  lock NAME [--ttl MS] [--wait MS] -- COMMAND [ARGS...]\n"
    "                                runs COMMAND while holding the distributed lock\n"
    "                                NAME, with ZM_LOCK_NAME and ZM_LOCK_TOKEN (the\n"
    "                                fencing token) in its environment; prints\n"
    "                                nothing itself; exits with COMMAND's status\n"
    "                                (zm lock --help)\n"
    "  elect NAME [--value TEXT] [--ttl MS] [--wait MS]\n"
    "                                campaigns in election NAME; once leader prints\n"
    "                                {\"name\", \"term\", \"value\"} and leads until\n"
    "                                SIGINT/SIGTERM, then resigns (zm elect --help)\n"
    "  elect NAME --observe [--count N] [--timeout MS]\n"
    "                                prints the leader {\"name\", \"term\", \"value\",\n"
    "                                \"owner\"} (term 0: nobody leads), then a line\n"
    "                                at every change\n"
    "  keygen --cluster [--out FILE] makes a cluster key; prints {\"cluster_key\"},\n"
    "                                or writes it to a new FILE (mode 0600)\n"
    "  keygen --name NAME [--roles R1,R2] [--dir DIR]\n"
    "                                makes a keypair DIR/NAME.cert and\n"
    "                                DIR/NAME.cert_secret (DIR: zm-keys) with the\n"
    "                                metadata name and roles; prints {\"name\",\n"
    "                                \"public_key\", \"cert\", \"secret\"}. Never\n"
    "                                overwrites a key.\n"
    "  help [COMMAND]                prints this text, or COMMAND's\n"
    "\n"
    "Options:\n"
    "  --via tcp://HOST:PORT[#KEY]  call, stream, publish, store, describe, health,\n"
    "                          stats, bench: use this node only\n"
    "                          (KEY: its public key, unless the registry knows it;\n"
    "                          publish: default is any other node the registry knows)\n"
    "  --node NAME             store: the node named NAME (store: default is the only\n"
    "                          other node serving \"$store\"; with several, name one);\n"
    "                          describe, health, stats: only the nodes named NAME\n"
    "  --database NAME         store: the database (default \"zmicro\"; a service's\n"
    "                          records are in the database named after it)\n"
    "  --table NAME            store: the table (default \"default\")\n"
    "  --meta KEY=VALUE        call, stream, publish, store put, bench: a metadata\n"
    "                          pair; repeatable\n"
    "  --meta KEY              subscribe: print the events' metadata value for KEY in\n"
    "                          \"metadata\" (repeatable; metadata is read by key)\n"
    "  --ttl MS                store put: the record expires MS ms after the write;\n"
    "                          lock, elect: the lease, renewed while held (100..\n"
    "                          3600000, default 10000)\n"
    "  --wait MS               lock, elect: wait at most MS ms while another holds\n"
    "                          it (0..3600000; lock: default 30000; elect: default\n"
    "                          as long as it takes)\n"
    "  --value TEXT            elect: the leader's value (an address, say; at most\n"
    "                          1024 bytes; default \"\")\n"
    "  --observe               elect: print the leader and its changes\n"
    "  --version N             store put, del: only when the record's version is N\n"
    "                          (compare-and-swap; a conflict exits 1)\n"
    "  --absent                store put: only when the key has no record\n"
    "  --suffix S              store list: only keys that end with S\n"
    "  --limit N               store list: at most N keys\n"
    "  --offset N              store list: skip the first N keys\n"
    "  --timeout MS            call, publish, services, store, describe, health,\n"
    "                          stats: deadline (default rpc.timeout, discovery\n"
    "                          included); bench: each call's; subscribe, watch,\n"
    "                          elect --observe: stop after MS ms; stream: the\n"
    "                          stream's deadline (at most 3600000, default\n"
    "                          stream.timeout)\n"
    "  --open JSON             stream: the open message (default {})\n"
    "  --group NAME            subscribe: join queue group NAME (one member in the\n"
    "                          cluster gets each event)\n"
    "  --count N               subscribe, watch: stop after N events; elect\n"
    "                          --observe: after N lines\n"
    "  --requests N            bench: the calls to make (1..1000000, default 1000)\n"
    "  --concurrency C         bench: callers at once (1..256, default 1)\n"
    "  --body JSON             bench: the request (default {})\n"
    "  --all                   services: include the built-ins (\"$node\", \"$store\")\n"
    "  -h, --help              prints this text\n"
    "  --version               prints the version (unless a number follows it)\n"
    "  Options take their value as --opt=VALUE or --opt VALUE; \"--\" ends options\n"
    "  (lock: what follows is the command).\n"
    "\n"
    "Flags: any other --key=value sets a config key (docs/config.md), e.g.\n"
    "  --registry.peers=tcp://127.0.0.1:7000#KEY --registry.beacon=false --log.level=info\n"
    "  --config=FILE (or --config FILE) reads a JSON config file; ZM_* variables apply.\n"
    "  In a cluster with a cluster key (docs/security.md), zm joins as a member with\n"
    "  --auth.cluster_key=FILE (or ZM_AUTH_CLUSTER_KEY), or as an identity of its own\n"
    "  with --auth.identity=DIR/NAME (zm keygen --name NAME --dir DIR).\n"
    "\n"
    "Output: JSON on stdout. On a terminal each value is indented over several lines;\n"
    "otherwise (a pipe, a file) each value is one compact line: a reply, an event, a\n"
    "node, a key. Errors: one line \"zm: ...\" on stderr.\n"
    "\n"
    "subscribe and watch run until --count events were printed, --timeout ms passed,\n"
    "or SIGINT/SIGTERM. They exit 1 when --timeout ends them before --count events,\n"
    "else 0.\n"
    "\n"
    "store names a key 1..255 bytes, a database or table 1..64 bytes of A-Z a-z\n"
    "0-9 _ . -. A record that is not there (404) or a version conflict (409)\n"
    "exits 1.\n"
    "\n"
    "lock and elect name a lock or an election 1..255 bytes of A-Z a-z 0-9 . _ / -\n"
    "and find the sync members (sync.members, docs/sync.md) as the other commands\n"
    "find nodes: --registry.peers=tcp://HOST:PORT#KEY,... or beacons.\n"
    "\n"
    "Exit status: 0 success; 1 the operation failed (an error from the cluster, no\n"
    "node found, a timeout, a lock held by another or lost, a stream that failed, a\n"
    "node unhealthy or silent, a call of zm bench that failed);\n"
    "2 bad usage or input (bad JSON, topic, option). zm lock exits with COMMAND's\n"
    "status once it ran.\n";

static const char s_stream_usage[] =
    "usage: zm [FLAGS] stream SERVICE ENDPOINT [--open JSON] [--timeout MS]\n"
    "                  [--via tcp://HOST:PORT[#KEY]] [--meta KEY=VALUE]...\n"
    "\n"
    "Opens a stream to SERVICE's stream endpoint ENDPOINT (include/zmicro/stream.h)\n"
    "with the open message JSON ({} when --open is not given), then does two things\n"
    "at once: sends every line of stdin, a JSON value, as one message (blank lines\n"
    "are skipped), and prints every message the server sends as one JSON line on\n"
    "stdout (null: an empty message). Credit paces both ways: zm reads stdin only\n"
    "as fast as the server takes it. At the end of stdin zm closes its sending side\n"
    "(the server sees the end of input) and goes on printing until the server ends\n"
    "the stream; if the server ends it first, the rest of stdin is not read.\n"
    "\n"
    "  --open JSON   the open message\n"
    "  --timeout MS  the stream's deadline, from its opening (1..3600000; default\n"
    "                stream.timeout, 600000). Opening waits at most rpc.timeout.\n"
    "  --via, --meta as for zm call\n"
    "\n"
    "Exit 0: the server ended the stream normally (or stdout was closed: the stream\n"
    "is cancelled). 1 (a line \"zm: SERVICE.ENDPOINT: CODE STATUS: detail\" on\n"
    "stderr): the stream could not be opened, the server refused or failed it, the\n"
    "deadline passed, the server went silent, or SIGINT/SIGTERM came (the stream is\n"
    "cancelled). 2: bad usage, or a line of stdin that is not valid JSON (the\n"
    "stream is cancelled; the error names the line).\n";

static const char s_lock_usage[] =
    "usage: zm [FLAGS] lock NAME [--ttl MS] [--wait MS] -- COMMAND [ARGS...]\n"
    "\n"
    "Takes the distributed lock NAME (docs/sync.md) and runs COMMAND while holding\n"
    "it. COMMAND inherits stdin, stdout and stderr, and finds in its environment\n"
    "ZM_LOCK_NAME and ZM_LOCK_TOKEN, the fencing token: it increases with every\n"
    "grant of the lock, so whatever the lock guards can refuse the writes of an\n"
    "older holder. zm renews the lock while COMMAND runs, releases it when COMMAND\n"
    "exits, and exits with COMMAND's status (128+N when signal N ended it). It\n"
    "prints nothing on stdout itself.\n"
    "\n"
    "  NAME       1..255 bytes of A-Z a-z 0-9 . _ / -\n"
    "  --ttl MS   the lease: a holder that stops renewing loses the lock MS ms\n"
    "             after its last renewal (100..3600000, default 10000)\n"
    "  --wait MS  wait at most MS ms while another holds it (0..3600000, default\n"
    "             30000; 0: one try)\n"
    "\n"
    "Exit 1 (a line \"zm: ...\" on stderr): the lock was held by another for all of\n"
    "--wait, no sync member answered, or the lock was lost while COMMAND ran (then\n"
    "COMMAND gets SIGTERM, and zm exits once it has). SIGINT and SIGTERM to zm go\n"
    "on to COMMAND; the lock is released once it exits. 126, 127: COMMAND cannot\n"
    "run. 2: bad usage.\n";

static const char s_elect_usage[] =
    "usage: zm [FLAGS] elect NAME [--value TEXT] [--ttl MS] [--wait MS]\n"
    "       zm [FLAGS] elect NAME --observe [--count N] [--timeout MS]\n"
    "\n"
    "Campaigns in election NAME (docs/sync.md; 1..255 bytes of A-Z a-z 0-9 . _ / -)\n"
    "with TEXT as the leader's value (at most 1024 bytes, default \"\"), waiting\n"
    "while another leads: at most --wait MS (0..3600000), else as long as it\n"
    "takes. Once leader, prints one JSON line {\"name\", \"term\", \"value\"} (the\n"
    "term increases with every new leader: a fencing token) and leads, renewing\n"
    "its lease (--ttl MS, 100..3600000, default 10000), until SIGINT or SIGTERM:\n"
    "then it resigns and exits 0. Leadership lost (the lease ran out unrenewed):\n"
    "exit 1.\n"
    "\n"
    "--observe prints who leads now as one JSON line {\"name\", \"term\", \"value\",\n"
    "\"owner\"} (term 0 and value \"\": nobody leads), then one line every time that\n"
    "changes, until --count N lines were printed, --timeout MS passed since the\n"
    "start, or SIGINT or SIGTERM: exit 0.\n"
    "\n"
    "Exit 1: --wait passed while another led, or no sync member answered. 2: bad\n"
    "usage.\n";

static const char s_call_usage[] =
    "usage: zm [FLAGS] call SERVICE ENDPOINT [JSON] [--via tcp://HOST:PORT[#KEY]]\n"
    "                  [--meta KEY=VALUE]... [--timeout MS]\n"
    "\n"
    "Calls SERVICE's endpoint ENDPOINT with the request JSON ({} when omitted) and\n"
    "prints the reply (null: the handler replied without a body). The instance is\n"
    "picked among those the registry knows (static peers, beacons).\n"
    "\n"
    "  --via ADDRESS  call the node at tcp://HOST:PORT only (#KEY: its public key,\n"
    "                 unless the registry knows it)\n"
    "  --meta K=V     a metadata pair sent with the call; repeatable\n"
    "  --timeout MS   the deadline, discovery and retries included (default\n"
    "                 rpc.timeout)\n"
    "\n"
    "Exit 1 (a line \"zm: SERVICE.ENDPOINT: CODE STATUS: detail\" on stderr): the\n"
    "call failed (an error from the handler, no such service or endpoint, a\n"
    "timeout). 2: bad usage, or a request that is not JSON.\n";

static const char s_publish_usage[] =
    "usage: zm [FLAGS] publish TOPIC JSON [--via tcp://HOST:PORT[#KEY]]\n"
    "                  [--meta KEY=VALUE]... [--timeout MS]\n"
    "\n"
    "Publishes the event JSON (a map or an array) on TOPIC (words separated by\n"
    "dots; docs/pubsub.md) through a running node, its \"$node\" publish endpoint:\n"
    "the first other node the registry knows, or --via's. Prints {\"id\": ...}, the\n"
    "event's id. --meta pairs travel with the event.\n"
    "\n"
    "Exit 1: no node to publish through, or it failed. 2: bad usage, a bad topic,\n"
    "an event that is not JSON.\n";

static const char s_subscribe_usage[] =
    "usage: zm [FLAGS] subscribe PATTERN [--group NAME] [--meta KEY]... [--count N]\n"
    "                  [--timeout MS]\n"
    "\n"
    "Prints each event whose topic matches PATTERN (* one word, > the rest) as one\n"
    "JSON value {\"topic\", \"id\", \"publisher\", \"time\", \"metadata\", \"event\"}.\n"
    "Metadata is read by key: --meta KEY puts KEY's value in \"metadata\"\n"
    "(repeatable). --group NAME joins queue group NAME: one member in the cluster\n"
    "gets each event.\n"
    "\n"
    "Runs until --count N events were printed, --timeout MS passed, or SIGINT or\n"
    "SIGTERM. Exit 1 when --timeout ends it before --count events, else 0. 2: bad\n"
    "usage or pattern.\n";

static const char s_services_usage[] =
    "usage: zm [FLAGS] services [--all] [--timeout MS]\n"
    "\n"
    "Prints the services the registry knows once discovery had its say, by name and\n"
    "version: {\"services\": [{\"name\", \"version\", \"endpoints\", \"nodes\": [{\"uuid\",\n"
    "\"name\", \"address\", \"metadata\"}]}]}. --all includes the built-ins (\"$node\",\n"
    "\"$store\", ...). --timeout MS bounds the wait (default rpc.timeout).\n";

static const char s_store_usage[] =
    "usage: zm [FLAGS] store get KEY\n"
    "       zm [FLAGS] store put KEY VALUE [--ttl MS] [--meta KEY=VALUE]...\n"
    "                                      [--version N | --absent]\n"
    "       zm [FLAGS] store del KEY [--version N]\n"
    "       zm [FLAGS] store list [PREFIX] [--suffix S] [--limit N] [--offset N]\n"
    "   each with [--via tcp://HOST:PORT[#KEY] | --node NAME] [--database NAME]\n"
    "             [--table NAME] [--timeout MS]\n"
    "\n"
    "Reads and writes the store of one node, its \"$store\" service (docs/store.md):\n"
    "--via's, the node named --node, or else the only other node serving \"$store\".\n"
    "get prints {\"key\", \"value\", \"version\", \"expires\", \"metadata\"} (a value that\n"
    "is not UTF-8 text is {\"$bin\": BASE64}); put prints {\"version\": N}; del prints\n"
    "{}; list prints {\"records\": [{\"key\", \"version\", \"expires\"}]} in key order.\n"
    "\n"
    "  --database NAME  default \"zmicro\" (a service's records are in the database\n"
    "                   named after it)\n"
    "  --table NAME     default \"default\"\n"
    "  --ttl MS         put: the record expires MS ms after the write\n"
    "  --version N      put, del: only when the record is at version N\n"
    "  --absent         put: only when the key has no record\n"
    "  --suffix S       list: only keys that end with S\n"
    "  --limit N        list: at most N keys\n"
    "  --offset N       list: skip the first N keys\n"
    "\n"
    "A key is 1..255 bytes; a database or table 1..64 bytes of A-Z a-z 0-9 _ . -.\n"
    "Exit 1: no such record (404), a version conflict (409), no node, a timeout.\n"
    "2: bad usage.\n";

static const char s_keygen_usage[] =
    "usage: zm keygen --cluster [--out FILE]\n"
    "       zm keygen --name NAME [--roles R1,R2] [--dir DIR]\n"
    "\n"
    "--cluster makes a cluster key (docs/security.md) and prints {\"cluster_key\"}, or\n"
    "writes it to a new FILE (mode 0600) and prints {\"cluster_key_file\"}. --name\n"
    "makes a keypair DIR/NAME.cert and DIR/NAME.cert_secret (DIR: zm-keys) with the\n"
    "metadata name and roles, and prints {\"name\", \"roles\", \"public_key\", \"cert\",\n"
    "\"secret\"}. No node is started. A key is never overwritten: exit 1. 2: bad\n"
    "usage.\n";

static const char s_describe_usage[] =
    "usage: zm [FLAGS] describe SERVICE [--node NAME | --via tcp://HOST:PORT[#KEY]]\n"
    "                  [--timeout MS]\n"
    "\n"
    "Prints SERVICE as the registry knows it once discovery had its say (the\n"
    "built-in \"$node\" and \"$store\" too):\n"
    "  {\"name\", \"versions\": [...], \"endpoints\": [...], \"streams\": [...],\n"
    "   \"nodes\": [{\"name\", \"uuid\", \"address\", \"version\", \"instances\",\n"
    "              \"endpoints\", \"streams\", \"metadata\"}]}\n"
    "versions, endpoints and streams gather those of every node; \"streams\" are the\n"
    "endpoints that open streams; \"instances\" is how many instances of the service\n"
    "the node runs. --node NAME: only the nodes named NAME. --via: ask that node\n"
    "(its \"$node\" describe endpoint) instead of the registry. --timeout MS bounds\n"
    "the wait (default rpc.timeout).\n"
    "\n"
    "Exit 1: no node known serves SERVICE, or --via's node does not or does not\n"
    "answer. 2: bad usage.\n";

static const char s_watch_usage[] =
    "usage: zm [FLAGS] watch [--count N] [--timeout MS]\n"
    "\n"
    "Prints the registry's events as they come, one JSON value each\n"
    "(docs/discovery.md):\n"
    "  {\"action\": \"add\"|\"update\"|\"remove\", \"type\": \"node\"|\"service\",\n"
    "   \"node\" (its UUID), \"name\", \"host\", \"public_key\", \"addresses\": [...],\n"
    "   \"service\" (type service: {\"name\", \"version\", \"instances\", \"endpoints\",\n"
    "   \"metadata\"})}\n"
    "What the registry knows when the watch starts comes first, as \"add\" events;\n"
    "nodes then come as discovery finds them (registry.peers, beacons) and go when\n"
    "they stop or fall silent.\n"
    "\n"
    "Runs until --count N events were printed, --timeout MS passed, or SIGINT or\n"
    "SIGTERM: exit 0. Exit 1: --timeout ended it before --count events, or events\n"
    "were dropped (read too slowly: 10,000 wait at most). 2: bad usage.\n";

static const char s_health_usage[] =
    "usage: zm [FLAGS] health [SERVICE | --node NAME | --via tcp://HOST:PORT[#KEY]]\n"
    "                  [--timeout MS]\n"
    "\n"
    "Asks nodes for their health (their \"$node\" health endpoint), all at once, and\n"
    "prints one JSON value per node, by name:\n"
    "  {\"name\", \"uuid\", \"address\", \"healthy\": true, \"live\", \"ready\", \"status\",\n"
    "   \"latency_us\"}\n"
    "  {\"name\", \"uuid\", \"address\", \"healthy\": false, \"error\"}   (no answer)\n"
    "The nodes: every node the registry knows once discovery had its say, and the\n"
    "static peers (registry.peers) that never answered it; with SERVICE, the nodes\n"
    "serving SERVICE; with --node, those named NAME; with --via, that one. A node\n"
    "is healthy when it answers live and ready (\"status\": \"serving\"; a node\n"
    "shutting down is \"stopping\"). name and uuid are missing for a node never heard\n"
    "from. --timeout MS bounds discovery, and each call (default rpc.timeout).\n"
    "\n"
    "Exit 0: every node is healthy. 1: one is not, or does not answer (a line\n"
    "\"zm: health: N of M node(s) unhealthy: ...\" on stderr), or no node was found.\n"
    "2: bad usage.\n";

static const char s_stats_usage[] =
    "usage: zm [FLAGS] stats [--node NAME | --via tcp://HOST:PORT[#KEY]]\n"
    "                  [--timeout MS]\n"
    "\n"
    "Prints the counters of nodes (their \"$node\" stats endpoint), one JSON value per\n"
    "node, by name:\n"
    "  {\"name\", \"uuid\", \"address\", \"stats\": {\"rpc\": {\"requests\", \"malformed\",\n"
    "   \"dropped\"}, \"pubsub\": {...}, \"registry\": {...}, \"services\": {SERVICE:\n"
    "   {ENDPOINT: {\"requests\", \"errors\", \"latency_avg_us\", \"latency_max_us\",\n"
    "   \"last_error_code\", \"last_error\"}}}}}\n"
    "The nodes are those of zm health without SERVICE.\n"
    "\n"
    "Exit 1: a node did not answer (the others are printed; a line \"zm: stats: N\n"
    "of M node(s) did not answer: ...\" on stderr), or no node was found. 2: bad\n"
    "usage.\n";

static const char s_config_usage[] =
    "usage: zm [FLAGS] config [KEY]\n"
    "\n"
    "Prints the configuration a node started with the same flags, ZM_* environment\n"
    "and config file would run with (docs/config.md), one JSON value per key, in\n"
    "key order:\n"
    "  {\"key\", \"value\", \"type\", \"layer\", \"description\"}\n"
    "layer is where the value comes from: \"default\", \"file\" (--config FILE, or\n"
    "ZM_CONFIG), \"env\" (a ZM_* variable) or \"flags\" (--key=value). A key set but\n"
    "not defined is a string with the description \"\". With KEY, that key only.\n"
    "No node is started.\n"
    "\n"
    "Exit 1: KEY is neither defined nor set. 2: bad usage, or a value, file or\n"
    "variable the configuration refuses (the line says which).\n";

static const char s_bench_usage[] =
    "usage: zm [FLAGS] bench SERVICE ENDPOINT [--requests N] [--concurrency C]\n"
    "                  [--body JSON] [--via tcp://HOST:PORT[#KEY]]\n"
    "                  [--meta KEY=VALUE]... [--timeout MS]\n"
    "\n"
    "Calls SERVICE.ENDPOINT N times (default 1000, at most 1000000) from C callers\n"
    "at once (threads with a connection each; default 1, at most 256) with the\n"
    "request JSON (default {}), then prints:\n"
    "  {\"service\", \"endpoint\", \"requests\", \"concurrency\", \"errors\",\n"
    "   \"elapsed_ms\", \"calls_per_s\", \"p50_us\", \"p99_us\", \"max_us\"}\n"
    "The latencies, in microseconds (nearest rank), are those of the calls that\n"
    "succeeded (null when none did). Each caller first makes a call that is not\n"
    "counted: it finds the service and connects. --timeout MS is each call's\n"
    "deadline (default rpc.timeout); --via and --meta as for zm call.\n"
    "\n"
    "Exit 1: a first call failed (nothing is measured), some calls failed (the\n"
    "result is printed, and a line on stderr gives the first error), or SIGINT or\n"
    "SIGTERM stopped it (the calls made so far are printed). 2: bad usage, or a\n"
    "body that is not JSON.\n";

static const char s_help_usage[] =
    "usage: zm help [COMMAND]\n"
    "\n"
    "Prints zm's usage, or COMMAND's: the same as zm COMMAND --help.\n";

//  The command line, parsed.
typedef struct {
    const char *command;        //  first positional argument
    const char *args[3];        //  the command's positional arguments
    int arg_count;              //  how many
    const char *via;            //  --via, or NULL
    const char **metas;         //  --meta values as given (the array is ours)
    int meta_count;             //  how many
    zm_msg_t *meta;             //  call, publish: --meta pairs as a map, or NULL
    const char *group;          //  --group, or NULL
    long count;                 //  --count, 0 when not given
    long timeout;               //  --timeout in ms, 0 when not given
    bool all;                   //  --all
    const char *node;           //  --node, or NULL
    const char *database;       //  --database, or NULL
    const char *table;          //  --table, or NULL
    const char *suffix;         //  --suffix, or NULL
    long ttl;                   //  --ttl in ms, 0 when not given
    long version;               //  --version N, 0 when not given
    bool absent;                //  --absent
    long limit;                 //  --limit, 0 when not given
    long offset;                //  --offset, -1 when not given
    bool cluster;               //  keygen --cluster
    const char *name;           //  keygen --name, or NULL
    const char *roles;          //  keygen --roles, or NULL
    const char *dir;            //  keygen --dir, or NULL
    const char *out;            //  keygen --out, or NULL
    long wait;                  //  --wait in ms, -1 when not given
    const char *value;          //  elect --value, or NULL
    bool observe;               //  elect --observe
    const char *open;           //  stream --open JSON, or NULL
    long requests;              //  bench --requests, 0 when not given
    long concurrency;           //  bench --concurrency, 0 when not given
    const char *body;           //  bench --body JSON, or NULL
    bool help;                  //  --help or -h came (after the command, if any)
    char **exec_argv;           //  lock: what follows "--" (NULL-terminated,
                                //  borrowed), NULL when there is no "--"
    int exec_argc;              //  how many
    int config_argc;            //  config flags, with argv[0]
    char **config_argv;         //  borrowed strings; the array is ours
} s_cli_t;

//  --------------------------------------------------------------------------
//  Output and errors

//  Print text with control characters made blanks and cut at 1000 bytes:
//  an error detail from the network must not break our one-line contract.
static void
s_put_line_safe (const char *text)
{
    size_t count = 0;
    for (const char *at = text ? text : ""; *at && count < 1000; at++, count++)
        fputc ((unsigned char) *at < 0x20 || *at == 0x7f ? ' ' : *at, stderr);
    if (text && strlen (text) > 1000)
        fputs ("...", stderr);
}

static void
s_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  One line on stderr: "zm: <formatted>", control characters blanked.
static void
s_fail (const char *format, ...)
{
    char *text = NULL;
    va_list args;
    va_start (args, format);
    int rc = vasprintf (&text, format, args);
    va_end (args);
    fputs ("zm: ", stderr);
    s_put_line_safe (rc >= 0 ? text : "out of memory");
    fputc ('\n', stderr);
    free (rc >= 0 ? text : NULL);
}

//  "409 Conflict: detail (id)" of a failed operation into text.
static void
s_error_text (int rc, const zm_error_t *error, char *text, size_t size)
{
    int code = error ? zm_error_code (error) : zm_err_http (rc);
    const char *status = error ? zm_error_status (error) : zm_strerror (rc);
    const char *detail = error ? zm_error_detail (error) : "";
    const char *id = error ? zm_error_id (error) : "";
    snprintf (text, size, "%d %s%s%s%s%s%s", code, status, *detail ? ": " : "", detail,
              *id ? " (" : "", id, *id ? ")" : "");
}

//  "zm: WHAT: 409 Conflict: detail (id)" for a failed operation.
static void
s_fail_error (const char *what, int rc, const zm_error_t *error)
{
    char text[1200];
    s_error_text (rc, error, text, sizeof text);
    s_fail ("%s: %s", what, text);
}

//  Is stdout a terminal? Then JSON is printed indented, for a reader;
//  otherwise one compact line per value, for a program (set in main).
static bool s_pretty;

//  Write compact JSON (what zm_msg_encode makes: no blank outside strings)
//  to out indented by two spaces a level, "key": value, empty {} and [] as
//  they are.
static void
s_put_pretty (const char *json, size_t size, FILE *out)
{
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < size; i++) {
        char c = json[i];
        if (quoted) {
            fputc (c, out);
            if (c == '\\' && i + 1 < size)
                fputc (json[++i], out);
            else if (c == '"')
                quoted = false;
            continue;
        }
        bool open = c == '{' || c == '[';
        if (c == '}' || c == ']')
            fprintf (out, "\n%*s%c", --depth * 2, "", c);
        else if (c == ',')
            fprintf (out, ",\n%*s", depth * 2, "");
        else if (c == ':')
            fputs (": ", out);
        else if (open && i + 1 < size && (json[i + 1] == '}' || json[i + 1] == ']')) {
            fputc (c, out);             //  empty: as it is
            fputc (json[++i], out);
        }
        else if (open)
            fprintf (out, "%c\n%*s", c, ++depth * 2, "");
        else {
            fputc (c, out);
            quoted = c == '"';
        }
    }
}

//  Write one JSON value and a newline to stdout and flush: as it is (one
//  line), or indented on a terminal. Returns 0 or an errno.
static int
s_write_json (const void *data, size_t size)
{
    if (s_pretty)
        s_put_pretty ((const char *) data, size, stdout);
    else if (fwrite (data, 1, size, stdout) != size)
        return errno ? errno : EIO;
    if (fputc ('\n', stdout) == EOF || fflush (stdout) != 0 || ferror (stdout))
        return errno ? errno : EIO;
    return 0;
}

//  Print a message as JSON, s_write_json's way (NULL prints null).
//  Returns S_OK or S_FAILED (reported).
static int
s_print_json (const zm_msg_t *msg)
{
    void *data = NULL;
    size_t size = 0;
    int rc = msg ? zm_msg_encode (msg, ZM_CT_JSON, &data, &size) : 0;
    if (rc) {
        s_fail ("the answer cannot be written as JSON: %s", zm_strerror (rc));
        return S_FAILED;
    }
    rc = msg ? s_write_json (data, size) : s_write_json ("null", 4);
    free (data);
    if (rc && rc != EPIPE) {
        s_fail ("stdout: %s", strerror (rc));
        return S_FAILED;
    }
    return S_OK;
}

//  --------------------------------------------------------------------------
//  Arguments

//  A whole-string decimal in min..max.
static bool
s_parse_long (const char *text, long min, long max, long *value_p)
{
    if (!text || !*text || !(*text == '-' || (*text >= '0' && *text <= '9')))
        return false;
    char *end = NULL;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return false;
    *value_p = value;
    return true;
}

//  Is name 1..max bytes of [A-Za-z0-9._-] and of the characters in extra?
static bool
s_chars_ok (const char *name, size_t max, const char *extra)
{
    size_t len = strnlen (name, max + 1);
    if (len == 0 || len > max)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
              || *c == '.' || *c == '_' || *c == '-' || strchr (extra, *c)))
            return false;
    return true;
}

//  A service or endpoint name as services accept them: 1..255 bytes of
//  [A-Za-z0-9._-$].
static bool
s_name_ok (const char *name)
{
    return s_chars_ok (name, 255, "$");
}

//  A database or table name as the store accepts them: 1..64 bytes of
//  [A-Za-z0-9_.-].
static bool
s_store_name_ok (const char *name)
{
    return s_chars_ok (name, ZM_STORE_MAX_NAME, "");
}

//  tcp://HOST:PORT[#KEY], HOST non-empty, PORT 1..65535, KEY a public key
//  (40 characters of Z85), short enough.
static bool
s_address_ok (const char *address)
{
    size_t len = strnlen (address, S_VIA_MAX + 1);
    if (len > S_VIA_MAX || strncmp (address, "tcp://", 6) != 0)
        return false;
    char text[S_VIA_MAX + 1];
    memcpy (text, address, len + 1);
    char *hash = strchr (text, '#');
    uint8_t key[32];
    if (hash && (strlen (hash + 1) != 40 || !zmq_z85_decode (key, hash + 1)))
        return false;
    if (hash)
        *hash = 0;
    const char *colon = strrchr (text + 6, ':');
    long port = 0;
    if (!colon || colon == text + 6 || !s_parse_long (colon + 1, 1, 65535, &port))
        return false;
    for (const char *c = text + 6; c < colon; c++)
        if (*c <= ' ' || *c == '/' || (unsigned char) *c >= 0x7f)
            return false;
    return true;
}

//  Add one --meta KEY=VALUE pair to cli->meta. Returns S_OK or S_USAGE
//  (reported).
static int
s_add_meta (s_cli_t *cli, const char *pair)
{
    const char *equals = strchr (pair, '=');
    size_t key_len = equals ? (size_t) (equals - pair) : 0;
    if (!equals || key_len == 0 || key_len > S_META_KEY_MAX) {
        s_fail ("--meta wants KEY=VALUE with a key of 1..%d bytes", S_META_KEY_MAX);
        return S_USAGE;
    }
    if (strnlen (equals + 1, S_META_VALUE_MAX + 1) > S_META_VALUE_MAX) {
        s_fail ("--meta: a value has at most %d bytes", S_META_VALUE_MAX);
        return S_USAGE;
    }
    char *key = strndup (pair, key_len);
    if (!cli->meta)
        cli->meta = zm_msg_new ();
    int rc = key && cli->meta ? zm_msg_set_str (cli->meta, key, equals + 1) : ZM_ENOMEM;
    free (key);
    if (rc) {
        s_fail ("--meta: %s", zm_strerror (rc));
        return S_USAGE;
    }
    return S_OK;
}

//  The value of a tool option: after '=' in arg, else the next argument.
//  NULL when missing (reported).
static const char *
s_option_value (int argc, char **argv, int *index_p, const char *name)
{
    const char *arg = argv[*index_p];
    const char *equals = strchr (arg, '=');
    if (equals)
        return equals + 1;
    if (*index_p + 1 >= argc) {
        s_fail ("--%s needs a value", name);
        return NULL;
    }
    return argv[++*index_p];
}

//  Is arg the option --name or --name=...?
static bool
s_is_option (const char *arg, const char *name)
{
    size_t len = strlen (name);
    return strncmp (arg + 2, name, len) == 0 && (arg[2 + len] == 0 || arg[2 + len] == '=');
}

//  A name option's value: 1..max bytes, and a store name when store.
//  Returns S_OK or S_USAGE (reported).
static int
s_name_value (const char *option, const char *value, size_t max, bool store,
              const char **value_p)
{
    size_t len = strnlen (value, max + 1);
    if (len == 0 || len > max || (store && !s_store_name_ok (value))) {
        s_fail ("--%s wants 1..%zu bytes%s", option, max, store ? " of A-Z a-z 0-9 _ . -" : "");
        return S_USAGE;
    }
    *value_p = value;
    return S_OK;
}

//  A number option's value in min..max. Returns S_OK or S_USAGE (reported).
static int
s_number_value (const char *option, const char *value, long min, long max, const char *what,
                long *value_p)
{
    if (!s_parse_long (value, min, max, value_p)) {
        s_fail ("--%s wants %s, %ld..%ld", option, what, min, max);
        return S_USAGE;
    }
    return S_OK;
}

//  The store's options. Returns S_OK or S_USAGE (reported), or -1 when arg
//  is not one of them.
static int
s_store_option (s_cli_t *cli, int argc, char **argv, int *index_p)
{
    static const char *names[] = {"node",   "database", "table", "suffix",
                                  "ttl",    "version",  "limit", "offset"};
    const char *arg = argv[*index_p];
    size_t which = 0;
    while (which < sizeof names / sizeof names[0] && !s_is_option (arg, names[which]))
        which++;
    if (which == sizeof names / sizeof names[0])
        return -1;
    const char *name = names[which];
    const char *value = s_option_value (argc, argv, index_p, name);
    if (!value)
        return S_USAGE;
    switch (which) {    //  the cases follow names
    case 0:
        return s_name_value (name, value, 255, false, &cli->node);
    case 1:
        return s_name_value (name, value, ZM_STORE_MAX_NAME, true, &cli->database);
    case 2:
        return s_name_value (name, value, ZM_STORE_MAX_NAME, true, &cli->table);
    case 3:
        return s_name_value (name, value, ZM_STORE_MAX_KEY, false, &cli->suffix);
    case 4:
        return s_number_value (name, value, 1, S_TTL_MAX, "milliseconds", &cli->ttl);
    case 5:
        return s_number_value (name, value, 1, LONG_MAX, "a record version", &cli->version);
    case 6:
        return s_number_value (name, value, 1, S_LIST_MAX, "a number of keys", &cli->limit);
    default:
        return s_number_value (name, value, 0, S_LIST_MAX, "a number of keys", &cli->offset);
    }
}

//  Is argv[index] a bare --version that asks for the tool's version, not
//  store's --version N?
static bool
s_asks_version (int argc, char **argv, int index)
{
    long number;
    return strcmp (argv[index], "--version") == 0
           && !(index + 1 < argc && s_parse_long (argv[index + 1], LONG_MIN, LONG_MAX, &number));
}

//  The --meta KEY=VALUE pairs of call and publish as cli->meta. Returns
//  S_OK or S_USAGE (reported).
static int
s_meta_map (s_cli_t *cli)
{
    for (int i = 0; i < cli->meta_count; i++)
        if (s_add_meta (cli, cli->metas[i]) != S_OK)
            return S_USAGE;
    return S_OK;
}

//  Parse argv. Returns S_OK (cli->help: help was asked for), S_USAGE
//  (reported), or -1 when the version was printed.
static int
s_parse (s_cli_t *cli, int argc, char **argv)
{
    cli->config_argv = (char **) calloc ((size_t) argc + 1, sizeof (char *));
    cli->metas = (const char **) calloc ((size_t) argc + 1, sizeof (char *));
    if (!cli->config_argv || !cli->metas) {
        s_fail ("out of memory");
        return S_FAILED;
    }
    cli->config_argv[cli->config_argc++] = argv[0] ? argv[0] : "zm";
    cli->offset = -1;
    cli->wait = -1;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int rc = -1;
        if (strcmp (arg, "--") == 0 && cli->command && strcmp (cli->command, "lock") == 0) {
            //  The rest is lock's command, untouched.
            cli->exec_argv = argv + i + 1;
            cli->exec_argc = argc - i - 1;
            break;
        }
        if (options && strcmp (arg, "--") == 0) {
            options = false;
            continue;
        }
        if (options && (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0)) {
            //  The command's help (main prints it): what follows is not read.
            cli->help = true;
            return S_OK;
        }
        if (options && s_asks_version (argc, argv, i)) {
            printf ("zm (zmicro) %s\n", ZM_VERSION_STRING);
            return -1;
        }
        if (!options || strncmp (arg, "--", 2) != 0) {
            //  Positional: the command, then its arguments. A lone "-" or
            //  "-1" is an argument (JSON may start with '-').
            if (!cli->command)
                cli->command = arg;
            else if (cli->arg_count < 3)
                cli->args[cli->arg_count++] = arg;
            else if (strcmp (cli->command, "lock") == 0) {
                s_fail ("lock: too many arguments: the command comes after \"--\" (usage: zm "
                        "lock NAME [--ttl MS] [--wait MS] -- COMMAND [ARGS...])");
                return S_USAGE;
            }
            else {
                s_fail ("%s: too many arguments (see zm --help)", cli->command);
                return S_USAGE;
            }
            continue;
        }
        if (s_is_option (arg, "via")) {
            if (!(value = s_option_value (argc, argv, &i, "via")))
                return S_USAGE;
            if (!s_address_ok (value)) {
                s_fail ("--via wants tcp://HOST:PORT[#KEY] (at most %d bytes)", S_VIA_MAX);
                return S_USAGE;
            }
            cli->via = value;
        }
        else if (s_is_option (arg, "meta")) {
            if (!(value = s_option_value (argc, argv, &i, "meta")))
                return S_USAGE;
            cli->metas[cli->meta_count++] = value;
        }
        else if (s_is_option (arg, "group")) {
            if (!(value = s_option_value (argc, argv, &i, "group")))
                return S_USAGE;
            if (!*value || strnlen (value, 256) > 255) {
                s_fail ("--group wants a name of 1..255 bytes");
                return S_USAGE;
            }
            cli->group = value;
        }
        else if (s_is_option (arg, "count")) {
            if (!(value = s_option_value (argc, argv, &i, "count")))
                return S_USAGE;
            if (!s_parse_long (value, 1, 1000000000L, &cli->count)) {
                s_fail ("--count wants a number of events, 1..1000000000");
                return S_USAGE;
            }
        }
        else if (s_is_option (arg, "timeout")) {
            if (!(value = s_option_value (argc, argv, &i, "timeout")))
                return S_USAGE;
            if (!s_parse_long (value, 1, 86400000L, &cli->timeout)) {
                s_fail ("--timeout wants milliseconds, 1..86400000");
                return S_USAGE;
            }
        }
        else if (s_is_option (arg, "wait")) {
            if (!(value = s_option_value (argc, argv, &i, "wait")))
                return S_USAGE;
            if (s_number_value ("wait", value, 0, S_SYNC_MS_MAX, "milliseconds", &cli->wait))
                return S_USAGE;
        }
        else if (s_is_option (arg, "value")) {
            if (!(value = s_option_value (argc, argv, &i, "value")))
                return S_USAGE;
            if (strnlen (value, ZM_ELECT_VALUE_MAX + 1) > ZM_ELECT_VALUE_MAX) {
                s_fail ("--value wants at most %d bytes", ZM_ELECT_VALUE_MAX);
                return S_USAGE;
            }
            cli->value = value;
        }
        else if (s_is_option (arg, "open")) {
            if (!(value = s_option_value (argc, argv, &i, "open")))
                return S_USAGE;
            cli->open = value;
        }
        else if (s_is_option (arg, "requests") || s_is_option (arg, "concurrency")) {
            bool requests = s_is_option (arg, "requests");
            const char *option = requests ? "requests" : "concurrency";
            if (!(value = s_option_value (argc, argv, &i, option)))
                return S_USAGE;
            if (s_number_value (option, value, 1,
                                requests ? S_BENCH_REQUESTS_MAX : S_BENCH_CONCURRENCY_MAX,
                                requests ? "a number of calls" : "a number of callers",
                                requests ? &cli->requests : &cli->concurrency))
                return S_USAGE;
        }
        else if (s_is_option (arg, "body")) {
            if (!(value = s_option_value (argc, argv, &i, "body")))
                return S_USAGE;
            cli->body = value;
        }
        else if (strcmp (arg, "--observe") == 0)
            cli->observe = true;
        else if (strcmp (arg, "--all") == 0)
            cli->all = true;
        else if (strcmp (arg, "--cluster") == 0)
            cli->cluster = true;
        else if (s_is_option (arg, "name") || s_is_option (arg, "roles")
                 || s_is_option (arg, "dir") || s_is_option (arg, "out")) {
            const char *option = s_is_option (arg, "name")    ? "name"
                                 : s_is_option (arg, "roles") ? "roles"
                                 : s_is_option (arg, "dir")   ? "dir"
                                                              : "out";
            if (!(value = s_option_value (argc, argv, &i, option)))
                return S_USAGE;
            if (!*value || strnlen (value, 4096) > 4095) {
                s_fail ("--%s wants a value of 1..4095 bytes", option);
                return S_USAGE;
            }
            *(option[0] == 'n'   ? &cli->name
              : option[0] == 'r' ? &cli->roles
              : option[0] == 'd' ? &cli->dir
                                 : &cli->out) = value;
        }
        else if (strcmp (arg, "--absent") == 0)
            cli->absent = true;
        else if ((rc = s_store_option (cli, argc, argv, &i)) != -1) {
            if (rc != S_OK)
                return rc;
        }
        else if (strchr (arg, '=') || strcmp (arg, "--config") == 0) {
            //  A config flag: the configuration validates it.
            cli->config_argv[cli->config_argc++] = (char *) arg;
            if (strcmp (arg, "--config") == 0) {
                if (i + 1 >= argc) {
                    s_fail ("--config needs a file name");
                    return S_USAGE;
                }
                cli->config_argv[cli->config_argc++] = argv[++i];
            }
        }
        else {
            s_fail ("%s: unknown option (config flags are --key=value; see zm --help)", arg);
            return S_USAGE;
        }
    }
    return S_OK;
}

//  Are the options given all allowed for the command what (S_OPT_* bits)?
//  Reports the first one that is not.
static bool
s_options_fit (const s_cli_t *cli, const char *what, unsigned allowed)
{
    const struct {
        unsigned option;
        bool given;
        const char *name;
    } options[] = {
        {S_OPT_VIA, cli->via != NULL, "--via"},
        {S_OPT_META, cli->meta_count > 0, "--meta"},
        {S_OPT_GROUP, cli->group != NULL, "--group"},
        {S_OPT_COUNT, cli->count > 0, "--count"},
        {S_OPT_ALL, cli->all, "--all"},
        {S_OPT_NODE, cli->node != NULL, "--node"},
        {S_OPT_WHERE, cli->database != NULL, "--database"},
        {S_OPT_WHERE, cli->table != NULL, "--table"},
        {S_OPT_TTL, cli->ttl > 0, "--ttl"},
        {S_OPT_VERSION, cli->version > 0, "--version"},
        {S_OPT_ABSENT, cli->absent, "--absent"},
        {S_OPT_LIST, cli->suffix != NULL, "--suffix"},
        {S_OPT_LIST, cli->limit > 0, "--limit"},
        {S_OPT_LIST, cli->offset >= 0, "--offset"},
        {S_OPT_KEYGEN, cli->cluster, "--cluster"},
        {S_OPT_KEYGEN, cli->name != NULL, "--name"},
        {S_OPT_KEYGEN, cli->roles != NULL, "--roles"},
        {S_OPT_KEYGEN, cli->dir != NULL, "--dir"},
        {S_OPT_KEYGEN, cli->out != NULL, "--out"},
        {S_OPT_WAIT, cli->wait >= 0, "--wait"},
        {S_OPT_VALUE, cli->value != NULL, "--value"},
        {S_OPT_OBSERVE, cli->observe, "--observe"},
        {S_OPT_OPEN, cli->open != NULL, "--open"},
        {S_OPT_BENCH, cli->requests > 0, "--requests"},
        {S_OPT_BENCH, cli->concurrency > 0, "--concurrency"},
        {S_OPT_BENCH, cli->body != NULL, "--body"},
    };
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (options[i].given && !(allowed & options[i].option)) {
            s_fail ("%s: %s does not apply (see zm --help)", what, options[i].name);
            return false;
        }
    return true;
}

//  Decode a JSON argument. Returns S_OK with *msg_p, or S_USAGE (reported).
static int
s_parse_json (const char *what, const char *text, zm_msg_t **msg_p)
{
    const char *reason = NULL;
    int rc = zm_msg_decode (ZM_CT_JSON, text, strlen (text), msg_p, &reason);
    if (rc) {
        s_fail ("%s is not valid JSON: %s", what, reason ? reason : zm_strerror (rc));
        return S_USAGE;
    }
    return S_OK;
}

//  --------------------------------------------------------------------------
//  The node

//  Start the tool's node. client: a pure client (no RPC socket) unless the
//  configuration says otherwise. Returns NULL when the flags are bad
//  (*exit_p = S_USAGE) or the node fails (S_FAILED), reported.
static zm_node_t *
s_node_new (s_cli_t *cli, bool client, int *exit_p)
{
    *exit_p = S_FAILED;
    zm_config_t *config = zm_config_new ();
    if (!config) {
        s_fail ("out of memory");
        return NULL;
    }
    //  Our defaults, below every layer the user controls.
    zm_config_define (config, "log.level", ZM_CONFIG_STR, "warning",
                      "Log threshold; applies live (zm: warning by default)");
    if (client)
        zm_config_define (config, "rpc.bind", ZM_CONFIG_STR, "",
                          "Interface the reactors' RPC sockets bind to (zm: none by default)");
    zm_config_define (config, "auth.keys", ZM_CONFIG_STR, ":memory:",
                      "Directory of the keypair (zm: a new one in memory by default)");
    char *reason = NULL;
    if (zm_config_load_all (config, cli->config_argc, cli->config_argv, &reason)) {
        s_fail ("%s", reason ? reason : "bad configuration");
        free (reason);
        zm_config_destroy (&config);
        *exit_p = S_USAGE;
        return NULL;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        s_fail ("cannot start a node (see the log above)");
    return node;
}

//  Milliseconds the operation may take: --timeout, else rpc.timeout.
static int64_t
s_timeout (const s_cli_t *cli, zm_node_t *node)
{
    return cli->timeout ? cli->timeout
                        : zm_config_get_int (zm_node_config (node), "rpc.timeout", 5000);
}

//  Static peers in registry.peers that discovery will ask (tcp://host:port).
static int
s_static_peers (zm_node_t *node)
{
    char *peers = strdup (zm_config_get_str (zm_node_config (node), "registry.peers", ""));
    int count = 0;
    for (char *save = NULL, *peer = peers ? strtok_r (peers, ", ", &save) : NULL; peer;
         peer = strtok_r (NULL, ", ", &save)) {
        char host[100];
        int port = 0;
        if (sscanf (peer, "tcp://%99[^:]:%d", host, &port) == 2 && port > 0 && port < 65536)
            count++;
    }
    free (peers);
    return count;
}

//  Does a registry entry list source?
static bool
s_entry_has_source (const zm_val_t *entry, const char *source)
{
    const zm_val_t *sources = zm_val_get (entry, "sources");
    for (size_t i = 0; i < zm_val_size (sources); i++)
        if (strcmp (zm_val_str (zm_val_at (sources, i), "", NULL), source) == 0)
            return true;
    return false;
}

//  Does the node of a registry entry serve service, and endpoint (when not
//  NULL) in it?
static bool
s_entry_serves (const zm_val_t *entry, const char *service, const char *endpoint)
{
    const zm_val_t *services = zm_val_get (zm_val_get (entry, "descriptor"), "services");
    for (size_t i = 0; i < zm_val_size (services); i++) {
        const zm_val_t *svc = zm_val_at (services, i);
        if (strcmp (zm_val_str (zm_val_get (svc, "name"), "", NULL), service) != 0)
            continue;
        if (!endpoint)
            return true;
        const zm_val_t *endpoints = zm_val_get (svc, "endpoints");
        for (size_t e = 0; e < zm_val_size (endpoints); e++)
            if (strcmp (zm_val_str (zm_val_at (endpoints, e), "", NULL), endpoint) == 0)
                return true;
    }
    return false;
}

//  "tcp://host:port" of a registry entry (reactor 0's RPC port) into
//  address. Returns false when it has none.
static bool
s_entry_address (const zm_val_t *entry, char *address, size_t size)
{
    const char *host = zm_val_str (zm_val_get (entry, "host"), "", NULL);
    const zm_val_t *ports = zm_val_get (zm_val_get (entry, "descriptor"), "rpc_ports");
    uint64_t port = zm_val_uint (zm_val_at (ports, 0), 0);
    if (!*host || port == 0 || port > 65535)
        return false;
    int len = snprintf (address, size, "tcp://%s:%u", host, (unsigned) port);
    return len > 0 && (size_t) len < size;
}

//  What discovery is waited for.
typedef struct {
    zm_node_t *node;            //  ours
    int64_t deadline;           //  zclock_mono: give up then
    int64_t beacon_until;       //  zclock_mono: beacons had their say (0: no beacons)
    int64_t static_until;       //  zclock_mono: static peers had their say
    int statics;                //  static peers configured
} s_discovery_t;

static void
s_discovery_init (s_discovery_t *self, zm_node_t *node, int64_t timeout)
{
    zm_config_t *config = zm_node_config (node);
    int64_t now = zclock_mono ();
    self->node = node;
    self->deadline = now + timeout;
    self->beacon_until = zm_config_get_bool (config, "registry.beacon", true)
                             ? now + 2 * zm_config_get_int (config, "registry.interval", 1000)
                             : 0;
    self->statics = s_static_peers (node);
    self->static_until = self->statics ? now + S_STATIC_WAIT : 0;
}

//  Has discovery had its say, judging by the registry list? Beacons: two
//  intervals passed. Static peers: each answered, or their first HELLO
//  timed out.
static bool
s_discovery_settled (s_discovery_t *self, const zm_msg_t *list)
{
    int64_t now = zclock_mono ();
    if (now >= self->deadline)
        return true;
    if (self->beacon_until && now < self->beacon_until)
        return false;
    if (self->statics && now < self->static_until) {
        int answered = 0;
        const zm_val_t *nodes = zm_val_get (zm_msg_root (list), "nodes");
        for (size_t i = 0; i < zm_val_size (nodes); i++)
            answered += s_entry_has_source (zm_val_at (nodes, i), "static");
        return answered >= self->statics;
    }
    return true;
}

//  The registry list now. Returns S_OK, or S_FAILED (reported).
static int
s_registry (zm_node_t *node, zm_msg_t **list_p)
{
    int rc = zm_registry_list (node, list_p);
    if (rc)
        s_fail ("registry: %s", zm_strerror (rc));
    return rc ? S_FAILED : S_OK;
}

//  Nap between registry polls. Returns false when interrupted.
static bool
s_nap (void)
{
    if (zsys_interrupted)
        return false;
    zclock_sleep (S_POLL_MS);
    return !zsys_interrupted;
}

//  The registry list once discovery had its say (s_discovery_settled),
//  within --timeout or rpc.timeout. Returns S_OK with *list_p, or S_FAILED
//  (reported).
static int
s_settled_list (s_cli_t *cli, zm_node_t *node, const char *what, zm_msg_t **list_p)
{
    s_discovery_t discovery;
    s_discovery_init (&discovery, node, s_timeout (cli, node));
    while (true) {
        if (s_registry (node, list_p))
            return S_FAILED;
        if (s_discovery_settled (&discovery, *list_p))
            return S_OK;
        zm_msg_destroy (list_p);
        if (!s_nap ()) {
            s_fail ("%s: interrupted", what);
            return S_FAILED;
        }
    }
}

//  What s_pick_node looks for among the nodes the registry knows, ours
//  aside.
typedef struct {
    const char *command;        //  for messages: "publish", "store"
    const char *nobody;         //  for messages: what none known means
    const char *service;        //  the node serves this service...
    const char *endpoint;       //  ...and this endpoint of it
    const char *name;           //  only nodes of this name, or NULL
    bool only;                  //  the match must be the only one once
                                //  discovery settled (else: the first one)
} s_want_t;

//  What one look at the registry found.
typedef struct {
    size_t known;               //  nodes other than ours
    size_t matches;             //  of them, those that fit
    char names[800];            //  "name (address), ..." of those, cut short
} s_found_t;

//  Look at the registry list once: count what fits, the first one's address
//  into address.
static void
s_scan (zm_node_t *node, const zm_msg_t *list, const s_want_t *want, s_found_t *found,
        char *address, size_t size)
{
    const zm_val_t *nodes = zm_val_get (zm_msg_root (list), "nodes");
    for (size_t i = 0; i < zm_val_size (nodes); i++) {
        const zm_val_t *entry = zm_val_at (nodes, i);
        const zm_val_t *descriptor = zm_val_get (entry, "descriptor");
        const char *uuid = zm_val_str (zm_val_get (descriptor, "uuid"), "", NULL);
        const char *name = zm_val_str (zm_val_get (descriptor, "name"), "", NULL);
        if (strcmp (uuid, zm_node_uuid (node)) == 0)
            continue;
        found->known++;
        char here[128];
        if (!s_entry_serves (entry, want->service, want->endpoint)
            || (want->name && strcmp (name, want->name) != 0)
            || !s_entry_address (entry, here, sizeof here))
            continue;
        if (found->matches++ == 0)
            snprintf (address, size, "%s", here);
        size_t used = strlen (found->names);
        snprintf (found->names + used, sizeof found->names - used, "%s%s (%s)",
                  used ? ", " : "", *name ? name : "?", here);
    }
}

//  Report why discovery found no node, or too many. Returns S_FAILED.
static int
s_fail_pick (const s_want_t *want, const s_found_t *found)
{
    if (found->matches > 1 && want->name)
        s_fail ("%s: %zu nodes named \"%s\" serve \"%s\": %s; name one with --via", want->command,
                found->matches, want->name, want->service, found->names);
    else if (found->matches > 1)
        s_fail ("%s: %zu nodes serve \"%s\": %s; name one with --node NAME or --via", want->command,
                found->matches, want->service, found->names);
    else if (want->name)
        s_fail ("%s: no node named \"%s\" serves \"%s\" (%zu other node(s) known)", want->command,
                want->name, want->service, found->known);
    else if (found->known)
        s_fail ("%s: none of the %zu node(s) known serves \"%s\" %s; name one with --via",
                want->command, found->known, want->service, want->endpoint);
    else
        s_fail ("%s: %s (set registry.peers, turn registry.beacon on, or use --via)",
                want->command, want->nobody);
    return S_FAILED;
}

//  Pick a node other than ours that serves what want says, waiting for
//  discovery within the deadline: the first one found, or with want->only
//  the one there is once discovery settled. Returns S_OK with address set,
//  or S_FAILED (reported).
static int
s_pick_node (zm_node_t *node, s_discovery_t *discovery, const s_want_t *want, char *address,
             size_t size)
{
    while (true) {
        zm_msg_t *list = NULL;
        if (s_registry (node, &list))
            return S_FAILED;
        s_found_t found = {0};
        s_scan (node, list, want, &found, address, size);
        bool settled = s_discovery_settled (discovery, list);
        zm_msg_destroy (&list);
        if (found.matches && (!want->only || (settled && found.matches == 1)))
            return S_OK;
        if (settled)
            return s_fail_pick (want, &found);
        if (!s_nap ()) {
            s_fail ("%s: interrupted", want->command);
            return S_FAILED;
        }
    }
}

//  --------------------------------------------------------------------------
//  call

//  What call and stream share: SERVICE ENDPOINT, at most max_args
//  arguments in all, the options of allowed, the --meta pairs as a map.
//  Returns S_OK or S_USAGE (reported).
static int
s_endpoint_check (s_cli_t *cli, int max_args, unsigned allowed, const char *usage)
{
    if (cli->arg_count < 2 || cli->arg_count > max_args) {
        s_fail ("usage: %s", usage);
        return S_USAGE;
    }
    if (!s_name_ok (cli->args[0]) || !s_name_ok (cli->args[1])) {
        s_fail ("%s: service and endpoint names are 1..255 bytes of A-Z a-z 0-9 . _ - $",
                cli->command);
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, allowed) || s_meta_map (cli) != S_OK)
        return S_USAGE;
    return S_OK;
}

//  Call and stream options from the command line: --via, --meta.
static void
s_call_opts (const s_cli_t *cli, zm_call_opts_t *opts)
{
    opts->address = cli->via;
    opts->metadata = cli->meta;
}

//  "zm: SERVICE.ENDPOINT: 409 Conflict: detail (id)" for a failed call or
//  stream.
static void
s_fail_endpoint (const s_cli_t *cli, int rc, const zm_error_t *error)
{
    char what[600];
    snprintf (what, sizeof what, "%s.%s", cli->args[0], cli->args[1]);
    s_fail_error (what, rc, error);
}

static int
s_call (s_cli_t *cli)
{
    if (s_endpoint_check (cli, 3, S_OPT_VIA | S_OPT_META, "zm call SERVICE ENDPOINT [JSON]"))
        return S_USAGE;
    const char *service = cli->args[0], *endpoint = cli->args[1];
    zm_msg_t *req = NULL;
    if (s_parse_json ("the request", cli->arg_count == 3 ? cli->args[2] : "{}", &req))
        return S_USAGE;
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node) {
        zm_msg_destroy (&req);
        return status;
    }
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    s_call_opts (cli, &opts);
    opts.content_type = ZM_CT_JSON;
    opts.timeout_ms = (int) s_timeout (cli, node);
    zm_msg_t *rep = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (node, service, endpoint, &req, &rep, &error, &opts);
    if (rc == 0)
        status = s_print_json (rep);
    else {
        s_fail_endpoint (cli, rc, error);
        status = S_FAILED;
    }
    zm_msg_destroy (&rep);
    zm_error_destroy (&error);
    zm_node_destroy (&node);
    return status;
}

//  --------------------------------------------------------------------------
//  publish

//  Copy value src into container dst: under key when key is not NULL (dst
//  a map), else appended (dst an array). Returns 0 or an error (ZM_ETOOBIG
//  when nesting runs past ZM_MSG_MAX_DEPTH).
static int
s_copy (zm_val_t *dst, const char *key, const zm_val_t *src)
{
    size_t size = 0;
    switch (zm_val_type (src)) {
    case ZM_TYPE_NIL:
        return key ? zm_val_set_nil (dst, key) : zm_val_push_nil (dst);
    case ZM_TYPE_BOOL: {
        bool value = zm_val_bool (src, false);
        return key ? zm_val_set_bool (dst, key, value) : zm_val_push_bool (dst, value);
    }
    case ZM_TYPE_INT: {
        int64_t value = zm_val_int (src, 0);
        return key ? zm_val_set_int (dst, key, value) : zm_val_push_int (dst, value);
    }
    case ZM_TYPE_UINT: {
        uint64_t value = zm_val_uint (src, 0);
        return key ? zm_val_set_uint (dst, key, value) : zm_val_push_uint (dst, value);
    }
    case ZM_TYPE_FLOAT: {
        double value = zm_val_float (src, 0);
        return key ? zm_val_set_float (dst, key, value) : zm_val_push_float (dst, value);
    }
    case ZM_TYPE_STR: {
        const char *value = zm_val_str (src, "", &size);
        return key ? zm_val_set_strn (dst, key, value, size)
                   : zm_val_push_strn (dst, value, size);
    }
    case ZM_TYPE_BIN: {
        const void *value = zm_val_bin (src, &size);
        return key ? zm_val_set_bin (dst, key, value, size)
                   : zm_val_push_bin (dst, value, size);
    }
    case ZM_TYPE_ARRAY: {
        zm_val_t *array = key ? zm_val_set_array (dst, key) : zm_val_push_array (dst);
        int rc = array ? 0 : ZM_ETOOBIG;
        for (size_t i = 0; rc == 0 && i < zm_val_size (src); i++)
            rc = s_copy (array, NULL, zm_val_at (src, i));
        return rc;
    }
    case ZM_TYPE_MAP: {
        zm_val_t *map = key ? zm_val_set_map (dst, key) : zm_val_push_map (dst);
        int rc = map ? 0 : ZM_ETOOBIG;
        for (size_t i = 0; rc == 0 && i < zm_val_size (src); i++) {
            size_t len = 0;
            const char *name = zm_val_key_at (src, i, &len);
            //  JSON keys are strings; one holding a NUL cannot be a C key.
            rc = name && strlen (name) == len ? s_copy (map, name, zm_val_at (src, i))
                                              : ZM_ECODEC;
        }
        return rc;
    }
    }
    return ZM_EINVAL;
}

static int
s_publish (s_cli_t *cli)
{
    if (cli->arg_count != 2) {
        s_fail ("usage: zm publish TOPIC JSON [--meta KEY=VALUE]...");
        return S_USAGE;
    }
    const char *topic = cli->args[0];
    const char *reason = NULL;
    if (zm_topic_check (topic, false, &reason)) {
        s_fail ("publish: bad topic: %s", reason ? reason : "invalid");
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, S_OPT_VIA | S_OPT_META) || s_meta_map (cli) != S_OK)
        return S_USAGE;
    zm_msg_t *event = NULL;
    if (s_parse_json ("the event", cli->args[1], &event))
        return S_USAGE;
    //  The request: {"topic": str, "event": any, "metadata": {str: str}}.
    zm_msg_t *req = zm_msg_new ();
    int rc = req ? zm_msg_set_str (req, "topic", topic) : ZM_ENOMEM;
    if (rc == 0)
        rc = s_copy (zm_msg_root_mut (req), "event", zm_msg_root (event));
    if (rc == 0 && cli->meta)
        rc = s_copy (zm_msg_root_mut (req), "metadata", zm_msg_root (cli->meta));
    zm_msg_destroy (&event);
    //  Whatever JSON cannot carry (metadata that is not UTF-8) is the
    //  user's input: refused here, not by the client.
    void *data = NULL;
    size_t size = 0;
    if (rc == 0)
        rc = zm_msg_encode (req, ZM_CT_JSON, &data, &size);
    free (data);
    if (rc) {
        s_fail ("publish: the request cannot be sent as JSON: %s%s", zm_strerror (rc),
                rc == ZM_ETOOBIG ? " (the event is nested too deeply)"
                : rc == ZM_ECODEC ? " (metadata not UTF-8, or a key holding \\u0000)"
                                  : "");
        zm_msg_destroy (&req);
        return rc == ZM_ENOMEM ? S_FAILED : S_USAGE;
    }
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node) {
        zm_msg_destroy (&req);
        return status;
    }
    status = S_OK;
    int64_t started = zclock_mono ();
    int64_t timeout = s_timeout (cli, node);
    char address[128];
    if (cli->via)
        snprintf (address, sizeof address, "%s", cli->via);
    else {
        s_discovery_t discovery;
        s_discovery_init (&discovery, node, timeout);
        s_want_t want = {.command = "publish",
                         .nobody = "no node found to publish through",
                         .service = "$node",
                         .endpoint = "publish"};
        status = s_pick_node (node, &discovery, &want, address, sizeof address);
    }
    if (status == S_OK) {
        zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
        opts.content_type = ZM_CT_JSON;
        opts.address = address;
        int64_t left = started + timeout - zclock_mono ();
        opts.timeout_ms = left > 0 ? (int) left : 1;
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        rc = zm_call (node, "$node", "publish", &req, &rep, &error, &opts);
        if (rc == 0)
            status = s_print_json (rep);
        else {
            char what[256];
            snprintf (what, sizeof what, "publish through %s", address);
            s_fail_error (what, rc, error);
            status = S_FAILED;
        }
        zm_msg_destroy (&rep);
        zm_error_destroy (&error);
    }
    zm_msg_destroy (&req);
    zm_node_destroy (&node);
    return status;
}

//  --------------------------------------------------------------------------
//  subscribe

//  Shared by the subscription's handler (a reactor thread) and main.
typedef struct {
    pthread_mutex_t lock;       //  guards what follows, and stdout
    long count;                 //  events wanted, 0: no limit
    const char **metas;         //  metadata keys to print
    int meta_count;             //  how many
    long printed;               //  events printed
    bool done;                  //  print nothing more
    int write_error;            //  errno of a failed write to stdout, or 0
} s_sub_t;

//  Wakes main: the handler (done) and the signal handler write a byte.
static int s_wake[2] = {-1, -1};
static volatile sig_atomic_t s_signalled;

//  SIGINT, SIGTERM: which one came (lock forwards it to its command).
static void
s_on_signal (int signal)
{
    int saved = errno;
    s_signalled = signal;
    char byte = 1;
    if (s_wake[1] >= 0 && write (s_wake[1], &byte, 1) < 0) {
        //  Full pipe: main is already woken.
    }
    errno = saved;
}

//  The event's header and body as one JSON line. Caller frees.
static char *
s_event_line (s_sub_t *self, zm_ctx_t *ctx, zm_msg_t *body, size_t *size_p)
{
    //  The header is encoded on its own and the body spliced in as text:
    //  a body nested to the codec's depth limit still prints.
    zm_msg_t *head = zm_msg_new ();
    const char *topic = zm_ctx_topic (ctx), *id = zm_ctx_event_id (ctx);
    const char *publisher = zm_ctx_publisher (ctx);
    int rc = head ? zm_msg_set_str (head, "topic", topic ? topic : "") : ZM_ENOMEM;
    if (rc == 0)
        rc = zm_msg_set_str (head, "id", id ? id : "");
    if (rc == 0)
        rc = zm_msg_set_str (head, "publisher", publisher ? publisher : "");
    if (rc == 0)
        rc = zm_msg_set_int (head, "time", zm_ctx_event_time (ctx));
    //  The API reads an event's metadata by key only: the keys asked for.
    zm_val_t *meta = rc == 0 ? zm_val_set_map (zm_msg_root_mut (head), "metadata") : NULL;
    for (int i = 0; meta && rc == 0 && i < self->meta_count; i++) {
        const char *value = zm_ctx_meta (ctx, self->metas[i]);
        if (value)
            rc = zm_val_set_str (meta, self->metas[i], value);
    }
    if (rc == 0 && !meta)
        rc = ZM_ENOMEM;
    void *head_data = NULL, *body_data = NULL;
    size_t head_size = 0, body_size = 0;
    if (rc == 0)
        rc = zm_msg_encode (head, ZM_CT_JSON, &head_data, &head_size);
    zm_msg_destroy (&head);
    int body_rc = body ? zm_msg_encode (body, ZM_CT_JSON, &body_data, &body_size) : 0;
    char *line = NULL;
    if (rc == 0 && head_size > 2) {
        //  head_data is {...}: drop the closing brace and go on.
        int len = body_rc == 0
                      ? asprintf (&line, "%.*s,\"event\":%.*s}", (int) head_size - 1,
                                  (char *) head_data, body ? (int) body_size : 4,
                                  body ? (char *) body_data : "null")
                      : asprintf (&line, "%.*s,\"event\":null,\"event_error\":\"%s\"}",
                                  (int) head_size - 1, (char *) head_data,
                                  zm_strerror (body_rc));
        *size_p = len > 0 ? (size_t) len : 0;
        if (len < 0)
            line = NULL;
    }
    free (head_data);
    free (body_data);
    return line;
}

static int
s_on_event (zm_ctx_t *ctx, zm_msg_t *body)
{
    s_sub_t *self = (s_sub_t *) zm_ctx_state (ctx);
    pthread_mutex_lock (&self->lock);
    if (!self->done) {
        size_t size = 0;
        char *line = s_event_line (self, ctx, body, &size);
        bool printed = line != NULL;
        int rc = line ? s_write_json (line, size) : 0;
        free (line);
        if (rc) {
            self->write_error = rc;
            self->done = true;
        }
        else if (printed && ++self->printed >= self->count && self->count)
            self->done = true;
        if (self->done) {
            char byte = 1;
            if (write (s_wake[1], &byte, 1) < 0) {
                //  Full pipe: main is already woken.
            }
        }
    }
    pthread_mutex_unlock (&self->lock);
    return 0;
}

static int
s_subscribe (s_cli_t *cli)
{
    if (cli->arg_count != 1) {
        s_fail ("usage: zm subscribe PATTERN [--group NAME] [--count N] [--timeout MS]");
        return S_USAGE;
    }
    const char *pattern = cli->args[0];
    const char *reason = NULL;
    if (zm_topic_check (pattern, true, &reason)) {
        s_fail ("subscribe: bad pattern: %s", reason ? reason : "invalid");
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, S_OPT_META | S_OPT_GROUP | S_OPT_COUNT))
        return S_USAGE;
    for (int i = 0; i < cli->meta_count; i++) {
        size_t len = strnlen (cli->metas[i], S_META_KEY_MAX + 1);
        if (len == 0 || len > S_META_KEY_MAX || strchr (cli->metas[i], '=')) {
            s_fail ("subscribe: --meta wants a KEY of 1..%d bytes (no '=')", S_META_KEY_MAX);
            return S_USAGE;
        }
    }
    if (pipe (s_wake) != 0) {
        s_fail ("pipe: %s", strerror (errno));
        return S_FAILED;
    }
    fcntl (s_wake[0], F_SETFL, O_NONBLOCK);
    fcntl (s_wake[1], F_SETFL, O_NONBLOCK);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, false, &status);
    if (!node)
        return status;
    //  zsys_init (in the node) installed czmq's handler, which only sets
    //  zsys_interrupted (the loop below watches it too): ours again.
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    s_sub_t sub = {.count = cli->count, .metas = cli->metas, .meta_count = cli->meta_count};
    pthread_mutex_init (&sub.lock, NULL);
    int err = 0;
    uint64_t id = zm_subscribe (node, pattern, cli->group, s_on_event, &sub, &err);
    if (id == 0) {
        if (err == ZM_EINVAL)
            s_fail ("subscribe: pattern or group refused: %s", zm_strerror (err));
        else
            s_fail ("subscribe: %s", zm_strerror (err));
        zm_node_destroy (&node);
        pthread_mutex_destroy (&sub.lock);
        return err == ZM_EINVAL ? S_USAGE : S_FAILED;
    }
    int64_t deadline = cli->timeout ? zclock_mono () + cli->timeout : 0;
    bool done = false, timed_out = false;
    while (!done && !s_signalled && !zsys_interrupted) {
        int64_t left = deadline ? deadline - zclock_mono () : -1;
        if (deadline && left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd item = {s_wake[0], POLLIN, 0};
        poll (&item, 1, left < 0 || left > 200 ? 200 : (int) left);
        char byte;
        while (read (s_wake[0], &byte, 1) == 1)
            ;
        pthread_mutex_lock (&sub.lock);
        done = sub.done;
        pthread_mutex_unlock (&sub.lock);
    }
    zm_unsubscribe (node, id);
    //  The handler runs no more: what it left is ours to read.
    pthread_mutex_lock (&sub.lock);
    sub.done = true;
    int write_error = sub.write_error;
    long printed = sub.printed;
    pthread_mutex_unlock (&sub.lock);
    zm_node_destroy (&node);
    pthread_mutex_destroy (&sub.lock);
    if (write_error && write_error != EPIPE) {
        s_fail ("stdout: %s", strerror (write_error));
        return S_FAILED;
    }
    if (timed_out && cli->count && printed < cli->count) {
        s_fail ("subscribe: %ld of %ld event(s) within %ld ms", printed, cli->count,
                cli->timeout);
        return S_FAILED;
    }
    return S_OK;
}

//  --------------------------------------------------------------------------
//  services

//  One service of the list: a name and version seen in the registry.
typedef struct {
    const char *name;           //  borrowed from the registry list
    const char *version;        //  same
} s_svc_key_t;

static int
s_svc_key_compare (const void *a, const void *b)
{
    const s_svc_key_t *x = (const s_svc_key_t *) a, *y = (const s_svc_key_t *) b;
    int rc = strcmp (x->name, y->name);
    return rc ? rc : strcmp (x->version, y->version);
}

//  Is this service of an entry the one key names?
static bool
s_svc_is (const zm_val_t *svc, const s_svc_key_t *key)
{
    return strcmp (zm_val_str (zm_val_get (svc, "name"), "", NULL), key->name) == 0
           && strcmp (zm_val_str (zm_val_get (svc, "version"), "", NULL), key->version) == 0;
}

//  Fill entry (a map) for one service from every node of the list:
//  {name, version, endpoints: [union], nodes: [{uuid, name, address,
//  metadata}]}. Returns 0 or an error.
static int
s_svc_fill (zm_val_t *entry, const s_svc_key_t *key, const zm_val_t *nodes)
{
    int rc = zm_val_set_str (entry, "name", key->name);
    if (rc == 0)
        rc = zm_val_set_str (entry, "version", key->version);
    //  Built one container at a time: a handle into a container goes stale
    //  when that container changes.
    zm_val_t *endpoints = rc == 0 ? zm_val_set_array (entry, "endpoints") : NULL;
    for (size_t i = 0; endpoints && i < zm_val_size (nodes); i++) {
        const zm_val_t *services = zm_val_get (zm_val_get (zm_val_at (nodes, i), "descriptor"),
                                               "services");
        for (size_t s = 0; s < zm_val_size (services); s++) {
            const zm_val_t *svc = zm_val_at (services, s);
            if (!s_svc_is (svc, key))
                continue;
            const zm_val_t *names = zm_val_get (svc, "endpoints");
            for (size_t e = 0; e < zm_val_size (names) && rc == 0; e++) {
                const char *name = zm_val_str (zm_val_at (names, e), NULL, NULL);
                bool seen = !name;
                for (size_t k = 0; !seen && k < zm_val_size (endpoints); k++)
                    seen = strcmp (zm_val_str (zm_val_at (endpoints, k), "", NULL), name) == 0;
                if (!seen)
                    rc = zm_val_push_str (endpoints, name);
            }
        }
    }
    zm_val_t *list = rc == 0 && endpoints ? zm_val_set_array (entry, "nodes") : NULL;
    for (size_t i = 0; list && rc == 0 && i < zm_val_size (nodes); i++) {
        const zm_val_t *node = zm_val_at (nodes, i);
        const zm_val_t *descriptor = zm_val_get (node, "descriptor");
        const zm_val_t *services = zm_val_get (descriptor, "services");
        for (size_t s = 0; s < zm_val_size (services) && rc == 0; s++) {
            const zm_val_t *svc = zm_val_at (services, s);
            if (!s_svc_is (svc, key))
                continue;
            zm_val_t *item = zm_val_push_map (list);
            char address[300] = "";
            s_entry_address (node, address, sizeof address);
            rc = item ? 0 : ZM_ENOMEM;
            if (rc == 0)
                rc = zm_val_set_str (item, "uuid",
                                     zm_val_str (zm_val_get (descriptor, "uuid"), "", NULL));
            if (rc == 0)
                rc = zm_val_set_str (item, "name",
                                     zm_val_str (zm_val_get (descriptor, "name"), "", NULL));
            if (rc == 0)
                rc = zm_val_set_str (item, "address", address);
            if (rc == 0)
                rc = s_copy (item, "metadata", zm_val_get (svc, "metadata"));
        }
    }
    return rc ? rc : list ? 0 : ZM_ENOMEM;
}

static int
s_services (s_cli_t *cli)
{
    if (cli->arg_count != 0) {
        s_fail ("usage: zm services [--all] [--timeout MS]");
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, S_OPT_ALL))
        return S_USAGE;
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node)
        return status;
    zm_msg_t *list = NULL;
    if (s_settled_list (cli, node, "services", &list))
        goto done;
    //  Distinct (name, version) pairs, sorted.
    const zm_val_t *nodes = zm_val_get (zm_msg_root (list), "nodes");
    size_t total = 0;
    for (size_t i = 0; i < zm_val_size (nodes); i++)
        total += zm_val_size (zm_val_get (zm_val_get (zm_val_at (nodes, i), "descriptor"),
                                          "services"));
    s_svc_key_t *keys = (s_svc_key_t *) calloc (total + 1, sizeof (s_svc_key_t));
    size_t count = 0;
    for (size_t i = 0; keys && i < zm_val_size (nodes); i++) {
        const zm_val_t *services = zm_val_get (zm_val_get (zm_val_at (nodes, i), "descriptor"),
                                               "services");
        for (size_t s = 0; s < zm_val_size (services); s++) {
            const zm_val_t *svc = zm_val_at (services, s);
            s_svc_key_t key = {zm_val_str (zm_val_get (svc, "name"), NULL, NULL),
                               zm_val_str (zm_val_get (svc, "version"), "", NULL)};
            if (!key.name || (!cli->all && key.name[0] == '$'))
                continue;
            bool seen = false;
            for (size_t k = 0; k < count && !seen; k++)
                seen = s_svc_key_compare (&keys[k], &key) == 0;
            if (!seen)
                keys[count++] = key;
        }
    }
    if (!keys) {
        s_fail ("out of memory");
        goto done;
    }
    qsort (keys, count, sizeof (s_svc_key_t), s_svc_key_compare);
    zm_msg_t *out = zm_msg_new ();
    zm_val_t *array = out ? zm_val_set_array (zm_msg_root_mut (out), "services") : NULL;
    int rc = array ? 0 : ZM_ENOMEM;
    for (size_t k = 0; k < count && rc == 0; k++) {
        zm_val_t *entry = zm_val_push_map (array);
        rc = entry ? s_svc_fill (entry, &keys[k], nodes) : ZM_ENOMEM;
    }
    if (rc)
        s_fail ("services: %s", zm_strerror (rc));
    else
        status = s_print_json (out);
    zm_msg_destroy (&out);
    free (keys);
done:
    zm_msg_destroy (&list);
    zm_node_destroy (&node);
    return status;
}

//  --------------------------------------------------------------------------
//  store

//  One subcommand of store.
typedef struct {
    const char *name;           //  get, put, del, list
    const char *what;           //  for messages: "store get"
    const char *endpoint;       //  of "$store"
    const char *key;            //  the request field of the first argument
    int min_args, max_args;     //  arguments after the subcommand
    unsigned options;           //  S_OPT_* allowed
    int retries;                //  zm_call_opts_t.retries
    const char *usage;
} s_store_op_t;

//  Writes and deletes are not retried: a retry after a lost answer could
//  apply twice, or fail a compare-and-swap the first try passed.
static const s_store_op_t s_store_ops[] = {
    {"get", "store get", "read", "key", 1, 1, S_OPT_STORE, -1, "zm store get KEY"},
    {"put", "store put", "write", "key", 2, 2,
     S_OPT_STORE | S_OPT_META | S_OPT_TTL | S_OPT_VERSION | S_OPT_ABSENT, 0,
     "zm store put KEY VALUE [--ttl MS] [--meta KEY=VALUE]... [--version N | --absent]"},
    {"del", "store del", "delete", "key", 1, 1, S_OPT_STORE | S_OPT_VERSION, 0,
     "zm store del KEY [--version N]"},
    {"list", "store list", "list", "prefix", 0, 1, S_OPT_STORE | S_OPT_LIST, -1,
     "zm store list [PREFIX] [--suffix S] [--limit N] [--offset N]"},
};

//  Are these bytes UTF-8 text without NUL (RFC 3629: no overlong forms,
//  surrogates, or code points past U+10FFFF)?
static bool
s_text_ok (const unsigned char *at, size_t size)
{
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    const unsigned char *end = at + size;
    while (at < end) {
        unsigned char c = *at;
        size_t len = c < 0x80            ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (c == 0 || len == 0 || (size_t) (end - at) < len)
            return false;
        uint32_t code = len == 1 ? c : c & (0x7fu >> len);
        for (size_t i = 1; i < len; i++) {
            if ((at[i] & 0xc0) != 0x80)
                return false;
            code = code << 6 | (at[i] & 0x3f);
        }
        if (code < least[len] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
            return false;
        at += len;
    }
    return true;
}

//  Set bytes under key in map: a string when they are UTF-8 text, else a
//  binary (which JSON writes as {"$bin": "<base64>"}).
static int
s_set_bytes (zm_val_t *map, const char *key, const void *bytes, size_t size)
{
    return s_text_ok ((const unsigned char *) bytes, size)
               ? zm_val_set_strn (map, key, (const char *) bytes, size)
               : zm_val_set_bin (map, key, bytes, size);
}

//  The subcommand's arguments and options. Returns S_OK or S_USAGE
//  (reported).
static int
s_store_check (s_cli_t *cli, const s_store_op_t *op)
{
    int count = cli->arg_count - 1;
    if (count < op->min_args || count > op->max_args) {
        s_fail ("usage: %s (see zm --help)", op->usage);
        return S_USAGE;
    }
    if (!s_options_fit (cli, op->what, op->options) || s_meta_map (cli) != S_OK)
        return S_USAGE;
    size_t len = count ? strnlen (cli->args[1], ZM_STORE_MAX_KEY + 1) : 0;
    bool list = strcmp (op->key, "prefix") == 0;
    if ((count && len == 0 && !list) || len > ZM_STORE_MAX_KEY) {
        s_fail ("%s: a %s is %s..%d bytes", op->what, op->key, list ? "0" : "1", ZM_STORE_MAX_KEY);
        return S_USAGE;
    }
    const char *clash = cli->via && cli->node            ? "--via and --node"
                        : cli->version && cli->absent     ? "--version and --absent"
                                                          : NULL;
    if (clash) {
        s_fail ("%s: %s together (one or the other)", op->what, clash);
        return S_USAGE;
    }
    if (cli->meta && zm_val_size (zm_msg_root (cli->meta)) > S_STORE_META_MAX) {
        s_fail ("%s: a record has at most %d --meta pairs", op->what, S_STORE_META_MAX);
        return S_USAGE;
    }
    return S_OK;
}

//  The request of op: every option given (s_store_check let only op's
//  through). Returns 0 or an error.
static int
s_store_request (const s_cli_t *cli, const s_store_op_t *op, zm_msg_t **req_p)
{
    zm_msg_t *req = *req_p = zm_msg_new ();
    zm_val_t *root = req ? zm_msg_root_mut (req) : NULL;
    int rc = root ? 0 : ZM_ENOMEM;
    if (rc == 0 && cli->arg_count > 1 && *cli->args[1])
        rc = zm_val_set_str (root, op->key, cli->args[1]);
    if (rc == 0 && cli->arg_count > 2)
        rc = s_set_bytes (root, "value", cli->args[2], strlen (cli->args[2]));
    if (rc == 0 && cli->database)
        rc = zm_val_set_str (root, "database", cli->database);
    if (rc == 0 && cli->table)
        rc = zm_val_set_str (root, "table", cli->table);
    if (rc == 0 && cli->ttl)
        rc = zm_val_set_uint (root, "ttl_ms", (uint64_t) cli->ttl);
    if (rc == 0 && cli->meta)
        rc = s_copy (root, "metadata", zm_msg_root (cli->meta));
    if (rc == 0 && cli->version)
        rc = zm_val_set_uint (root, "version", (uint64_t) cli->version);
    if (rc == 0 && cli->absent)
        rc = zm_val_set_bool (root, "absent", true);
    if (rc == 0 && cli->suffix)
        rc = zm_val_set_str (root, "suffix", cli->suffix);
    if (rc == 0 && cli->limit)
        rc = zm_val_set_uint (root, "limit", (uint64_t) cli->limit);
    if (rc == 0 && cli->offset >= 0)
        rc = zm_val_set_uint (root, "offset", (uint64_t) cli->offset);
    return rc;
}

//  Print the record of a read's answer as {key, value, version, expires?,
//  metadata?}. Returns S_OK or S_FAILED (reported).
static int
s_print_record (const zm_msg_t *rep)
{
    static const char *fields[] = {"version", "expires", "metadata"};
    const zm_val_t *record = zm_val_at (zm_val_get (zm_msg_root (rep), "records"), 0);
    const zm_val_t *key = zm_val_get (record, "key");
    size_t size = 0;
    const void *value = zm_val_bin (zm_val_get (record, "value"), &size);
    if (zm_val_type (key) != ZM_TYPE_STR || !value) {
        s_fail ("store get: the answer holds no record");
        return S_FAILED;
    }
    zm_msg_t *out = zm_msg_new ();
    zm_val_t *root = out ? zm_msg_root_mut (out) : NULL;
    int rc = root ? s_copy (root, "key", key) : ZM_ENOMEM;
    if (rc == 0)
        rc = s_set_bytes (root, "value", value, size);
    for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
        if (zm_val_get (record, fields[i]))
            rc = s_copy (root, fields[i], zm_val_get (record, fields[i]));
    int status = rc ? S_FAILED : s_print_json (out);
    if (rc)
        s_fail ("store get: %s", zm_strerror (rc));
    zm_msg_destroy (&out);
    return status;
}

//  Print the answer of op. Returns S_OK or S_FAILED (reported).
static int
s_store_print (const s_store_op_t *op, const zm_msg_t *rep)
{
    if (strcmp (op->name, "get") == 0)
        return s_print_record (rep);
    if (rep)
        return s_print_json (rep);
    //  An answer without a body (not what "$store" sends) is still {}.
    zm_msg_t *empty = zm_msg_new ();
    int status = empty ? s_print_json (empty) : S_FAILED;
    if (!empty)
        s_fail ("out of memory");
    zm_msg_destroy (&empty);
    return status;
}

//  Report a failed call of op, saying what a conflict means.
static void
s_store_failed (const s_cli_t *cli, const s_store_op_t *op, const char *address, int rc,
                const zm_error_t *error)
{
    char what[600];
    if (rc == ZM_ECONFLICT && cli->absent)
        snprintf (what, sizeof what, "%s: \"%s\" has a record already (--absent)", op->what,
                  cli->args[1]);
    else if (rc == ZM_ECONFLICT && cli->version)
        snprintf (what, sizeof what, "%s: \"%s\" is not at version %ld (--version)", op->what,
                  cli->args[1], cli->version);
    else
        snprintf (what, sizeof what, "%s at %s", op->what, address);
    s_fail_error (what, rc, error);
}

//  The address of the node whose store to use: --via, else the node named
//  --node, else the only one serving "$store". Returns S_OK or S_FAILED
//  (reported).
static int
s_store_address (const s_cli_t *cli, const s_store_op_t *op, zm_node_t *node, int64_t timeout,
                 char *address, size_t size)
{
    if (cli->via) {
        snprintf (address, size, "%s", cli->via);
        return S_OK;
    }
    s_discovery_t discovery;
    s_discovery_init (&discovery, node, timeout);
    s_want_t want = {.command = op->what,
                     .nobody = "no node found that serves \"$store\"",
                     .service = "$store",
                     .endpoint = op->endpoint,
                     .name = cli->node,
                     .only = true};
    return s_pick_node (node, &discovery, &want, address, size);
}

//  Send the request of op to the chosen node and print the answer.
static int
s_store_call (s_cli_t *cli, const s_store_op_t *op, zm_msg_t **req_p)
{
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node)
        return status;
    int64_t started = zclock_mono ();
    int64_t timeout = s_timeout (cli, node);
    char address[128];
    status = s_store_address (cli, op, node, timeout, address, sizeof address);
    if (status == S_OK) {
        zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
        opts.address = address;
        opts.retries = op->retries;
        int64_t left = started + timeout - zclock_mono ();
        opts.timeout_ms = left > 0 ? (int) left : 1;
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        int rc = zm_call (node, "$store", op->endpoint, req_p, &rep, &error, &opts);
        if (rc == 0)
            status = s_store_print (op, rep);
        else {
            s_store_failed (cli, op, address, rc, error);
            status = S_FAILED;
        }
        zm_msg_destroy (&rep);
        zm_error_destroy (&error);
    }
    zm_node_destroy (&node);
    return status;
}

static int
s_store (s_cli_t *cli)
{
    if (!cli->arg_count) {
        s_fail ("usage: zm store get|put|del|list ... (see zm --help)");
        return S_USAGE;
    }
    const s_store_op_t *op = NULL;
    for (size_t i = 0; !op && i < sizeof s_store_ops / sizeof s_store_ops[0]; i++)
        if (strcmp (cli->args[0], s_store_ops[i].name) == 0)
            op = &s_store_ops[i];
    if (!op) {
        s_fail ("store: %s: unknown subcommand (get, put, del, list)", cli->args[0]);
        return S_USAGE;
    }
    if (s_store_check (cli, op) != S_OK)
        return S_USAGE;
    zm_msg_t *req = NULL;
    int rc = s_store_request (cli, op, &req);
    int status = S_FAILED;
    if (rc)
        s_fail ("%s: %s", op->what, zm_strerror (rc));
    else
        status = s_store_call (cli, op, &req);
    zm_msg_destroy (&req);
    return status;
}

//  --------------------------------------------------------------------------
//  Signals, for the commands that wait: lock, elect, stream

//  SIGCHLD: wakes main to reap lock's command.
static void
s_on_child (int signal)
{
    (void) signal;
    int saved = errno;
    char byte = 1;
    if (s_wake[1] >= 0 && write (s_wake[1], &byte, 1) < 0) {
        //  Full pipe: main is already woken.
    }
    errno = saved;
}

//  The main thread's signal mask while it waits in s_doze: SIGINT, SIGTERM
//  and SIGCHLD come only then (s_block_signals).
static sigset_t s_doze_mask;

//  Block SIGINT, SIGTERM and SIGCHLD before the node starts: its threads
//  inherit the mask, and a signal handled on a reactor thread would end its
//  loop (zloop_start stops when zmq_poll fails with EINTR). The main thread
//  takes them in s_doze only, so the API it calls is never interrupted
//  either.
static void
s_block_signals (void)
{
    sigset_t block;
    sigemptyset (&block);
    sigaddset (&block, SIGINT);
    sigaddset (&block, SIGTERM);
    sigaddset (&block, SIGCHLD);
    pthread_sigmask (SIG_BLOCK, &block, &s_doze_mask);
    sigdelset (&s_doze_mask, SIGINT);
    sigdelset (&s_doze_mask, SIGTERM);
    sigdelset (&s_doze_mask, SIGCHLD);
}

//  Open the wake pipe and catch SIGINT and SIGTERM, and SIGCHLD when child:
//  after the node started (zsys_init installed czmq's handler). Returns
//  S_OK or S_FAILED (reported).
static int
s_catch_signals (bool child)
{
    if (s_wake[0] < 0 && pipe2 (s_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        s_fail ("pipe: %s", strerror (errno));
        return S_FAILED;
    }
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    if (child) {
        action.sa_handler = s_on_child;
        action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
        sigaction (SIGCHLD, &action, NULL);
    }
    return S_OK;
}

//  Sleep at most ms, less when a signal or the wake pipe wakes us, or fd
//  (when not -1) has something to read; the signals that came while blocked
//  are handled now (0: only that). Returns true when fd is readable (or at
//  its end, or failed: a read will not block).
static bool
s_doze_on (int fd, int ms)
{
    struct pollfd items[2] = {{s_wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
    struct timespec wait = {ms / 1000, (long) (ms % 1000) * 1000000};
    if (ppoll (items, fd >= 0 ? 2 : 1, &wait, &s_doze_mask) < 0)
        items[1].revents = 0;   //  EINTR: a signal, looked at by the caller
    char byte;
    while (read (s_wake[0], &byte, 1) == 1)
        ;
    return fd >= 0 && items[1].revents != 0;
}

static void
s_doze (int ms)
{
    s_doze_on (-1, ms);
}

//  --------------------------------------------------------------------------
//  lock and elect

//  A lock or election name as the sync members accept them: 1..255 bytes
//  of [A-Za-z0-9._/-].
static bool
s_sync_name_ok (const char *name)
{
    return s_chars_ok (name, 255, "/");
}

//  The checks lock and elect share: one NAME, the options of allowed, a
//  lease and a wait in range. Returns S_OK or S_USAGE (reported).
static int
s_sync_check (const s_cli_t *cli, unsigned allowed, const char *usage)
{
    if (cli->arg_count != 1) {
        s_fail ("usage: %s (zm %s --help)", usage, cli->command);
        return S_USAGE;
    }
    if (!s_sync_name_ok (cli->args[0])) {
        s_fail ("%s: a name is 1..255 bytes of A-Z a-z 0-9 . _ / -", cli->command);
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, allowed))
        return S_USAGE;
    if (cli->ttl && (cli->ttl < S_SYNC_TTL_MIN || cli->ttl > S_SYNC_MS_MAX)) {
        s_fail ("%s: --ttl wants milliseconds, %ld..%ld", cli->command, S_SYNC_TTL_MIN,
                S_SYNC_MS_MAX);
        return S_USAGE;
    }
    if (cli->timeout && !cli->observe) {
        s_fail ("%s: --timeout does not apply (--wait bounds the wait; see zm %s --help)",
                cli->command, cli->command);
        return S_USAGE;
    }
    return S_OK;
}

//  Wait until discovery knows a sync member (a node serving "$sync"), for
//  at most timeout ms. Returns S_OK, or S_FAILED (reported).
static int
s_sync_find (zm_node_t *node, const char *what, int64_t timeout)
{
    s_discovery_t discovery;
    s_discovery_init (&discovery, node, timeout);
    s_want_t want = {.command = what, .service = "$sync"};
    while (true) {
        zm_msg_t *list = NULL;
        if (s_registry (node, &list))
            return S_FAILED;
        s_found_t found = {0};
        char address[128];
        s_scan (node, list, &want, &found, address, sizeof address);
        bool settled = s_discovery_settled (&discovery, list);
        zm_msg_destroy (&list);
        if (found.matches)
            return S_OK;
        if (settled) {
            s_fail ("%s: no sync member found (%zu other node(s) known, none serves \"$sync\"; "
                    "set registry.peers to the members of sync.members, or turn "
                    "registry.beacon on)",
                    what, found.known);
            return S_FAILED;
        }
        if (s_signalled) {
            s_fail ("%s: interrupted", what);
            return S_FAILED;
        }
        s_doze (S_POLL_MS);
    }
}

//  Start the tool's node, catch signals and find a sync member within
//  find_ms. Returns the node, or NULL with *status_p (reported).
static zm_node_t *
s_sync_node (s_cli_t *cli, const char *what, bool child, int64_t find_ms, int *status_p)
{
    s_block_signals ();
    zm_node_t *node = s_node_new (cli, true, status_p);
    if (!node)
        return NULL;
    int64_t timeout = zm_config_get_int (zm_node_config (node), "rpc.timeout", 5000);
    if (find_ms > 0 && find_ms < timeout)
        timeout = find_ms;
    *status_p = s_catch_signals (child);
    if (*status_p == S_OK)
        *status_p = s_sync_find (node, what, timeout);
    if (*status_p != S_OK)
        zm_node_destroy (&node);
    return node;
}

//  Take lock name, or campaign in election name when value is not NULL,
//  waiting at most wait ms (-1: as long as it takes) in steps of at most
//  S_STEP_MS, so that a signal ends the wait. Returns 0 with *token_p, or
//  the last step's error (ZM_ETIMEOUT: held by another; ZM_EUNAVAIL,
//  ZM_EINVAL...); with 0 the caller holds the lock even when interrupted.
static int
s_take (zm_node_t *node, const char *name, const char *value, long ttl, long wait,
        uint64_t *token_p)
{
    int64_t deadline = wait >= 0 ? zclock_mono () + wait : INT64_MAX;
    int rc;
    do {
        int64_t left = deadline - zclock_mono ();
        int64_t step = left < 0 ? 0 : left > S_STEP_MS ? S_STEP_MS : left;
        rc = value ? zm_elect_campaign (node, name, value, ttl, step, token_p)
                   : zm_lock_acquire (node, name, ttl, step, token_p);
        s_doze (0);
    } while ((rc == ZM_ETIMEOUT || rc == ZM_EUNAVAIL) && !s_signalled
             && zclock_mono () < deadline);
    return rc;
}

//  Report why s_take failed. Returns the exit status.
static int
s_take_failed (const s_cli_t *cli, int rc, long wait)
{
    const char *what = cli->command, *name = cli->args[0];
    bool elect = strcmp (what, "elect") == 0;
    if (s_signalled && rc != ZM_EINVAL)
        s_fail ("%s %s: interrupted", what, name);
    else if (rc == ZM_ETIMEOUT)
        s_fail ("%s %s: %s by another (waited %ld ms)", what, name, elect ? "led" : "held",
                wait);
    else if (rc == ZM_EUNAVAIL)
        s_fail ("%s %s: no sync member answered, or the sync group has no quorum (waited %ld "
                "ms)",
                what, name, wait);
    else if (rc == ZM_EINVAL) {
        s_fail ("%s %s: refused by the sync members (%s)", what, name, zm_strerror (rc));
        return S_USAGE;
    }
    else
        s_fail ("%s %s: %s", what, name, zm_strerror (rc));
    return S_FAILED;
}

//  Start lock's command with ZM_LOCK_NAME and ZM_LOCK_TOKEN added to our
//  environment, signals at their defaults (we ignore SIGPIPE) and none
//  blocked. Returns its pid, or -1 (reported).
static pid_t
s_lock_spawn (const s_cli_t *cli, uint64_t token)
{
    size_t count = 0;
    while (environ && environ[count])
        count++;
    char **env = (char **) calloc (count + 3, sizeof (char *));
    if (!env) {
        s_fail ("out of memory");
        return -1;
    }
    char name_var[300], token_var[64];
    snprintf (name_var, sizeof name_var, "ZM_LOCK_NAME=%s", cli->args[0]);
    snprintf (token_var, sizeof token_var, "ZM_LOCK_TOKEN=%" PRIu64, token);
    size_t at = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ[i], "ZM_LOCK_NAME=", 13) != 0
            && strncmp (environ[i], "ZM_LOCK_TOKEN=", 14) != 0)
            env[at++] = environ[i];
    env[at++] = name_var;
    env[at++] = token_var;
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    sigset_t none, defaults;
    sigemptyset (&none);
    sigemptyset (&defaults);
    sigaddset (&defaults, SIGPIPE);
    sigaddset (&defaults, SIGINT);
    sigaddset (&defaults, SIGTERM);
    sigaddset (&defaults, SIGCHLD);
    posix_spawnattr_setsigmask (&attr, &none);
    posix_spawnattr_setsigdefault (&attr, &defaults);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    fflush (stdout);
    pid_t pid = -1;
    int rc = posix_spawnp (&pid, cli->exec_argv[0], NULL, &attr, cli->exec_argv, env);
    posix_spawnattr_destroy (&attr);
    free (env);
    if (rc) {
        s_fail ("lock %s: cannot run %s: %s", cli->args[0], cli->exec_argv[0], strerror (rc));
        return rc == ENOENT ? -127 : -126;
    }
    return pid;
}

//  Run lock's command until it exits, forwarding SIGINT and SIGTERM, and
//  stopping it (SIGTERM) when the lock is lost. Returns its exit status, or
//  S_FAILED when the lock was lost (reported).
static int
s_lock_run (const s_cli_t *cli, zm_node_t *node, pid_t pid, uint64_t token, bool *lost_p)
{
    const char *name = cli->args[0];
    int status = S_FAILED;
    while (true) {
        int wstatus = 0;
        pid_t rc = waitpid (pid, &wstatus, WNOHANG);
        if (rc == pid) {
            status = WIFEXITED (wstatus)     ? WEXITSTATUS (wstatus)
                     : WIFSIGNALED (wstatus) ? 128 + WTERMSIG (wstatus)
                                             : S_FAILED;
            break;
        }
        if (rc < 0 && errno != EINTR) {
            s_fail ("lock %s: waitpid: %s", name, strerror (errno));
            break;
        }
        int signal = s_signalled;
        if (signal) {
            s_signalled = 0;
            kill (pid, signal);
        }
        if (!*lost_p && !zm_lock_held (node, name, token)) {
            *lost_p = true;
            s_fail ("lock %s lost", name);
            kill (pid, SIGTERM);
        }
        s_doze (S_HELD_POLL_MS);
    }
    return *lost_p ? S_FAILED : status;
}

static int
s_lock (s_cli_t *cli)
{
    static const char *usage = "zm lock NAME [--ttl MS] [--wait MS] -- COMMAND [ARGS...]";
    if (cli->arg_count > 0 && !cli->exec_argv) {
        s_fail ("lock: the command comes after \"--\" (usage: %s)", usage);
        return S_USAGE;
    }
    if (s_sync_check (cli, S_OPT_TTL | S_OPT_WAIT, usage) != S_OK)
        return S_USAGE;
    if (cli->exec_argc == 0 || !*cli->exec_argv[0]) {
        s_fail ("lock: no command after \"--\" (usage: %s)", usage);
        return S_USAGE;
    }
    const char *name = cli->args[0];
    long ttl = cli->ttl ? cli->ttl : S_LOCK_TTL, wait = cli->wait >= 0 ? cli->wait : S_LOCK_WAIT;
    int status = S_FAILED;
    zm_node_t *node = s_sync_node (cli, "lock", true, 0, &status);
    if (!node)
        return status;
    uint64_t token = 0;
    int rc = s_take (node, name, NULL, ttl, wait, &token);
    bool lost = false;
    if (rc)
        status = s_take_failed (cli, rc, wait);
    else if (s_signalled) {
        s_fail ("lock %s: interrupted", name);
        status = S_FAILED;
    }
    else {
        pid_t pid = s_lock_spawn (cli, token);
        status = pid > 0 ? s_lock_run (cli, node, pid, token, &lost) : -pid;
    }
    if (rc == 0 && !lost) {
        rc = zm_lock_release (node, name, token);
        if (rc == ZM_ENOTFOUND) {
            //  Expired between two checks: the command's end ran unguarded.
            s_fail ("lock %s lost (it had expired when released)", name);
            status = S_FAILED;
        }
        else if (rc)
            s_fail ("lock %s: not released (%s): it frees %ld ms after its last renewal", name,
                    zm_strerror (rc), ttl);
    }
    zm_node_destroy (&node);
    return status;
}

//  Print a leader as one JSON line: {name, term, value[, owner]}. Returns
//  0 or an errno (EPIPE: nobody reads us any more), reported but EPIPE.
static int
s_print_leader (const char *name, uint64_t term, const char *value, const char *owner)
{
    zm_msg_t *msg = zm_msg_new ();
    int rc = msg ? zm_msg_set_str (msg, "name", name) : ZM_ENOMEM;
    if (rc == 0)
        rc = zm_msg_set_uint (msg, "term", term);
    if (rc == 0)
        rc = zm_msg_set_str (msg, "value", value);
    if (rc == 0 && owner)
        rc = zm_msg_set_str (msg, "owner", owner);
    void *data = NULL;
    size_t size = 0;
    if (rc == 0)
        rc = zm_msg_encode (msg, ZM_CT_JSON, &data, &size);
    zm_msg_destroy (&msg);
    if (rc) {
        s_fail ("elect %s: %s", name, zm_strerror (rc));
        return ENOMEM;
    }
    rc = s_write_json (data, size);
    free (data);
    if (rc && rc != EPIPE)
        s_fail ("stdout: %s", strerror (rc));
    return rc;
}

//  zm elect NAME --observe
static int
s_observe (s_cli_t *cli)
{
    const char *name = cli->args[0];
    int64_t deadline = cli->timeout ? zclock_mono () + cli->timeout : INT64_MAX;
    int status = S_FAILED;
    zm_node_t *node = s_sync_node (cli, "elect", false, cli->timeout, &status);
    if (!node)
        return status;
    //  Who leads now: asked again until a member answers, within --timeout
    //  and rpc.timeout.
    int64_t answer_by = zclock_mono () + zm_config_get_int (zm_node_config (node), "rpc.timeout",
                                                            5000);
    if (answer_by > deadline)
        answer_by = deadline;
    zm_leader_t leader;
    int rc;
    while ((rc = zm_elect_observe (node, name, 0, 0, &leader)) != 0 && rc != ZM_EINVAL
           && !s_signalled && zclock_mono () < answer_by)
        s_doze (S_POLL_MS);
    if (rc) {
        s_fail ("elect %s: %s", name,
                rc == ZM_EINVAL ? "refused by the sync members"
                : s_signalled   ? "interrupted"
                                : "no sync member answered, or the sync group has no quorum");
        zm_node_destroy (&node);
        return rc == ZM_EINVAL ? S_USAGE : S_FAILED;
    }
    long printed = 0;
    status = S_OK;
    while (true) {
        int write_rc = s_print_leader (name, leader.term, leader.value, leader.owner);
        if (write_rc) {
            status = write_rc == EPIPE ? S_OK : S_FAILED;
            break;
        }
        printed++;
        uint64_t known = leader.term;
        rc = ZM_ETIMEOUT;
        while (rc && !s_signalled && !(cli->count && printed >= cli->count)) {
            int64_t left = deadline - zclock_mono ();
            if (left <= 0)
                break;
            rc = zm_elect_observe (node, name, known, left > S_STEP_MS ? S_STEP_MS : left,
                                   &leader);
            s_doze (0);
            if (rc == ZM_EINVAL) {
                s_fail ("elect %s: refused by the sync members", name);
                status = S_FAILED;
                break;
            }
        }
        if (rc)
            break;  //  --count, --timeout, a signal or an error
    }
    zm_node_destroy (&node);
    return status;
}

static int
s_elect (s_cli_t *cli)
{
    if (cli->observe)
        return s_sync_check (cli, S_OPT_OBSERVE | S_OPT_COUNT,
                             "zm elect NAME --observe [--count N] [--timeout MS]")
                   ? S_USAGE
                   : s_observe (cli);
    if (s_sync_check (cli, S_OPT_VALUE | S_OPT_TTL | S_OPT_WAIT,
                      "zm elect NAME [--value TEXT] [--ttl MS] [--wait MS]"))
        return S_USAGE;
    const char *name = cli->args[0], *value = cli->value ? cli->value : "";
    long ttl = cli->ttl ? cli->ttl : S_LOCK_TTL;
    int status = S_FAILED;
    zm_node_t *node = s_sync_node (cli, "elect", false, 0, &status);
    if (!node)
        return status;
    uint64_t term = 0;
    int rc = s_take (node, name, value, ttl, cli->wait, &term);
    if (rc) {
        status = s_take_failed (cli, rc, cli->wait);
        zm_node_destroy (&node);
        return status;
    }
    int write_rc = s_print_leader (name, term, value, NULL);
    status = write_rc && write_rc != EPIPE ? S_FAILED : S_OK;
    bool lost = false;
    while (status == S_OK && !s_signalled) {
        if (!zm_elect_is_leader (node, name, term)) {
            s_fail ("elect %s: leadership lost", name);
            lost = true;
            status = S_FAILED;
            break;
        }
        s_doze (S_HELD_POLL_MS);
    }
    if (!lost) {
        rc = zm_elect_resign (node, name, term);
        if (rc && rc != ZM_ENOTFOUND) {
            s_fail ("elect %s: not resigned (%s): the term ends %ld ms after its last renewal",
                    name, zm_strerror (rc), ttl);
            status = S_FAILED;
        }
    }
    zm_node_destroy (&node);
    return status;
}

//  --------------------------------------------------------------------------
//  stream

//  The stream's receiving half: a thread of its own, so that messages are
//  printed while main sends. It alone writes to stdout.
typedef struct {
    zm_stream_t *stream;
    pthread_mutex_t lock;       //  guards what follows
    bool done;                  //  the thread is ending
    int rc;                     //  zm_stream_recv's last: ZM_ECLOSED a normal end
    bool failed;                //  it cancelled the stream: a message could not
                                //  be printed (reported)
    bool stdout_closed;         //  it cancelled the stream: nobody reads stdout
} s_receiver_t;

//  Steps of the waits for credit and messages: signals and the other
//  thread's news are heard within one.
#define S_STREAM_STEP_MS 200
//  Longest line of stdin: the largest message body.
#define S_LINE_MAX ((size_t) ZM_MSG_MAX_SIZE)

static void *
s_receive (void *arg)
{
    s_receiver_t *self = (s_receiver_t *) arg;
    bool failed = false, stdout_closed = false;
    int rc;
    while (true) {
        zm_msg_t *msg = NULL;
        rc = zm_stream_recv (self->stream, &msg, S_STREAM_STEP_MS);
        if (rc == ZM_ETIMEOUT && !zm_stream_error (self->stream))
            continue;           //  nothing yet: the stream goes on
        if (rc)
            break;
        failed = s_print_json (msg) != S_OK;
        stdout_closed = !failed && ferror (stdout);    //  EPIPE
        zm_msg_destroy (&msg);
        if (failed || stdout_closed) {
            zm_stream_cancel (self->stream);
            break;
        }
    }
    pthread_mutex_lock (&self->lock);
    self->done = true;
    self->rc = rc;
    self->failed = failed;
    self->stdout_closed = stdout_closed;
    pthread_mutex_unlock (&self->lock);
    char byte = 1;
    if (write (s_wake[1], &byte, 1) < 0) {
        //  Full pipe: main is already woken.
    }
    return NULL;
}

static bool
s_receiver_done (s_receiver_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool done = self->done;
    pthread_mutex_unlock (&self->lock);
    return done;
}

//  Lines of stdin, read as they come (never blocking: main also waits for
//  signals and the receiver).
typedef struct {
    char *data;
    size_t len, cap;
    size_t scanned;             //  bytes of data known to hold no newline
    long line;                  //  lines taken so far
    bool eof;
} s_input_t;

//  Read what stdin has now. Returns 0, or an errno (reported).
static int
s_input_read (s_input_t *self)
{
    if (self->cap - self->len < 65536) {
        size_t cap = self->cap ? self->cap * 2 : 131072;
        char *data = (char *) realloc (self->data, cap);
        if (!data) {
            s_fail ("out of memory");
            return ENOMEM;
        }
        self->data = data;
        self->cap = cap;
    }
    ssize_t got = read (STDIN_FILENO, self->data + self->len, self->cap - self->len);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (got < 0 && errno != EBADF) {
        s_fail ("stdin: %s", strerror (errno));
        return errno;
    }
    if (got <= 0)
        self->eof = true;       //  the end, or no stdin at all
    else
        self->len += (size_t) got;
    return 0;
}

//  The next whole line (the last one may lack its newline), NUL-terminated
//  in place, or NULL. Valid until the next s_input_read.
static char *
s_input_line (s_input_t *self, size_t *size_p)
{
    char *newline = (char *) memchr (self->data + self->scanned, '\n', self->len - self->scanned);
    if (!newline) {
        self->scanned = self->len;
        if (!self->eof || self->len == 0)
            return NULL;        //  no whole line yet
    }
    char *line = self->data;
    size_t size = newline ? (size_t) (newline - line) : self->len;
    line[size] = 0;             //  room: the newline, or at the end cap > len
    *size_p = size;
    self->line++;
    return line;
}

//  Drop the line s_input_line returned.
static void
s_input_next (s_input_t *self, size_t size)
{
    size_t used = size < self->len ? size + 1 : self->len;
    memmove (self->data, self->data + used, self->len - used);
    self->len -= used;
    self->scanned = 0;
}

//  Send one line as a message, waiting for credit in steps. Returns S_OK
//  (sent; or not, because the stream is over or a signal came), S_USAGE
//  (not JSON, reported), or S_FAILED (it cannot be sent, reported).
static int
s_stream_line (zm_stream_t *stream, const s_input_t *input, const char *line, size_t size,
               s_receiver_t *receiver)
{
    size_t at = 0;
    while (at < size && (line[at] == ' ' || line[at] == '\t' || line[at] == '\r'))
        at++;
    if (at == size)
        return S_OK;            //  a blank line
    char what[64];
    snprintf (what, sizeof what, "line %ld of stdin", input->line);
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    int rc = zm_msg_decode (ZM_CT_JSON, line, size, &msg, &reason);
    if (rc) {
        s_fail ("%s is not valid JSON: %s", what, reason ? reason : zm_strerror (rc));
        return S_USAGE;
    }
    while ((rc = zm_stream_send (stream, &msg, S_STREAM_STEP_MS)) == ZM_ETOOMANY) {
        s_doze (0);             //  no credit yet: a signal, or the receiver?
        if (s_signalled || s_receiver_done (receiver))
            break;
    }
    zm_msg_destroy (&msg);      //  what was not sent
    //  ZM_ECLOSED: the stream is over; ZM_ETOOMANY: a signal or the
    //  receiver stopped the wait: the caller looks at both
    if (rc == 0 || rc == ZM_ECLOSED || rc == ZM_ETOOMANY)
        return S_OK;
    s_fail ("%s cannot be sent: %s", what, zm_strerror (rc));
    return S_FAILED;
}

//  Feed stdin to the stream until it ends (then close the sending side),
//  the stream is over, or a signal. Returns S_OK, or S_USAGE or S_FAILED
//  (reported, but a signal: s_signalled).
static int
s_stream_feed (zm_stream_t *stream, s_receiver_t *receiver)
{
    s_input_t input = {0};
    int status = S_OK;
    bool reading = true;
    while (status == S_OK && !s_signalled && !s_receiver_done (receiver)) {
        if (!reading) {
            s_doze (S_STEP_MS);     //  wait for the receiver
            continue;
        }
        if (!s_doze_on (STDIN_FILENO, S_STREAM_STEP_MS))
            continue;
        if (s_input_read (&input) != 0) {
            status = S_FAILED;
            break;
        }
        size_t size;
        char *line;
        while (status == S_OK && !s_signalled && !s_receiver_done (receiver)
               && (line = s_input_line (&input, &size))) {
            status = s_stream_line (stream, &input, line, size, receiver);
            s_input_next (&input, size);
        }
        if (status == S_OK && input.len > S_LINE_MAX) {
            s_fail ("line %ld of stdin is longer than %zu bytes", input.line + 1, S_LINE_MAX);
            status = S_USAGE;
        }
        if (status == S_OK && input.eof && input.len == 0) {
            zm_stream_close_send (stream);  //  ZM_ECLOSED: over already
            reading = false;
        }
    }
    free (input.data);
    return status;
}

static int
s_stream (s_cli_t *cli)
{
    if (s_endpoint_check (cli, 2, S_OPT_VIA | S_OPT_META | S_OPT_OPEN,
                          "zm stream SERVICE ENDPOINT [--open JSON] (zm stream --help)"))
        return S_USAGE;
    if (cli->timeout > 3600000L) {
        s_fail ("stream: --timeout wants milliseconds, 1..3600000");
        return S_USAGE;
    }
    zm_msg_t *open = NULL;
    if (s_parse_json ("the open message", cli->open ? cli->open : "{}", &open))
        return S_USAGE;
    int status = S_FAILED;
    s_block_signals ();
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node) {
        zm_msg_destroy (&open);
        return status;
    }
    if (s_catch_signals (false) != S_OK) {
        zm_msg_destroy (&open);
        zm_node_destroy (&node);
        return S_FAILED;
    }
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    s_call_opts (cli, &opts.call);
    opts.call.timeout_ms = (int) cli->timeout;     //  0: stream.timeout
    zm_error_t *error = NULL;
    zm_stream_t *stream = zm_stream_open (node, cli->args[0], cli->args[1], &open, &error, &opts);
    if (!stream) {
        s_fail_endpoint (cli, zm_error_err (error), error);
        zm_error_destroy (&error);
        zm_node_destroy (&node);
        return S_FAILED;
    }
    s_receiver_t receiver = {.stream = stream};
    pthread_mutex_init (&receiver.lock, NULL);
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_receive, &receiver) != 0) {
        s_fail ("cannot start a thread");
        zm_stream_destroy (&stream);
        zm_node_destroy (&node);
        pthread_mutex_destroy (&receiver.lock);
        return S_FAILED;
    }
    status = s_stream_feed (stream, &receiver);
    if (status != S_OK || s_signalled)
        zm_stream_cancel (stream);  //  the receiver ends with ZM_ECANCELED
    pthread_join (thread, NULL);
    if (status != S_OK)
        ;                           //  reported
    else if (receiver.failed)
        status = S_FAILED;          //  reported
    else if (receiver.rc == ZM_ECLOSED || receiver.stdout_closed)
        ;                           //  a normal end, or nobody listens
    else if (s_signalled) {
        s_fail ("%s.%s: interrupted (the stream is cancelled)", cli->args[0], cli->args[1]);
        status = S_FAILED;
    }
    else {
        s_fail_endpoint (cli, receiver.rc, zm_stream_error (stream));
        status = S_FAILED;
    }
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    pthread_mutex_destroy (&receiver.lock);
    return status;
}

//  --------------------------------------------------------------------------
//  keygen

static int
s_keygen (s_cli_t *cli)
{
    if (!s_options_fit (cli, "keygen", S_OPT_KEYGEN))
        return S_USAGE;
    if (cli->arg_count > 0 || cli->cluster == (cli->name != NULL)
        || (cli->cluster && (cli->roles || cli->dir)) || (!cli->cluster && cli->out)) {
        s_fail ("keygen: either --cluster [--out FILE] or --name NAME [--roles R] [--dir DIR]");
        return S_USAGE;
    }
    zm_msg_t *reply = zm_msg_new ();
    if (!reply) {
        s_fail ("out of memory");
        return S_FAILED;
    }
    int status = S_OK;
    if (cli->cluster) {
        char key[ZM_KEY_TEXT];
        int rc = zm_cluster_key_new (key);
        if (rc == 0 && cli->out)
            rc = zm_cluster_key_save (cli->out, key);
        if (rc) {
            s_fail ("keygen: %s%s%s", cli->out ? cli->out : "",
                    cli->out ? ": " : "",
                    rc == ZM_ECONFLICT ? "exists (a key is never overwritten)" : zm_strerror (rc));
            status = S_FAILED;
        }
        else if (cli->out)
            zm_msg_set_str (reply, "cluster_key_file", cli->out);
        else
            zm_msg_set_str (reply, "cluster_key", key);
    }
    else {
        const char *dir = cli->dir ? cli->dir : "zm-keys";
        char key[ZM_KEY_TEXT];
        int rc = zm_keypair_create (dir, cli->name, cli->roles, key);
        if (rc) {
            s_fail ("keygen: %s", rc == ZM_EINVAL ? "--name and --roles take A-Z a-z 0-9 _ . - "
                                                   "(roles separated by commas)"
                                  : rc == ZM_ECONFLICT ? "that keypair exists (a key is never "
                                                         "overwritten)"
                                                       : zm_strerror (rc));
            status = rc == ZM_EINVAL ? S_USAGE : S_FAILED;
        }
        else {
            char *cert = zsys_sprintf ("%s/%s.cert", dir, cli->name);
            char *secret = zsys_sprintf ("%s/%s.cert_secret", dir, cli->name);
            zm_msg_set_str (reply, "name", cli->name);
            zm_msg_set_str (reply, "roles", cli->roles ? cli->roles : "");
            zm_msg_set_str (reply, "public_key", key);
            zm_msg_set_str (reply, "cert", cert ? cert : "");
            zm_msg_set_str (reply, "secret", secret ? secret : "");
            zstr_free (&cert);
            zstr_free (&secret);
        }
    }
    if (status == S_OK)
        status = s_print_json (reply);
    zm_msg_destroy (&reply);
    return status;
}

//  --------------------------------------------------------------------------
//  describe, health, stats: the nodes of the cluster

//  A node that describe, health or stats asks, and what it answered.
typedef struct {
    char address[S_VIA_MAX + 32];   //  where to call it: --via or a static peer
                                    //  as given, or tcp://host:port
    const zm_val_t *entry;      //  its registry entry (in the fleet's list), or
                                //  NULL: a static peer that never answered, or
                                //  a --via that did not
    zm_node_t *node;            //  ours, to call through
    const char *endpoint;       //  of "$node" to call
    int64_t timeout;            //  of the call, ms
    int rc;                     //  the call's outcome: 0 or an error
    char error[1200];           //  "CODE STATUS: detail" when rc
    zm_msg_t *reply;            //  the answer when rc is 0 (may be NULL)
    int64_t latency_us;         //  of the call
} s_target_t;

//  The nodes to ask, in the order they are printed.
typedef struct {
    zm_msg_t *list;             //  registry-shaped {"nodes": [...]} the entries
                                //  are in
    s_target_t *targets;        //  the array is ours
    size_t count;               //  how many
} s_fleet_t;

static void
s_fleet_destroy (s_fleet_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        zm_msg_destroy (&self->targets[i].reply);
    free (self->targets);
    zm_msg_destroy (&self->list);
    memset (self, 0, sizeof *self);
}

//  A node's name and UUID, "" when not known.
static const char *
s_target_field (const s_target_t *target, const char *field)
{
    return zm_val_str (zm_val_get (zm_val_get (target->entry, "descriptor"), field), "", NULL);
}

//  Set map's "name", "uuid" (when known) and "address" (without #KEY) of
//  target. Returns 0 or an error.
static int
s_target_head (zm_val_t *map, const s_target_t *target)
{
    static const char *fields[] = {"name", "uuid"};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
        if (target->entry)
            rc = zm_val_set_str (map, fields[i], s_target_field (target, fields[i]));
    size_t len = strcspn (target->address, "#");
    return rc ? rc : zm_val_set_strn (map, "address", target->address, len);
}

//  Order of print: by name, then address.
static int
s_target_compare (const void *a, const void *b)
{
    const s_target_t *x = (const s_target_t *) a, *y = (const s_target_t *) b;
    int rc = strcmp (s_target_field (x, "name"), s_target_field (y, "name"));
    return rc ? rc : strcmp (x->address, y->address);
}

//  Add a target. Returns it, or NULL when out of memory (reported).
static s_target_t *
s_fleet_add (s_fleet_t *self, const char *address, const zm_val_t *entry)
{
    s_target_t *targets =
        (s_target_t *) realloc (self->targets, (self->count + 1) * sizeof (s_target_t));
    if (!targets) {
        s_fail ("out of memory");
        return NULL;
    }
    self->targets = targets;
    s_target_t *target = &targets[self->count++];
    memset (target, 0, sizeof *target);
    snprintf (target->address, sizeof target->address, "%s", address);
    target->entry = entry;
    return target;
}

//  The fleet of --via: one node, described by its "$node describe" answer
//  and entered in a list of its own. A node that does not answer is a
//  target with the error (rc). Returns S_OK, or S_FAILED (reported).
static int
s_fleet_via (s_cli_t *cli, zm_node_t *node, s_fleet_t *fleet)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = cli->via;
    opts.timeout_ms = (int) s_timeout (cli, node);
    opts.no_breaker = true;
    zm_msg_t *answer = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (node, "$node", "describe", NULL, &answer, &error, &opts);
    if (rc == 0 && zm_val_type (zm_msg_root (answer)) != ZM_TYPE_MAP)
        rc = ZM_ECODEC;
    s_target_t *target = s_fleet_add (fleet, cli->via, NULL);
    if (target && rc) {
        target->rc = rc;
        s_error_text (rc, error, target->error, sizeof target->error);
    }
    //  The entry, as the registry would have it: {descriptor, host}
    fleet->list = zm_msg_new ();
    zm_val_t *nodes = fleet->list ? zm_val_set_array (zm_msg_root_mut (fleet->list), "nodes")
                                  : NULL;
    zm_val_t *item = nodes && rc == 0 ? zm_val_push_map (nodes) : NULL;
    char host[S_VIA_MAX + 1];
    snprintf (host, sizeof host, "%.*s", (int) strcspn (cli->via + 6, "#"), cli->via + 6);
    *strrchr (host, ':') = 0;   //  s_address_ok: there is a port
    int built = item ? s_copy (item, "descriptor", zm_msg_root (answer)) : rc ? 0 : ZM_ENOMEM;
    if (built == 0 && item)
        built = zm_val_set_str (item, "host", host);
    zm_msg_destroy (&answer);
    zm_error_destroy (&error);
    if (!target || !nodes || built) {
        s_fail ("%s: %s", cli->command, zm_strerror (built ? built : ZM_ENOMEM));
        return S_FAILED;
    }
    target->entry = rc ? NULL : zm_val_at (zm_val_get (zm_msg_root (fleet->list), "nodes"), 0);
    return S_OK;
}

//  Does a static peer (tcp://host:port[#KEY]) name the node of an entry?
static bool
s_peer_is (const char *peer, const zm_val_t *entry)
{
    char address[300];
    return s_entry_address (entry, address, sizeof address)
           && strlen (address) == strcspn (peer, "#")
           && strncmp (address, peer, strlen (address)) == 0;
}

//  The nodes to ask: --via's, or those the registry knows once discovery
//  settled (ours aside), named --node when given, serving service when not
//  NULL. With neither, the static peers the registry does not know are
//  asked too: a peer that never answered is a node that is down. Fails
//  when none is left. Returns S_OK, or S_FAILED (reported).
static int
s_fleet_new (s_cli_t *cli, zm_node_t *node, const char *service, s_fleet_t *fleet)
{
    memset (fleet, 0, sizeof *fleet);
    if (cli->via)
        return s_fleet_via (cli, node, fleet);
    if (s_settled_list (cli, node, cli->command, &fleet->list))
        return S_FAILED;
    const zm_val_t *nodes = zm_val_get (zm_msg_root (fleet->list), "nodes");
    size_t known = 0;
    for (size_t i = 0; i < zm_val_size (nodes); i++) {
        const zm_val_t *entry = zm_val_at (nodes, i);
        const zm_val_t *descriptor = zm_val_get (entry, "descriptor");
        if (strcmp (zm_val_str (zm_val_get (descriptor, "uuid"), "", NULL), zm_node_uuid (node))
            == 0)
            continue;
        known++;
        char address[300];
        if ((cli->node
             && strcmp (zm_val_str (zm_val_get (descriptor, "name"), "", NULL), cli->node) != 0)
            || (service && !s_entry_serves (entry, service, NULL))
            || !s_entry_address (entry, address, sizeof address))
            continue;
        if (!s_fleet_add (fleet, address, entry))
            return S_FAILED;
    }
    char *peers = strdup (zm_config_get_str (zm_node_config (node), "registry.peers", ""));
    for (char *save = NULL, *peer = peers ? strtok_r (peers, ", ", &save) : NULL;
         peer && !cli->node && !service; peer = strtok_r (NULL, ", ", &save)) {
        bool seen = strlen (peer) > S_VIA_MAX || !s_address_ok (peer);
        for (size_t i = 0; !seen && i < zm_val_size (nodes); i++)
            seen = s_peer_is (peer, zm_val_at (nodes, i));
        for (size_t i = 0; !seen && i < fleet->count; i++)
            seen = strcmp (fleet->targets[i].address, peer) == 0;
        if (!seen && !s_fleet_add (fleet, peer, NULL)) {
            free (peers);
            return S_FAILED;
        }
    }
    free (peers);
    if (fleet->count == 0) {
        if (cli->node)
            s_fail ("%s: no node named \"%s\"%s%s%s (%zu other node(s) known)", cli->command,
                    cli->node, service ? " serves \"" : "", service ? service : "",
                    service ? "\"" : "", known);
        else if (service)
            s_fail ("%s: no node serves \"%s\" (%zu other node(s) known)", cli->command, service,
                    known);
        else
            s_fail ("%s: no node known (set registry.peers, turn registry.beacon on, or use "
                    "--via)",
                    cli->command);
        return S_FAILED;
    }
    qsort (fleet->targets, fleet->count, sizeof (s_target_t), s_target_compare);
    return S_OK;
}

//  One target's call of its "$node" endpoint, on a thread of its own.
static void *
s_target_call (void *arg)
{
    s_target_t *self = (s_target_t *) arg;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = self->address;
    opts.timeout_ms = (int) self->timeout;
    opts.no_breaker = true;
    zm_error_t *error = NULL;
    int64_t started = zclock_usecs ();
    self->rc = zm_call (self->node, "$node", self->endpoint, NULL, &self->reply, &error, &opts);
    self->latency_us = zclock_usecs () - started;
    if (self->rc)
        s_error_text (self->rc, error, self->error, sizeof self->error);
    zm_error_destroy (&error);
    return NULL;
}

//  Call endpoint of "$node" on every target not failed already, at most
//  S_FANOUT_MAX at once, each within --timeout or rpc.timeout.
static void
s_fleet_call (s_cli_t *cli, zm_node_t *node, s_fleet_t *fleet, const char *endpoint)
{
    pthread_t threads[S_FANOUT_MAX];
    bool started[S_FANOUT_MAX];
    for (size_t first = 0; first < fleet->count; first += S_FANOUT_MAX) {
        size_t batch = fleet->count - first < S_FANOUT_MAX ? fleet->count - first : S_FANOUT_MAX;
        for (size_t i = 0; i < batch; i++) {
            s_target_t *target = &fleet->targets[first + i];
            started[i] = false;
            if (target->rc)
                continue;       //  --via did not answer describe
            target->node = node;
            target->endpoint = endpoint;
            target->timeout = s_timeout (cli, node);
            started[i] = pthread_create (&threads[i], NULL, s_target_call, target) == 0;
            if (!started[i]) {
                target->rc = ZM_ENOMEM;
                snprintf (target->error, sizeof target->error, "cannot start a thread");
            }
        }
        for (size_t i = 0; i < batch; i++)
            if (started[i])
                pthread_join (threads[i], NULL);
    }
}

//  Report the targets that failed as one line: "zm: WHAT: N of M node(s)
//  HOW: name (address): error; ...". Returns S_FAILED, or S_OK when none
//  did.
static int
s_fleet_failed (const s_fleet_t *fleet, const char *what, const char *how,
                bool (*failed) (const s_target_t *target, char *why, size_t size))
{
    char list[1000] = "", why[1200];
    size_t count = 0;
    for (size_t i = 0; i < fleet->count; i++) {
        const s_target_t *target = &fleet->targets[i];
        if (!failed (target, why, sizeof why))
            continue;
        size_t used = strlen (list);
        const char *name = s_target_field (target, "name");
        snprintf (list + used, sizeof list - used, "%s%s%s%.*s%s: %.300s", count ? "; " : "", name,
                  *name ? " (" : "", (int) strcspn (target->address, "#"), target->address,
                  *name ? ")" : "", why);
        count++;
    }
    if (count == 0)
        return S_OK;
    s_fail ("%s: %zu of %zu node(s) %s: %s", what, count, fleet->count, how, list);
    return S_FAILED;
}

//  Add name to array unless it holds it already (NULL: nothing). Returns 0
//  or an error.
static int
s_push_new (zm_val_t *array, const char *name)
{
    for (size_t i = 0; name && i < zm_val_size (array); i++)
        if (strcmp (zm_val_str (zm_val_at (array, i), "", NULL), name) == 0)
            return 0;
    return name ? zm_val_push_str (array, name) : 0;
}

//  The service name in an entry's descriptor, or NULL.
static const zm_val_t *
s_entry_service (const zm_val_t *entry, const char *name)
{
    const zm_val_t *services = zm_val_get (zm_val_get (entry, "descriptor"), "services");
    for (size_t i = 0; i < zm_val_size (services); i++)
        if (strcmp (zm_val_str (zm_val_get (zm_val_at (services, i), "name"), "", NULL), name)
            == 0)
            return zm_val_at (services, i);
    return NULL;
}

//  Fill root with service name across the fleet: {name, versions,
//  endpoints, streams: unions; nodes: [{name, uuid, address, version,
//  instances, endpoints, streams, metadata}]}. One container at a time: a
//  handle into a container goes stale when that container changes.
static int
s_describe_fill (zm_val_t *root, const char *name, const s_fleet_t *fleet)
{
    static const char *unions[][2] = {
        {"versions", "version"}, {"endpoints", "endpoints"}, {"streams", "streams"}};
    int rc = zm_val_set_str (root, "name", name);
    for (size_t u = 0; rc == 0 && u < sizeof unions / sizeof unions[0]; u++) {
        zm_val_t *array = zm_val_set_array (root, unions[u][0]);
        rc = array ? 0 : ZM_ENOMEM;
        for (size_t i = 0; rc == 0 && i < fleet->count; i++) {
            const zm_val_t *svc = s_entry_service (fleet->targets[i].entry, name);
            const zm_val_t *field = zm_val_get (svc, unions[u][1]);
            if (zm_val_type (field) == ZM_TYPE_STR)     //  a version
                rc = s_push_new (array, zm_val_str (field, NULL, NULL));
            for (size_t k = 0; rc == 0 && k < zm_val_size (field)
                               && zm_val_type (field) == ZM_TYPE_ARRAY; k++)
                rc = s_push_new (array, zm_val_str (zm_val_at (field, k), NULL, NULL));
        }
    }
    zm_val_t *nodes = rc == 0 ? zm_val_set_array (root, "nodes") : NULL;
    if (rc == 0 && !nodes)
        rc = ZM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < fleet->count; i++) {
        const s_target_t *target = &fleet->targets[i];
        const zm_val_t *svc = s_entry_service (target->entry, name);
        zm_val_t *item = zm_val_push_map (nodes);
        rc = item ? s_target_head (item, target) : ZM_ENOMEM;
        if (rc == 0)
            rc = zm_val_set_str (item, "version", zm_val_str (zm_val_get (svc, "version"), "",
                                                              NULL));
        if (rc == 0)
            rc = zm_val_set_int (item, "instances", zm_val_int (zm_val_get (svc, "instances"), 0));
        static const char *copies[] = {"endpoints", "streams", "metadata"};
        for (size_t c = 0; rc == 0 && c < sizeof copies / sizeof copies[0]; c++) {
            const zm_val_t *field = zm_val_get (svc, copies[c]);
            if (field)
                rc = s_copy (item, copies[c], field);
            else if (!(c == 2 ? zm_val_set_map (item, copies[c])
                              : zm_val_set_array (item, copies[c])))
                rc = ZM_ENOMEM;
        }
    }
    return rc;
}

static int
s_describe (s_cli_t *cli)
{
    if (cli->arg_count != 1) {
        s_fail ("usage: zm describe SERVICE [--node NAME | --via ADDRESS] (zm describe --help)");
        return S_USAGE;
    }
    const char *service = cli->args[0];
    if (!s_name_ok (service)) {
        s_fail ("describe: a service name is 1..255 bytes of A-Z a-z 0-9 . _ - $");
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, S_OPT_VIA | S_OPT_NODE))
        return S_USAGE;
    if (cli->via && cli->node) {
        s_fail ("describe: --via and --node together (one or the other)");
        return S_USAGE;
    }
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node)
        return status;
    s_fleet_t fleet;
    status = s_fleet_new (cli, node, service, &fleet);
    if (status == S_OK && fleet.targets[0].rc) {
        s_fail ("describe: %s: %s", cli->via, fleet.targets[0].error);
        status = S_FAILED;
    }
    else if (status == S_OK && !s_entry_service (fleet.targets[0].entry, service)) {
        s_fail ("describe: the node at %s (%s) does not serve \"%s\"", cli->via,
                s_target_field (&fleet.targets[0], "name"), service);
        status = S_FAILED;
    }
    else if (status == S_OK) {
        zm_msg_t *out = zm_msg_new ();
        int rc = out ? s_describe_fill (zm_msg_root_mut (out), service, &fleet) : ZM_ENOMEM;
        if (rc) {
            s_fail ("describe: %s", zm_strerror (rc));
            status = S_FAILED;
        }
        else
            status = s_print_json (out);
        zm_msg_destroy (&out);
    }
    s_fleet_destroy (&fleet);
    zm_node_destroy (&node);
    return status;
}

//  The checks health and stats share: [SERVICE] up to max_args, --via or
//  --node or SERVICE. Returns S_OK or S_USAGE (reported).
static int
s_fleet_check (s_cli_t *cli, int max_args, const char *usage)
{
    if (cli->arg_count > max_args) {
        s_fail ("usage: %s (zm %s --help)", usage, cli->command);
        return S_USAGE;
    }
    if (cli->arg_count && !s_name_ok (cli->args[0])) {
        s_fail ("%s: a service name is 1..255 bytes of A-Z a-z 0-9 . _ - $", cli->command);
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, S_OPT_VIA | S_OPT_NODE))
        return S_USAGE;
    if ((cli->via != NULL) + (cli->node != NULL) + (cli->arg_count > 0) > 1) {
        s_fail ("%s: %s: one at most", cli->command,
                max_args ? "SERVICE, --via and --node" : "--via and --node");
        return S_USAGE;
    }
    return S_OK;
}

//  Is a node unhealthy: no answer, or not ready? Says why.
static bool
s_unhealthy (const s_target_t *target, char *why, size_t size)
{
    if (target->rc) {
        snprintf (why, size, "%s", target->error);
        return true;
    }
    const zm_val_t *root = zm_msg_root (target->reply);
    if (zm_val_bool (zm_val_get (root, "live"), false)
        && zm_val_bool (zm_val_get (root, "ready"), false))
        return false;
    snprintf (why, size, "%s", zm_val_str (zm_val_get (root, "status"), "not ready", NULL));
    return true;
}

//  Print one node's health: {name, uuid, address, healthy, live, ready,
//  status, latency_us} or {name, uuid, address, healthy: false, error}.
static int
s_health_print (const s_target_t *target)
{
    static const char *fields[] = {"live", "ready", "status"};
    char why[1200];
    bool bad = s_unhealthy (target, why, sizeof why);
    zm_msg_t *out = zm_msg_new ();
    zm_val_t *root = out ? zm_msg_root_mut (out) : NULL;
    int rc = root ? s_target_head (root, target) : ZM_ENOMEM;
    if (rc == 0)
        rc = zm_val_set_bool (root, "healthy", !bad);
    const zm_val_t *answer = zm_msg_root (target->reply);
    for (size_t i = 0; rc == 0 && target->rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
        if (zm_val_get (answer, fields[i]))
            rc = s_copy (root, fields[i], zm_val_get (answer, fields[i]));
    if (rc == 0 && target->rc == 0)
        rc = zm_val_set_int (root, "latency_us", target->latency_us);
    if (rc == 0 && target->rc)
        rc = zm_val_set_str (root, "error", target->error);
    int status = rc ? S_FAILED : s_print_json (out);
    if (rc)
        s_fail ("health: %s", zm_strerror (rc));
    zm_msg_destroy (&out);
    return status;
}

static int
s_health (s_cli_t *cli)
{
    if (s_fleet_check (cli, 1, "zm health [SERVICE | --node NAME | --via ADDRESS]"))
        return S_USAGE;
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node)
        return status;
    s_fleet_t fleet;
    status = s_fleet_new (cli, node, cli->arg_count ? cli->args[0] : NULL, &fleet);
    if (status == S_OK) {
        s_fleet_call (cli, node, &fleet, "health");
        for (size_t i = 0; status == S_OK && i < fleet.count; i++)
            status = s_health_print (&fleet.targets[i]);
        if (status == S_OK)
            status = s_fleet_failed (&fleet, "health", "unhealthy", s_unhealthy);
    }
    s_fleet_destroy (&fleet);
    zm_node_destroy (&node);
    return status;
}

//  Did a node not answer? Says why.
static bool
s_no_answer (const s_target_t *target, char *why, size_t size)
{
    snprintf (why, size, "%s", target->rc ? target->error : "");
    return target->rc != 0;
}

static int
s_stats (s_cli_t *cli)
{
    if (s_fleet_check (cli, 0, "zm stats [--node NAME | --via ADDRESS]"))
        return S_USAGE;
    int status = S_FAILED;
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node)
        return status;
    s_fleet_t fleet;
    status = s_fleet_new (cli, node, NULL, &fleet);
    if (status == S_OK) {
        s_fleet_call (cli, node, &fleet, "stats");
        //  Those that answered: {name, uuid, address, stats}
        for (size_t i = 0; status == S_OK && i < fleet.count; i++) {
            const s_target_t *target = &fleet.targets[i];
            if (target->rc)
                continue;
            zm_msg_t *out = zm_msg_new ();
            zm_val_t *root = out ? zm_msg_root_mut (out) : NULL;
            int rc = root ? s_target_head (root, target) : ZM_ENOMEM;
            if (rc == 0 && target->reply)
                rc = s_copy (root, "stats", zm_msg_root (target->reply));
            else if (rc == 0 && !zm_val_set_map (root, "stats"))
                rc = ZM_ENOMEM;
            status = rc ? S_FAILED : s_print_json (out);
            if (rc)
                s_fail ("stats: %s", zm_strerror (rc));
            zm_msg_destroy (&out);
        }
        if (status == S_OK)
            status = s_fleet_failed (&fleet, "stats", "did not answer", s_no_answer);
    }
    s_fleet_destroy (&fleet);
    zm_node_destroy (&node);
    return status;
}

//  --------------------------------------------------------------------------
//  watch

static int
s_watch (s_cli_t *cli)
{
    if (cli->arg_count != 0) {
        s_fail ("usage: zm watch [--count N] [--timeout MS] (zm watch --help)");
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, S_OPT_COUNT))
        return S_USAGE;
    int64_t deadline = cli->timeout ? zclock_mono () + cli->timeout : INT64_MAX;
    int status = S_FAILED;
    s_block_signals ();
    zm_node_t *node = s_node_new (cli, true, &status);
    if (!node)
        return status;
    if (s_catch_signals (false) != S_OK) {
        zm_node_destroy (&node);
        return S_FAILED;
    }
    zm_watch_t *watch = zm_watch_new (node);
    if (!watch) {
        s_fail ("watch: out of memory");
        zm_node_destroy (&node);
        return S_FAILED;
    }
    long printed = 0;
    bool timed_out = false;
    status = S_OK;
    while (status == S_OK && !s_signalled && !(cli->count && printed >= cli->count)) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        zm_msg_t *event = NULL;
        int rc = zm_watch_next (watch, &event, left > S_STEP_MS ? S_STEP_MS : (int) left);
        s_doze (0);             //  a signal that came meanwhile
        if (rc == 0) {
            status = s_print_json (event);
            zm_msg_destroy (&event);
            if (status == S_OK && ferror (stdout))
                break;          //  EPIPE: nobody reads us any more
            printed++;
        }
        else if (rc != ZM_ETIMEOUT) {
            s_fail ("watch: %s", zm_strerror (rc));
            status = S_FAILED;
        }
    }
    size_t dropped = zm_watch_dropped (watch);
    zm_watch_destroy (&watch);
    zm_node_destroy (&node);
    if (status == S_OK && dropped) {
        s_fail ("watch: %zu event(s) dropped (printed too slowly)", dropped);
        status = S_FAILED;
    }
    else if (status == S_OK && timed_out && cli->count && printed < cli->count) {
        s_fail ("watch: %ld of %ld event(s) within %ld ms", printed, cli->count, cli->timeout);
        status = S_FAILED;
    }
    return status;
}

//  --------------------------------------------------------------------------
//  config

static int
s_config (s_cli_t *cli)
{
    if (cli->arg_count > 1) {
        s_fail ("usage: zm config [KEY] [--key=value]... (zm config --help)");
        return S_USAGE;
    }
    if (!s_options_fit (cli, cli->command, 0))
        return S_USAGE;
    if (cli->timeout) {
        s_fail ("config: --timeout does not apply (see zm --help)");
        return S_USAGE;
    }
    //  The runtime's defaults, not the tool's own: what a node started with
    //  these flags, this environment and this file would run with.
    zm_config_t *config = zm_config_new ();
    if (!config) {
        s_fail ("out of memory");
        return S_FAILED;
    }
    char *reason = NULL;
    if (zm_config_load_all (config, cli->config_argc, cli->config_argv, &reason)) {
        s_fail ("%s", reason ? reason : "bad configuration");
        free (reason);
        zm_config_destroy (&config);
        return S_USAGE;
    }
    char *dump = zm_config_dump (config);
    zm_config_destroy (&config);
    if (!dump) {
        s_fail ("out of memory");
        return S_FAILED;
    }
    //  One JSON line per key: {key, value, type, layer, description}
    int status = S_OK;
    bool found = false;
    for (char *save = NULL, *line = strtok_r (dump, "\n", &save); line && status == S_OK;
         line = strtok_r (NULL, "\n", &save)) {
        zm_msg_t *item = NULL;
        if (zm_msg_decode (ZM_CT_JSON, line, strlen (line), &item, NULL)) {
            s_fail ("config: a key cannot be read back: %.200s", line);
            status = S_FAILED;
            break;
        }
        if (!cli->arg_count || strcmp (zm_msg_get_str (item, "key", ""), cli->args[0]) == 0) {
            found = true;
            status = s_print_json (item);
        }
        zm_msg_destroy (&item);
    }
    free (dump);
    if (status == S_OK && !found) {
        s_fail ("config: %s: no such key (not defined, and set in no layer)", cli->args[0]);
        status = S_FAILED;
    }
    return status;
}

//  --------------------------------------------------------------------------
//  bench

//  What the callers share.
typedef struct {
    zm_node_t *node;
    const char *service, *endpoint;
    const zm_msg_t *body;       //  each call sends a copy
    zm_call_opts_t opts;        //  --via, --meta, the deadline
    long requests;              //  calls to make
    int64_t *latency_us;        //  per call: INT64_MIN not made, -1 failed
    atomic_long next;           //  the next call's index
    atomic_int go;              //  0 wait, 1 go, 2 give up
    atomic_int warmed;          //  callers past their first call
    atomic_bool stop;           //  a signal came: no more calls
    atomic_int finished;        //  callers done
    pthread_mutex_t lock;       //  guards what follows
    bool warm_failed;           //  a first call failed
    long errors;                //  counted calls that failed
    char error[1200];           //  "SERVICE.ENDPOINT: CODE STATUS: detail" of
                                //  the first failure
    int64_t ended_us;           //  when the last caller ended (zclock_usecs)
} s_bench_t;

//  One call. Returns 0 with its latency, or the error (the first one kept).
static int
s_bench_call (s_bench_t *self, int64_t *latency_p)
{
    zm_msg_t *req = zm_msg_dup (self->body), *rep = NULL;
    zm_error_t *error = NULL;
    int64_t started = zclock_usecs ();
    int rc = req ? zm_call (self->node, self->service, self->endpoint, &req, &rep, &error,
                            &self->opts)
                 : ZM_ENOMEM;
    *latency_p = zclock_usecs () - started;
    if (rc) {
        pthread_mutex_lock (&self->lock);
        if (!*self->error) {
            char text[1000];
            s_error_text (rc, error, text, sizeof text);
            snprintf (self->error, sizeof self->error, "%s.%s: %s", self->service,
                      self->endpoint, text);
        }
        pthread_mutex_unlock (&self->lock);
    }
    zm_msg_destroy (&req);
    zm_msg_destroy (&rep);
    zm_error_destroy (&error);
    return rc;
}

//  A caller: one call that is not counted (it finds the service and opens
//  this thread's connection), then calls until all are made.
static void *
s_bench_caller (void *arg)
{
    s_bench_t *self = (s_bench_t *) arg;
    int64_t latency = 0;
    if (s_bench_call (self, &latency)) {
        pthread_mutex_lock (&self->lock);
        self->warm_failed = true;
        pthread_mutex_unlock (&self->lock);
    }
    atomic_fetch_add (&self->warmed, 1);
    while (atomic_load (&self->go) == 0)
        zclock_sleep (1);
    while (atomic_load (&self->go) == 1 && !atomic_load (&self->stop)) {
        long index = atomic_fetch_add (&self->next, 1);
        if (index >= self->requests)
            break;
        int rc = s_bench_call (self, &latency);
        self->latency_us[index] = rc ? -1 : latency;
        if (rc) {
            pthread_mutex_lock (&self->lock);
            self->errors++;
            pthread_mutex_unlock (&self->lock);
        }
    }
    int64_t now = zclock_usecs ();
    pthread_mutex_lock (&self->lock);
    if (now > self->ended_us)
        self->ended_us = now;
    pthread_mutex_unlock (&self->lock);
    atomic_fetch_add (&self->finished, 1);
    char byte = 1;
    if (write (s_wake[1], &byte, 1) < 0) {
        //  Full pipe: main is already woken.
    }
    return NULL;
}

static int
s_latency_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  Print the result: {service, endpoint, requests, concurrency, errors,
//  elapsed_ms, calls_per_s, p50_us, p99_us, max_us} (the latencies of the
//  calls that succeeded; null when none did). Sorts the latencies.
static int
s_bench_print (s_bench_t *self, long concurrency, int64_t elapsed_us)
{
    long made = 0, good = 0;
    for (long i = 0; i < self->requests; i++)
        if (self->latency_us[i] != INT64_MIN) {
            made++;
            if (self->latency_us[i] >= 0)
                self->latency_us[good++] = self->latency_us[i];
        }
    qsort (self->latency_us, (size_t) good, sizeof (int64_t), s_latency_compare);
    double elapsed_ms = (double) elapsed_us / 1000.0;
    double rate = elapsed_us > 0 ? (double) made * 1e6 / (double) elapsed_us : 0;
    zm_msg_t *out = zm_msg_new ();
    int rc = out ? zm_msg_set_str (out, "service", self->service) : ZM_ENOMEM;
    if (rc == 0)
        rc = zm_msg_set_str (out, "endpoint", self->endpoint);
    if (rc == 0)
        rc = zm_msg_set_int (out, "requests", made);
    if (rc == 0)
        rc = zm_msg_set_int (out, "concurrency", concurrency);
    if (rc == 0)
        rc = zm_msg_set_int (out, "errors", made - good);
    if (rc == 0)    //  to the microsecond, and a tenth of a call
        rc = zm_msg_set_float (out, "elapsed_ms", (double) (int64_t) (elapsed_ms * 1000 + 0.5)
                                                      / 1000);
    if (rc == 0)
        rc = zm_msg_set_float (out, "calls_per_s", (double) (int64_t) (rate * 10 + 0.5) / 10);
    //  Nearest rank: the smallest latency at or above q of them
    static const struct {
        const char *name;
        long per_mille;
    } ranks[] = {{"p50_us", 500}, {"p99_us", 990}, {"max_us", 1000}};
    for (size_t i = 0; rc == 0 && i < sizeof ranks / sizeof ranks[0]; i++) {
        long rank = (good * ranks[i].per_mille + 999) / 1000;
        rc = good ? zm_msg_set_int (out, ranks[i].name, self->latency_us[rank ? rank - 1 : 0])
                  : zm_msg_set_nil (out, ranks[i].name);
    }
    int status = rc ? S_FAILED : s_print_json (out);
    if (rc)
        s_fail ("bench: %s", zm_strerror (rc));
    zm_msg_destroy (&out);
    return status;
}

//  Start the callers, let them go once each made its first call, and wait
//  for them (a signal stops them). Returns S_OK (measured: elapsed in
//  *elapsed_p), or S_FAILED (reported).
static int
s_bench_run (s_bench_t *self, pthread_t *threads, long concurrency, int64_t *elapsed_p)
{
    long created = 0;
    while (created < concurrency
           && pthread_create (&threads[created], NULL, s_bench_caller, self) == 0)
        created++;
    int status = created < concurrency ? S_FAILED : S_OK;
    if (status)
        s_fail ("bench: cannot start %ld callers (%ld started)", concurrency, created);
    while (status == S_OK && atomic_load (&self->warmed) < created && !s_signalled)
        s_doze (10);
    pthread_mutex_lock (&self->lock);
    bool warm_failed = self->warm_failed;
    pthread_mutex_unlock (&self->lock);
    if (status == S_OK && (warm_failed || s_signalled)) {
        if (warm_failed)
            s_fail ("bench: %s", self->error);
        else
            s_fail ("bench: interrupted before the first call was measured");
        status = S_FAILED;
    }
    int64_t started = zclock_usecs ();
    atomic_store (&self->go, status == S_OK ? 1 : 2);
    while (atomic_load (&self->finished) < created) {
        s_doze (S_POLL_MS);
        if (s_signalled)
            atomic_store (&self->stop, true);
    }
    for (long i = 0; i < created; i++)
        pthread_join (threads[i], NULL);
    *elapsed_p = self->ended_us - started;
    return status;
}

static int
s_bench (s_cli_t *cli)
{
    if (s_endpoint_check (cli, 2, S_OPT_VIA | S_OPT_META | S_OPT_BENCH,
                          "zm bench SERVICE ENDPOINT [--requests N] [--concurrency C] "
                          "[--body JSON] (zm bench --help)"))
        return S_USAGE;
    zm_msg_t *body = NULL;
    if (s_parse_json ("--body", cli->body ? cli->body : "{}", &body))
        return S_USAGE;
    long requests = cli->requests ? cli->requests : S_BENCH_REQUESTS;
    long concurrency = cli->concurrency ? cli->concurrency : 1;
    if (concurrency > requests)
        concurrency = requests;
    s_bench_t bench = {.service = cli->args[0],
                       .endpoint = cli->args[1],
                       .body = body,
                       .requests = requests};
    bench.latency_us = (int64_t *) malloc ((size_t) requests * sizeof (int64_t));
    pthread_t *threads = (pthread_t *) calloc ((size_t) concurrency, sizeof (pthread_t));
    if (!bench.latency_us || !threads) {
        s_fail ("out of memory");
        free (bench.latency_us);
        free (threads);
        zm_msg_destroy (&body);
        return S_FAILED;
    }
    for (long i = 0; i < requests; i++)
        bench.latency_us[i] = INT64_MIN;
    pthread_mutex_init (&bench.lock, NULL);
    int status = S_FAILED;
    s_block_signals ();
    zm_node_t *node = s_node_new (cli, true, &status);
    if (node && s_catch_signals (false) == S_OK) {
        bench.node = node;
        bench.opts = (zm_call_opts_t) ZM_CALL_OPTS_DEFAULT;
        s_call_opts (cli, &bench.opts);
        bench.opts.timeout_ms = (int) s_timeout (cli, node);
        int64_t elapsed_us = 0;
        status = s_bench_run (&bench, threads, concurrency, &elapsed_us);
        if (status == S_OK)
            status = s_bench_print (&bench, concurrency, elapsed_us);
        long made = atomic_load (&bench.next);
        if (status == S_OK && s_signalled) {
            s_fail ("bench: interrupted after %ld of %ld calls",
                    made < requests ? made : requests, requests);
            status = S_FAILED;
        }
        else if (status == S_OK && bench.errors) {
            s_fail ("bench: %ld of %ld calls failed; the first: %s", bench.errors, requests,
                    bench.error);
            status = S_FAILED;
        }
    }
    zm_node_destroy (&node);
    pthread_mutex_destroy (&bench.lock);
    free (bench.latency_us);
    free (threads);
    zm_msg_destroy (&body);
    return status;
}

//  --------------------------------------------------------------------------
//  Commands and help

//  One command: its name, what runs it, its help.
typedef struct {
    const char *name;
    int (*run) (s_cli_t *cli);  //  returns the exit status
    const char *usage;          //  zm NAME --help
} s_command_t;

static int
s_help (s_cli_t *cli);

static const s_command_t s_commands[] = {
    {"call", s_call, s_call_usage},
    {"stream", s_stream, s_stream_usage},
    {"publish", s_publish, s_publish_usage},
    {"subscribe", s_subscribe, s_subscribe_usage},
    {"services", s_services, s_services_usage},
    {"describe", s_describe, s_describe_usage},
    {"watch", s_watch, s_watch_usage},
    {"health", s_health, s_health_usage},
    {"stats", s_stats, s_stats_usage},
    {"config", s_config, s_config_usage},
    {"bench", s_bench, s_bench_usage},
    {"store", s_store, s_store_usage},
    {"lock", s_lock, s_lock_usage},
    {"elect", s_elect, s_elect_usage},
    {"keygen", s_keygen, s_keygen_usage},
    {"help", s_help, s_help_usage},
};

static const s_command_t *
s_command (const char *name)
{
    for (size_t i = 0; name && i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (s_commands[i].name, name) == 0)
            return &s_commands[i];
    return NULL;
}

//  Print the help of command name on stdout, zm's when name is NULL.
//  Returns S_OK, or S_USAGE for a command there is not (reported).
static int
s_print_usage (const char *name)
{
    const s_command_t *command = s_command (name);
    if (name && !command) {
        s_fail ("%s: unknown command (see zm --help)", name);
        return S_USAGE;
    }
    fputs (command ? command->usage : s_usage, stdout);
    return S_OK;
}

//  zm help [COMMAND]
static int
s_help (s_cli_t *cli)
{
    if (cli->arg_count > 1) {
        s_fail ("usage: zm help [COMMAND]");
        return S_USAGE;
    }
    return s_print_usage (cli->arg_count ? cli->args[0] : NULL);
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    //  A closed stdout is a write error we report, not a silent death.
    signal (SIGPIPE, SIG_IGN);
    //  stdout is for results: log lines go to stderr (czmq's default is stdout)
    zsys_set_logstream (stderr);
    s_pretty = isatty (STDOUT_FILENO) == 1;
    s_cli_t cli = {NULL};
    int status = argc > 0 && argv ? s_parse (&cli, argc, argv) : S_USAGE;
    if (status == -1)
        status = S_OK;      //  the version printed
    else if (status == S_OK && cli.help)
        status = s_print_usage (cli.command);
    else if (status == S_OK && !cli.command) {
        fputs (s_usage, stderr);
        status = S_USAGE;
    }
    else if (status == S_OK) {
        const s_command_t *command = s_command (cli.command);
        if (command)
            status = command->run (&cli);
        else {
            s_fail ("%s: unknown command (see zm --help)", cli.command);
            status = S_USAGE;
        }
    }
    zm_msg_destroy (&cli.meta);
    free (cli.metas);
    free (cli.config_argv);
    return status;
}
