/*  The zm command-line tool (tools/zm.c), run as a real process against
    real rpc_node processes (tests/helpers/rpc_node.c) on loopback. No
    beacons: the tool finds nodes through static peers
    (--registry.peers=tcp://127.0.0.1:<port>). Every node serves "$store":
    the store tests give theirs an LMDB store in a temporary directory or
    the memory backend. zm lock and zm elect run against a sync group of
    three members in the test process (as in tests/test_sync.c).
*/
#include "support.h"
#include <czmq.h>
#include <inttypes.h>
#include <pty.h>
#include <sys/stat.h>
#include <termios.h>
#include "zmicro.h"

//  Flags every zm run gets: loopback only, no beacons, quiet.
#define S_FLAGS "--registry.beacon=false --log.level=warning"

//  Start rpc_node named name on loopback, with one more config flag when
//  flag is not NULL; wait for its READY line.
static zt_proc_t
s_start_node_with (const char *name, const char *flag)
{
    char path[4200], name_flag[256];
    snprintf (path, sizeof path, "%s/tests/helpers/rpc_node", zt_build_dir ());
    snprintf (name_flag, sizeof name_flag, "--node.name=%s", name);
    const char *argv[] = {path,
                          name_flag,
                          "--log.level=warning",
                          "--registry.beacon=false",
                          "--rpc.bind=127.0.0.1",
                          flag,
                          NULL};
    zt_proc_t node = zt_spawn (argv, NULL);
    cr_assert (node.pid > 0, "cannot start %s", path);
    cr_assert (zt_ready (&node, 10000) > 0, "%s did not start", name);
    return node;
}

static zt_proc_t
s_start_node (const char *name)
{
    return s_start_node_with (name, NULL);
}

static const char *
s_zm (void)
{
    static char path[4200];
    snprintf (path, sizeof path, "%s/bin/zm", zt_build_dir ());
    return path;
}

//  Run `zm ARGS` through the shell (args is shell text), its stdout in out.
//  Returns the exit status.
static int
s_run (char *out, size_t size, const char *format, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_run (char *out, size_t size, const char *format, ...)
{
    char args[3000], command[8000];
    va_list list;
    va_start (list, format);
    vsnprintf (args, sizeof args, format, list);
    va_end (list);
    snprintf (command, sizeof command, "%s %s", s_zm (), args);
    return zt_run (command, out, size);
}

//  Decode one line of zm's JSON output; asserts it is JSON.
static zm_msg_t *
s_json (const char *text)
{
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    size_t len = strlen (text);
    while (len && text[len - 1] == '\n')
        len--;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, text, len, &msg, &reason), 0,
                  "not JSON (%s): %s", reason ? reason : "?", text);
    return msg;
}

//  Exactly one line, "zm: ...\n".
static void
s_assert_error_line (const char *err)
{
    cr_assert (strncmp (err, "zm: ", 4) == 0, "error line: %s", err);
    size_t len = strlen (err);
    cr_assert (len > 5 && err[len - 1] == '\n', "error line: %s", err);
    cr_assert_null (memchr (err, '\n', len - 1), "one line only: %s", err);
}

Test (zm_tool, help_and_usage, .timeout = 10)
{
    char out[8192];
    cr_assert_eq (s_run (out, sizeof out, "--help"), 0);
    cr_assert (strstr (out, "usage: zm"), "%s", out);
    cr_assert (strstr (out, "publish TOPIC JSON"), "%s", out);
    cr_assert_eq (s_run (out, sizeof out, "help"), 0);
    cr_assert (strstr (out, "usage: zm"), "%s", out);
    //  No command: usage on stderr, exit 2.
    cr_assert_eq (s_run (out, sizeof out, "2>&1 >/dev/null"), 2);
    cr_assert (strstr (out, "usage: zm"), "%s", out);
}

Test (zm_tool, call_prints_json, .timeout = 30)
{
    zt_proc_t alpha = s_start_node ("alpha");
    char out[4096];
    //  Through the registry (static peer)...
    int rc = s_run (out, sizeof out,
                    S_FLAGS " '--registry.peers=%s' call greeter Say.Hello "
                            "'{\"name\": \"ada\"}'",
                    alpha.address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_str_eq (out, "{\"greeting\":\"Hello ada\",\"node\":\"alpha\"}\n");
    //  ...and straight to one node, with metadata; options after the command.
    rc = s_run (out, sizeof out,
                "call greeter Echo '{\"seq\": 7}' " S_FLAGS
                " --via '%s' --meta user=ada",
                alpha.address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    zm_msg_t *rep = s_json (out);
    cr_assert_eq (zm_msg_get_int (rep, "seq", -1), 7);
    cr_assert_str_eq (zm_msg_get_str (rep, "meta_user", ""), "ada");
    cr_assert_eq (zm_msg_get_int (rep, "pid", 0), alpha.pid);
    zm_msg_destroy (&rep);
    //  An error from the cluster: exit 1, code and detail on stderr.
    rc = s_run (out, sizeof out, S_FLAGS " '--via=%s' call greeter Fail 2>&1",
                alpha.address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "409"), "%s", out);
    cr_assert (strstr (out, "it failed on purpose"), "%s", out);
    //  No such service: 404, exit 1.
    rc = s_run (out, sizeof out,
                S_FLAGS " '--registry.peers=%s' --timeout=3000 call nobody X 2>&1",
                alpha.address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "404"), "%s", out);
    //  --via without the key: registry.peers gives it for that address
    char bare[128];
    snprintf (bare, sizeof bare, "%s", alpha.address);
    cr_assert_not_null (strchr (bare, '#'));
    *strchr (bare, '#') = 0;
    rc = s_run (out, sizeof out,
                S_FLAGS " '--registry.peers=%s' --via '%s' call greeter Say.Hello 2>&1",
                alpha.address, bare);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "\"node\":\"alpha\""), "%s", out);
    //  ...and with neither, a clear error
    rc = s_run (out, sizeof out, S_FLAGS " --via '%s' call greeter Say.Hello 2>&1", bare);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "no public key"), "%s", out);
    zt_kill (&alpha, SIGTERM);
}

Test (zm_tool, bad_json_exits_2, .timeout = 10)
{
    char out[4096];
    //  Refused before any node starts: nothing to reach.
    int rc = s_run (out, sizeof out, S_FLAGS " call greeter Say.Hello '{\"name\":' 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "not valid JSON"), "%s", out);
    rc = s_run (out, sizeof out, S_FLAGS " publish orders.created '{} {}' 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    rc = s_run (out, sizeof out, S_FLAGS " publish orders.created '' 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
}

Test (zm_tool, unknown_command_exits_2, .timeout = 10)
{
    char out[4096];
    int rc = s_run (out, sizeof out, S_FLAGS " frobnicate 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "frobnicate"), "%s", out);
}

Test (zm_tool, bad_arguments_exit_2, .timeout = 20)
{
    //  Each line: arguments, and a piece of the error line.
    static const char *cases[][2] = {
        {"call greeter", "usage"},
        {"call greeter Say.Hello '{}' extra", "too many"},
        {"call 'bad name' X", "names"},
        {"publish orders.created", "usage"},
        {"subscribe", "usage"},
        {"subscribe 'a.>.b'", "bad pattern"},
        {"subscribe orders --via tcp://127.0.0.1:1", "--via"},
        {"subscribe orders --count 0", "--count"},
        {"subscribe orders --count", "needs a value"},
        {"subscribe orders --timeout x", "--timeout"},
        {"call greeter X --via http://127.0.0.1:1", "--via"},
        {"call greeter X --meta novalue", "--meta"},
        {"services --group g", "--group"},
        {"services --bogus", "unknown option"},
        {"--log.level=loud services", "loud"},
        {"--reactors=many services", "many"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " %s 2>&1", cases[i][0]);
        cr_assert_eq (rc, 2, "zm %s: exit %d: %s", cases[i][0], rc, out);
        s_assert_error_line (out);
        cr_assert (strstr (out, cases[i][1]), "zm %s: %s", cases[i][0], out);
    }
    //  Huge arguments are refused, not crashed on.
    char *big = (char *) malloc (100001);
    cr_assert_not_null (big);
    memset (big, 'a', 100000);
    big[100000] = 0;
    //  Each: what comes before and after the huge argument.
    static const char *huge[][2] = {{"publish ", " '{}'"}, {"call ", " X"},
                                    {"call greeter ", ""},  {"subscribe ", ""},
                                    {"call g X --meta ", "=1"},
                                    {"call g X --via tcp://", ":1"}};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        char *command = NULL;
        cr_assert (asprintf (&command, "%s %s %s%s%s 2>&1", s_zm (), S_FLAGS, huge[i][0], big,
                             huge[i][1]) > 0);
        int rc = zt_run (command, out, sizeof out);
        cr_assert_eq (rc, 2, "%s...%s: exit %d: %s", huge[i][0], huge[i][1], rc, out);
        s_assert_error_line (out);
        free (command);
    }
    free (big);
}

Test (zm_tool, bad_topic_exits_2_with_reason, .timeout = 10)
{
    static const char *topics[] = {"orders..created", "orders.*", "orders.>", "a b", "orders."};
    char out[4096];
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        const char *reason = NULL;
        cr_assert_eq (zm_topic_check (topics[i], false, &reason), ZM_EINVAL, "%s", topics[i]);
        cr_assert_not_null (reason);
        int rc = s_run (out, sizeof out, S_FLAGS " publish '%s' '{\"id\": 1}' 2>&1", topics[i]);
        cr_assert_eq (rc, 2, "%s: exit %d: %s", topics[i], rc, out);
        s_assert_error_line (out);
        cr_assert (strstr (out, reason), "%s: want '%s' in: %s", topics[i], reason, out);
    }
}

Test (zm_tool, services_lists_greeter, .timeout = 30)
{
    zt_proc_t alpha = s_start_node ("alpha");
    char out[8192];
    int rc = s_run (out, sizeof out, S_FLAGS " '--registry.peers=%s' services",
                    alpha.address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    zm_msg_t *list = s_json (out);
    const zm_val_t *services = zm_val_get (zm_msg_root (list), "services");
    cr_assert_eq (zm_val_type (services), ZM_TYPE_ARRAY, "%s", out);
    const zm_val_t *greeter = NULL;
    for (size_t i = 0; i < zm_val_size (services); i++) {
        const zm_val_t *svc = zm_val_at (services, i);
        const char *name = zm_val_str (zm_val_get (svc, "name"), "", NULL);
        cr_assert_neq (name[0], '$', "built-in services only with --all: %s", out);
        if (strcmp (name, "greeter") == 0)
            greeter = svc;
    }
    cr_assert_not_null (greeter, "no greeter in: %s", out);
    cr_assert_str_eq (zm_val_str (zm_val_get (greeter, "version"), "", NULL), "1.0.0");
    const zm_val_t *endpoints = zm_val_get (greeter, "endpoints");
    bool hello = false;
    for (size_t i = 0; i < zm_val_size (endpoints); i++)
        hello |= strcmp (zm_val_str (zm_val_at (endpoints, i), "", NULL), "Say.Hello") == 0;
    cr_assert (hello, "%s", out);
    const zm_val_t *nodes = zm_val_get (greeter, "nodes");
    cr_assert_eq (zm_val_size (nodes), 1, "%s", out);
    const zm_val_t *node = zm_val_at (nodes, 0);
    char address[64];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d", alpha.port);
    cr_assert_str_eq (zm_val_str (zm_val_get (node, "address"), "", NULL), address);
    cr_assert_str_eq (zm_val_str (zm_val_get (node, "name"), "", NULL), "alpha");
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (node, "metadata"), "team"), "", NULL),
                      "core");
    zm_msg_destroy (&list);
    //  --all shows the built-in service, with publish among its endpoints.
    rc = s_run (out, sizeof out, S_FLAGS " '--registry.peers=%s' services --all",
                alpha.address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "\"name\":\"$node\""), "%s", out);
    cr_assert (strstr (out, "\"publish\""), "%s", out);
    zt_kill (&alpha, SIGTERM);
}

//  Events published by s_publish_until, by id.
typedef struct {
    char ids[64][64];   //  event ids zm publish printed
    int count;          //  how many
} s_published_t;

static bool
s_was_published (const s_published_t *self, const char *id)
{
    for (int i = 0; i < self->count; i++)
        if (strcmp (self->ids[i], id) == 0)
            return true;
    return false;
}

//  PUB/SUB joins late: run `zm publish` on topic through the node of peers
//  (a --registry.peers flag) until the subscriber sub prints a line, for at
//  most 15 s or 64 events. Returns whether it printed; the line is in line.
static bool
s_publish_until (zt_proc_t *sub, const char *peers, const char *topic, s_published_t *published,
                 char *line, size_t size)
{
    char out[4096];
    int64_t deadline = zt_clock () + 15000;
    while (zt_clock () < deadline && published->count < 64) {
        int rc = s_run (out, sizeof out,
                        S_FLAGS " '%s' publish %s '{\"n\": %d, \"tags\": [\"x\"]}' --meta k=v",
                        peers, topic, published->count);
        cr_assert_eq (rc, 0, "publish: exit %d: %s", rc, out);
        zm_msg_t *answer = s_json (out);
        const char *id = zm_msg_get_str (answer, "id", "");
        cr_assert_eq (strlen (id), 32, "event id: %s", out);
        snprintf (published->ids[published->count++], sizeof published->ids[0], "%s", id);
        zm_msg_destroy (&answer);
        if (zt_read_line (sub, line, size, 100))
            return true;
    }
    return false;
}

