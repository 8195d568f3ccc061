/*  Pub/sub: topics and patterns in process, then events between real
    processes (tests/helpers/pubsub_node) on loopback and on a LAN of
    network namespaces.

    A pubsub_node prints a line per event it gets (EVENT, or WARM for a
    warm-up), per event it publishes (PUB), when its publish loop ends
    (DONE), and its counters on SIGUSR1 (COUNT, STATS). The test reads every
    node's lines as they come (s_pump) into a record per node, and asserts
    on the records: which numbered events each subscription got, how often,
    and whether each arrived intact ("ok": the subscriber checked every
    field of the body and the header).

    Subscriptions reach publishers through discovery, so an event published
    before a subscriber's node has heard of the publisher is not sent to it
    (docs/pubsub.md). The tests therefore warm up: the publisher publishes
    warm-up events on its topics until SIGUSR2, and the test sends that once
    every subscriber has received one; then the numbered events go out.

    On loopback nodes find each other through static peers
    (--registry.peers, beacons off); on the LAN by beacon, as in
    test_discovery.c.
*/
#include "support.h"

#include <czmq.h>
#include <math.h>
#include <pthread.h>

#include "zmicro.h"

//  ---------------------------------------------------------------------------
//  Nodes and what they said

#define NODES_MAX  6
#define SUBS_MAX   4        //  subscriptions per node the test follows
#define N_MAX      25000    //  numbered events the test follows
#define TOPICS_MAX 48       //  (subscription, topic) pairs per node

typedef struct {
    int sub;                //  subscription index
    char topic[64];         //  topic
    int events;             //  EVENT lines
    int warms;              //  WARM lines
} pair_t;

typedef struct {
    zt_proc_t proc;                 //  the pubsub_node
    char name[32];                  //  its node name
    int port;                       //  its RPC port
    int pub_port;                   //  its PUB port
    char address[128];              //  tcp://127.0.0.1:<port>#<public key>
    //  As a subscriber, per subscription: from EVENT and WARM lines
    uint16_t got[SUBS_MAX][N_MAX];  //  arrivals of each n
    int events[SUBS_MAX];           //  EVENT lines
    int distinct[SUBS_MAX];         //  distinct n
    int dups[SUBS_MAX];             //  arrivals of an n seen before
    int bad[SUBS_MAX];              //  EVENT lines not "ok"
    char bad_line[SUBS_MAX][256];   //  the first of them
    int warm[SUBS_MAX];             //  WARM lines
    long first_n[SUBS_MAX];         //  n of the first EVENT, -1 before
    long last_n[SUBS_MAX];          //  n of the latest EVENT
    char ids[SUBS_MAX][64];         //  event id of the latest EVENT
    pair_t pairs[TOPICS_MAX];       //  per (subscription, topic)
    int pair_count;
    //  As a publisher: from PUB and DONE lines
    int64_t pub_ms[N_MAX];          //  when n was published, 0: not yet
    long pubs;                      //  PUB lines
    long last_pub;                  //  n of the latest PUB, -1 before
    bool done;                      //  DONE seen
    long published, errors;         //  zm_publish returned 0 / not 0
    int64_t elapsed;                //  ms the publish loop took
    //  COUNT and STATS (SIGUSR1, exit)
    long count[SUBS_MAX][5];        //  received distinct dups bad warm
    int counts;                     //  COUNT lines
    char stats[1024];               //  JSON of the latest STATS
    int stats_seen;                 //  STATS lines
    bool bye;                       //  BYE seen
    char tail[6][256];              //  the last lines, for messages
    int lines;                      //  lines read
} node_t;

static node_t s_nodes[NODES_MAX];
static zt_lan_t *s_lan;
//  Made by a test in this process, destroyed by the teardown even when an
//  assertion fails half way (czmq complains of dangling sockets otherwise).
static zm_node_t *s_client;
static zsock_t *s_socks[3];
static void *s_body;            //  an encoded event body

static void
s_setup (void)
{
    for (int i = 0; i < NODES_MAX; i++) {
        memset (&s_nodes[i], 0, sizeof s_nodes[i]);
        s_nodes[i].proc = (zt_proc_t) ZT_PROC_NONE;
    }
}

static void
s_teardown (void)
{
    zm_node_destroy (&s_client);
    for (int i = 0; i < 3; i++)
        zsock_destroy (&s_socks[i]);
    free (s_body);
    s_body = NULL;
    for (int i = 0; i < NODES_MAX; i++)
        zt_kill (&s_nodes[i].proc, SIGKILL);
    zt_lan_destroy (&s_lan);
}

//  The last lines a node said, for assertion messages (two buffers in
//  turn: a message may show two nodes).
static const char *
s_tail (node_t *node)
{
    static char texts[2][6 * 260];
    static int turn;
    char *text = texts[turn++ % 2];
    text[0] = 0;
    for (int i = 0; i < 6; i++) {
        const char *line = node->tail[(node->lines + i) % 6];
        if (*line) {
            strcat (text, "\n    ");
            strcat (text, line);
        }
    }
    return text;
}

static pair_t *
s_pair (node_t *node, int sub, const char *topic)
{
    for (int i = 0; i < node->pair_count; i++)
        if (node->pairs[i].sub == sub && strcmp (node->pairs[i].topic, topic) == 0)
            return &node->pairs[i];
    if (node->pair_count == TOPICS_MAX)
        return NULL;
    pair_t *pair = &node->pairs[node->pair_count++];
    pair->sub = sub;
    snprintf (pair->topic, sizeof pair->topic, "%s", topic);
    return pair;
}

//  Take in one line of a node.
static void
s_parse (node_t *node, const char *line)
{
    snprintf (node->tail[node->lines++ % 6], sizeof node->tail[0], "%s", line);
    long long ms;
    int sub, skip = 0;
    long n;
    char topic[128], from[64], check[64], id[64];
    if (sscanf (line, "EVENT %lld %d %127s %ld %63s %63s %63s", &ms, &sub, topic, &n, from,
                check, id)
            == 7
        && sub >= 0 && sub < SUBS_MAX) {
        node->events[sub]++;
        if (strcmp (check, "ok") && !node->bad[sub]++)
            snprintf (node->bad_line[sub], sizeof node->bad_line[sub], "%s", line);
        if (n >= 0 && n < N_MAX) {
            if (node->got[sub][n]++)
                node->dups[sub]++;
            else
                node->distinct[sub]++;
        }
        if (node->first_n[sub] < 0)
            node->first_n[sub] = n;
        node->last_n[sub] = n;
        snprintf (node->ids[sub], sizeof node->ids[sub], "%s", id);
        pair_t *pair = s_pair (node, sub, topic);
        if (pair)
            pair->events++;
    }
    else if (sscanf (line, "WARM %lld %d %127s", &ms, &sub, topic) == 3 && sub >= 0
             && sub < SUBS_MAX) {
        node->warm[sub]++;
        pair_t *pair = s_pair (node, sub, topic);
        if (pair)
            pair->warms++;
    }
    else if (sscanf (line, "PUB %lld %ld", &ms, &n) == 2) {
        node->pubs++;
        node->last_pub = n;
        if (n >= 0 && n < N_MAX)
            node->pub_ms[n] = ms;
    }
    else if (sscanf (line, "DONE %lld %ld %ld %" SCNd64, &ms, &node->published, &node->errors,
                     &node->elapsed)
             == 4)
        node->done = true;
    else if (sscanf (line, "COUNT %lld %d %n", &ms, &sub, &skip) == 2 && skip > 0 && sub >= 0
             && sub < SUBS_MAX) {
        long *count = node->count[sub];
        if (sscanf (line + skip, "%ld %ld %ld %ld %ld", &count[0], &count[1], &count[2],
                    &count[3], &count[4])
            == 5)
            node->counts++;
    }
    else if (sscanf (line, "STATS %lld %n", &ms, &skip) == 1 && skip > 0) {
        snprintf (node->stats, sizeof node->stats, "%s", line + skip);
        node->stats_seen++;
    }
    else if (strcmp (line, "BYE") == 0)
        node->bye = true;
}

//  Read what the nodes said, waiting at most timeout_ms for the first line.
static void
s_pump (int timeout_ms)
{
    struct pollfd items[NODES_MAX];
    node_t *owners[NODES_MAX];
    int count = 0;
    char line[1024];
    bool buffered = false;
    for (int i = 0; i < NODES_MAX; i++) {
        node_t *node = &s_nodes[i];
        while (node->proc.len > 0 && memchr (node->proc.buf, '\n', node->proc.len)
               && zt_read_line (&node->proc, line, sizeof line, 0)) {
            s_parse (node, line);
            buffered = true;
        }
        if (node->proc.out >= 0) {
            items[count] = (struct pollfd) {node->proc.out, POLLIN, 0};
            owners[count++] = node;
        }
    }
    if (buffered || count == 0) {
        if (count == 0)
            usleep (timeout_ms * 1000);
        return;
    }
    if (poll (items, count, timeout_ms) <= 0)
        return;
    for (int i = 0; i < count; i++) {
        if (!items[i].revents)
            continue;
        //  One read (it is ready), then every whole line it brought.
        if (zt_read_line (&owners[i]->proc, line, sizeof line, 1)) {
            s_parse (owners[i], line);
            while (zt_read_line (&owners[i]->proc, line, sizeof line, 0))
                s_parse (owners[i], line);
        }
    }
}

//  Read lines for ms milliseconds.
static void
s_pump_for (int ms)
{
    int64_t until = zt_clock () + ms;
    while (zt_clock () < until)
        s_pump ((int) (until - zt_clock ()));
}

