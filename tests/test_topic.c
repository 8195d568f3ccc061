/*  Topic grammar and matching (runtime/zm_topic.c), and pub/sub between
    nodes of this process over loopback: local delivery, broadcast between
    two nodes, a queue group, the handler's view of an event, unsubscribe.
*/
#include "support.h"
#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include "zmicro.h"

Test (topic, valid_topics_and_patterns)
{
    const char *topics[] = {"a", "orders.created", "user.42.login", "A-b_c.9", NULL};
    for (int i = 0; topics[i]; i++) {
        cr_assert_eq (zm_topic_check (topics[i], false, NULL), 0, "%s", topics[i]);
        cr_assert_eq (zm_topic_check (topics[i], true, NULL), 0, "%s", topics[i]);
    }
    const char *patterns[] = {"*", ">", "a.*", "a.>", "*.b.*", "a.*.c.>", NULL};
    for (int i = 0; patterns[i]; i++) {
        cr_assert_eq (zm_topic_check (patterns[i], true, NULL), 0, "%s", patterns[i]);
        cr_assert_eq (zm_topic_check (patterns[i], false, NULL), ZM_EINVAL, "%s", patterns[i]);
    }
    char longest[256];
    memset (longest, 'a', 255);
    longest[255] = 0;
    cr_assert_eq (zm_topic_check (longest, false, NULL), 0);
}

Test (topic, invalid_topics_have_reasons)
{
    struct {
        const char *topic;
        const char *reason;
    } cases[] = {
        {"", "empty"},         {".a", "empty segment"},      {"a.", "empty segment"},
        {"a..b", "empty segment"}, {"a b", "character"},    {"a/b", "character"},
        {"ord*", "whole segment"}, {"a.>.b", "last segment"}, {"é", "character"},
        {NULL, NULL}};
    for (int i = 0; cases[i].topic; i++) {
        const char *reason = NULL;
        cr_assert_eq (zm_topic_check (cases[i].topic, true, &reason), ZM_EINVAL, "'%s'",
                      cases[i].topic);
        cr_assert (reason && strstr (reason, cases[i].reason), "'%s': %s", cases[i].topic,
                   reason);
    }
    const char *reason = NULL;
    cr_assert_eq (zm_topic_check (NULL, false, &reason), ZM_EINVAL);
    cr_assert_not_null (reason);
    char too_long[300];
    memset (too_long, 'a', 256);
    too_long[256] = 0;
    cr_assert_eq (zm_topic_check (too_long, false, &reason), ZM_EINVAL);
    cr_assert (strstr (reason, "255"));
}

Test (topic, matching)
{
    struct {
        const char *pattern, *topic;
        bool match;
    } cases[] = {
        {"orders.created", "orders.created", true},
        {"orders.created", "orders.created.eu", false},
        {"orders.created", "orders", false},
        {"orders.created", "orders.create", false},
        {"orders.create", "orders.created", false},
        {"user.*.login", "user.42.login", true},
        {"user.*.login", "user.login", false},
        {"user.*.login", "user.4.2.login", false},
        {"orders.>", "orders.created", true},
        {"orders.>", "orders.eu.created", true},
        {"orders.>", "orders", false},
        {"orders.>", "ordersx.a", false},
        {"*", "orders", true},
        {"*", "orders.created", false},
        {">", "a", true},
        {">", "a.b.c", true},
        {"*.b.>", "a.b.c.d", true},
        {"*.b.>", "a.c.c.d", false},
        {"a.*", "a.b", true},
        {"a.*", "a", false},
        {NULL, NULL, false}};
    for (int i = 0; cases[i].pattern; i++)
        cr_assert_eq (zm_topic_match (cases[i].pattern, cases[i].topic), cases[i].match,
                      "%s vs %s", cases[i].pattern, cases[i].topic);
    cr_assert_not (zm_topic_match (NULL, "a"));
    cr_assert_not (zm_topic_match ("a", NULL));
}

//  --------------------------------------------------------------------------
//  Nodes of this process

static zm_node_t *
s_node (const char *name, const char *peers)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "node.name", name, NULL);
    if (peers)
        zm_config_set (config, "registry.peers", peers, NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    return node;
}

typedef struct {
    atomic_int count;
    atomic_int bad;
    char topic[64];
    char publisher[40];
    char id[40];
    char meta[32];
    int64_t time;
    int last_n;
    pthread_mutex_t lock;
} s_seen_t;