//  The UUID of the node at port, from `zm call $node describe`.
static void
s_node_uuid (const char *address, char *uuid, size_t size)
{
    char out[8192];
    int rc = s_run (out, sizeof out, S_FLAGS " call '$node' describe --via '%s'", address);
    cr_assert_eq (rc, 0, "describe: exit %d: %s", rc, out);
    zm_msg_t *describe = s_json (out);
    snprintf (uuid, size, "%s", zm_msg_get_str (describe, "uuid", ""));
    zm_msg_destroy (&describe);
    cr_assert_eq (strlen (uuid), 32, "%s", out);
}

Test (zm_tool, publish_reaches_subscriber, .timeout = 60)
{
    zt_proc_t alpha = s_start_node ("alpha");
    char peers[160], uuid[64];
    snprintf (peers, sizeof peers, "--registry.peers=%s", alpha.address);
    s_node_uuid (alpha.address, uuid, sizeof uuid);
    //  The subscriber first: its node learns alpha through the static peer
    //  and connects its SUB to alpha's PUB.
    const char *argv[] = {s_zm (), "--registry.beacon=false", "--log.level=warning",
                          "--rpc.bind=127.0.0.1", peers, "subscribe", "orders.>", "--count", "1",
                          "--timeout", "30000", "--meta", "k", NULL};
    zt_proc_t sub = zt_spawn (argv, NULL);
    cr_assert (sub.pid > 0);
    s_published_t published = {.count = 0};
    char line[4096] = "";
    cr_assert (s_publish_until (&sub, peers, "orders.created", &published, line, sizeof line),
               "the subscriber printed nothing after %d events", published.count);
    zm_msg_t *event = s_json (line);
    cr_assert_str_eq (zm_msg_get_str (event, "topic", ""), "orders.created", "%s", line);
    cr_assert (s_was_published (&published, zm_msg_get_str (event, "id", "")), "%s", line);
    cr_assert_str_eq (zm_msg_get_str (event, "publisher", ""), uuid, "%s", line);
    cr_assert (zm_msg_get_int (event, "time", 0) > 1600000000000LL, "%s", line);
    const zm_val_t *root = zm_msg_root (event);
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (root, "metadata"), "k"), "", NULL),
                      "v", "%s", line);
    const zm_val_t *body = zm_val_get (root, "event");
    cr_assert_eq (zm_val_type (body), ZM_TYPE_MAP, "%s", line);
    cr_assert (zm_val_int (zm_val_get (body, "n"), -1) >= 0, "%s", line);
    cr_assert_str_eq (zm_val_str (zm_val_at (zm_val_get (body, "tags"), 0), "", NULL), "x");
    zm_msg_destroy (&event);
    //  --count 1: it stops by itself, exit 0.
    cr_assert_eq (zt_wait (&sub, 15000), 0, "zm subscribe exits 0 after --count events");
    zt_kill (&sub, SIGKILL);
    zt_kill (&alpha, SIGTERM);
}

Test (zm_tool, publish_reaches_queue_group, .timeout = 60)
{
    //  A queue-group event goes point to point to a member the publisher's
    //  registry knows: beta has the subscriber as its static peer (asked
    //  again every 200 ms until it answers), so the subscriber's RPC port is
    //  fixed; the subscriber has beta as its own. Below the ephemeral ports
    //  (32768..): a connection of an earlier test in TIME_WAIT on its local
    //  port would make the bind fail. Apart from the lock tests' ports.
    int port = 13000 + (int) (getpid () % 1000);
    //  The subscriber's keypair made beforehand, so that beta knows its key
    char keys[] = "/tmp/zmt-keys-XXXXXX", keys_flag[64], key[ZM_KEY_TEXT];
    cr_assert_not_null (mkdtemp (keys));
    cr_assert_eq (zm_keypair_create (keys, "node", NULL, key), 0);
    snprintf (keys_flag, sizeof keys_flag, "--auth.keys=%s", keys);
    char beta_peers[160], sub_port[32], peers[160];
    snprintf (beta_peers, sizeof beta_peers, "--registry.peers=tcp://127.0.0.1:%d#%s", port, key);
    snprintf (sub_port, sizeof sub_port, "--rpc.port=%d", port);
    char path[4200];
    snprintf (path, sizeof path, "%s/tests/helpers/rpc_node", zt_build_dir ());
    const char *beta_argv[] = {path,
                               "--node.name=beta",
                               "--log.level=error",
                               "--registry.beacon=false",
                               "--rpc.bind=127.0.0.1",
                               "--registry.ttl=200",
                               beta_peers,
                               NULL};
    zt_proc_t beta = zt_spawn (beta_argv, NULL);
    cr_assert (beta.pid > 0);
    cr_assert (zt_ready (&beta, 10000) > 0, "beta did not start");
    snprintf (peers, sizeof peers, "--registry.peers=%s", beta.address);
    const char *argv[] = {s_zm (),
                          "--registry.beacon=false",
                          "--log.level=warning",
                          "--rpc.bind=127.0.0.1",
                          sub_port,
                          keys_flag,
                          peers,
                          "subscribe",
                          "billing.*",
                          "--group",
                          "billing",
                          "--count=1",
                          "--timeout=30000",
                          NULL};
    zt_proc_t sub = zt_spawn (argv, NULL);
    cr_assert (sub.pid > 0);
    s_published_t published = {.count = 0};
    char line[4096] = "";
    cr_assert (s_publish_until (&sub, peers, "billing.due", &published, line, sizeof line),
               "the group member printed nothing after %d events", published.count);
    zm_msg_t *event = s_json (line);
    cr_assert_str_eq (zm_msg_get_str (event, "topic", ""), "billing.due", "%s", line);
    cr_assert (s_was_published (&published, zm_msg_get_str (event, "id", "")), "%s", line);
    zm_msg_destroy (&event);
    cr_assert_eq (zt_wait (&sub, 15000), 0, "zm subscribe exits 0 after --count events");
    zt_kill (&sub, SIGKILL);
    zt_kill (&beta, SIGTERM);
    const char *files[] = {"node.cert", "node.cert_secret", ""};
    for (int i = 0; i < 3; i++) {
        char file[128];
        snprintf (file, sizeof file, "%s/%s", keys, files[i]);
        remove (file);
    }
}

Test (zm_tool, subscribe_stops, .timeout = 30)
{
    char out[4096];
    //  --timeout before --count events: exit 1, saying so.
    int64_t start = zt_clock ();
    int rc = s_run (out, sizeof out, S_FLAGS " subscribe 'orders.>' --count 1 --timeout 300 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (zt_clock () - start < 10000, "bounded by --timeout");
    //  --timeout alone: the normal end, exit 0.
    rc = s_run (out, sizeof out, S_FLAGS " subscribe 'orders.>' --timeout 300");
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    //  SIGTERM: exit 0.
    const char *argv[] = {s_zm (), "--registry.beacon=false", "--log.level=warning",
                          "--rpc.bind=127.0.0.1", "subscribe", "orders.>", NULL};
    zt_proc_t sub = zt_spawn (argv, NULL);
    cr_assert (sub.pid > 0);
    usleep (500 * 1000);
    kill (sub.pid, SIGTERM);
    cr_assert_eq (zt_wait (&sub, 10000), 0, "zm subscribe exits 0 on SIGTERM");
    zt_kill (&sub, SIGKILL);
}

Test (zm_tool, publish_without_node_fails, .timeout = 20)
{
    char out[4096];
    //  Nobody to publish through: exit 1, not a hang.
    int rc = s_run (out, sizeof out, S_FLAGS " publish orders.created '{}' 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    //  A --via that nobody answers: bounded by --timeout.
    int64_t start = zt_clock ();
    rc = s_run (out, sizeof out,
                S_FLAGS " publish orders.created '{}' --via tcp://127.0.0.1:1 --timeout 500 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (zt_clock () - start < 10000);
}

//  --------------------------------------------------------------------------
//  zm store

//  The store tests' nodes and LMDB directory, for the teardown: it runs
//  after a failed assertion too.
static zt_proc_t s_store_nodes[2] = {ZT_PROC_NONE, ZT_PROC_NONE};
static char s_store_dir[64];

static void
s_store_teardown (void)
{
    for (size_t i = 0; i < sizeof s_store_nodes / sizeof s_store_nodes[0]; i++)
        zt_kill (&s_store_nodes[i], SIGTERM);
    if (*s_store_dir) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_store_dir);
        zt_run (command, NULL, 0);
        *s_store_dir = 0;
    }
}

//  Run `zm ARGS` expecting exit 0 and one line of JSON; returns it decoded.
static zm_msg_t *
s_store_ok (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static zm_msg_t *
s_store_ok (const char *format, ...)
{
    char args[3000], out[8192];
    va_list list;
    va_start (list, format);
    vsnprintf (args, sizeof args, format, list);
    va_end (list);
    int rc = s_run (out, sizeof out, S_FLAGS " %s 2>&1", args);
    cr_assert_eq (rc, 0, "zm %s: exit %d: %s", args, rc, out);
    return s_json (out);
}

//  The keys of a {"records": [...]} answer, joined with ','.
static void
s_keys (const zm_msg_t *answer, char *keys, size_t size)
{
    const zm_val_t *records = zm_val_get (zm_msg_root (answer), "records");
    cr_assert_eq (zm_val_type (records), ZM_TYPE_ARRAY);
    *keys = 0;
    for (size_t i = 0; i < zm_val_size (records); i++) {
        size_t used = strlen (keys);
        snprintf (keys + used, size - used, "%s%s", i ? "," : "",
                  zm_val_str (zm_val_get (zm_val_at (records, i), "key"), "?", NULL));
    }
}

Test (zm_tool, store_put_get_list_del, .fini = s_store_teardown, .timeout = 60)
{
    snprintf (s_store_dir, sizeof s_store_dir, "/tmp/zm-tool-store-XXXXXX");
    cr_assert_not_null (mkdtemp (s_store_dir));
    char path_flag[128], peers[160], via[160];
    snprintf (path_flag, sizeof path_flag, "--store.path=%s/alpha", s_store_dir);
    s_store_nodes[0] = s_start_node_with ("alpha", path_flag);
    snprintf (peers, sizeof peers, "'--registry.peers=%s'", s_store_nodes[0].address);
    snprintf (via, sizeof via, "--via '%s'", s_store_nodes[0].address);

    //  A string round-trips; the only node serving "$store" is found alone.
    zm_msg_t *answer = s_store_ok ("%s store put greeting hello", peers);
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 1);
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store get greeting", peers);
    cr_assert_str_eq (zm_msg_get_str (answer, "key", ""), "greeting");
    cr_assert_str_eq (zm_msg_get_str (answer, "value", ""), "hello");
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 1);
    cr_assert_null (zm_val_get (zm_msg_root (answer), "expires"));
    cr_assert_null (zm_val_get (zm_msg_root (answer), "metadata"));
    zm_msg_destroy (&answer);

    //  A second put bumps the version and carries metadata and a TTL.
    answer = s_store_ok ("%s store put greeting 'hello again' --meta lang=en --meta by=ada "
                         "--ttl 600000",
                         via);
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 2);
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store get greeting", via);
    const zm_val_t *root = zm_msg_root (answer);
    cr_assert_str_eq (zm_msg_get_str (answer, "value", ""), "hello again");
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 2);
    cr_assert (zm_msg_get_int (answer, "expires", 0) > 1600000000000LL);
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (root, "metadata"), "lang"), "", NULL),
                      "en");
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (root, "metadata"), "by"), "", NULL),
                      "ada");
    zm_msg_destroy (&answer);

    //  Bytes that are not UTF-8 text print as {"$bin": base64}.
    answer = s_store_ok ("%s store put raw \"$(printf '\\377\\376')\"", via);
    zm_msg_destroy (&answer);
    char out[8192];
    int rc = s_run (out, sizeof out, S_FLAGS " %s store get raw", via);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "\"value\":{\"$bin\":\"//4=\"}"), "%s", out);

    //  A list by prefix: the keys in order; --limit and --offset page.
    const char *keys[] = {"list.b", "list.c", "list.a", "listless"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        answer = s_store_ok ("%s store put %s %zu", via, keys[i], i);
        zm_msg_destroy (&answer);
    }
    char listed[512];
    answer = s_store_ok ("%s store list list.", peers);
    s_keys (answer, listed, sizeof listed);
    cr_assert_str_eq (listed, "list.a,list.b,list.c");
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store list list. --limit 1 --offset=1", via);
    s_keys (answer, listed, sizeof listed);
    cr_assert_str_eq (listed, "list.b");
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store list --suffix .c", via);
    s_keys (answer, listed, sizeof listed);
    cr_assert_str_eq (listed, "list.c");
    zm_msg_destroy (&answer);

    //  Another database and table is another namespace.
    answer = s_store_ok ("%s store put order-1 paid --database shop --table orders", via);
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store get order-1 --database shop --table orders", via);
    cr_assert_str_eq (zm_msg_get_str (answer, "value", ""), "paid");
    zm_msg_destroy (&answer);
    rc = s_run (out, sizeof out, S_FLAGS " %s store get order-1 2>&1", via);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);

    //  del removes it: get and del then exit 1 with a 404.
    rc = s_run (out, sizeof out, S_FLAGS " %s store del greeting", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_str_eq (out, "{}\n");
    rc = s_run (out, sizeof out, S_FLAGS " %s store get greeting 2>&1", via);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "zm: store get") && strstr (out, "404"), "%s", out);
    rc = s_run (out, sizeof out, S_FLAGS " %s store del greeting 2>&1", via);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "404"), "%s", out);
}