//  Start pubsub_node as slot: on loopback (host -1, beacons off), or on a
//  LAN host (beacons on). extra: more flags, NULL-terminated, or NULL.
static node_t *
s_start (int slot, int host, const char *name, const char *const *extra)
{
    char program[4200], flag[64];
    snprintf (program, sizeof program, "%s/tests/helpers/pubsub_node", zt_build_dir ());
    snprintf (flag, sizeof flag, "--node.name=%s", name);
    const char *argv[24] = {program, flag, "--log.level=warning"};
    int argc = 3;
    //  The suite sets ZM_REGISTRY_BEACON=false (support.h); inside the
    //  namespaces beacons are how nodes meet.
    if (host >= 0)
        argv[argc++] = "--registry.beacon=true";
    for (int i = 0; extra && extra[i] && argc < 23; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    node_t *node = &s_nodes[slot];
    memset (node, 0, sizeof *node);
    for (int i = 0; i < SUBS_MAX; i++)
        node->first_n[i] = node->last_n[i] = -1;
    node->last_pub = -1;
    snprintf (node->name, sizeof node->name, "%s", name);
    node->proc = zt_spawn (argv, host >= 0 ? zt_lan_host (s_lan, host) : NULL);
    cr_assert_gt (node->proc.pid, 0, "cannot start %s", name);
    int64_t deadline = zt_clock () + 10000;
    char line[1024];
    while (node->port <= 0) {
        int64_t left = deadline - zt_clock ();
        cr_assert (left > 0 && zt_read_line (&node->proc, line, sizeof line, (int) left),
                   "%s did not start (exit %d)%s", name, zt_wait (&node->proc, 100),
                   s_tail (node));
        char key[41] = "";
        if (sscanf (line, "READY %d %d %40s", &node->port, &node->pub_port, key) != 3)
            s_parse (node, line);
        snprintf (node->address, sizeof node->address, "tcp://127.0.0.1:%d#%s", node->port,
                  key);
    }
    cr_assert_gt (node->pub_port, 0, "%s has no PUB port: %s", name, line);
    return node;
}

//  "--registry.peers=tcp://127.0.0.1:<port>" for a loopback node, in a
//  buffer of the caller.
static const char *
s_peer_flag (char *buffer, size_t size, node_t *peer)
{
    snprintf (buffer, size, "--registry.peers=%s", peer->address);
    return buffer;
}

//  Wait until subscription sub of every node in nodes (NULL-terminated)
//  has had a warm-up. Asserts.
static void
s_wait_warm (node_t **nodes, int sub, int timeout_ms)
{
    int64_t deadline = zt_clock () + timeout_ms;
    while (true) {
        int cold = -1;
        for (int i = 0; nodes[i] && cold < 0; i++)
            if (nodes[i]->warm[sub] == 0)
                cold = i;
        if (cold < 0)
            return;
        cr_assert (zt_clock () < deadline, "%s had no warm-up in %d ms; it said:%s",
                   nodes[cold]->name, timeout_ms, s_tail (nodes[cold]));
        s_pump (50);
    }
}

//  Send SIGUSR2 (stop warming up, publish) and wait for the publish loop's
//  DONE. Asserts.
static void
s_go_and_wait_done (node_t *publisher, int timeout_ms)
{
    cr_assert_eq (kill (publisher->proc.pid, SIGUSR2), 0);
    int64_t deadline = zt_clock () + timeout_ms;
    while (!publisher->done) {
        cr_assert (zt_clock () < deadline, "%s did not finish publishing in %d ms:%s",
                   publisher->name, timeout_ms, s_tail (publisher));
        s_pump (50);
    }
}

//  Ask node for its counters (SIGUSR1) and wait for the answer. Asserts.
static void
s_ask_counts (node_t *node, int timeout_ms)
{
    int stats = node->stats_seen;
    cr_assert_eq (kill (node->proc.pid, SIGUSR1), 0);
    int64_t deadline = zt_clock () + timeout_ms;
    while (node->stats_seen == stats) {
        cr_assert (zt_clock () < deadline, "%s did not report in %d ms:%s", node->name,
                   timeout_ms, s_tail (node));
        s_pump (20);
    }
}

//  A counter from the node's latest STATS line.
static uint64_t
s_stat (node_t *node, const char *key)
{
    zm_msg_t *stats = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, node->stats, strlen (node->stats), &stats, NULL), 0,
                  "%s: STATS is not JSON: %s", node->name, node->stats);
    cr_assert (zm_msg_has (stats, key), "%s: STATS has no %s: %s", node->name, key, node->stats);
    uint64_t value = zm_msg_get_uint (stats, key, 0);
    zm_msg_destroy (&stats);
    return value;
}

//  Stop a node gracefully; asserts it says BYE and exits 0.
static void
s_stop (node_t *node)
{
    cr_assert_eq (kill (node->proc.pid, SIGTERM), 0);
    int64_t deadline = zt_clock () + 10000;
    while (!node->bye && node->proc.out >= 0 && zt_clock () < deadline)
        s_pump (50);
    cr_assert (node->bye, "%s did not say BYE:%s", node->name, s_tail (node));
    cr_assert_eq (zt_wait (&node->proc, 10000), 0, "%s exits cleanly", node->name);
    zt_kill (&node->proc, SIGKILL);
}

//  A node in this process: no beacons on the machine's network, quiet.
static zm_node_t *
s_local_node (const char *extra_key, const char *extra_value)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    cr_assert_not_null (config);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    if (extra_key)
        zm_config_set (config, extra_key, extra_value, NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    return node;
}

//  ---------------------------------------------------------------------------
//  In process: the grammar, the checks, local delivery