static int
s_on_event (zm_ctx_t *ctx, zm_msg_t *event)
{
    s_seen_t *seen = (s_seen_t *) zm_ctx_state (ctx);
    pthread_mutex_lock (&seen->lock);
    snprintf (seen->topic, sizeof seen->topic, "%s", zm_ctx_topic (ctx));
    snprintf (seen->publisher, sizeof seen->publisher, "%s", zm_ctx_publisher (ctx));
    snprintf (seen->id, sizeof seen->id, "%s", zm_ctx_event_id (ctx));
    const char *meta = zm_ctx_meta (ctx, "tenant");
    snprintf (seen->meta, sizeof seen->meta, "%s", meta ? meta : "");
    seen->time = zm_ctx_event_time (ctx);
    seen->last_n = (int) zm_msg_get_int (event, "n", -1);
    pthread_mutex_unlock (&seen->lock);
    if (seen->last_n < 0)
        atomic_fetch_add (&seen->bad, 1);
    atomic_fetch_add (&seen->count, 1);
    return 0;
}

static int
s_publish_n (zm_node_t *node, const char *topic, int n)
{
    zm_msg_t *event = zm_msg_new ();
    zm_msg_set_int (event, "n", n);
    return zm_publish (node, topic, &event, NULL);
}

//  Publish on topic until seen counts one more, or timeout: subscriptions
//  reach publishers asynchronously (PUB/SUB joins late).
static bool
s_until_seen (zm_node_t *node, const char *topic, s_seen_t *seen, int timeout_ms)
{
    int64_t until = zt_clock () + timeout_ms;
    int before = atomic_load (&seen->count);
    while (zt_clock () < until) {
        s_publish_n (node, topic, 0);
        zclock_sleep (20);
        if (atomic_load (&seen->count) > before)
            return true;
    }
    return false;
}

static void
s_wait_count (atomic_int *count, int want, int timeout_ms)
{
    int64_t until = zt_clock () + timeout_ms;
    while (atomic_load (count) < want && zt_clock () < until)
        zclock_sleep (5);
}

Test (pubsub, local_subscription_sees_the_event_and_its_header, .timeout = 20)
{
    zm_node_t *node = s_node ("solo", NULL);
    static s_seen_t seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
    int err = 0;
    uint64_t id = zm_subscribe (node, "orders.>", NULL, s_on_event, &seen, &err);
    cr_assert_gt (id, 0, "subscribe: %d", err);
    zm_msg_t *metadata = zm_msg_new ();
    zm_msg_set_str (metadata, "tenant", "acme");
    zm_pub_opts_t opts = {ZM_CT_JSON, metadata};
    zm_msg_t *event = zm_msg_new ();
    zm_msg_set_int (event, "n", 7);
    int64_t before = zclock_time ();
    cr_assert_eq (zm_publish (node, "orders.created", &event, &opts), 0);
    cr_assert_null (event, "zm_publish takes the event");
    s_wait_count (&seen.count, 1, 5000);
    cr_assert_eq (atomic_load (&seen.count), 1);
    cr_assert_str_eq (seen.topic, "orders.created");
    cr_assert_str_eq (seen.publisher, zm_node_uuid (node));
    cr_assert_eq (strlen (seen.id), 32);
    cr_assert_str_eq (seen.meta, "acme");
    cr_assert_eq (seen.last_n, 7);
    cr_assert_geq (seen.time, before);
    //  Not matching: nothing
    cr_assert_eq (s_publish_n (node, "orders", 1), 0);
    cr_assert_eq (s_publish_n (node, "users.created", 1), 0);
    //  Bad topics, content types, opts
    cr_assert_eq (s_publish_n (node, "orders.*", 1), ZM_EINVAL);
    cr_assert_eq (s_publish_n (node, "", 1), ZM_EINVAL);
    cr_assert_eq (zm_publish (node, NULL, NULL, NULL), ZM_EINVAL);
    zm_pub_opts_t bad = {"text/nope", NULL};
    event = zm_msg_new ();
    cr_assert_eq (zm_publish (node, "orders.x", &event, &bad), ZM_EINVAL);
    cr_assert_null (event, "taken on failure too");
    cr_assert_eq (zm_subscribe (node, "orders..x", NULL, s_on_event, NULL, &err), 0);
    cr_assert_eq (err, ZM_EINVAL);
    cr_assert_eq (zm_subscribe (node, "a", "bad group!", s_on_event, NULL, &err), 0);
    cr_assert_eq (err, ZM_EINVAL);
    cr_assert_eq (zm_subscribe (node, "a", NULL, NULL, NULL, &err), 0);
    //  Unsubscribed: no more events
    cr_assert_eq (zm_unsubscribe (node, id), 0);
    cr_assert_eq (zm_unsubscribe (node, id), ZM_ENOTFOUND);
    cr_assert_eq (s_publish_n (node, "orders.created", 2), 0);
    zclock_sleep (100);
    cr_assert_eq (atomic_load (&seen.count), 1);
    zm_msg_t *stats = zm_pubsub_stats (node);
    cr_assert_eq (zm_msg_get_uint (stats, "published", 0), 4);
    cr_assert_eq (zm_msg_get_uint (stats, "delivered", 0), 1);
    cr_assert_gt (zm_msg_get_uint (stats, "pub_port", 0), 0);
    zm_msg_destroy (&stats);
    zm_msg_destroy (&metadata);
    zm_node_destroy (&node);
}