Test (zm_tool, store_compare_and_swap, .fini = s_store_teardown, .timeout = 60)
{
    s_store_nodes[0] = s_start_node_with ("alpha", "--store.backend=memory");
    char via[160], out[4096];
    snprintf (via, sizeof via, "--via '%s'", s_store_nodes[0].address);
    zm_msg_t *answer = s_store_ok ("%s store put counter 1", via);
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 1);
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store put counter 2 --version 1", via);
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 2);
    zm_msg_destroy (&answer);
    //  A stale version: 409, nothing written.
    int rc = s_run (out, sizeof out, S_FLAGS " %s store put counter 3 --version 1 2>&1", via);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "409") && strstr (out, "not at version 1"), "%s", out);
    answer = s_store_ok ("%s store get counter", via);
    cr_assert_str_eq (zm_msg_get_str (answer, "value", ""), "2");
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 2);
    zm_msg_destroy (&answer);
    //  --absent: only a new key.
    rc = s_run (out, sizeof out, S_FLAGS " %s store put counter 9 --absent 2>&1", via);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "409") && strstr (out, "--absent"), "%s", out);
    answer = s_store_ok ("%s store put fresh 1 --absent", via);
    cr_assert_eq (zm_msg_get_int (answer, "version", 0), 1);
    zm_msg_destroy (&answer);
    //  A delete with a stale version fails; with the current one it works.
    rc = s_run (out, sizeof out, S_FLAGS " %s store del counter --version 1 2>&1", via);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "409"), "%s", out);
    answer = s_store_ok ("%s store del counter --version 2", via);
    cr_assert_eq (zm_val_size (zm_msg_root (answer)), 0);
    zm_msg_destroy (&answer);
}

Test (zm_tool, store_bad_usage_exits_2, .timeout = 20)
{
    char key[301];
    memset (key, 'k', 300);
    key[300] = 0;
    //  Each line: arguments, and a piece of the error line.
    static const char *cases[][2] = {
        {"store", "usage"},
        {"store get", "usage"},
        {"store get a b", "usage"},
        {"store put k", "usage"},
        {"store put k v extra", "too many"},
        {"store frob k", "unknown subcommand"},
        {"store get k --database 'bad name!'", "--database"},
        {"store get k --table ''", "--table"},
        {"store put k v --ttl -5", "--ttl"},
        {"store put k v --ttl 1x", "--ttl"},
        {"store list --limit 0", "--limit"},
        {"store list --offset -1", "--offset"},
        {"store put k v --version 0", "--version"},
        {"store get ''", "key"},
        {"store get k --ttl 5", "--ttl does not apply"},
        {"store del k --meta a=b", "--meta does not apply"},
        {"store list --absent", "--absent does not apply"},
        {"store put k v --absent --version 2", "together"},
        {"store get k --node a --via tcp://127.0.0.1:1", "together"},
        {"call greeter X --database db", "--database does not apply"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " %s 2>&1", cases[i][0]);
        cr_assert_eq (rc, 2, "zm %s: exit %d: %s", cases[i][0], rc, out);
        s_assert_error_line (out);
        cr_assert (strstr (out, cases[i][1]), "zm %s: %s", cases[i][0], out);
    }
    //  A key, prefix or suffix past 255 bytes: each, what comes before and
    //  after it.
    static const char *long_ones[][2] = {{"store get ", ""},
                                         {"store put ", " v"},
                                         {"store list ", ""},
                                         {"store list --suffix ", ""}};
    for (size_t i = 0; i < sizeof long_ones / sizeof long_ones[0]; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " %s%s%s 2>&1", long_ones[i][0], key,
                        long_ones[i][1]);
        cr_assert_eq (rc, 2, "%s...: exit %d: %s", long_ones[i][0], rc, out);
        s_assert_error_line (out);
    }
    //  --version alone still prints the tool's version.
    cr_assert_eq (s_run (out, sizeof out, "--version"), 0);
    cr_assert (strstr (out, "zm (zmicro)"), "%s", out);
}

Test (zm_tool, store_wants_one_node, .fini = s_store_teardown, .timeout = 60)
{
    s_store_nodes[0] = s_start_node_with ("alpha", "--store.backend=memory");
    s_store_nodes[1] = s_start_node_with ("beta", "--store.backend=memory");
    char peers[300], out[4096];
    snprintf (peers, sizeof peers, "'--registry.peers=%s,%s'", s_store_nodes[0].address,
              s_store_nodes[1].address);
    //  Two nodes serve "$store": no guess, both named.
    int rc = s_run (out, sizeof out, S_FLAGS " %s store list 2>&1", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "alpha") && strstr (out, "beta") && strstr (out, "--node"), "%s",
               out);
    //  --node picks one; each node has a store of its own.
    zm_msg_t *answer = s_store_ok ("%s store put where beta --node beta", peers);
    zm_msg_destroy (&answer);
    answer = s_store_ok ("%s store get where --node beta", peers);
    cr_assert_str_eq (zm_msg_get_str (answer, "value", ""), "beta");
    zm_msg_destroy (&answer);
    rc = s_run (out, sizeof out, S_FLAGS " %s store get where --node alpha 2>&1", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    cr_assert (strstr (out, "404"), "%s", out);
    answer = s_store_ok ("%s store list --node alpha", peers);
    cr_assert_eq (zm_val_size (zm_val_get (zm_msg_root (answer), "records")), 0);
    zm_msg_destroy (&answer);
    //  A name nobody has, and no node at all: exit 1.
    rc = s_run (out, sizeof out, S_FLAGS " %s store list --node gamma 2>&1", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "gamma"), "%s", out);
    rc = s_run (out, sizeof out, S_FLAGS " store list 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "no node found"), "%s", out);
}

Test (zm_tool, keygen_makes_cluster_keys_and_identities, .timeout = 20)
{
    char dir[64] = "/tmp/zm-keygen-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char out[4096];
    //  A cluster key on stdout, as JSON, that the library reads back
    cr_assert_eq (s_run (out, sizeof out, "keygen --cluster"), 0);
    zm_msg_t *reply = s_json (out);
    const char *key = zm_msg_get_str (reply, "cluster_key", "");
    uint8_t bytes[32];
    cr_assert_eq (zm_cluster_key_read (key, bytes), 0, "%s", out);
    zm_msg_destroy (&reply);
    //  Into a file of mode 0600, never overwritten
    cr_assert_eq (s_run (out, sizeof out, "keygen --cluster --out %s/cluster.key", dir), 0);
    char path[128];
    snprintf (path, sizeof path, "%s/cluster.key", dir);
    struct stat info;
    cr_assert_eq (stat (path, &info), 0);
    cr_assert_eq (info.st_mode & 0777, 0600);
    cr_assert_eq (zm_cluster_key_read (path, bytes), 0);
    cr_assert_eq (s_run (out, sizeof out, "keygen --cluster --out %s/cluster.key 2>&1", dir), 1);
    s_assert_error_line (out);
    //  An identity with roles
    cr_assert_eq (
        s_run (out, sizeof out, "keygen --name deploy-bot --roles admin,ops --dir %s/ids", dir),
        0);
    reply = s_json (out);
    cr_assert_str_eq (zm_msg_get_str (reply, "name", ""), "deploy-bot");
    cr_assert_str_eq (zm_msg_get_str (reply, "roles", ""), "admin,ops");
    char ids[96], public_text[ZM_KEY_TEXT];
    snprintf (ids, sizeof ids, "%s/ids", dir);
    cr_assert_eq (zm_keypair_check (ids, "deploy-bot", public_text), 0);
    cr_assert_str_eq (zm_msg_get_str (reply, "public_key", ""), public_text);
    zm_msg_destroy (&reply);
    //  Bad usage: exit 2, one line
    const char *bad[] = {"keygen", "keygen --cluster --name x", "keygen --name 'a b'",
                         "keygen --name x --out f", "keygen --cluster --roles admin",
                         "call x y --cluster"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (s_run (out, sizeof out, "%s 2>&1", bad[i]), 2, "%s: %s", bad[i], out);
        s_assert_error_line (out);
    }
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_assert_eq (system (command), 0);
}

//  --------------------------------------------------------------------------
//  zm lock, zm elect: a sync group of three members in this process (the
//  setup of tests/test_sync.c: fixed ports, keypairs and LMDB stores in a
//  temporary directory) and a client node with which the test takes locks
//  and observes elections; the tool finds the members as static peers.

#define S_SYNC_MEMBERS 3

static char s_sync_dir[64];
static int s_sync_base;             //  first RPC port
static char s_sync_keys[S_SYNC_MEMBERS + 1][ZM_KEY_TEXT];
static zm_node_t *s_sync_nodes[S_SYNC_MEMBERS + 1]; //  members, then the client
static char s_sync_peers[1024];     //  --registry.peers=<the members>
static zt_proc_t s_sync_procs[3] = {ZT_PROC_NONE, ZT_PROC_NONE, ZT_PROC_NONE};

static void
s_sync_teardown (void)
{
    for (size_t i = 0; i < sizeof s_sync_procs / sizeof s_sync_procs[0]; i++)
        zt_kill (&s_sync_procs[i], SIGKILL);
    for (int i = 0; i <= S_SYNC_MEMBERS; i++)
        zm_node_destroy (&s_sync_nodes[i]);
    if (*s_sync_dir) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_sync_dir);
        zt_run (command, NULL, 0);
        *s_sync_dir = 0;
    }
}

//  Node i (0..2 members m0..m2, 3 the client): fixed port, keypair and
//  store in s_sync_dir, every other member as a static peer
static zm_config_t *
s_sync_config (int i)
{
    return zt_sync_config (i, S_SYNC_MEMBERS, s_sync_dir, s_sync_base, s_sync_keys);
}

//  Start the members and the client; return once a lock is granted (the
//  group has a leader).
static void
s_sync_setup (void)
{
    snprintf (s_sync_dir, sizeof s_sync_dir, "/tmp/zm-tool-sync-XXXXXX");
    cr_assert_not_null (mkdtemp (s_sync_dir));
    //  Below the ephemeral ports, apart from tests/test_sync.c's (20000..)
    //  and publish_reaches_queue_group's (13000..)
    s_sync_base = 14000 + (int) (getpid () % 1500) * 4;
    snprintf (s_sync_peers, sizeof s_sync_peers, "--registry.peers=");
    for (int i = 0; i <= S_SYNC_MEMBERS; i++) {
        char keys[128];
        snprintf (keys, sizeof keys, "%s/keys-%d", s_sync_dir, i);
        cr_assert_eq (zm_keypair_create (keys, "node", NULL, s_sync_keys[i]), 0);
        if (i < S_SYNC_MEMBERS) {
            size_t used = strlen (s_sync_peers);
            snprintf (s_sync_peers + used, sizeof s_sync_peers - used, "%stcp://127.0.0.1:%d#%s",
                      i ? "," : "", s_sync_base + i, s_sync_keys[i]);
        }
    }
    for (int i = 0; i <= S_SYNC_MEMBERS; i++) {
        //  A port just let go of may be held for a moment
        for (int attempt = 0; !s_sync_nodes[i] && attempt < 30; attempt++) {
            zm_config_t *config = s_sync_config (i);
            s_sync_nodes[i] = zm_node_new (&config);
            zm_config_destroy (&config);
            if (!s_sync_nodes[i])
                zclock_sleep (100);
        }
        cr_assert_not_null (s_sync_nodes[i], "node %d did not start", i);
    }
    uint64_t token = 0;
    zm_node_t *client = s_sync_nodes[S_SYNC_MEMBERS];
    cr_assert_eq (zm_lock_acquire (client, "warm-up", 1000, 15000, &token), 0, "no leader");
    cr_assert_eq (zm_lock_release (client, "warm-up", token), 0);
}

//  Is lock name free now? Takes it with one try and gives it back.
static bool
s_lock_free (const char *name)
{
    uint64_t token = 0;
    zm_node_t *client = s_sync_nodes[S_SYNC_MEMBERS];
    if (zm_lock_acquire (client, name, 1000, 0, &token) != 0)
        return false;
    cr_assert_eq (zm_lock_release (client, name, token), 0);
    return true;
}

//  Start `zm FLAGS <the members> args...` (args NULL-terminated), its stderr
//  to err_file (through sh, which execs zm: the pid is zm's).
static zt_proc_t
s_sync_spawn (const char *err_file, ...)
{
    char script[256];
    snprintf (script, sizeof script, "exec \"$0\" \"$@\" 2>>'%s'", err_file);
    const char *argv[32] = {"sh", "-c", script, s_zm (), "--registry.beacon=false",
                            "--log.level=warning", s_sync_peers};
    size_t count = 7;
    va_list args;
    va_start (args, err_file);
    for (const char *arg = va_arg (args, const char *); arg && count < 31;
         arg = va_arg (args, const char *))
        argv[count++] = arg;
    va_end (args);
    argv[count] = NULL;
    zt_proc_t proc = zt_spawn (argv, NULL);
    cr_assert (proc.pid > 0, "cannot start zm");
    return proc;
}