Test (pubsub, topics_and_patterns_follow_the_grammar, .timeout = 10)
{
    char longest[ZM_TOPIC_MAX + 2];
    memset (longest, 'a', sizeof longest);
    longest[ZM_TOPIC_MAX] = 0;        //  255 bytes: fine
    char too_long[ZM_TOPIC_MAX + 2];
    memset (too_long, 'a', sizeof too_long);
    too_long[ZM_TOPIC_MAX + 1] = 0;   //  256 bytes: not
    const char *good_topics[] = {"orders", "orders.created", "user.42.login", "A-Z_a-z.0-9",
                                 "a.b.c.d.e.f.g", "-", "_", longest, NULL};
    const char *bad_topics[] = {"", ".", "orders.", ".orders", "a..b", "ord*", "*", ">",
                                "a.*", "a.>", "a b", "a/b", "a\tb", "caf\xc3\xa9", "a,b",
                                too_long, NULL};
    for (int i = 0; good_topics[i]; i++) {
        const char *reason = "untouched";
        cr_assert_eq (zm_topic_check (good_topics[i], false, &reason), 0, "topic '%s': %s",
                      good_topics[i], reason);
        cr_assert_eq (zm_topic_check (good_topics[i], true, NULL), 0,
                      "a topic is a pattern too: '%s'", good_topics[i]);
    }
    for (int i = 0; bad_topics[i]; i++) {
        const char *reason = NULL;
        cr_assert_eq (zm_topic_check (bad_topics[i], false, &reason), ZM_EINVAL,
                      "topic '%s' accepted", bad_topics[i]);
        cr_assert (reason && *reason, "topic '%s' refused without a reason", bad_topics[i]);
        cr_assert_eq (zm_topic_check (bad_topics[i], false, NULL), ZM_EINVAL);
    }
    const char *good_patterns[] = {"orders.created", "user.*.login", "orders.>", "*", ">",
                                   "*.*", "*.>", "a.*.>", "*.b", longest, NULL};
    const char *bad_patterns[] = {"", ".", "orders.", "a..b", "ord*", "a*.b", "a.>.b", ">.a",
                                  "a.>>", "**", "a.b>", "a b", "*.", too_long, NULL};
    for (int i = 0; good_patterns[i]; i++) {
        const char *reason = "untouched";
        cr_assert_eq (zm_topic_check (good_patterns[i], true, &reason), 0, "pattern '%s': %s",
                      good_patterns[i], reason);
    }
    for (int i = 0; bad_patterns[i]; i++) {
        const char *reason = NULL;
        cr_assert_eq (zm_topic_check (bad_patterns[i], true, &reason), ZM_EINVAL,
                      "pattern '%s' accepted", bad_patterns[i]);
        cr_assert (reason && *reason, "pattern '%s' refused without a reason",
                   bad_patterns[i]);
    }
    //  The table of docs/pubsub.md, and the edges around it.
    struct {
        const char *pattern;
        const char *topic;
        bool match;
    } cases[] = {
        {"orders.created", "orders.created", true},
        {"orders.created", "orders.created.eu", false},
        {"orders.created", "orders", false},
        {"orders.created", "orders.createdx", false},
        {"user.*.login", "user.42.login", true},
        {"user.*.login", "user.login", false},
        {"user.*.login", "user.4.2.login", false},
        {"orders.>", "orders.created", true},
        {"orders.>", "orders.eu.created", true},
        {"orders.>", "orders", false},
        {"orders.>", "ordersx.created", false},
        {"*", "orders", true},
        {"*", "orders.created", false},
        {">", "orders", true},
        {">", "orders.eu.created", true},
        {"*.>", "a", false},
        {"*.>", "a.b", true},
        {"a.*.>", "a.b", false},
        {"a.*.>", "a.b.c.d", true},
        {"*.*", "a.b", true},
        {"*.*", "a.b.c", false},
        {"a.b.c", "a.b.cd", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq (zm_topic_match (cases[i].pattern, cases[i].topic), cases[i].match,
                      "'%s' %s '%s'", cases[i].pattern,
                      cases[i].match ? "should match" : "should not match", cases[i].topic);
}

static int
s_ignore (zm_ctx_t *ctx, zm_msg_t *event)
{
    return 0;
}

Test (pubsub, bad_topics_patterns_and_bodies_are_refused, .init = s_setup, .fini = s_teardown,
      .timeout = 20)
{
    zm_node_t *node = s_client = s_local_node ("pubsub.max_body", "4096");
    const char *bad_topics[] = {"", "a..b", "orders.", "ord*", "a.>", "*", "a b", NULL};
    for (int i = 0; bad_topics[i]; i++) {
        zm_msg_t *event = zm_msg_new ();
        zm_msg_set_int (event, "n", i);
        cr_assert_eq (zm_publish (node, bad_topics[i], &event, NULL), ZM_EINVAL,
                      "zm_publish on '%s'", bad_topics[i]);
        cr_assert_null (event, "zm_publish takes the event in every case");
    }
    const char *bad_patterns[] = {"", "a..b", "a.>.b", "ord*", ">.a", "a b", NULL};
    for (int i = 0; bad_patterns[i]; i++) {
        int err = -1;
        cr_assert_eq (zm_subscribe (node, bad_patterns[i], NULL, s_ignore, NULL, &err), 0,
                      "zm_subscribe to '%s'", bad_patterns[i]);
        cr_assert_eq (err, ZM_EINVAL, "zm_subscribe to '%s': %s", bad_patterns[i],
                      zm_strerror (err));
    }
    //  A service subscription: the same rules.
    zm_service_t *svc = zm_service_new (node, "listener", "1.0.0");
    cr_assert_not_null (svc);
    cr_assert_eq (zm_service_subscribe (svc, "a..b", NULL, s_ignore), ZM_EINVAL);
    cr_assert_eq (zm_service_subscribe (svc, "a.>.b", "billing", s_ignore), ZM_EINVAL);

    //  Bodies and options.
    zm_pub_opts_t opts = ZM_PUB_OPTS_DEFAULT;
    opts.content_type = "application/x-no-such-codec";
    zm_msg_t *event = zm_msg_new ();
    zm_msg_set_int (event, "n", 1);
    cr_assert_eq (zm_publish (node, "ok.topic", &event, &opts), ZM_EINVAL,
                  "an unknown content type is a bad option");
    cr_assert_null (event);
    //  JSON cannot carry NaN.
    opts.content_type = ZM_CT_JSON;
    event = zm_msg_new ();
    zm_msg_set_float (event, "x", NAN);
    cr_assert_eq (zm_publish (node, "ok.topic", &event, &opts), ZM_ECODEC);
    cr_assert_null (event);
    //  Nor can raw bytes carry a map.
    opts.content_type = ZM_CT_RAW;
    event = zm_msg_new ();
    zm_msg_set_int (event, "n", 1);
    cr_assert_eq (zm_publish (node, "ok.topic", &event, &opts), ZM_ECODEC);
    cr_assert_null (event);
    //  Metadata is a map of str -> str.
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_int (meta, "n", 1);
    opts = (zm_pub_opts_t) ZM_PUB_OPTS_DEFAULT;
    opts.metadata = meta;
    event = zm_msg_new ();
    cr_assert_eq (zm_publish (node, "ok.topic", &event, &opts), ZM_EINVAL,
                  "metadata with a non-string value");
    cr_assert_null (event);
    zm_msg_destroy (&meta);
    //  pubsub.max_body is 4096 here.
    static char blob[8192];
    event = zm_msg_new ();
    zm_msg_set_bin (event, "blob", blob, sizeof blob);
    cr_assert_eq (zm_publish (node, "ok.topic", &event, NULL), ZM_ETOOBIG);
    cr_assert_null (event);
    event = zm_msg_new ();
    zm_msg_set_bin (event, "blob", blob, 1024);
    cr_assert_eq (zm_publish (node, "ok.topic", &event, NULL), 0, "a body under the limit");
    cr_assert_null (event);
    //  No body at all is an empty body.
    cr_assert_eq (zm_publish (node, "ok.topic", NULL, NULL), 0);
    event = NULL;
    cr_assert_eq (zm_publish (node, "ok.topic", &event, NULL), 0);

    //  Subscriptions come and go.
    int err = -1;
    uint64_t id = zm_subscribe (node, "ok.>", NULL, s_ignore, NULL, &err);
    cr_assert_gt (id, 0, "zm_subscribe: %s", zm_strerror (err));
    uint64_t other = zm_subscribe (node, "ok.>", "workers", s_ignore, NULL, &err);
    cr_assert (other > 0 && other != id, "a second subscription has its own id");
    cr_assert_eq (zm_unsubscribe (node, id), 0);
    cr_assert_eq (zm_unsubscribe (node, id), ZM_ENOTFOUND);
    cr_assert_eq (zm_unsubscribe (node, 0), ZM_ENOTFOUND);
    zm_msg_t *stats = zm_pubsub_stats (node);
    cr_assert_not_null (stats);
    cr_assert_eq (zm_msg_get_uint (stats, "subscriptions", 99), 1, "one subscription left");
    cr_assert_geq (zm_msg_get_uint (stats, "published", 0), 3, "three events published");
    cr_assert_gt (zm_msg_get_uint (stats, "pub_port", 0), 0, "the node binds a PUB socket");
    zm_msg_destroy (&stats);
    zm_node_destroy (&s_client);
}

//  What a local subscription's handler saw.
typedef struct {
    pthread_mutex_t lock;
    int events;             //  events handled
    int wrong;              //  events that failed a check in the handler
    char topic[64];         //  of the latest
    char id[64];            //  its id
    char publisher[64];     //  its publisher
    int64_t time;           //  its publish time
    char meta[64];          //  its metadata "k"
    int64_t n;              //  its body "n"
} local_t;

static int
s_on_local (zm_ctx_t *ctx, zm_msg_t *event)
{
    local_t *self = (local_t *) zm_ctx_state (ctx);
    pthread_mutex_lock (&self->lock);
    self->events++;
    const char *topic = zm_ctx_topic (ctx);
    const char *id = zm_ctx_event_id (ctx);
    const char *publisher = zm_ctx_publisher (ctx);
    const char *meta = zm_ctx_meta (ctx, "k");
    snprintf (self->topic, sizeof self->topic, "%s", topic ? topic : "(null)");
    snprintf (self->id, sizeof self->id, "%s", id ? id : "(null)");
    snprintf (self->publisher, sizeof self->publisher, "%s", publisher ? publisher : "(null)");
    snprintf (self->meta, sizeof self->meta, "%s", meta ? meta : "(null)");
    self->time = zm_ctx_event_time (ctx);
    self->n = zm_msg_get_int (event, "n", -1);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

static int
s_local_events (local_t *self)
{
    pthread_mutex_lock (&self->lock);
    int events = self->events;
    pthread_mutex_unlock (&self->lock);
    return events;
}

//  Wait until the handlers of locals (count of them) have handled want
//  events in all, or timeout_ms; returns how many they did.
static int
s_wait_local (local_t *locals, int count, int want, int timeout_ms)
{
    int64_t deadline = zt_clock () + timeout_ms;
    while (true) {
        int events = 0;
        for (int i = 0; i < count; i++)
            events += s_local_events (&locals[i]);
        if (events >= want || zt_clock () >= deadline)
            return events;
        zclock_sleep (5);
    }
}

Test (pubsub, local_subscription_gets_the_event_and_its_header, .init = s_setup,
      .fini = s_teardown, .timeout = 20)
{
    zm_node_t *node = s_client = s_local_node (NULL, NULL);
    //  Static: the handlers may still run in the teardown after a failure.
    static local_t all = {.lock = PTHREAD_MUTEX_INITIALIZER};
    static local_t group[2] = {{.lock = PTHREAD_MUTEX_INITIALIZER},
                               {.lock = PTHREAD_MUTEX_INITIALIZER}};
    int err = 0;
    uint64_t id = zm_subscribe (node, "local.*", NULL, s_on_local, &all, &err);
    cr_assert_gt (id, 0, "%s", zm_strerror (err));
    cr_assert_gt (zm_subscribe (node, "local.>", "g", s_on_local, &group[0], &err), 0);
    cr_assert_gt (zm_subscribe (node, "local.x", "g", s_on_local, &group[1], &err), 0);

    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "k", "v");
    zm_pub_opts_t opts = ZM_PUB_OPTS_DEFAULT;
    opts.metadata = meta;
    opts.content_type = ZM_CT_JSON;
    int64_t before = zclock_time ();
    zm_msg_t *event = zm_msg_new ();
    zm_msg_set_int (event, "n", 7);
    cr_assert_eq (zm_publish (node, "local.x", &event, &opts), 0);
    zm_msg_destroy (&meta);
    cr_assert_eq (s_wait_local (&all, 1, 1, 5000), 1, "the broadcast subscription got it");
    cr_assert_eq (s_wait_local (group, 2, 1, 5000), 1, "one member of group g got it");
    cr_assert_str_eq (all.topic, "local.x");
    cr_assert_eq (all.n, 7);
    cr_assert_str_eq (all.meta, "v");
    cr_assert_str_eq (all.publisher, zm_node_uuid (node), "published by this node");
    cr_assert_eq (strlen (all.id), 32, "event id: %s", all.id);
    cr_assert (all.time >= before - 1000 && all.time <= zclock_time () + 1000,
               "publish time %" PRId64 " is Unix ms (published at %" PRId64 ")", all.time,
               before);
    local_t *member = s_local_events (&group[0]) ? &group[0] : &group[1];
    cr_assert_str_eq (member->id, all.id, "one event, one id");

    //  Topics that do not match reach nobody.
    event = zm_msg_new ();
    cr_assert_eq (zm_publish (node, "local.x.y", &event, NULL), 0); //  group[0] only
    event = zm_msg_new ();
    cr_assert_eq (zm_publish (node, "elsewhere", &event, NULL), 0);
    cr_assert_eq (s_wait_local (group, 2, 2, 5000), 2);
    zclock_sleep (200);
    cr_assert_eq (s_local_events (&all), 1, "local.* does not match local.x.y");
    cr_assert_eq (s_local_events (&group[1]) + s_local_events (&group[0]), 2);

    //  Within the group, each event goes to one member, in turn.
    int base0 = s_local_events (&group[0]), base1 = s_local_events (&group[1]);
    for (int i = 0; i < 20; i++) {
        event = zm_msg_new ();
        zm_msg_set_int (event, "n", 100 + i);
        cr_assert_eq (zm_publish (node, "local.x", &event, NULL), 0);
    }
    cr_assert_eq (s_wait_local (&all, 1, 21, 5000), 21);
    cr_assert_eq (s_wait_local (group, 2, base0 + base1 + 20, 5000), base0 + base1 + 20);
    zclock_sleep (200);
    int got0 = s_local_events (&group[0]) - base0, got1 = s_local_events (&group[1]) - base1;
    cr_assert_eq (got0 + got1, 20, "each event to exactly one member: %d + %d", got0, got1);
    cr_assert (got0 > 0 && got1 > 0, "members take turns: %d and %d", got0, got1);

    //  Unsubscribed: nothing more.
    cr_assert_eq (zm_unsubscribe (node, id), 0);
    event = zm_msg_new ();
    cr_assert_eq (zm_publish (node, "local.x", &event, NULL), 0);
    zclock_sleep (300);
    cr_assert_eq (s_local_events (&all), 21, "no event after zm_unsubscribe");
    zm_msg_t *stats = zm_pubsub_stats (node);
    cr_assert_geq (zm_msg_get_uint (stats, "delivered", 0), 21 + 23);
    cr_assert_eq (zm_msg_get_uint (stats, "subscriptions", 0), 2);
    cr_assert_eq (zm_msg_get_uint (stats, "dropped_queue", 99), 0);
    zm_msg_destroy (&stats);
    zm_node_destroy (&s_client);
}

//  ---------------------------------------------------------------------------
//  Between processes on loopback

//  Does a pattern match a topic? The test's own reading of the grammar, so
//  that the library is checked against something other than itself.
static bool
s_expected (const char *pattern, const char *topic)
{
    static const struct {
        const char *pattern;
        const char *topics;     //  every topic of s_wild_topics it matches
    } table[] = {
        {"a.*.c", " a.b.c a.x.c a.bc.c "},
        {"a.>", " a.b.c a.x.c a.bc.c a.b a.b.c.d a.b.cd a.b.d "},
        {"a.b.c", " a.b.c "},
        {"*", " a b ab "},
        {">", " a.b.c a.x.c a.bc.c a.b a.b.c.d a.b.cd a.b.d a b ab x.b.c "},
    };
    char word[80];
    snprintf (word, sizeof word, " %s ", topic);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp (table[i].pattern, pattern) == 0)
            return strstr (table[i].topics, word) != NULL;
    cr_assert_fail ("no expectation for %s", pattern);
    return false;
}

Test (pubsub, wildcards_and_prefixes_across_processes, .init = s_setup, .fini = s_teardown,
      .timeout = 40)
{
    //  a.b.cd passes libzmq's prefix filter of a.b.c (and ab that of a):
    //  the subscriber's own matching must drop them.
    static const char *topics[] = {"a.b.c", "a.x.c", "a.bc.c", "a.b",  "a.b.c.d", "a.b.cd",
                                   "a.b.d", "a",     "b",      "ab",   "x.b.c",   NULL};
    const int count = 5;
    const char *publish[] = {"--app.pub=a.b.c,a.x.c,a.bc.c,a.b,a.b.c.d,a.b.cd,a.b.d,a,b,ab,x.b.c",
                             "--app.count=5", "--app.warm=true", "--app.warm_interval=50",
                             NULL};
    node_t *p = s_start (0, -1, "p", publish);
    char peer[160];
    const char *one[] = {"--app.sub=a.*.c,a.>", s_peer_flag (peer, sizeof peer, p), NULL};
    const char *two[] = {"--app.sub=a.b.c,*,>", peer, NULL};
    node_t *s1 = s_start (1, -1, "s1", one);
    node_t *s2 = s_start (2, -1, "s2", two);
    const char *patterns[2][3] = {{"a.*.c", "a.>", NULL}, {"a.b.c", "*", ">"}};
    node_t *subs[] = {s1, s2, NULL};
    node_t *both[] = {s1, s2, NULL};
    node_t *second[] = {s2, NULL};
    s_wait_warm (both, 0, 10000);
    s_wait_warm (both, 1, 10000);
    s_wait_warm (second, 2, 10000);
    s_go_and_wait_done (p, 10000);
    cr_assert_eq (p->errors, 0, "zm_publish failed %ld times", p->errors);
    //  Wait until every subscription has what it should, then a while
    //  longer for anything it should not.
    int64_t deadline = zt_clock () + 10000;
    while (zt_clock () < deadline) {
        bool complete = true;
        for (int s = 0; s < 2; s++)
            for (int sub = 0; sub < 3 && patterns[s][sub]; sub++) {
                int want = 0;
                for (int t = 0; topics[t]; t++)
                    want += s_expected (patterns[s][sub], topics[t]) ? count : 0;
                if (subs[s]->events[sub] < want)
                    complete = false;
            }
        if (complete)
            break;
        s_pump (50);
    }
    s_pump_for (300);
    for (int s = 0; s < 2; s++)
        for (int sub = 0; sub < 3 && patterns[s][sub]; sub++) {
            node_t *node = subs[s];
            const char *pattern = patterns[s][sub];
            cr_assert_eq (node->bad[sub], 0, "%s: %s", pattern, node->bad_line[sub]);
            for (int t = 0; topics[t]; t++) {
                pair_t *pair = s_pair (node, sub, topics[t]);
                bool match = s_expected (pattern, topics[t]);
                cr_assert_eq (pair->events, match ? count : 0,
                              "%s got %d events on %s (expected %d)", pattern, pair->events,
                              topics[t], match ? count : 0);
                if (!match)
                    cr_assert_eq (pair->warms, 0, "%s got warm-ups on %s", pattern,
                                  topics[t]);
            }
            //  Nothing on a topic nobody published.
            for (int i = 0; i < node->pair_count; i++) {
                bool known = false;
                for (int t = 0; topics[t]; t++)
                    known = known || strcmp (node->pairs[i].topic, topics[t]) == 0;
                cr_assert (known, "%s got topic %s", pattern, node->pairs[i].topic);
            }
        }
    s_stop (s1);
    s_stop (s2);
    s_stop (p);
}

//  The body pubsub_node publishes as numbered event n (see its header), for
//  events the test sends in through "$node publish".
static void
s_fill_event (zm_val_t *body, long n, const char *from, const char *topic)
{
    zm_val_set_int (body, "n", n);
    zm_val_set_str (body, "from", from);
    zm_val_set_str (body, "topic", topic);
    char text[64];
    snprintf (text, sizeof text, "\xc3\xa9v\xc3\xa9nement %ld", n);
    zm_val_set_str (body, "text", text);
    zm_val_set_float (body, "half", (double) n + 0.5);
    zm_val_t *list = zm_val_set_array (body, "list");
    zm_val_push_int (list, -n - 1);
    zm_val_push_str (list, "x");
    zm_val_push_bool (list, true);
    zm_val_push_nil (list);
    zm_val_t *nested = zm_val_set_map (body, "nested");
    zm_val_set_int (nested, "twice", 2 * n);
    uint8_t blob[4] = {(uint8_t) n, (uint8_t) (n >> 8), 0, 0xff};
    zm_val_set_bin (body, "blob", blob, sizeof blob);
}

Test (pubsub, json_and_msgpack_publishers_and_subscribers_interoperate, .init = s_setup,
      .fini = s_teardown, .timeout = 40)
{
    const char *json[] = {"--app.pub=interop.json", "--app.body=json", "--app.count=50",
                          "--app.rate=500", "--app.warm=true", "--app.warm_interval=50", NULL};
    const char *msgpack[] = {"--app.pub=interop.msgpack", "--app.body=msgpack",
                             "--app.count=50", "--app.rate=500", "--app.warm=true",
                             "--app.warm_interval=50", NULL};
    node_t *pj = s_start (0, -1, "pj", json);
    node_t *pm = s_start (1, -1, "pm", msgpack);
    char peers[300];
    snprintf (peers, sizeof peers, "--registry.peers=%s,%s", pj->address, pm->address);
    //  One subscribes through zm_subscribe, one through a service.
    const char *actor[] = {"--app.sub=interop.>", peers, NULL};
    const char *service[] = {"--app.sub=interop.*", "--app.service=true", peers, NULL};
    node_t *sa = s_start (2, -1, "sa", actor);
    node_t *ss = s_start (3, -1, "ss", service);
    int64_t deadline = zt_clock () + 10000;
    while (true) {
        bool warm = true;
        node_t *subs[] = {sa, ss};
        for (int s = 0; s < 2; s++) {
            pair_t *from_json = s_pair (subs[s], 0, "interop.json");
            pair_t *from_msgpack = s_pair (subs[s], 0, "interop.msgpack");
            warm = warm && from_json->warms > 0 && from_msgpack->warms > 0;
        }
        if (warm)
            break;
        cr_assert (zt_clock () < deadline, "no warm-up from both publishers:%s%s", s_tail (sa),
                   s_tail (ss));
        s_pump (50);
    }
    s_go_and_wait_done (pj, 10000);
    s_go_and_wait_done (pm, 10000);
    cr_assert (pj->errors == 0 && pm->errors == 0);

    //  A program that is not a node publishes through one: "$node publish",
    //  in JSON, with metadata.
    zm_node_t *outside = s_client = s_local_node (NULL, NULL);
    zm_msg_t *request = zm_msg_new ();
    zm_msg_set_str (request, "topic", "interop.json");
    s_fill_event (zm_val_set_map (zm_msg_root_mut (request), "event"), 1000, "outside",
                  "interop.json");
    zm_val_t *meta = zm_val_set_map (zm_msg_root_mut (request), "metadata");
    zm_val_set_str (meta, "from", "outside");
    zm_val_set_str (meta, "n", "1000");
    const char *address = pj->address;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.content_type = ZM_CT_JSON;
    zm_msg_t *reply = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (outside, "$node", "publish", &request, &reply, &error, &opts);
    cr_assert_eq (rc, 0, "$node publish: %s %s", zm_strerror (rc), zm_error_detail (error));
    char event_id[64];
    snprintf (event_id, sizeof event_id, "%s", zm_msg_get_str (reply, "id", ""));
    cr_assert_eq (strlen (event_id), 32, "$node publish answers the event id: %s", event_id);
    zm_msg_destroy (&reply);
    zm_node_destroy (&s_client);

    deadline = zt_clock () + 10000;
    while ((sa->events[0] < 101 || ss->events[0] < 101) && zt_clock () < deadline)
        s_pump (50);
    s_pump_for (200);
    node_t *subs[] = {sa, ss};
    for (int s = 0; s < 2; s++) {
        node_t *node = subs[s];
        cr_assert_eq (node->bad[0], 0, "%s: %s", node->name, node->bad_line[0]);
        cr_assert_eq (s_pair (node, 0, "interop.json")->events, 51, "%s: from the JSON publisher",
                      node->name);
        cr_assert_eq (s_pair (node, 0, "interop.msgpack")->events, 50,
                      "%s: from the msgpack publisher", node->name);
        cr_assert_eq (node->got[0][1000], 1, "%s: the event published from outside",
                      node->name);
        for (int n = 0; n < 50; n++)
            cr_assert_eq (node->got[0][n], 2, "%s: event %d once from each publisher",
                          node->name, n);
    }
    //  The outside event was the last one: the id $node publish gave is
    //  the one the subscribers saw.
    cr_assert_str_eq (sa->ids[0], event_id);
    cr_assert_str_eq (ss->ids[0], event_id);
    s_stop (sa);
    s_stop (ss);
}

Test (pubsub, slow_subscriber_drops_alone_and_never_holds_the_publisher, .init = s_setup,
      .fini = s_teardown, .timeout = 60)
{
    //  A burst of 20000 in half a second, twice pubsub.queue (10000). The
    //  fast subscriber keeps up (its handler only counts), so none of its
    //  buffers fills: it gets every event. The slow one (5 ms per event, on
    //  a dedicated reactor) fills its subscription queue and drops from then
    //  on, alone.
    const int burst = 20000;
    const char *publish[] = {"--app.pub=burst.data", "--app.count=20000", "--app.rate=40000",
                             "--app.warm=true", "--app.warm_interval=50", "--app.quiet=true",
                             NULL};
    node_t *p = s_start (0, -1, "p", publish);
    char peer[160];
    s_peer_flag (peer, sizeof peer, p);
    const char *fast_flags[] = {"--app.sub=burst.data", "--app.quiet=true", peer, NULL};
    const char *slow_flags[] = {"--app.sub=burst.data", "--app.quiet=true", "--app.slow=5",
                                "--node.shutdown_timeout=200", peer, NULL};
    node_t *fast = s_start (1, -1, "fast", fast_flags);
    node_t *slow = s_start (2, -1, "slow", slow_flags);
    node_t *subs[] = {fast, slow, NULL};
    s_wait_warm (subs, 0, 10000);
    int64_t go = zt_clock ();
    s_go_and_wait_done (p, 20000);
    int64_t done = zt_clock ();
    cr_assert_eq (p->published, burst, "every zm_publish succeeded (%ld errors)", p->errors);
    //  The publisher was never held up by the slow subscriber: at its pace,
    //  the slow one would need 50 s for the burst.
    cr_assert_lt (done - go, 15000, "publishing took %" PRId64 " ms", done - go);
    cr_log_info ("burst of %d published in %" PRId64 " ms", burst, p->elapsed);

    int64_t deadline = zt_clock () + 20000;
    while (true) {
        s_ask_counts (fast, 5000);
        if (fast->count[0][0] >= burst || zt_clock () >= deadline)
            break;
        s_pump_for (200);
    }
    cr_assert_eq (fast->count[0][1], burst,
                  "the fast subscriber got %ld distinct events of %d (stats %s)",
                  fast->count[0][1], burst, fast->stats);
    cr_assert_eq (fast->count[0][2], 0, "no event twice");
    cr_assert_eq (fast->count[0][3], 0, "every event intact");
    cr_assert_eq (s_stat (fast, "dropped_queue"), 0);
    cr_assert_eq (s_stat (fast, "lost"), 0);

    s_ask_counts (slow, 5000);
    cr_log_info ("slow subscriber: %ld handled, stats %s", slow->count[0][0], slow->stats);
    cr_assert_lt (slow->count[0][0], burst, "the slow one cannot have handled them all");
    cr_assert_gt (s_stat (slow, "dropped_queue"), 0, "the slow one dropped: %s", slow->stats);
    //  Every event of the burst was handled, dropped, or waits in the
    //  subscription's queue (at most pubsub.queue, 10000).
    long dropped = (long) s_stat (slow, "dropped_queue");
    cr_assert_geq (slow->count[0][0] + dropped + 10000, burst, "dropped %ld, handled %ld",
                   dropped, slow->count[0][0]);
    s_stop (fast);
    zt_kill (&slow->proc, SIGKILL);
    s_stop (p);
}

Test (pubsub, late_subscriber_receives_without_restart, .init = s_setup, .fini = s_teardown,
      .timeout = 40)
{
    const char *publish[] = {"--app.pub=ticker.tick", "--app.count=1000", "--app.rate=50", NULL};
    node_t *p = s_start (0, -1, "p", publish);
    int64_t deadline = zt_clock () + 5000;
    while (p->last_pub < 20) {
        cr_assert (zt_clock () < deadline, "p does not publish:%s", s_tail (p));
        s_pump (50);
    }
    char peer[160];
    const char *late[] = {"--app.sub=ticker.>", s_peer_flag (peer, sizeof peer, p), NULL};
    node_t *s = s_start (1, -1, "late", late);
    long published_before = p->last_pub;
    deadline = zt_clock () + 10000;
    while (s->distinct[0] < 25) {
        cr_assert (zt_clock () < deadline, "the late subscriber got %d events:%s",
                   s->distinct[0], s_tail (s));
        s_pump (50);
    }
    cr_assert_geq (s->first_n[0], published_before, "it joined late: first event %ld",
                   s->first_n[0]);
    //  Once it gets events, it gets every one.
    for (long n = s->first_n[0]; n <= s->last_n[0]; n++)
        cr_assert_eq (s->got[0][n], 1, "event %ld arrived %d times", n, s->got[0][n]);
    cr_assert_eq (s->bad[0], 0, "%s", s->bad_line[0]);
    s_stop (s);
    s_stop (p);
}

//  Frames of an EVENT sent point to point (docs/protocol.md section 18.3):
//  the 5 frames of section 3 (topic must be NULL). header is encoded as
//  msgpack unless raw_header is given.
static zmsg_t *
s_event_frames (const char *topic, const zm_msg_t *header, const char *raw_header,
                size_t raw_size, const void *body, size_t body_size)
{
    cr_assert_null (topic, "the PUB/SUB form is s_pub_frames");
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "ZM\x01", 3);
    zmsg_addmem (msg, "\x20", 1);
    zmsg_addmem (msg, "\0\0\0\0\0\0\0\0", 8);
    if (header) {
        void *data = NULL;
        size_t size = 0;
        cr_assert_eq (zm_msg_encode (header, NULL, &data, &size), 0);
        zmsg_addmem (msg, data, size);
        free (data);
    }
    else
        zmsg_addmem (msg, raw_header, raw_size);
    zmsg_addmem (msg, body, body_size);
    return msg;
}