Test (pubsub, broadcast_between_two_nodes_in_json_and_msgpack, .timeout = 30)
{
    zm_node_t *publisher = s_node ("pub", NULL);
    char peer[128];
    zt_node_address (publisher, peer, sizeof peer);
    zm_node_t *subscriber = s_node ("sub", peer);
    static s_seen_t seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cr_assert_gt (zm_subscribe (subscriber, "a.*.c", NULL, s_on_event, &seen, NULL), 0);
    cr_assert (s_until_seen (publisher, "a.b.c", &seen, 5000), "no event crossed");
    s_wait_count (&seen.count, 1000000, 100); //  let the warm-up trail in
    int base = atomic_load (&seen.count);
    for (int i = 1; i <= 100; i++) {
        zm_msg_t *event = zm_msg_new ();
        zm_msg_set_int (event, "n", i);
        zm_pub_opts_t opts = {i % 2 ? ZM_CT_JSON : ZM_CT_MSGPACK, NULL};
        cr_assert_eq (zm_publish (publisher, i % 3 ? "a.b.c" : "a.x.d", &event, &opts), 0);
    }
    //  a.x.d does not match a.*.c: 67 of the 100
    s_wait_count (&seen.count, base + 67, 5000);
    zclock_sleep (50);
    cr_assert_eq (atomic_load (&seen.count), base + 67);
    cr_assert_eq (atomic_load (&seen.bad), 0, "every body decoded");
    cr_assert_str_eq (seen.publisher, zm_node_uuid (publisher));
    zm_msg_t *stats = zm_pubsub_stats (subscriber);
    cr_assert_eq (zm_msg_get_uint (stats, "lost", 1), 0);
    cr_assert_eq (zm_msg_get_uint (stats, "malformed", 1), 0);
    zm_msg_destroy (&stats);
    zm_node_destroy (&subscriber);
    zm_node_destroy (&publisher);
}

Test (pubsub, queue_group_delivers_each_event_once, .timeout = 30)
{
    //  Three members on three nodes; the publisher knows them (static
    //  peers) and they know it.
    zm_node_t *members[3];
    static s_seen_t seen[3] = {{.lock = PTHREAD_MUTEX_INITIALIZER},
                               {.lock = PTHREAD_MUTEX_INITIALIZER},
                               {.lock = PTHREAD_MUTEX_INITIALIZER}};
    char peers[1024] = "";
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf (name, sizeof name, "m%d", i);
        members[i] = s_node (name, NULL);
        cr_assert_gt (zm_subscribe (members[i], "jobs.>", "workers", s_on_event, &seen[i], NULL),
                      0);
        size_t used = strlen (peers);
        char address[128];
        snprintf (peers + used, sizeof peers - used, "%s%s", used ? "," : "",
                  zt_node_address (members[i], address, sizeof address));
    }
    zm_node_t *publisher = s_node ("pub", peers);
    //  A call waits for the first static round: then all three are known.
    zm_msg_t *rep = NULL;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    zm_call (publisher, "$node", "health", NULL, &rep, NULL, &opts);
    zm_msg_destroy (&rep);
    for (int i = 1; i <= 300; i++)
        cr_assert_eq (s_publish_n (publisher, "jobs.run", i), 0);
    int64_t until = zt_clock () + 5000;
    int total = 0;
    while (zt_clock () < until) {
        total = atomic_load (&seen[0].count) + atomic_load (&seen[1].count)
                + atomic_load (&seen[2].count);
        if (total >= 300)
            break;
        zclock_sleep (10);
    }
    zclock_sleep (100);
    total = atomic_load (&seen[0].count) + atomic_load (&seen[1].count)
            + atomic_load (&seen[2].count);
    cr_assert_eq (total, 300, "each event once in the group: got %d (%d %d %d)", total,
                  atomic_load (&seen[0].count), atomic_load (&seen[1].count),
                  atomic_load (&seen[2].count));
    for (int i = 0; i < 3; i++)
        cr_assert_gt (atomic_load (&seen[i].count), 0, "member %d got none", i);
    zm_msg_t *stats = zm_pubsub_stats (publisher);
    cr_assert_eq (zm_msg_get_uint (stats, "dropped_no_member", 1), 0);
    zm_msg_destroy (&stats);
    zm_node_destroy (&publisher);
    for (int i = 0; i < 3; i++)
        zm_node_destroy (&members[i]);
}