//  The contents of path (cut at size - 1), "" when it cannot be read.
static void
s_read_file (const char *path, char *text, size_t size)
{
    *text = 0;
    FILE *file = fopen (path, "r");
    if (file) {
        size_t got = fread (text, 1, size - 1, file);
        text[got] = 0;
        fclose (file);
    }
}

Test (zm_tool, lock_runs_the_command_with_a_fencing_token, .fini = s_sync_teardown,
      .timeout = 90)
{
    s_sync_setup ();
    char out[4096], name[64];
    unsigned long long first = 0, second = 0;
    //  The command's output is all there is on stdout; the lock is free after
    int rc = s_run (out, sizeof out,
                    S_FLAGS " '%s' lock job -- sh -c 'echo $ZM_LOCK_NAME $ZM_LOCK_TOKEN'",
                    s_sync_peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_eq (sscanf (out, "%63s %llu", name, &first), 2, "%s", out);
    cr_assert_str_eq (name, "job");
    cr_assert_gt (first, 0, "%s", out);
    cr_assert (s_lock_free ("job"), "released when the command ended");
    //  Options after NAME, the command's own options untouched
    rc = s_run (out, sizeof out,
                S_FLAGS " '%s' lock job --ttl 2000 --wait=5000 -- sh -c 'echo $ZM_LOCK_TOKEN' "
                        "--help",
                s_sync_peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_eq (sscanf (out, "%llu", &second), 1, "%s", out);
    cr_assert_gt (second, first, "tokens increase: %llu then %llu", first, second);
    //  The exit status passes through, and zm prints nothing of its own
    rc = s_run (out, sizeof out, S_FLAGS " '%s' lock job -- sh -c 'exit 3' 2>&1", s_sync_peers);
    cr_assert_eq (rc, 3, "exit %d: %s", rc, out);
    cr_assert_str_eq (out, "");
    //  A command killed by a signal: 128 + the signal
    rc = s_run (out, sizeof out, S_FLAGS " '%s' lock job -- sh -c 'kill -KILL $$' 2>&1",
                s_sync_peers);
    cr_assert_eq (rc, 128 + SIGKILL, "exit %d: %s", rc, out);
    //  A command that is not there: 127, one line; the lock released
    rc = s_run (out, sizeof out, S_FLAGS " '%s' lock job -- /nonexistent/command 2>&1",
                s_sync_peers);
    cr_assert_eq (rc, 127, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "cannot run"), "%s", out);
    cr_assert (s_lock_free ("job"));
}

Test (zm_tool, lock_runs_one_command_at_a_time, .fini = s_sync_teardown, .timeout = 90)
{
    s_sync_setup ();
    //  Two holders append their start and end (token, time in ns) to one
    //  file: the second starts after the first ended, with a higher token.
    char log[128], err[128], script[512];
    snprintf (log, sizeof log, "%s/runs.log", s_sync_dir);
    snprintf (err, sizeof err, "%s/stderr", s_sync_dir);
    snprintf (script, sizeof script,
              "echo start $ZM_LOCK_TOKEN $(date +%%s%%N) >> '%s'; sleep 1; "
              "echo end $ZM_LOCK_TOKEN $(date +%%s%%N) >> '%s'",
              log, log);
    for (int i = 0; i < 2; i++)
        s_sync_procs[i] = s_sync_spawn (err, "lock", "job", "--", "sh", "-c", script, NULL);
    for (int i = 0; i < 2; i++) {
        int status = zt_wait (&s_sync_procs[i], 40000);
        char text[4096];
        s_read_file (err, text, sizeof text);
        cr_assert_eq (status, 0, "zm lock %d: exit %d: %s", i, status, text);
    }
    char text[4096];
    s_read_file (log, text, sizeof text);
    char what[4][8];
    unsigned long long token[4], when[4];
    int fields = sscanf (text, "%7s %llu %llu %7s %llu %llu %7s %llu %llu %7s %llu %llu",
                         what[0], &token[0], &when[0], what[1], &token[1], &when[1], what[2],
                         &token[2], &when[2], what[3], &token[3], &when[3]);
    cr_assert_eq (fields, 12, "%s", text);
    cr_assert (streq (what[0], "start") && streq (what[1], "end") && streq (what[2], "start")
                   && streq (what[3], "end"),
               "no overlap: %s", text);
    cr_assert (token[0] == token[1] && token[2] == token[3], "%s", text);
    cr_assert_gt (token[2], token[0], "the second holder's token is higher: %s", text);
    cr_assert_geq (when[2], when[1], "%s", text);
    cr_assert (s_lock_free ("job"));
}

Test (zm_tool, lock_held_by_another_fails_after_wait, .fini = s_sync_teardown, .timeout = 90)
{
    s_sync_setup ();
    zm_node_t *client = s_sync_nodes[S_SYNC_MEMBERS];
    uint64_t token = 0;
    cr_assert_eq (zm_lock_acquire (client, "job", 5000, 5000, &token), 0);
    char out[4096];
    int64_t start = zt_clock ();
    int rc = s_run (out, sizeof out, S_FLAGS " '%s' lock job --wait 200 -- echo ran 2>&1",
                    s_sync_peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "zm: lock job: held by another (waited 200 ms)"), "%s", out);
    cr_assert_lt (zt_clock () - start, 10000);
    //  SIGINT ends a wait at once: exit 1, the command never ran
    char err[128], text[4096], line[256];
    snprintf (err, sizeof err, "%s/stderr", s_sync_dir);
    s_sync_procs[0] = s_sync_spawn (err, "lock", "job", "--wait", "60000", "--", "echo", "ran",
                                    NULL);
    zclock_sleep (1500);
    cr_assert_eq (zt_wait (&s_sync_procs[0], 0), -1, "still waiting");
    start = zt_clock ();
    kill (s_sync_procs[0].pid, SIGINT);
    int status = zt_wait (&s_sync_procs[0], 10000);
    s_read_file (err, text, sizeof text);
    cr_assert_eq (status, 1, "exit %d: %s", status, text);
    cr_assert_lt (zt_clock () - start, 5000);
    cr_assert (strstr (text, "zm: lock job: interrupted"), "%s", text);
    cr_assert_not (zt_read_line (&s_sync_procs[0], line, sizeof line, 0), "ran: %s", line);
    //  Free again: one try is enough
    cr_assert_eq (zm_lock_release (client, "job", token), 0);
    rc = s_run (out, sizeof out, S_FLAGS " '%s' lock job --wait 0 -- echo ran 2>&1",
                s_sync_peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_str_eq (out, "ran\n");
}

Test (zm_tool, lock_forwards_signals_and_stops_the_command_when_lost,
      .fini = s_sync_teardown, .timeout = 120)
{
    s_sync_setup ();
    char err[128], text[4096], line[256];
    snprintf (err, sizeof err, "%s/stderr", s_sync_dir);
    //  SIGTERM to zm goes on to the command; the lock is released after
    s_sync_procs[0] =
        s_sync_spawn (err, "lock", "job", "--", "sh", "-c", "echo running; exec sleep 60", NULL);
    cr_assert (zt_read_line (&s_sync_procs[0], line, sizeof line, 20000), "it did not run");
    cr_assert_str_eq (line, "running");
    cr_assert_not (s_lock_free ("job"), "held while the command runs");
    kill (s_sync_procs[0].pid, SIGTERM);
    int status = zt_wait (&s_sync_procs[0], 15000);
    s_read_file (err, text, sizeof text);
    cr_assert_eq (status, 128 + SIGTERM, "exit %d: %s", status, text);
    cr_assert (s_lock_free ("job"), "released");
    //  The sync group goes away: the lock and the leadership are lost once
    //  their ttl passed without a renewal (stderr: a file each, their lines
    //  would mix)
    char lock_err[128], elect_err[128], elect_text[4096];
    snprintf (lock_err, sizeof lock_err, "%s/lock.stderr", s_sync_dir);
    snprintf (elect_err, sizeof elect_err, "%s/elect.stderr", s_sync_dir);
    s_sync_procs[0] = s_sync_spawn (lock_err, "lock", "job", "--ttl", "600", "--", "sh", "-c",
                                    "echo running; exec sleep 60", NULL);
    s_sync_procs[1] = s_sync_spawn (elect_err, "elect", "boss", "--ttl", "600", NULL);
    cr_assert (zt_read_line (&s_sync_procs[0], line, sizeof line, 20000), "it did not run");
    cr_assert (zt_read_line (&s_sync_procs[1], line, sizeof line, 20000), "no leader");
    for (int i = 0; i < S_SYNC_MEMBERS; i++)
        zm_node_destroy (&s_sync_nodes[i]);
    int64_t gone = zt_clock ();
    int lock_status = zt_wait (&s_sync_procs[0], 20000);
    int elect_status = zt_wait (&s_sync_procs[1], 20000);
    s_read_file (lock_err, text, sizeof text);
    s_read_file (elect_err, elect_text, sizeof elect_text);
    cr_assert_eq (lock_status, 1, "zm lock: exit %d: %s", lock_status, text);
    cr_assert_eq (elect_status, 1, "zm elect: exit %d: %s", elect_status, elect_text);
    cr_assert_lt (zt_clock () - gone, 15000);
    cr_assert (strstr (text, "zm: lock job lost"), "%s", text);
    cr_assert (strstr (elect_text, "zm: elect boss: leadership lost"), "%s", elect_text);
}

Test (zm_tool, elect_leads_until_stopped_and_is_observed, .fini = s_sync_teardown,
      .timeout = 120)
{
    s_sync_setup ();
    char err[128], text[4096], line[2048], out[4096];
    snprintf (err, sizeof err, "%s/stderr", s_sync_dir);
    //  An observer: nobody leads at first
    s_sync_procs[0] = s_sync_spawn (err, "elect", "leader", "--observe", "--count", "3",
                                    "--timeout", "60000", NULL);
    cr_assert (zt_read_line (&s_sync_procs[0], line, sizeof line, 20000), "observer: nothing");
    zm_msg_t *seen = s_json (line);
    cr_assert_str_eq (zm_msg_get_str (seen, "name", ""), "leader", "%s", line);
    cr_assert_eq (zm_msg_get_uint (seen, "term", 99), 0, "%s", line);
    cr_assert_str_eq (zm_msg_get_str (seen, "value", "?"), "", "%s", line);
    zm_msg_destroy (&seen);
    //  A candidate wins and says so
    s_sync_procs[1] = s_sync_spawn (err, "elect", "leader", "--value", "a", NULL);
    cr_assert (zt_read_line (&s_sync_procs[1], line, sizeof line, 20000), "no leader");
    zm_msg_t *won = s_json (line);
    uint64_t term = zm_msg_get_uint (won, "term", 0);
    cr_assert_gt (term, 0, "%s", line);
    cr_assert_str_eq (zm_msg_get_str (won, "name", ""), "leader", "%s", line);
    cr_assert_str_eq (zm_msg_get_str (won, "value", ""), "a", "%s", line);
    zm_msg_destroy (&won);
    //  The observer sees it, and so does a one-shot observer
    cr_assert (zt_read_line (&s_sync_procs[0], line, sizeof line, 20000), "observer: no change");
    seen = s_json (line);
    cr_assert_eq (zm_msg_get_uint (seen, "term", 0), term, "%s", line);
    cr_assert_str_eq (zm_msg_get_str (seen, "value", ""), "a", "%s", line);
    cr_assert_neq (*zm_msg_get_str (seen, "owner", ""), 0, "%s", line);
    zm_msg_destroy (&seen);
    int rc = s_run (out, sizeof out, S_FLAGS " '%s' elect leader --observe --count 1",
                    s_sync_peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    seen = s_json (out);
    cr_assert_eq (zm_msg_get_uint (seen, "term", 0), term, "%s", out);
    cr_assert_str_eq (zm_msg_get_str (seen, "value", ""), "a", "%s", out);
    zm_msg_destroy (&seen);
    //  Another candidate gives up after --wait
    rc = s_run (out, sizeof out, S_FLAGS " '%s' elect leader --value b --wait 300 2>&1",
                s_sync_peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "led by another"), "%s", out);
    //  --timeout ends an observer: exit 0
    int64_t start = zt_clock ();
    rc = s_run (out, sizeof out, S_FLAGS " '%s' elect leader --observe --timeout 500",
                s_sync_peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_lt (zt_clock () - start, 10000);
    seen = s_json (out);
    cr_assert_eq (zm_msg_get_uint (seen, "term", 0), term, "%s", out);
    zm_msg_destroy (&seen);
    //  SIGTERM: the leader resigns and exits 0; nobody leads
    kill (s_sync_procs[1].pid, SIGTERM);
    int status = zt_wait (&s_sync_procs[1], 15000);
    s_read_file (err, text, sizeof text);
    cr_assert_eq (status, 0, "exit %d: %s", status, text);
    zm_leader_t leader;
    cr_assert_eq (zm_elect_observe (s_sync_nodes[S_SYNC_MEMBERS], "leader", 0, 0, &leader), 0);
    cr_assert_eq (leader.term, 0, "resigned: term %" PRIu64, leader.term);
    cr_assert (zt_read_line (&s_sync_procs[0], line, sizeof line, 20000), "observer: no change");
    seen = s_json (line);
    cr_assert_eq (zm_msg_get_uint (seen, "term", 99), 0, "%s", line);
    zm_msg_destroy (&seen);
    //  The observer printed its --count lines: exit 0
    status = zt_wait (&s_sync_procs[0], 15000);
    s_read_file (err, text, sizeof text);
    cr_assert_eq (status, 0, "observer: exit %d: %s", status, text);
}

Test (zm_tool, lock_and_elect_without_members_fail, .timeout = 30)
{
    char out[4096];
    int64_t start = zt_clock ();
    int rc = s_run (out, sizeof out, S_FLAGS " lock job -- echo ran 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "no sync member"), "%s", out);
    rc = s_run (out, sizeof out, S_FLAGS " elect leader 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "no sync member"), "%s", out);
    rc = s_run (out, sizeof out, S_FLAGS " elect leader --observe 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert_lt (zt_clock () - start, 20000);
}

Test (zm_tool, lock_and_elect_bad_usage_exits_2, .timeout = 30)
{
    //  Each line: arguments, and a piece of the error line.
    static const char *cases[][2] = {
        {"lock", "usage: zm lock NAME"},
        {"lock -- true", "usage: zm lock NAME"},
        {"lock job", "after \"--\""},
        {"lock job true", "after \"--\""},
        {"lock job sh -c true", "after \"--\""},
        {"lock job --", "no command"},
        {"lock job extra -- true", "usage: zm lock NAME"},
        {"lock 'a b' -- true", "a name is"},
        {"lock '$elect/x' -- true", "a name is"},
        {"lock job --ttl 50 -- true", "--ttl"},
        {"lock job --ttl 3600001 -- true", "--ttl"},
        {"lock job --ttl x -- true", "--ttl"},
        {"lock job --wait -1 -- true", "--wait"},
        {"lock job --wait 3600001 -- true", "--wait"},
        {"lock job --wait -- true", "--wait"},
        {"lock job --value v -- true", "--value does not apply"},
        {"lock job --timeout 5 -- true", "--timeout does not apply"},
        {"lock job --observe -- true", "--observe does not apply"},
        {"elect", "usage: zm elect NAME"},
        {"elect a b", "usage: zm elect NAME"},
        {"elect 'a b'", "a name is"},
        {"elect x --count 2", "--count does not apply"},
        {"elect x --timeout 5", "--timeout does not apply"},
        {"elect x --ttl 99", "--ttl"},
        {"elect x --observe --value v", "--value does not apply"},
        {"elect x --observe --wait 5", "--wait does not apply"},
        {"elect x --observe --ttl 500", "--ttl does not apply"},
        {"elect x --observe --count 0", "--count"},
        {"call greeter X --wait 5", "--wait does not apply"},
        {"subscribe orders --value v", "--value does not apply"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " %s 2>&1", cases[i][0]);
        cr_assert_eq (rc, 2, "zm %s: exit %d: %s", cases[i][0], rc, out);
        s_assert_error_line (out);
        cr_assert (strstr (out, cases[i][1]), "zm %s: %s", cases[i][0], out);
    }
    //  A value past 1024 bytes
    char value[1100];
    memset (value, 'v', 1025);
    value[1025] = 0;
    int rc = s_run (out, sizeof out, S_FLAGS " elect x --value %s 2>&1", value);
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "--value"), "%s", out);
    //  Help of their own, and in zm help
    cr_assert_eq (s_run (out, sizeof out, "lock --help"), 0);
    cr_assert (strstr (out, "usage: zm [FLAGS] lock NAME") && strstr (out, "ZM_LOCK_TOKEN"),
               "%s", out);
    cr_assert_eq (s_run (out, sizeof out, "elect x --help"), 0);
    cr_assert (strstr (out, "usage: zm [FLAGS] elect NAME") && strstr (out, "--observe"), "%s",
               out);
    cr_assert_eq (s_run (out, sizeof out, "help"), 0);
    cr_assert (strstr (out, "lock NAME [--ttl MS]") && strstr (out, "elect NAME --observe"), "%s",
               out);
}

//  --------------------------------------------------------------------------
//  zm stream, against a stream_node (tests/helpers/stream_node.c): its
//  "streams" service has Echo, Produce, Fail... and it prints a line
//  "EVENT <endpoint> ..." for every stream that ends.

static zt_proc_t
s_start_stream_node (void)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/tests/helpers/stream_node", zt_build_dir ());
    const char *argv[] = {path, "--node.name=x", "--log.level=warning", NULL};
    zt_proc_t node = zt_spawn (argv, NULL);
    cr_assert (node.pid > 0, "cannot start %s", path);
    cr_assert (zt_ready (&node, 10000) > 0, "stream_node did not start");
    return node;
}

//  Wait for stream_node's next line that starts with prefix; the rest of it.
static char *
s_expect_event (zt_proc_t *node, const char *prefix)
{
    static char line[512];
    int64_t until = zt_clock () + 5000;
    while (zt_clock () < until)
        if (zt_read_line (node, line, sizeof line, (int) (until - zt_clock ()))
            && strncmp (line, prefix, strlen (prefix)) == 0)
            return line + strlen (prefix);
    cr_assert_fail ("no '%s' from stream_node in 5 s", prefix);
    return NULL;
}

//  text in a new temporary file, for zm's stdin; its name into path (64).
static void
s_temp_input (char *path, const char *text)
{
    snprintf (path, 64, "/tmp/zm-stream-in-XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0, "mkstemp: %s", strerror (errno));
    size_t len = strlen (text);
    cr_assert_eq (write (fd, text, len), (ssize_t) len);
    close (fd);
}

Test (zm_tool, stream_echoes_json_lines, .timeout = 60)
{
    zt_proc_t node = s_start_stream_node ();
    char input[64];
    //  Any JSON value per line; a blank line is skipped; the last line
    //  has no newline
    s_temp_input (input, "{\"seq\": 1, \"name\": \"ada\"}\n"
                         "[1, 2, {\"deep\": [true, null]}]\n"
                         "\n"
                         "\"just a string\"\n"
                         "  {\"seq\": 4, \"pi\": 3.5}  ");
    char out[8192];
    int rc = s_run (out, sizeof out, S_FLAGS " stream streams Echo --via '%s' < %s",
                    node.address, input);
    unlink (input);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    //  Four messages back, in order, each one JSON line
    char *lines[8] = {NULL};
    int count = 0;
    for (char *save = NULL, *line = strtok_r (out, "\n", &save); line && count < 8;
         line = strtok_r (NULL, "\n", &save))
        lines[count++] = line;
    cr_assert_eq (count, 4, "%d lines", count);
    zm_msg_t *msg = s_json (lines[0]);
    cr_assert_eq (zm_msg_get_int (msg, "seq", -1), 1);
    cr_assert_str_eq (zm_msg_get_str (msg, "name", ""), "ada");
    zm_msg_destroy (&msg);
    msg = s_json (lines[1]);
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (root), ZM_TYPE_ARRAY);
    cr_assert_eq (zm_val_size (root), 3);
    cr_assert_eq (zm_val_int (zm_val_at (root, 1), 0), 2);
    const zm_val_t *deep = zm_val_get (zm_val_at (root, 2), "deep");
    cr_assert_eq (zm_val_size (deep), 2);
    cr_assert (zm_val_bool (zm_val_at (deep, 0), false));
    cr_assert_eq (zm_val_type (zm_val_at (deep, 1)), ZM_TYPE_NIL);
    zm_msg_destroy (&msg);
    msg = s_json (lines[2]);
    cr_assert_str_eq (zm_val_str (zm_msg_root (msg), "", NULL), "just a string");
    zm_msg_destroy (&msg);
    msg = s_json (lines[3]);
    cr_assert_eq (zm_msg_get_int (msg, "seq", -1), 4);
    cr_assert_float_eq (zm_msg_get_float (msg, "pi", 0), 3.5, 1e-9);
    zm_msg_destroy (&msg);
    //  zm closed its side at the end of stdin, after the four; the server
    //  ended the stream once all was echoed
    cr_assert_str_eq (s_expect_event (&node, "EVENT Echo INPUT_END "), "4");
    s_expect_event (&node, "EVENT Echo END");

    //  The open message, and discovery through a static peer. More than a
    //  window (128) of messages: the stream cannot end before zm_stream_open
    //  returns (a stream ended that soon can be reported as a timeout, see
    //  the commit message)
    size_t size = 65536;
    char *many = (char *) malloc (size);
    rc = s_run (many, size,
                S_FLAGS " '--registry.peers=%s' stream streams Produce "
                        "--open '{\"count\": 300, \"size\": 2}' < /dev/null",
                node.address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, many);
    char *line = many;
    for (int seq = 0; seq < 300; seq++) {
        char expected[64];
        snprintf (expected, sizeof expected, "{\"seq\":%d,\"data\":{\"$bin\":\"eHg=\"}}\n", seq);
        cr_assert (strncmp (line, expected, strlen (expected)) == 0, "seq %d: %.60s", seq, line);
        line += strlen (expected);
    }
    cr_assert_str_eq (line, "", "more than 300 lines");
    free (many);
    zt_kill (&node, SIGTERM);
}

Test (zm_tool, stream_echoes_many_lines_both_ways_at_once, .timeout = 60)
{
    //  Far more than the window (128) each way: zm must read while it
    //  sends, or the echo stalls
    zt_proc_t node = s_start_stream_node ();
    char input[64];
    size_t size = 20000 * 24;
    char *text = (char *) malloc (size), *at = text;
    for (int i = 0; i < 20000; i++)
        at += sprintf (at, "{\"seq\":%d}\n", i);
    s_temp_input (input, text);
    char *out = (char *) malloc (size);
    int rc = s_run (out, size, S_FLAGS " stream streams Echo --via '%s' < %s", node.address,
                    input);
    unlink (input);
    cr_assert_eq (rc, 0, "exit %d", rc);
    cr_assert_str_eq (out, text, "the echo differs");
    cr_assert_str_eq (s_expect_event (&node, "EVENT Echo INPUT_END "), "20000");
    free (text);
    free (out);
    zt_kill (&node, SIGTERM);
}

Test (zm_tool, stream_refused_exits_1, .timeout = 60)
{
    zt_proc_t node = s_start_stream_node ();
    char out[4096];
    //  Fail refuses every stream with 409
    int rc = s_run (out, sizeof out, S_FLAGS " stream streams Fail --via '%s' < /dev/null 2>&1",
                    node.address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "zm: streams.Fail: 409"), "%s", out);
    cr_assert (strstr (out, "refused on purpose"), "%s", out);
    //  No such stream endpoint: 404
    rc = s_run (out, sizeof out, S_FLAGS " stream streams Nope --via '%s' < /dev/null 2>&1",
                node.address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "404"), "%s", out);
    //  The stream's deadline passes: 408
    rc = s_run (out, sizeof out,
                S_FLAGS " stream streams Hang --via '%s' --timeout 500 < /dev/null 2>&1",
                node.address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "408"), "%s", out);
    zt_kill (&node, SIGTERM);
}