//  An EVENT as a PUB sends it (protocol.md 18.2): the topic frame, then
//  one event frame: "ZM" 0x01 0x20, the fixed fields (a made-up publisher,
//  counter 0xE0000 + n, timestamp now, seq), the extras' length (4 bytes,
//  big endian), the extras (metadata "from" and "n" as pubsub_node
//  publishes them, or raw_extras as given), the body.
static zmsg_t *
s_pub_frames (const char *topic, uint64_t seq, long n, const char *raw_extras, size_t raw_size,
              const void *body, size_t body_size)
{
    void *data = NULL;
    size_t size = raw_size;
    if (!raw_extras) {
        zm_msg_t *extras = zm_msg_new ();
        zm_val_t *meta = zm_val_set_map (zm_msg_root_mut (extras), "metadata");
        zm_val_set_str (meta, "from", "raw");
        char text[32];
        snprintf (text, sizeof text, "%ld", n);
        zm_val_set_str (meta, "n", text);
        cr_assert_eq (zm_msg_encode (extras, NULL, &data, &size), 0);
        zm_msg_destroy (&extras);
    }
    size_t total = 48 + size + body_size;
    uint8_t *frame = (uint8_t *) malloc (total);
    memcpy (frame, "ZM\x01\x20", 4);
    const uint8_t publisher[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
                                   0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
    memcpy (frame + 4, publisher, 16);
    uint64_t fields[3] = {0xE0000 + (uint64_t) n, (uint64_t) zclock_time (), seq};
    for (int field = 0; field < 3; field++)
        for (int at = 0; at < 8; at++)
            frame[20 + 8 * field + at] = (uint8_t) (fields[field] >> (56 - 8 * at));
    for (int at = 0; at < 4; at++)
        frame[44 + at] = (uint8_t) (size >> (24 - 8 * at));
    memcpy (frame + 48, data ? data : raw_extras, size);
    if (body_size)
        memcpy (frame + 48 + size, body, body_size);
    free (data);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, topic);
    zmsg_addmem (msg, frame, total);
    free (frame);
    return msg;
}