static int
s_svc_event (zm_ctx_t *ctx, zm_msg_t *event)
{
    zm_node_t *node = zm_ctx_node (ctx);
    //  Answer with an event of our own: services react to events
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "n", zm_msg_get_int (event, "n", -1) + 1000);
    zm_msg_set_str (reply, "topic", zm_ctx_topic (ctx));
    return zm_publish (node, "svc.answered", &reply, NULL);
}

static int
s_svc_ping (zm_ctx_t *ctx, zm_msg_t *req)
{
    return 0;
}

Test (pubsub, service_subscription_runs_on_an_instance, .timeout = 20)
{
    zm_node_t *node = s_node ("svc", NULL);
    zm_service_t *svc = zm_service_new (node, "reactor", "1.0.0");
    cr_assert_eq (zm_service_handle (svc, "Ping", s_svc_ping), 0);
    cr_assert_eq (zm_service_subscribe (svc, "svc.asked", NULL, s_svc_event), 0);
    cr_assert_eq (zm_service_subscribe (svc, "bad..pattern", NULL, s_svc_event), ZM_EINVAL);
    static s_seen_t seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cr_assert_gt (zm_subscribe (node, "svc.answered", NULL, s_on_event, &seen, NULL), 0);
    //  Not started: nothing handles svc.asked
    cr_assert_eq (s_publish_n (node, "svc.asked", 1), 0);
    zclock_sleep (100);
    cr_assert_eq (atomic_load (&seen.count), 0);
    cr_assert_eq (zm_service_start (svc), 0);
    cr_assert_eq (zm_service_subscribe (svc, "late", NULL, s_svc_event), ZM_ECONFLICT);
    cr_assert_eq (s_publish_n (node, "svc.asked", 2), 0);
    s_wait_count (&seen.count, 1, 5000);
    cr_assert_eq (atomic_load (&seen.count), 1);
    cr_assert_eq (seen.last_n, 1002);
    //  The descriptor lists the subscriptions
    zm_msg_t *rep = NULL;
    cr_assert_eq (zm_call (node, "$node", "describe", NULL, &rep, NULL, NULL), 0);
    const zm_val_t *subs = zm_val_get (zm_msg_root (rep), "subscriptions");
    cr_assert_eq (zm_val_size (subs), 2);
    zm_msg_destroy (&rep);
    zm_node_destroy (&node);
}

Test (pubsub, node_publish_endpoint, .timeout = 20)
{
    zm_node_t *node = s_node ("relay", NULL);
    static s_seen_t seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cr_assert_gt (zm_subscribe (node, "x.y", NULL, s_on_event, &seen, NULL), 0);
    const char *json = "{\"topic\": \"x.y\", \"event\": {\"n\": 5}, \"metadata\": {\"tenant\": \"t1\"}}";
    zm_msg_t *req = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, json, strlen (json), &req, NULL), 0);
    zm_msg_t *rep = NULL;
    zm_error_t *error = NULL;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.content_type = ZM_CT_JSON;
    cr_assert_eq (zm_call (node, "$node", "publish", &req, &rep, &error, &opts), 0, "%s",
                  zm_error_detail (error));
    cr_assert_eq (strlen (zm_msg_get_str (rep, "id", "")), 32);
    zm_msg_destroy (&rep);
    s_wait_count (&seen.count, 1, 5000);
    cr_assert_eq (seen.last_n, 5);
    cr_assert_str_eq (seen.meta, "t1");
    //  Bad requests: clear errors
    const char *bad[] = {"{\"event\": {}}", "{\"topic\": \"x..y\"}", "{\"topic\": \"x\", \"event\": 3}",
                         "{\"topic\": \"x\", \"metadata\": {\"k\": 1}}", NULL};
    for (int i = 0; bad[i]; i++) {
        req = NULL;
        cr_assert_eq (zm_msg_decode (ZM_CT_JSON, bad[i], strlen (bad[i]), &req, NULL), 0);
        cr_assert_eq (zm_call (node, "$node", "publish", &req, &rep, &error, &opts), ZM_EINVAL,
                      "%s", bad[i]);
        zm_error_destroy (&error);
    }
    zm_node_destroy (&node);
}