Test (zm_tool, stream_bad_json_exits_2, .timeout = 60)
{
    zt_proc_t node = s_start_stream_node ();
    char input[64], out[4096];
    s_temp_input (input, "{\"seq\": 1}\n{\"seq\": 2\n{\"seq\": 3}\n");
    //  stdout and stderr apart: the first line may or may not be echoed
    //  before zm gives up
    int rc = s_run (out, sizeof out,
                    S_FLAGS " stream streams Echo --via '%s' < %s 2>&1 >/dev/null",
                    node.address, input);
    unlink (input);
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "line 2 of stdin is not valid JSON"), "%s", out);
    //  The stream was cancelled, not ended
    cr_assert (strstr (s_expect_event (&node, "EVENT Echo "), "CANCEL 499"));
    //  A bad open message: refused before any stream
    rc = s_run (out, sizeof out,
                S_FLAGS " stream streams Echo --via '%s' --open '{\"count\":' < /dev/null 2>&1",
                node.address);
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "the open message is not valid JSON"), "%s", out);
    zt_kill (&node, SIGTERM);
}

Test (zm_tool, stream_bad_usage_exits_2, .timeout = 20)
{
    static const char *cases[][2] = {
        {"stream", "usage: zm stream"},
        {"stream streams", "usage: zm stream"},
        {"stream streams Echo extra", "usage: zm stream"},
        {"stream 'bad name' Echo", "names"},
        {"stream streams Echo --open", "needs a value"},
        {"stream streams Echo --timeout 3600001", "--timeout"},
        {"stream streams Echo --count 3", "--count does not apply"},
        {"stream streams Echo --via http://x:1", "--via"},
        {"call greeter Say.Hello --open '{}'", "--open does not apply"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " %s < /dev/null 2>&1", cases[i][0]);
        cr_assert_eq (rc, 2, "zm %s: exit %d: %s", cases[i][0], rc, out);
        s_assert_error_line (out);
        cr_assert (strstr (out, cases[i][1]), "zm %s: %s", cases[i][0], out);
    }
    cr_assert_eq (s_run (out, sizeof out, "stream --help"), 0);
    cr_assert (strstr (out, "usage: zm [FLAGS] stream SERVICE ENDPOINT"), "%s", out);
    cr_assert_eq (s_run (out, sizeof out, "help"), 0);
    cr_assert (strstr (out, "stream SERVICE ENDPOINT [--open JSON]"), "%s", out);
}

//  --------------------------------------------------------------------------
//  zm describe, watch, health, stats, config, bench; help and output format