//  An EVENT header: topic (NULL: none), group (NULL: none), seq (0: none),
//  and metadata "from" and "n" as pubsub_node publishes them.
static zm_msg_t *
s_event_header (const char *topic, const char *group, uint64_t seq, long n)
{
    zm_msg_t *header = zm_msg_new ();
    if (topic)
        zm_msg_set_str (header, "topic", topic);
    if (group)
        zm_msg_set_str (header, "group", group);
    if (seq)
        zm_msg_set_uint (header, "seq", seq);
    zm_msg_setf (header, "id", "%032lX", 0xE0000 + n);
    zm_msg_set_str (header, "publisher", "0123456789ABCDEF0123456789ABCDEF");
    zm_msg_set_uint (header, "timestamp", (uint64_t) zclock_time ());
    zm_val_t *meta = zm_val_set_map (zm_msg_root_mut (header), "metadata");
    zm_val_set_str (meta, "from", "raw");
    char text[32];
    snprintf (text, sizeof text, "%ld", n);
    zm_val_set_str (meta, "n", text);
    return header;
}

//  The msgpack body of numbered event n from "raw", as pubsub_node checks it.
static void
s_event_body (long n, const char *topic, void **data_p, size_t *size_p)
{
    zm_msg_t *body = zm_msg_new ();
    s_fill_event (zm_msg_root_mut (body), n, "raw", topic);
    cr_assert_eq (zm_msg_encode (body, NULL, data_p, size_p), 0);
    zm_msg_destroy (&body);
}