//  The nodes of these tests, for the teardown: it runs after a failed
//  assertion too.
static zt_proc_t s_fleet[2] = {ZT_PROC_NONE, ZT_PROC_NONE};

static void
s_fleet_teardown (void)
{
    for (size_t i = 0; i < sizeof s_fleet / sizeof s_fleet[0]; i++)
        zt_kill (&s_fleet[i], SIGTERM);
}

//  Start alpha and, when two, beta; peers gets "'--registry.peers=A[,B]'".
static void
s_fleet_start (int count, char *peers, size_t size)
{
    s_fleet[0] = s_start_node ("alpha");
    if (count > 1)
        s_fleet[1] = s_start_node ("beta");
    snprintf (peers, size, "'--registry.peers=%s%s%s'", s_fleet[0].address,
              count > 1 ? "," : "", count > 1 ? s_fleet[1].address : "");
}

//  An address where nothing listens, with a well-formed key: the node at
//  port 1 of loopback (never ours: below 1024).
static void
s_dead_address (char *address, size_t size)
{
    snprintf (address, size, "tcp://127.0.0.1:1#%s", s_fleet[0].key);
}

//  Split out into its lines (in place); returns how many (at most max).
static int
s_lines (char *out, char **lines, int max)
{
    int count = 0;
    for (char *save = NULL, *line = strtok_r (out, "\n", &save); line && count < max;
         line = strtok_r (NULL, "\n", &save))
        lines[count++] = line;
    return count;
}

//  Run `zm ARGS` with stderr into a file of its own; its one line into err
//  (asserted one line "zm: ..." when the exit status is not 0).
static int
s_run_err (char *out, size_t size, char *err, size_t err_size, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

static int
s_run_err (char *out, size_t size, char *err, size_t err_size, const char *format, ...)
{
    char args[3000], path[64];
    va_list list;
    va_start (list, format);
    vsnprintf (args, sizeof args, format, list);
    va_end (list);
    snprintf (path, sizeof path, "/tmp/zm-tool-err-%d", (int) getpid ());
    int rc = s_run (out, size, S_FLAGS " %s 2>%s", args, path);
    s_read_file (path, err, err_size);
    unlink (path);
    if (rc != 0)
        s_assert_error_line (err);
    return rc;
}

//  A string in a JSON array?
static bool
s_has (const zm_val_t *array, const char *text)
{
    for (size_t i = 0; i < zm_val_size (array); i++)
        if (strcmp (zm_val_str (zm_val_at (array, i), "", NULL), text) == 0)
            return true;
    return false;
}

//  Every command: its name, as zm --help lists it.
static const char *s_commands[] = {"call",  "stream", "publish", "subscribe", "services",
                                   "describe", "watch", "health", "stats",  "config",
                                   "bench", "store",  "lock",    "elect",     "keygen",
                                   "help"};

Test (zm_tool, help_for_every_command, .timeout = 30)
{
    char out[8192], again[8192], general[16384];
    cr_assert_eq (s_run (general, sizeof general, "--help"), 0);
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        const char *name = s_commands[i];
        //  Its own usage, on stdout, exit 0; the same through zm help
        int rc = s_run (out, sizeof out, "%s --help", name);
        cr_assert_eq (rc, 0, "zm %s --help: exit %d", name, rc);
        char head[64];
        snprintf (head, sizeof head, " %s ", name);
        cr_assert (strncmp (out, "usage: zm ", 10) == 0 && strstr (out, head), "zm %s --help: %s",
                   name, out);
        cr_assert_neq (strcmp (out, general), 0, "zm %s --help is zm --help", name);
        cr_assert_eq (s_run (again, sizeof again, "help %s", name), 0);
        cr_assert_str_eq (again, out, "zm help %s", name);
        //  -h too, after arguments and flags
        cr_assert_eq (s_run (again, sizeof again, S_FLAGS " %s x -h", name), 0);
        cr_assert_str_eq (again, out, "zm %s x -h", name);
        //  zm --help lists it
        char listed[64];
        snprintf (listed, sizeof listed, "\n  %s", name);
        cr_assert (strstr (general, listed), "zm --help does not list %s", name);
    }
    //  A command there is not: exit 2, one line
    int rc = s_run (out, sizeof out, "help frobnicate 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "frobnicate"), "%s", out);
    rc = s_run (out, sizeof out, "frobnicate --help 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
}

Test (zm_tool, describe_service_across_nodes, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192];
    s_fleet_start (2, peers, sizeof peers);
    int rc = s_run (out, sizeof out, S_FLAGS " %s describe greeter", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    char *lines[4];
    cr_assert_eq (s_lines (out, lines, 4), 1, "one line when piped");
    zm_msg_t *answer = s_json (lines[0]);
    const zm_val_t *root = zm_msg_root (answer);
    cr_assert_str_eq (zm_msg_get_str (answer, "name", ""), "greeter");
    const zm_val_t *versions = zm_val_get (root, "versions");
    cr_assert_eq (zm_val_size (versions), 1);
    cr_assert (s_has (versions, "1.0.0"));
    const zm_val_t *endpoints = zm_val_get (root, "endpoints");
    cr_assert_eq (zm_val_size (endpoints), 4);
    cr_assert (s_has (endpoints, "Say.Hello") && s_has (endpoints, "Echo")
               && s_has (endpoints, "Fail") && s_has (endpoints, "Slow"));
    cr_assert_eq (zm_val_type (zm_val_get (root, "streams")), ZM_TYPE_ARRAY);
    cr_assert_eq (zm_val_size (zm_val_get (root, "streams")), 0);
    //  Both nodes, by name, each with its address, metadata and endpoints
    const zm_val_t *nodes = zm_val_get (root, "nodes");
    cr_assert_eq (zm_val_size (nodes), 2);
    for (size_t i = 0; i < 2; i++) {
        const zm_val_t *node = zm_val_at (nodes, i);
        const char *name = i == 0 ? "alpha" : "beta";
        char address[64];
        snprintf (address, sizeof address, "tcp://127.0.0.1:%d", s_fleet[i].port);
        cr_assert_str_eq (zm_val_str (zm_val_get (node, "name"), "", NULL), name);
        cr_assert_str_eq (zm_val_str (zm_val_get (node, "address"), "", NULL), address);
        cr_assert_eq (strlen (zm_val_str (zm_val_get (node, "uuid"), "", NULL)), 32);
        cr_assert_str_eq (zm_val_str (zm_val_get (node, "version"), "", NULL), "1.0.0");
        cr_assert_eq (zm_val_int (zm_val_get (node, "instances"), 0), 1);
        cr_assert (s_has (zm_val_get (node, "endpoints"), "Say.Hello"));
        const zm_val_t *meta = zm_val_get (node, "metadata");
        cr_assert_str_eq (zm_val_str (zm_val_get (meta, "team"), "", NULL), "core");
        cr_assert_str_eq (zm_val_str (zm_val_get (meta, "node"), "", NULL), name);
    }
    zm_msg_destroy (&answer);
    //  --node: only beta's
    rc = s_run (out, sizeof out, S_FLAGS " %s describe greeter --node beta", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    answer = s_json (out);
    nodes = zm_val_get (zm_msg_root (answer), "nodes");
    cr_assert_eq (zm_val_size (nodes), 1);
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_at (nodes, 0), "name"), "", NULL), "beta");
    zm_msg_destroy (&answer);
    //  --via: the built-in "$node" as alpha describes it
    rc = s_run (out, sizeof out, S_FLAGS " describe '$node' --via '%s'", s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    answer = s_json (out);
    endpoints = zm_val_get (zm_msg_root (answer), "endpoints");
    cr_assert (s_has (endpoints, "describe") && s_has (endpoints, "health")
                   && s_has (endpoints, "stats"),
               "%s", out);
    nodes = zm_val_get (zm_msg_root (answer), "nodes");
    cr_assert_eq (zm_val_size (nodes), 1);
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_at (nodes, 0), "name"), "", NULL),
                      "alpha");
    zm_msg_destroy (&answer);
}

Test (zm_tool, describe_unknown_service_exits_1, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096], dead[128];
    s_fleet_start (1, peers, sizeof peers);
    s_dead_address (dead, sizeof dead);
    int rc = s_run_err (out, sizeof out, err, sizeof err, "%s describe nobody", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "no node serves \"nobody\"") && strstr (err, "1 other node"), "%s",
               err);
    cr_assert_str_eq (out, "", "nothing on stdout");
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s describe greeter --node gamma", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "no node named \"gamma\""), "%s", err);
    rc = s_run_err (out, sizeof out, err, sizeof err, "describe nobody --via '%s'",
                    s_fleet[0].address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "does not serve \"nobody\""), "%s", err);
    //  Nobody there: bounded by --timeout
    int64_t start = zt_clock ();
    rc = s_run_err (out, sizeof out, err, sizeof err, "describe greeter --via '%s' --timeout 500",
                    dead);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert_lt (zt_clock () - start, 10000);
    //  No node known at all
    rc = s_run_err (out, sizeof out, err, sizeof err, "describe greeter --timeout 300");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
}

//  Read watch's lines until one is event action of type (and service, when
//  not NULL) about the node named name, for at most ms; returns it decoded.
static zm_msg_t *
s_expect_watch (zt_proc_t *watch, const char *action, const char *type, const char *name,
                const char *service, int ms)
{
    char line[8192];
    int64_t until = zt_clock () + ms;
    while (zt_clock () < until) {
        if (!zt_read_line (watch, line, sizeof line, (int) (until - zt_clock ())))
            break;
        zm_msg_t *event = s_json (line);
        const char *svc = zm_val_str (
            zm_val_get (zm_val_get (zm_msg_root (event), "service"), "name"), "", NULL);
        if (strcmp (zm_msg_get_str (event, "action", ""), action) == 0
            && strcmp (zm_msg_get_str (event, "type", ""), type) == 0
            && strcmp (zm_msg_get_str (event, "name", ""), name) == 0
            && (!service || strcmp (svc, service) == 0))
            return event;
        zm_msg_destroy (&event);
    }
    cr_assert_fail ("watch: no %s %s event about %s%s%s within %d ms", action, type, name,
                    service ? " service " : "", service ? service : "", ms);
    return NULL;
}

Test (zm_tool, watch_prints_registry_events, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], uuid[64], address[64];
    s_fleet_start (1, peers, sizeof peers);
    s_node_uuid (s_fleet[0].address, uuid, sizeof uuid);
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d", s_fleet[0].port);
    //  Asked every 200 ms: a node gone is dropped after two silent rounds
    char flag[300];
    snprintf (flag, sizeof flag, "--registry.peers=%s", s_fleet[0].address);
    const char *argv[] = {s_zm (), "--registry.beacon=false", "--log.level=warning",
                          "--registry.ttl=200", flag, "watch", "--timeout", "50000", NULL};
    zt_proc_t watch = zt_spawn (argv, NULL);
    cr_assert (watch.pid > 0);
    //  alpha comes: the node, then its services
    zm_msg_t *event = s_expect_watch (&watch, "add", "node", "alpha", NULL, 10000);
    cr_assert_str_eq (zm_msg_get_str (event, "node", ""), uuid);
    cr_assert_str_eq (zm_msg_get_str (event, "host", ""), "127.0.0.1");
    cr_assert_str_eq (zm_msg_get_str (event, "public_key", ""), s_fleet[0].key);
    const zm_val_t *addresses = zm_val_get (zm_msg_root (event), "addresses");
    cr_assert (s_has (addresses, address));
    zm_msg_destroy (&event);
    event = s_expect_watch (&watch, "add", "service", "alpha", "greeter", 5000);
    const zm_val_t *svc = zm_val_get (zm_msg_root (event), "service");
    cr_assert_str_eq (zm_val_str (zm_val_get (svc, "version"), "", NULL), "1.0.0");
    cr_assert (s_has (zm_val_get (svc, "endpoints"), "Say.Hello"));
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (svc, "metadata"), "team"), "", NULL),
                      "core");
    zm_msg_destroy (&event);
    //  alpha goes
    zt_kill (&s_fleet[0], SIGTERM);
    event = s_expect_watch (&watch, "remove", "node", "alpha", NULL, 15000);
    cr_assert_str_eq (zm_msg_get_str (event, "node", ""), uuid);
    zm_msg_destroy (&event);
    //  SIGTERM: the normal end
    kill (watch.pid, SIGTERM);
    cr_assert_eq (zt_wait (&watch, 10000), 0, "zm watch exits 0 on SIGTERM");
    zt_kill (&watch, SIGKILL);
}

Test (zm_tool, watch_stops, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096];
    //  Nothing to see, --timeout: exit 0, nothing printed
    int64_t start = zt_clock ();
    int rc = s_run_err (out, sizeof out, err, sizeof err, "watch --timeout 300");
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    cr_assert_str_eq (out, "");
    //  --count events not seen within --timeout: exit 1
    rc = s_run_err (out, sizeof out, err, sizeof err, "watch --count 1 --timeout 300");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "0 of 1 event"), "%s", err);
    cr_assert_lt (zt_clock () - start, 10000);
    //  --count: exactly that many, one line each (piped), the node first
    s_fleet_start (1, peers, sizeof peers);
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s watch --count 2 --timeout 20000",
                    peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    char *lines[8];
    cr_assert_eq (s_lines (out, lines, 8), 2, "two lines");
    zm_msg_t *first = s_json (lines[0]), *second = s_json (lines[1]);
    cr_assert_str_eq (zm_msg_get_str (first, "type", ""), "node");
    cr_assert_str_eq (zm_msg_get_str (first, "action", ""), "add");
    cr_assert_str_eq (zm_msg_get_str (second, "type", ""), "service");
    cr_assert_str_eq (zm_msg_get_str (second, "name", ""), "alpha");
    zm_msg_destroy (&first);
    zm_msg_destroy (&second);
}

//  Check one line of zm health: a healthy node named name at port.
static void
s_assert_healthy (const char *line, const char *name, int port)
{
    zm_msg_t *node = s_json (line);
    char address[64];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d", port);
    cr_assert_str_eq (zm_msg_get_str (node, "name", ""), name, "%s", line);
    cr_assert_str_eq (zm_msg_get_str (node, "address", ""), address, "%s", line);
    cr_assert_eq (strlen (zm_msg_get_str (node, "uuid", "")), 32, "%s", line);
    cr_assert (zm_msg_get_bool (node, "healthy", false), "%s", line);
    cr_assert (zm_msg_get_bool (node, "live", false), "%s", line);
    cr_assert (zm_msg_get_bool (node, "ready", false), "%s", line);
    cr_assert_str_eq (zm_msg_get_str (node, "status", ""), "serving", "%s", line);
    cr_assert (zm_msg_get_int (node, "latency_us", 0) > 0, "%s", line);
    cr_assert_null (zm_val_get (zm_msg_root (node), "error"), "%s", line);
    zm_msg_destroy (&node);
}

Test (zm_tool, health_of_every_node, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096];
    s_fleet_start (2, peers, sizeof peers);
    //  Every node known: one line each, by name
    int rc = s_run_err (out, sizeof out, err, sizeof err, "%s health", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    char *lines[8];
    cr_assert_eq (s_lines (out, lines, 8), 2, "one line per node");
    s_assert_healthy (lines[0], "alpha", s_fleet[0].port);
    s_assert_healthy (lines[1], "beta", s_fleet[1].port);
    //  Those serving a service
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s health greeter", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq (s_lines (out, lines, 8), 2);
    //  One by name, one by address
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s health --node beta", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq (s_lines (out, lines, 8), 1);
    s_assert_healthy (lines[0], "beta", s_fleet[1].port);
    rc = s_run_err (out, sizeof out, err, sizeof err, "health --via '%s'", s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq (s_lines (out, lines, 8), 1);
    s_assert_healthy (lines[0], "alpha", s_fleet[0].port);
}

Test (zm_tool, health_unreachable_exits_1, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096], dead[128];
    s_fleet_start (1, peers, sizeof peers);
    s_dead_address (dead, sizeof dead);
    //  A static peer that never answers is a node that is down: its line
    //  says so, alpha's is healthy, exit 1 with one line naming it
    int rc = s_run_err (out, sizeof out, err, sizeof err,
                        "'--registry.peers=%s,%s' health --timeout 2000", s_fleet[0].address,
                        dead);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "zm: health: 1 of 2 node(s) unhealthy: tcp://127.0.0.1:1: "), "%s",
               err);
    char *lines[8];
    cr_assert_eq (s_lines (out, lines, 8), 2, "one line per node");
    zm_msg_t *down = s_json (lines[0]);
    cr_assert_str_eq (zm_msg_get_str (down, "address", ""), "tcp://127.0.0.1:1");
    cr_assert_not (zm_msg_get_bool (down, "healthy", true));
    cr_assert (*zm_msg_get_str (down, "error", ""), "%s", lines[0]);
    cr_assert_null (zm_val_get (zm_msg_root (down), "name"), "never heard from: %s", lines[0]);
    zm_msg_destroy (&down);
    s_assert_healthy (lines[1], "alpha", s_fleet[0].port);
    //  --via a node that is not there; a name or service no node has
    int64_t start = zt_clock ();
    rc = s_run_err (out, sizeof out, err, sizeof err, "health --via '%s' --timeout 500", dead);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert_lt (zt_clock () - start, 10000);
    zm_msg_t *line = s_json (out);
    cr_assert_not (zm_msg_get_bool (line, "healthy", true));
    zm_msg_destroy (&line);
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s health --node gamma", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "no node named \"gamma\""), "%s", err);
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s health nobody", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "no node serves \"nobody\""), "%s", err);
    //  A node gone since: exit 1
    zt_kill (&s_fleet[0], SIGTERM);
    rc = s_run_err (out, sizeof out, err, sizeof err, "health --via '%s' --timeout 500",
                    s_fleet[0].address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
}

//  From a line of zm stats: SERVICE.ENDPOINT's "requests", -1 when absent.
static int64_t
s_endpoint_requests (const zm_msg_t *line, const char *service, const char *endpoint)
{
    const zm_val_t *services = zm_val_get (zm_val_get (zm_msg_root (line), "stats"), "services");
    return zm_val_int (zm_val_get (zm_val_get (zm_val_get (services, service), endpoint),
                                   "requests"),
                       -1);
}

Test (zm_tool, stats_count_the_calls, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096];
    s_fleet_start (2, peers, sizeof peers);
    for (int i = 0; i < 3; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " call greeter Echo --via '%s'",
                        s_fleet[0].address);
        cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    }
    int rc = s_run (out, sizeof out, S_FLAGS " call greeter Fail --via '%s' 2>/dev/null",
                    s_fleet[0].address);
    cr_assert_eq (rc, 1);
    rc = s_run_err (out, sizeof out, err, sizeof err, "stats --via '%s'", s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    char *lines[8];
    cr_assert_eq (s_lines (out, lines, 8), 1);
    zm_msg_t *alpha = s_json (lines[0]);
    cr_assert_str_eq (zm_msg_get_str (alpha, "name", ""), "alpha");
    cr_assert_eq (strlen (zm_msg_get_str (alpha, "uuid", "")), 32);
    const zm_val_t *stats = zm_val_get (zm_msg_root (alpha), "stats");
    cr_assert (zm_val_int (zm_val_get (zm_val_get (stats, "rpc"), "requests"), 0) >= 4, "%s",
               lines[0]);
    cr_assert_eq (s_endpoint_requests (alpha, "greeter", "Echo"), 3, "%s", lines[0]);
    cr_assert_eq (s_endpoint_requests (alpha, "greeter", "Fail"), 1, "%s", lines[0]);
    const zm_val_t *fail = zm_val_get (
        zm_val_get (zm_val_get (stats, "services"), "greeter"), "Fail");
    cr_assert_eq (zm_val_int (zm_val_get (fail, "errors"), 0), 1, "%s", lines[0]);
    cr_assert_eq (zm_val_int (zm_val_get (fail, "last_error_code"), 0), 409, "%s", lines[0]);
    zm_msg_destroy (&alpha);
    //  Every node, by name: beta served none of it
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s stats", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq (s_lines (out, lines, 8), 2, "one line per node");
    zm_msg_t *first = s_json (lines[0]), *second = s_json (lines[1]);
    cr_assert_str_eq (zm_msg_get_str (first, "name", ""), "alpha");
    cr_assert_eq (s_endpoint_requests (first, "greeter", "Echo"), 3);
    cr_assert_str_eq (zm_msg_get_str (second, "name", ""), "beta");
    cr_assert_eq (s_endpoint_requests (second, "greeter", "Echo"), 0);
    zm_msg_destroy (&first);
    zm_msg_destroy (&second);
    //  --node
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s stats --node beta", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq (s_lines (out, lines, 8), 1);
    cr_assert (strstr (lines[0], "\"name\":\"beta\""), "%s", lines[0]);
}

Test (zm_tool, stats_unreachable_exits_1, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096], dead[128];
    s_fleet_start (1, peers, sizeof peers);
    s_dead_address (dead, sizeof dead);
    //  The node that answers is printed; the other one fails the command
    int rc = s_run_err (out, sizeof out, err, sizeof err,
                        "'--registry.peers=%s,%s' stats --timeout 2000", s_fleet[0].address, dead);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "zm: stats: 1 of 2 node(s) did not answer: tcp://127.0.0.1:1"), "%s",
               err);
    char *lines[8];
    cr_assert_eq (s_lines (out, lines, 8), 1);
    zm_msg_t *alpha = s_json (lines[0]);
    cr_assert_str_eq (zm_msg_get_str (alpha, "name", ""), "alpha");
    zm_msg_destroy (&alpha);
    rc = s_run_err (out, sizeof out, err, sizeof err, "stats --via '%s' --timeout 500", dead);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert_str_eq (out, "");
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s stats --node gamma", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    rc = s_run_err (out, sizeof out, err, sizeof err, "stats --timeout 300");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "no node known"), "%s", err);
}

//  The line of key in zm config's output (lines), decoded; asserts it is
//  there once.
static zm_msg_t *
s_config_key (char **lines, int count, const char *key)
{
    zm_msg_t *found = NULL;
    for (int i = 0; i < count; i++) {
        zm_msg_t *item = s_json (lines[i]);
        if (strcmp (zm_msg_get_str (item, "key", ""), key) == 0) {
            cr_assert_null (found, "%s twice", key);
            found = item;
        }
        else
            zm_msg_destroy (&item);
    }
    cr_assert_not_null (found, "no %s", key);
    return found;
}

Test (zm_tool, config_says_where_each_value_comes_from, .timeout = 30)
{
    char file[] = "/tmp/zm-tool-config-XXXXXX";
    int fd = mkstemp (file);
    cr_assert (fd >= 0);
    const char *json = "{\"rpc\": {\"timeout\": 1234}, \"log\": {\"level\": \"info\"}}";
    cr_assert_eq (write (fd, json, strlen (json)), (ssize_t) strlen (json));
    close (fd);
    //  default < file < environment < flags
    size_t size = 65536;
    char *out = (char *) malloc (size), command[8000];
    snprintf (command, sizeof command,
              "ZM_REGISTRY_TTL=777 ZM_LOG_LEVEL=notice %s config --config %s "
              "--log.level=debug --app.colour=blue",
              s_zm (), file);
    int rc = zt_run (command, out, size);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    char *lines[400];
    int count = s_lines (out, lines, 400);
    cr_assert_gt (count, 40, "one line per key: %d", count);
    static const struct {
        const char *key, *layer, *type;
    } expected[] = {{"rpc.timeout", "file", "int"},    {"registry.ttl", "env", "int"},
                    {"log.level", "flags", "str"},     {"rpc.retries", "default", "int"},
                    {"registry.beacon", "env", "bool"}, {"app.colour", "flags", "str"}};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        zm_msg_t *item = s_config_key (lines, count, expected[i].key);
        cr_assert_str_eq (zm_msg_get_str (item, "layer", ""), expected[i].layer, "%s",
                          expected[i].key);
        cr_assert_str_eq (zm_msg_get_str (item, "type", ""), expected[i].type, "%s",
                          expected[i].key);
        cr_assert_not_null (zm_val_get (zm_msg_root (item), "description"));
        const char *key = expected[i].key;
        if (strcmp (key, "rpc.timeout") == 0)
            cr_assert_eq (zm_msg_get_int (item, "value", 0), 1234);
        else if (strcmp (key, "registry.ttl") == 0)
            cr_assert_eq (zm_msg_get_int (item, "value", 0), 777);
        else if (strcmp (key, "log.level") == 0)
            cr_assert_str_eq (zm_msg_get_str (item, "value", ""), "debug");
        else if (strcmp (key, "registry.beacon") == 0)
            cr_assert_not (zm_msg_get_bool (item, "value", true));  //  the tests' ZM_*
        else if (strcmp (key, "app.colour") == 0)
            cr_assert_str_eq (zm_msg_get_str (item, "value", ""), "blue");
        zm_msg_destroy (&item);
    }
    //  The runtime's defaults, not the tool's own (log.level "warning")
    rc = s_run (out, size, "config log.level");
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    cr_assert_eq (s_lines (out, lines, 400), 1, "one key, one line");
    zm_msg_t *item = s_json (lines[0]);
    cr_assert_str_eq (zm_msg_get_str (item, "layer", ""), "default");
    cr_assert_str_eq (zm_msg_get_str (item, "value", ""), "notice");
    zm_msg_destroy (&item);
    rc = s_run (out, size, "config rpc.timeout --config=%s", file);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    item = s_json (out);
    cr_assert_eq (zm_msg_get_int (item, "value", 0), 1234);
    zm_msg_destroy (&item);
    //  A key there is not: exit 1; values the configuration refuses: exit 2
    rc = s_run (out, size, "config no.such.key 2>&1");
    cr_assert_eq (rc, 1, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "no.such.key"), "%s", out);
    rc = s_run (out, size, "config --rpc.timeout=soon 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    cr_assert (strstr (out, "rpc.timeout"), "%s", out);
    rc = s_run (out, size, "config --config /nonexistent/zm.json 2>&1");
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    snprintf (command, sizeof command, "ZM_RPC_TIMEOUT=never %s config 2>&1", s_zm ());
    rc = zt_run (command, out, size);
    cr_assert_eq (rc, 2, "exit %d: %s", rc, out);
    s_assert_error_line (out);
    unlink (file);
    free (out);
}