//  "$node stats" of a loopback node, its "pubsub" and "rpc" counters.
static void
s_node_stats (zm_node_t *client, node_t *node, uint64_t *pubsub_malformed,
              uint64_t *rpc_malformed, uint64_t *delivered)
{
    const char *address = node->address;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    zm_msg_t *stats = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (client, "$node", "stats", NULL, &stats, &error, &opts);
    cr_assert_eq (rc, 0, "%s: $node stats: %s", node->name, zm_error_detail (error));
    const zm_val_t *pubsub = zm_val_get (zm_msg_root (stats), "pubsub");
    cr_assert_not_null (pubsub, "$node stats has \"pubsub\"");
    *pubsub_malformed = zm_val_uint (zm_val_get (pubsub, "malformed"), 0);
    *delivered = zm_val_uint (zm_val_get (pubsub, "delivered"), 0);
    *rpc_malformed = zm_val_uint (zm_val_get (zm_val_get (zm_msg_root (stats), "rpc"),
                                              "malformed"),
                                  0);
    zm_msg_destroy (&stats);
}

//  Is the node alive and serving? ("$node" "health")
static bool
s_healthy (zm_node_t *client, node_t *node)
{
    const char *address = node->address;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 2000;
    zm_msg_t *health = NULL;
    int rc = zm_call (client, "$node", "health", NULL, &health, NULL, &opts);
    zm_msg_destroy (&health);
    return rc == 0;
}

Test (pubsub, malformed_events_point_to_point_are_dropped_and_counted, .init = s_setup,
      .fini = s_teardown, .timeout = 30)
{
    //  A queue-group member, and raw EVENTs sent to its RPC port as a
    //  publisher would (section 18.3).
    const char *member[] = {"--app.sub=raw.>", "--app.group=workers", NULL};
    node_t *node = s_start (0, -1, "member", member);
    zsock_t *dealer = s_socks[0] = zt_curve_socket (ZMQ_DEALER, node->address);
    cr_assert_not_null (dealer);
    size_t body_size = 0;
    s_event_body (1, "raw.x", &s_body, &body_size);
    void *body = s_body;

    //  A well-formed one first: it reaches the handler, intact.
    zm_msg_t *header = s_event_header ("raw.x", "workers", 0, 1);
    zmsg_t *msg = s_event_frames (NULL, header, NULL, 0, body, body_size);
    zm_msg_destroy (&header);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    int64_t deadline = zt_clock () + 5000;
    while (node->events[0] < 1 && zt_clock () < deadline)
        s_pump (50);
    cr_assert_eq (node->got[0][1], 1, "the raw EVENT was delivered:%s", s_tail (node));
    cr_assert_eq (node->bad[0], 0, "%s", node->bad_line[0]);

    //  Then EVENTs each wrong in one way. Every one is dropped, none is
    //  answered.
    struct {
        const char *what;
        const char *topic;        //  header's topic, NULL: none
        const char *group;        //  header's group, NULL: none
        const char *raw_header;   //  instead of a header map, or NULL
        size_t raw_size;
        const char *content_type; //  header's, or NULL
        const char *body;         //  instead of the good body, or NULL
        size_t body_size;
    } cases[] = {
        {"no topic", NULL, "workers", NULL, 0, NULL, NULL, 0},
        {"empty segment", "raw..x", "workers", NULL, 0, NULL, NULL, 0},
        {"wildcard topic", "raw.*", "workers", NULL, 0, NULL, NULL, 0},
        {"topic with a space", "raw.a b", "workers", NULL, 0, NULL, NULL, 0},
        {"no group", "raw.x", NULL, NULL, 0, NULL, NULL, 0},
        {"body not msgpack", "raw.x", "workers", NULL, 0, NULL, "\xc1\xc1", 2},
        {"body truncated", "raw.x", "workers", NULL, 0, NULL, "\x82\xa1n", 3},
        {"body not JSON", "raw.x", "workers", NULL, 0, ZM_CT_JSON, "{\"n\": 1", 7},
        {"header not a map", NULL, NULL, "\x93\x01\x02\x03", 4, NULL, NULL, 0},
        {"header not msgpack", NULL, NULL, "\xc1", 1, NULL, NULL, 0},
    };
    const int count = (int) (sizeof cases / sizeof cases[0]);
    zm_node_t *client = s_client = s_local_node (NULL, NULL);
    uint64_t malformed_before, rpc_before, delivered_before;
    s_node_stats (client, node, &malformed_before, &rpc_before, &delivered_before);
    for (int i = 0; i < count; i++) {
        header = cases[i].raw_header ? NULL : s_event_header (cases[i].topic, cases[i].group, 0, 2);
        if (header && cases[i].content_type)
            zm_msg_set_str (header, "content_type", cases[i].content_type);
        msg = s_event_frames (NULL, header, cases[i].raw_header, cases[i].raw_size,
                              cases[i].body ? cases[i].body : body,
                              cases[i].body ? cases[i].body_size : body_size);
        zm_msg_destroy (&header);
        cr_assert_eq (zmsg_send (&msg, dealer), 0, "%s", cases[i].what);
    }
    //  And frames that are not even an EVENT's, by the thousand.
    for (int i = 0; i < 2000; i++) {
        msg = zmsg_new ();
        zmsg_addmem (msg, "ZM\x01", 3);
        zmsg_addmem (msg, "\x20", 1);
        zmsg_addmem (msg, "junk", 4);
        cr_assert_eq (zmsg_send (&msg, dealer), 0);
    }
    zpoller_t *poller = zpoller_new (dealer, NULL);
    cr_assert_null (zpoller_wait (poller, 500), "an EVENT is never answered");
    zpoller_destroy (&poller);
    cr_assert (s_healthy (client, node), "the node still serves");
    uint64_t malformed, rpc_malformed, delivered;
    s_node_stats (client, node, &malformed, &rpc_malformed, &delivered);
    cr_assert_eq (delivered, delivered_before, "nothing malformed reached a handler");
    cr_assert_eq (node->events[0], 1, "nothing malformed reached a handler:%s", s_tail (node));
    //  Section 18: a malformed EVENT is counted as "malformed" in the
    //  receiver's pub/sub stats.
    cr_assert_geq (malformed - malformed_before, (uint64_t) count,
                   "pubsub.malformed counted %" PRIu64 " of %d malformed EVENTs"
                   " (rpc.malformed went up by %" PRIu64 ")",
                   malformed - malformed_before, count, rpc_malformed - rpc_before);

    //  A good one still goes through.
    header = s_event_header ("raw.y", "workers", 0, 3);
    free (s_body);
    s_event_body (3, "raw.y", &s_body, &body_size);
    body = s_body;
    msg = s_event_frames (NULL, header, NULL, 0, body, body_size);
    zm_msg_destroy (&header);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    deadline = zt_clock () + 5000;
    while (node->events[0] < 2 && zt_clock () < deadline)
        s_pump (50);
    cr_assert_eq (node->got[0][3], 1, "a good EVENT after the junk:%s", s_tail (node));
    cr_assert_eq (node->bad[0], 0, "%s", node->bad_line[0]);
    s_stop (node);
}