Test (zm_tool, bench_measures_calls, .fini = s_fleet_teardown, .timeout = 90)
{
    char peers[512], out[8192], err[4096];
    s_fleet_start (1, peers, sizeof peers);
    int rc = s_run_err (out, sizeof out, err, sizeof err,
                        "bench greeter Echo --requests 300 --concurrency 4 --body '{\"seq\": 5}' "
                        "--via '%s'",
                        s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    char *lines[4];
    cr_assert_eq (s_lines (out, lines, 4), 1, "one object");
    zm_msg_t *result = s_json (lines[0]);
    cr_assert_str_eq (zm_msg_get_str (result, "service", ""), "greeter");
    cr_assert_str_eq (zm_msg_get_str (result, "endpoint", ""), "Echo");
    cr_assert_eq (zm_msg_get_int (result, "requests", 0), 300, "%s", lines[0]);
    cr_assert_eq (zm_msg_get_int (result, "concurrency", 0), 4, "%s", lines[0]);
    cr_assert_eq (zm_msg_get_int (result, "errors", -1), 0, "%s", lines[0]);
    double elapsed = zm_msg_get_float (result, "elapsed_ms", 0);
    double rate = zm_msg_get_float (result, "calls_per_s", 0);
    cr_assert (elapsed > 0 && rate > 0, "%s", lines[0]);
    //  300 calls in elapsed ms: the rate says so (to its rounding)
    cr_assert_float_eq (rate, 300 * 1000.0 / elapsed, 0.06 + rate * 1e-6, "%s", lines[0]);
    int64_t p50 = zm_msg_get_int (result, "p50_us", 0), p99 = zm_msg_get_int (result, "p99_us", 0),
            max = zm_msg_get_int (result, "max_us", 0);
    cr_assert (p50 > 0 && p50 <= p99 && p99 <= max, "%s", lines[0]);
    cr_assert_leq (p50, (int64_t) (elapsed * 1000), "%s", lines[0]);
    zm_msg_destroy (&result);
    //  Real calls: the node counted them, and each caller's first one
    rc = s_run (out, sizeof out, S_FLAGS " stats --via '%s'", s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, out);
    zm_msg_t *stats = s_json (out);
    cr_assert_eq (s_endpoint_requests (stats, "greeter", "Echo"), 304, "%s", out);
    zm_msg_destroy (&stats);
    //  Through the registry, the defaults but --requests
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s bench greeter Say.Hello --requests 20",
                    peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    result = s_json (out);
    cr_assert_eq (zm_msg_get_int (result, "requests", 0), 20, "%s", out);
    cr_assert_eq (zm_msg_get_int (result, "concurrency", 0), 1, "%s", out);
    zm_msg_destroy (&result);
    //  More callers than calls: as many callers as calls
    rc = s_run_err (out, sizeof out, err, sizeof err,
                    "bench greeter Echo --requests 3 --concurrency 50 --via '%s'",
                    s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, err);
    result = s_json (out);
    cr_assert_eq (zm_msg_get_int (result, "concurrency", 0), 3, "%s", out);
    zm_msg_destroy (&result);
}

Test (zm_tool, bench_failures_exit_1, .fini = s_fleet_teardown, .timeout = 60)
{
    char peers[512], out[8192], err[4096], dead[128];
    s_fleet_start (1, peers, sizeof peers);
    s_dead_address (dead, sizeof dead);
    //  An endpoint that fails: nothing measured, the error said
    int rc = s_run_err (out, sizeof out, err, sizeof err, "bench greeter Fail --via '%s'",
                        s_fleet[0].address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "greeter.Fail: 409") && strstr (err, "it failed on purpose"), "%s",
               err);
    cr_assert_str_eq (out, "");
    //  A service nobody serves, a node that is not there
    rc = s_run_err (out, sizeof out, err, sizeof err, "%s bench nobody X --timeout 2000", peers);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert (strstr (err, "404"), "%s", err);
    int64_t start = zt_clock ();
    rc = s_run_err (out, sizeof out, err, sizeof err,
                    "bench greeter Echo --via '%s' --timeout 500 --concurrency 4", dead);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, err);
    cr_assert_str_eq (out, "");
    cr_assert_lt (zt_clock () - start, 10000);
}

Test (zm_tool, new_commands_bad_usage_exit_2, .timeout = 30)
{
    //  Each line: arguments, and a piece of the error line.
    static const char *cases[][2] = {
        {"describe", "usage: zm describe"},
        {"describe a b", "usage: zm describe"},
        {"describe 'a b'", "service name"},
        {"describe x --group g", "--group does not apply"},
        {"describe x --via tcp://127.0.0.1:1 --node n", "together"},
        {"describe x --via http://x:1", "--via"},
        {"watch x", "usage: zm watch"},
        {"watch --count 0", "--count"},
        {"watch --timeout 0", "--timeout"},
        {"watch --all", "--all does not apply"},
        {"health a b", "usage: zm health"},
        {"health 'a b'", "service name"},
        {"health x --node n", "one at most"},
        {"health --node n --via tcp://127.0.0.1:1", "one at most"},
        {"health --count 3", "--count does not apply"},
        {"stats x", "usage: zm stats"},
        {"stats --meta a=b", "--meta does not apply"},
        {"config a b", "usage: zm config"},
        {"config --timeout 5", "--timeout does not apply"},
        {"config --via tcp://127.0.0.1:1", "--via does not apply"},
        {"config --log.level=loud", "loud"},
        {"bench", "usage: zm bench"},
        {"bench greeter", "usage: zm bench"},
        {"bench greeter Echo extra", "usage: zm bench"},
        {"bench 'a b' Echo", "names"},
        {"bench greeter Echo --requests 0", "--requests"},
        {"bench greeter Echo --requests 1000001", "--requests"},
        {"bench greeter Echo --requests x", "--requests"},
        {"bench greeter Echo --concurrency 0", "--concurrency"},
        {"bench greeter Echo --concurrency 257", "--concurrency"},
        {"bench greeter Echo --body", "needs a value"},
        {"bench greeter Echo --body '{\"a\":'", "--body is not valid JSON"},
        {"bench greeter Echo --count 3", "--count does not apply"},
        {"bench greeter Echo --meta novalue", "--meta"},
        {"call greeter Echo --requests 5", "--requests does not apply"},
        {"call greeter Echo --body '{}'", "--body does not apply"},
        {"help call store", "usage: zm help"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_run (out, sizeof out, S_FLAGS " %s 2>&1", cases[i][0]);
        cr_assert_eq (rc, 2, "zm %s: exit %d: %s", cases[i][0], rc, out);
        s_assert_error_line (out);
        cr_assert (strstr (out, cases[i][1]), "zm %s: %s", cases[i][0], out);
    }
}

//  Run `zm ARGS` through the shell with its stdout a terminal (a pty in raw
//  mode: no \r added), and what it printed there in out. Returns the exit
//  status.
static int
s_run_tty (char *out, size_t size, const char *format, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_run_tty (char *out, size_t size, const char *format, ...)
{
    char args[3000], command[8000];
    va_list list;
    va_start (list, format);
    vsnprintf (args, sizeof args, format, list);
    va_end (list);
    snprintf (command, sizeof command, "%s %s", s_zm (), args);
    int master = -1, slave = -1;
    cr_assert_eq (openpty (&master, &slave, NULL, NULL, NULL), 0, "openpty: %s",
                  strerror (errno));
    struct termios mode;
    cr_assert_eq (tcgetattr (slave, &mode), 0);
    cfmakeraw (&mode);
    cr_assert_eq (tcsetattr (slave, TCSANOW, &mode), 0);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent || dup2 (slave, STDOUT_FILENO) < 0)
            _exit (127);
        close (master);
        close (slave);
        execl ("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit (127);
    }
    close (slave);
    size_t got = 0;
    char scrap[512];
    while (true) {
        size_t room = size - 1 - got;
        ssize_t bytes = room ? read (master, out + got, room) : read (master, scrap, sizeof scrap);
        if (bytes < 0 && errno == EINTR)
            continue;
        if (bytes <= 0)
            break;      //  EIO: every holder of the terminal closed it
        if (room)
            got += (size_t) bytes;
    }
    out[got] = 0;
    close (master);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Are two JSON texts the same value?
static void
s_assert_same_json (const char *a, const char *b)
{
    zm_msg_t *x = s_json (a), *y = s_json (b);
    void *x_text = NULL, *y_text = NULL;
    size_t x_size = 0, y_size = 0;
    cr_assert_eq (zm_msg_encode (x, ZM_CT_JSON, &x_text, &x_size), 0);
    cr_assert_eq (zm_msg_encode (y, ZM_CT_JSON, &y_text, &y_size), 0);
    cr_assert (x_size == y_size && memcmp (x_text, y_text, x_size) == 0, "%s\n  differs from\n%s",
               a, b);
    free (x_text);
    free (y_text);
    zm_msg_destroy (&x);
    zm_msg_destroy (&y);
}

Test (zm_tool, output_indented_on_a_terminal_one_line_when_piped, .fini = s_fleet_teardown,
      .timeout = 60)
{
    char tty[16384], piped[16384];
    //  A flat map: one member a line, two spaces in
    int rc = s_run_tty (tty, sizeof tty, "config rpc.timeout");
    cr_assert_eq (rc, 0, "exit %d: %s", rc, tty);
    static const char head[] = "{\n  \"key\": \"rpc.timeout\",\n  \"value\": 5000,\n  "
                               "\"type\": \"int\",\n  \"layer\": \"default\",\n  "
                               "\"description\": \"";
    cr_assert (strncmp (tty, head, strlen (head)) == 0, "%s", tty);
    size_t len = strlen (tty);
    cr_assert (len > 4 && strcmp (tty + len - 4, "\"\n}\n") == 0, "%s", tty);
    rc = s_run (piped, sizeof piped, "config rpc.timeout");
    cr_assert_eq (rc, 0);
    char *lines[8];
    cr_assert_eq (s_lines (piped, lines, 8), 1, "one line when piped");
    s_assert_same_json (tty, lines[0]);

    char peers[512];
    s_fleet_start (1, peers, sizeof peers);
    rc = s_run_tty (tty, sizeof tty,
                    S_FLAGS " call greeter Say.Hello '{\"name\": \"a, b: {c}\"}' --via '%s'",
                    s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, tty);
    //  Punctuation inside strings is left alone
    cr_assert_str_eq (tty, "{\n  \"greeting\": \"Hello a, b: {c}\",\n  \"node\": \"alpha\"\n}\n");
    //  Nested: four spaces at the second level; empty containers as they are
    rc = s_run_tty (tty, sizeof tty, S_FLAGS " describe greeter --via '%s'", s_fleet[0].address);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, tty);
    cr_assert (strstr (tty, "\n  \"streams\": [],\n"), "%s", tty);
    cr_assert (strstr (tty, "\n  \"nodes\": [\n    {\n      \"name\": \"alpha\",\n"), "%s",
               tty);
    cr_assert (strstr (tty, "\n      \"metadata\": {\n        \""), "%s", tty);
    rc = s_run (piped, sizeof piped, S_FLAGS " describe greeter --via '%s'", s_fleet[0].address);
    cr_assert_eq (rc, 0);
    cr_assert_eq (s_lines (piped, lines, 8), 1, "one line when piped");
    s_assert_same_json (tty, lines[0]);
    //  Several values (health of each node): each indented, one after the other
    rc = s_run_tty (tty, sizeof tty, S_FLAGS " %s health", peers);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, tty);
    static const char first[] = "{\n  \"name\": \"alpha\",\n";
    cr_assert (strncmp (tty, first, strlen (first)) == 0, "%s", tty);
    char *rows[32];
    cr_assert_eq (s_lines (tty, rows, 32), 10, "{, 8 members, }");
    cr_assert_str_eq (rows[9], "}");
    //  Errors stay one line on stderr, whatever stdout is
    rc = s_run_tty (tty, sizeof tty, S_FLAGS " call greeter Fail --via '%s' 2>&1",
                    s_fleet[0].address);
    cr_assert_eq (rc, 1, "exit %d: %s", rc, tty);
    s_assert_error_line (tty);
}

Test (zm_tool, bench_stopped_by_sigterm_prints_what_it_measured, .fini = s_fleet_teardown,
      .timeout = 60)
{
    char peers[512];
    s_fleet_start (1, peers, sizeof peers);
    //  Slow calls (20 ms each, one at a time on slow's own reactor): far
    //  from done when the signal comes
    char via[200];
    snprintf (via, sizeof via, "--via=%s", s_fleet[0].address);
    const char *argv[] = {s_zm (),    "--registry.beacon=false", "--log.level=warning",
                          "bench",    "slow",
                          "Slow",     "--requests",
                          "100000",   "--body",
                          "{\"ms\": 20}", via,
                          NULL};
    zt_proc_t bench = zt_spawn (argv, NULL);
    cr_assert (bench.pid > 0);
    usleep (1500 * 1000);
    kill (bench.pid, SIGTERM);
    char line[4096];
    cr_assert (zt_read_line (&bench, line, sizeof line, 10000), "nothing printed");
    cr_assert_eq (zt_wait (&bench, 10000), 1, "exit 1: interrupted");
    zm_msg_t *result = s_json (line);
    int64_t made = zm_msg_get_int (result, "requests", 0);
    cr_assert (made > 0 && made < 100000, "%s", line);
    cr_assert_eq (zm_msg_get_int (result, "errors", -1), 0, "%s", line);
    cr_assert_geq (zm_msg_get_int (result, "p50_us", 0), 20000, "%s", line);
    zm_msg_destroy (&result);
    zt_kill (&bench, SIGKILL);
}