//  The TCP port a socket bound to last.
static int
s_bound_port (zsock_t *sock)
{
    char *endpoint = zsock_last_endpoint (sock);
    cr_assert (endpoint && strrchr (endpoint, ':'));
    int port = atoi (strrchr (endpoint, ':') + 1);
    zstr_free (&endpoint);
    return port;
}

//  Send on the fake publisher's socket; returns 1 (one more piece of junk).
static int
s_send_raw (zsock_t *pub, zmsg_t **msg_p)
{
    cr_assert_eq (zmsg_send (msg_p, pub), 0);
    return 1;
}

//  A publisher that is not a node: the test answers the subscriber's HELLO
//  (as a static peer) with a descriptor naming a PUB socket of its own, and
//  publishes on it whatever it likes.
Test (pubsub, garbage_on_a_publisher_socket_is_dropped_and_counted, .init = s_setup,
      .fini = s_teardown, .timeout = 30)
{
    //  CURVE servers with a keypair of ours (no ZAP handler in this
    //  process: libzmq admits every client)
    zsock_t *router = s_socks[0] = zsock_new (ZMQ_ROUTER);
    zsock_t *pub = s_socks[1] = zsock_new (ZMQ_PUB);
    cr_assert (router && pub);
    zcert_t *cert = zcert_new ();
    zcert_apply (cert, router);
    zcert_apply (cert, pub);
    zsock_set_curve_server (router, 1);
    zsock_set_curve_server (pub, 1);
    cr_assert_gt (zsock_bind (router, "tcp://127.0.0.1:*"), 0);
    cr_assert_gt (zsock_bind (pub, "tcp://127.0.0.1:*"), 0);
    int router_port = s_bound_port (router);
    int pub_port = s_bound_port (pub);
    char peers[128];
    snprintf (peers, sizeof peers, "--registry.peers=tcp://127.0.0.1:%d#%s", router_port,
              zcert_public_txt (cert));
    zcert_destroy (&cert);
    const char *subscriber[] = {"--app.sub=junk.>", peers, NULL};
    node_t *node = s_start (0, -1, "s", subscriber);

    //  Its HELLO (a REQUEST to $node hello), answered with our descriptor.
    zpoller_t *poller = zpoller_new (router, NULL);
    cr_assert_not_null (zpoller_wait (poller, 5000), "no HELLO from the subscriber");
    zmsg_t *hello = zmsg_recv (router);
    cr_assert_eq (zmsg_size (hello), 6, "identity + 5 frames");
    zframe_t *identity = zmsg_pop (hello);
    zframe_t *frame = zmsg_first (hello);
    frame = zmsg_next (hello);
    cr_assert_eq (zframe_data (frame)[0], 0x01, "a REQUEST");
    zframe_t *corr = zframe_dup (zmsg_next (hello));
    zmsg_destroy (&hello);
    zm_msg_t *descriptor = zm_msg_new ();
    zm_msg_set_str (descriptor, "uuid", "0123456789ABCDEF0123456789ABCDEF");
    zm_msg_set_str (descriptor, "name", "fake");
    zm_msg_set_str (descriptor, "zmicro", "0.1.0");
    zm_msg_set_uint (descriptor, "seq", 1);
    zm_val_push_uint (zm_val_set_array (zm_msg_root_mut (descriptor), "rpc_ports"),
                      (uint64_t) router_port);
    zm_val_set_array (zm_msg_root_mut (descriptor), "services");
    zm_msg_set_uint (descriptor, "pub_port", (uint64_t) pub_port);
    zm_val_set_array (zm_msg_root_mut (descriptor), "subscriptions");
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (descriptor, NULL, &data, &size), 0);
    zm_msg_destroy (&descriptor);
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &identity);
    zmsg_addmem (reply, "ZM\x01", 3);
    zmsg_addmem (reply, "\x02", 1);
    zmsg_append (reply, &corr);
    zmsg_addmem (reply, "\x80", 1);
    zmsg_addmem (reply, data, size);
    free (data);
    cr_assert_eq (zmsg_send (&reply, router), 0);

    //  Warm up: good events until one arrives (the SUB has connected and
    //  subscribed).
    uint64_t seq = 1;
    size_t body_size = 0;
    int64_t deadline = zt_clock () + 10000;
    for (long k = 0; node->warm[0] == 0; k++) {
        cr_assert (zt_clock () < deadline, "no warm-up got through:%s", s_tail (node));
        zm_msg_t *warm = zm_msg_new ();
        zm_msg_set_int (warm, "warm", k);
        zm_msg_set_str (warm, "from", "fake");
        cr_assert_eq (zm_msg_encode (warm, NULL, &s_body, &body_size), 0);
        zm_msg_destroy (&warm);
        zmsg_t *msg = s_pub_frames ("junk.warm", seq++, 0, NULL, 0, s_body, body_size);
        free (s_body);
        s_body = NULL;
        zmsg_send (&msg, pub);
        s_pump (50);
    }
    zm_node_t *client = s_client = s_local_node (NULL, NULL);
    uint64_t malformed_before, rpc_before, delivered_before;
    s_node_stats (client, node, &malformed_before, &rpc_before, &delivered_before);

    //  Garbage, all with a topic frame the subscriber's filter lets in.
    s_event_body (5, "junk.x", &s_body, &body_size);
    void *body = s_body;
    int garbage = 0;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "junk.x");            //  a topic frame alone
    garbage += s_send_raw (pub, &msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, "junk.x");            //  and random frames
    zmsg_addmem (msg, "\x01\x02\x03", 3);
    zmsg_addmem (msg, "", 0);
    garbage += s_send_raw (pub, &msg);
    //  A topic frame holding a NUL byte (the filter lets it in).
    msg = s_pub_frames ("junk.x", seq++, 5, NULL, 0, body, body_size);
    zframe_t *topic = zmsg_first (msg);
    zframe_reset (topic, "junk.x\0y", 8);
    garbage += s_send_raw (pub, &msg);
    //  An invalid topic.
    msg = s_pub_frames ("junk..x", seq++, 5, NULL, 0, body, body_size);
    garbage += s_send_raw (pub, &msg);
    //  A body that does not decode.
    msg = s_pub_frames ("junk.x", seq++, 5, NULL, 0, "\xc1", 1);
    garbage += s_send_raw (pub, &msg);
    //  Extras that are not a map, that name an unknown content type.
    msg = s_pub_frames ("junk.x", seq++, 5, "\x93\x01\x02\x03", 4, body, body_size);
    garbage += s_send_raw (pub, &msg);
    msg = s_pub_frames ("junk.x", seq++, 5, "\x81\xac" "content_type\xa5x/y/z", 20, body,
                        body_size);
    garbage += s_send_raw (pub, &msg);
    //  A REQUEST instead of an EVENT, a bad signature, another version, an
    //  extras length past the end of the frame, extras over 64 KiB.
    const struct {
        int at;
        uint8_t byte;
    } pokes[] = {{3, 0x01}, {0, 'X'}, {2, 0x02}, {46, 0x7f}, {45, 0x01}};
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        msg = s_pub_frames ("junk.x", seq++, 5, NULL, 0, body, body_size);
        zmsg_first (msg);
        zframe_data (zmsg_next (msg))[pokes[i].at] = pokes[i].byte;
        garbage += s_send_raw (pub, &msg);
    }
    //  A frame too short for the fixed fields, an EVENT in the 5-frame
    //  form.
    msg = zmsg_new ();
    zmsg_addstr (msg, "junk.x");
    zmsg_addmem (msg, "ZM\x01\x20\0", 5);
    garbage += s_send_raw (pub, &msg);
    zm_msg_t *header = s_event_header ("junk.x", NULL, seq++, 5);
    msg = s_event_frames (NULL, header, NULL, 0, body, body_size);
    zm_msg_destroy (&header);
    zmsg_pushstr (msg, "junk.x");
    garbage += s_send_raw (pub, &msg);
    //  And a good one after it all.
    msg = s_pub_frames ("junk.x", seq++, 5, NULL, 0, body, body_size);
    zmsg_send (&msg, pub);

    deadline = zt_clock () + 5000;
    while (node->events[0] < 1 && zt_clock () < deadline)
        s_pump (50);
    s_pump_for (200);
    cr_assert_eq (node->got[0][5], 1, "the good event after the garbage:%s", s_tail (node));
    cr_assert_eq (node->events[0], 1, "only the good event reached the handler:%s",
                  s_tail (node));
    cr_assert_eq (node->bad[0], 0, "%s", node->bad_line[0]);
    cr_assert (s_healthy (client, node), "the node still serves");
    uint64_t malformed, rpc_malformed, delivered;
    s_node_stats (client, node, &malformed, &rpc_malformed, &delivered);
    cr_assert_geq (malformed - malformed_before, (uint64_t) garbage,
                   "pubsub.malformed counted %" PRIu64 " of %d", malformed - malformed_before,
                   garbage);
    zpoller_destroy (&poller);
    s_stop (node);
}

//  ---------------------------------------------------------------------------
//  On a LAN: one node per host, found by beacon

Test (pubsub_lan, broadcast_reaches_every_subscriber_on_every_host, .init = s_setup,
      .fini = s_teardown, .timeout = 60)
{
    s_lan = zt_lan_new (3);
    const int count = 300;
    const char *publisher[] = {"--app.sub=news.world", "--app.pub=news.world", "--app.count=300",
                               "--app.rate=1000", "--app.warm=true", NULL};
    const char *exact[] = {"--app.sub=news.world", NULL};
    const char *prefix[] = {"--app.sub=news.>", NULL};
    node_t *h0 = s_start (0, 0, "h0", publisher);
    node_t *h1 = s_start (1, 1, "h1", exact);
    node_t *h2 = s_start (2, 2, "h2", prefix);
    node_t *all[] = {h0, h1, h2, NULL};
    s_wait_warm (all, 0, 15000);
    s_go_and_wait_done (h0, 10000);
    cr_assert_eq (h0->errors, 0);
    int64_t deadline = zt_clock () + 10000;
    while ((h0->distinct[0] < count || h1->distinct[0] < count || h2->distinct[0] < count)
           && zt_clock () < deadline)
        s_pump (50);
    s_pump_for (200);
    for (int i = 0; all[i]; i++) {
        cr_assert_eq (all[i]->distinct[0], count, "%s got %d of %d events:%s", all[i]->name,
                      all[i]->distinct[0], count, s_tail (all[i]));
        cr_assert_eq (all[i]->dups[0], 0, "%s got events twice", all[i]->name);
        cr_assert_eq (all[i]->bad[0], 0, "%s: %s", all[i]->name, all[i]->bad_line[0]);
    }
    s_stop (h1);
    s_stop (h2);
    s_stop (h0);
}

Test (pubsub_lan, queue_group_delivers_each_event_to_one_member, .init = s_setup,
      .fini = s_teardown, .timeout = 60)
{
    s_lan = zt_lan_new (4);
    const int count = 300;
    const char *publisher[] = {"--app.pub=jobs.created", "--app.count=300", "--app.rate=1000",
                               "--app.warm=true", "--app.warm_interval=50", NULL};
    const char *member[] = {"--app.sub=jobs.created", "--app.group=workers", NULL};
    node_t *p = s_start (0, 0, "p", publisher);
    node_t *w1 = s_start (1, 1, "w1", member);
    node_t *w2 = s_start (2, 2, "w2", member);
    node_t *w3 = s_start (3, 3, "w3", member);
    //  A warm-up reaches a member only once the publisher has heard of it:
    //  wait until every member has had one.
    node_t *members[] = {w1, w2, w3, NULL};
    s_wait_warm (members, 0, 15000);
    s_go_and_wait_done (p, 10000);
    cr_assert_eq (p->errors, 0);
    int64_t deadline = zt_clock () + 10000;
    while (w1->events[0] + w2->events[0] + w3->events[0] < count && zt_clock () < deadline)
        s_pump (50);
    s_pump_for (300);
    int serving = 0;
    for (int i = 0; members[i]; i++) {
        cr_assert_eq (members[i]->bad[0], 0, "%s", members[i]->bad_line[0]);
        serving += members[i]->events[0] > 0;
        cr_log_info ("%s got %d events", members[i]->name, members[i]->events[0]);
    }
    for (int n = 0; n < count; n++) {
        int got = w1->got[0][n] + w2->got[0][n] + w3->got[0][n];
        cr_assert_eq (got, 1, "event %d delivered %d times in the group (%d %d %d)", n, got,
                      w1->got[0][n], w2->got[0][n], w3->got[0][n]);
    }
    cr_assert_eq (w1->events[0] + w2->events[0] + w3->events[0], count);
    cr_assert_geq (serving, 2, "events spread over the group: %d %d %d", w1->events[0],
                   w2->events[0], w3->events[0]);
    s_stop (w1);
    s_stop (w2);
    s_stop (w3);
    s_stop (p);
}

Test (pubsub_lan, killed_group_member_is_skipped, .init = s_setup, .fini = s_teardown,
      .timeout = 60)
{
    s_lan = zt_lan_new (4);
    //  800 events over 4 s; a member is killed about 1 s in.
    const int count = 800;
    const char *publisher[] = {"--app.pub=jobs.created", "--app.count=800", "--app.rate=200",
                               "--app.warm=true", "--app.warm_interval=50", NULL};
    //  Members are services, as go-micro's queue groups are.
    const char *member[] = {"--app.sub=jobs.created", "--app.group=workers",
                            "--app.service=true", NULL};
    node_t *p = s_start (0, 0, "p", publisher);
    node_t *w1 = s_start (1, 1, "w1", member);
    node_t *w2 = s_start (2, 2, "w2", member);
    node_t *w3 = s_start (3, 3, "w3", member);
    node_t *members[] = {w1, w2, w3, NULL};
    s_wait_warm (members, 0, 15000);
    cr_assert_eq (kill (p->proc.pid, SIGUSR2), 0);
    int64_t deadline = zt_clock () + 10000;
    while (w3->events[0] < 20 || p->last_pub < 200) {
        cr_assert (zt_clock () < deadline, "w3 got %d events, p published %ld", w3->events[0],
                   p->last_pub);
        s_pump (20);
    }
    int64_t killed = zt_clock ();
    //  Reaped, but its pipe stays open: what it printed before it died is
    //  still read (and checked for duplicates).
    cr_assert_eq (kill (w3->proc.pid, SIGKILL), 0);
    cr_assert_eq (zt_wait (&w3->proc, 5000), 128 + SIGKILL);
    deadline = zt_clock () + 15000;
    while (!p->done) {
        cr_assert (zt_clock () < deadline, "p did not finish:%s", s_tail (p));
        s_pump (50);
    }
    cr_assert_eq (p->errors, 0);
    cr_assert_eq (p->pubs, count);
    //  Every event published a while after the kill (the member's
    //  connection dropped at once: its process is gone) reaches a live
    //  member.
    const int64_t settle = 1000;
    long after = 0;
    for (long n = 0; n < count; n++)
        after += p->pub_ms[n] >= killed + settle;
    cr_assert_gt (after, 200, "events after the kill: %ld", after);
    deadline = zt_clock () + 10000;
    while (zt_clock () < deadline) {
        long missing = 0;
        for (long n = 0; n < count; n++)
            missing += p->pub_ms[n] >= killed + settle && w1->got[0][n] + w2->got[0][n] == 0;
        if (missing == 0)
            break;
        s_pump (50);
    }
    s_pump_for (300);
    long lost = 0, late_w1 = 0, late_w2 = 0;
    for (long n = 0; n < count; n++) {
        int got = w1->got[0][n] + w2->got[0][n] + w3->got[0][n];
        cr_assert_leq (got, 1, "event %ld delivered %d times (%d %d %d)", n, got, w1->got[0][n],
                       w2->got[0][n], w3->got[0][n]);
        if (p->pub_ms[n] >= killed + settle) {
            cr_assert_eq (got, 1, "event %ld, published %" PRId64 " ms after the kill, was lost",
                          n, p->pub_ms[n] - killed);
            late_w1 += w1->got[0][n];
            late_w2 += w2->got[0][n];
        }
        lost += got == 0;
    }
    cr_assert (late_w1 > 0 && late_w2 > 0, "both survivors serve: %ld and %ld", late_w1,
               late_w2);
    cr_assert_eq (w1->bad[0] + w2->bad[0], 0);
    cr_log_info ("%ld events lost around the kill (sent to the dead member)", lost);
    s_stop (w1);
    s_stop (w2);
    s_stop (p);
}

Test (pubsub_lan, late_subscriber_on_another_host_receives, .init = s_setup, .fini = s_teardown,
      .timeout = 60)
{
    s_lan = zt_lan_new (3);
    const char *publisher[] = {"--app.pub=metrics.cpu", "--app.count=1000", "--app.rate=50",
                               NULL};
    const char *subscriber[] = {"--app.sub=metrics.*", NULL};
    node_t *p = s_start (0, 0, "p", publisher);
    node_t *early = s_start (1, 1, "early", subscriber);
    int64_t deadline = zt_clock () + 15000;
    while (early->distinct[0] < 10) {
        cr_assert (zt_clock () < deadline, "early got %d events:%s", early->distinct[0],
                   s_tail (early));
        s_pump (50);
    }
    long published_before = p->last_pub;
    node_t *late = s_start (2, 2, "late", subscriber);
    deadline = zt_clock () + 15000;
    while (late->distinct[0] < 25) {
        cr_assert (zt_clock () < deadline, "late got %d events:%s", late->distinct[0],
                   s_tail (late));
        s_pump (50);
    }
    cr_assert_geq (late->first_n[0], published_before, "late joined late: first %ld",
                   late->first_n[0]);
    s_pump_for (200);
    node_t *subs[] = {early, late};
    for (int s = 0; s < 2; s++) {
        node_t *node = subs[s];
        for (long n = node->first_n[0]; n <= node->last_n[0]; n++)
            cr_assert_eq (node->got[0][n], 1, "%s: event %ld arrived %d times", node->name, n,
                          node->got[0][n]);
        cr_assert_eq (node->bad[0], 0, "%s", node->bad_line[0]);
    }
    cr_assert_eq (early->got[0][late->first_n[0]], 1, "early still gets everything");
    s_stop (late);
    s_stop (early);
    s_stop (p);
}
