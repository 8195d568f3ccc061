/*  demo_node - one node of the demo that ./run.sh demo runs (examples/demo.sh)

    A node that does a little of everything, and says so. It

    - serves "greeter" 1.0.0, endpoint Say.Hello {name} -> {greeting, node},
      node being its own name, so a client sees who answered;
    - subscribes to the topic pattern demo.topic ("demo.>") and prints every
      event it gets;
    - is a member of the sync group named in sync.members (docs/sync.md) and
      campaigns in the election demo.election ("demo-leader") with its name
      as the value: one node leads; the others print who does, and take over
      demo.ttl ms (1500) after the leader dies;
    - watches its registry and prints every node it finds or loses.

    Each line it prints starts with its name:

        READY 7101 <public key>
        n1: up on tcp://127.0.0.1:7101: serves greeter 1.0.0, listens to demo.>, syncs with n1,n2,n3
        n1: found n2 at tcp://127.0.0.1:7102
        n1: I lead election demo-leader (term 4)
        n2: n1 leads election demo-leader (term 4)
        n1: Say.Hello from member: "Hello demo 1"
        n3: event demo.greeting from n1: {"text":"hello, everyone"}

    Every flag is a config key (docs/config.md). Three on loopback, with
    keypairs made beforehand (zm keygen --name node --dir DIR) and a cluster
    key (zm keygen --cluster --out FILE):

        demo_node --node.name=n1 --rpc.bind=127.0.0.1 --rpc.port=7101 \
            --auth.keys=DIR1 --auth.cluster_key=FILE --store.path=STORE1 \
            --registry.beacon=false --sync.members=n1,n2,n3 \
            --registry.peers=tcp://127.0.0.1:7102#KEY2,tcp://127.0.0.1:7103#KEY3

    (and n2, n3 likewise). On a LAN, beacons find the others and the ports,
    keys directories and peers can go. Runs until SIGINT or SIGTERM; a
    leader resigns as it stops, so that another takes over at once.
*/
#include <czmq.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include "zmicro.h"

//  What the threads share: the node, and the names of the nodes heard of
//  (publishers are known by UUID; lines say their names)
typedef struct {
    zm_node_t *node;      //  this node
    const char *name;     //  its name
    const char *election; //  demo.election
    int64_t ttl;          //  demo.ttl: the leader's lease
    zhash_t *names;       //  node UUID -> name, under s_lock
} demo_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool s_stop;
static demo_t s_demo;

//  Print one line, prefixed with the node's name, in one write: the demo
//  interleaves the lines of several nodes in one file
static void
s_say (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_say (const char *format, ...)
{
    char line[1024];
    int used = snprintf (line, sizeof line, "%s: ", s_demo.name);
    va_list args;
    va_start (args, format);
    vsnprintf (line + used, sizeof line - (size_t) used, format, args);
    va_end (args);
    pthread_mutex_lock (&s_lock);
    printf ("%s\n", line);
    fflush (stdout);
    pthread_mutex_unlock (&s_lock);
}

//  The name of node uuid into name (its UUID's first 8 digits while the
//  registry has not told us yet)
static void
s_node_name (const char *uuid, char *name, size_t size)
{
    pthread_mutex_lock (&s_lock);
    const char *known = uuid ? (const char *) zhash_lookup (s_demo.names, uuid) : NULL;
    if (known)
        snprintf (name, size, "%s", known);
    else
        snprintf (name, size, "%.8s", uuid ? uuid : "?");
    pthread_mutex_unlock (&s_lock);
}

//  --------------------------------------------------------------------------
//  The greeter service, and the events

//  Say.Hello {name} -> {greeting, node}
static int
s_say_hello (zm_ctx_t *ctx, zm_msg_t *req)
{
    const char *name = zm_msg_get_str (req, "name", "stranger");
    if (!*name)
        return zm_error (ctx, ZM_EINVAL, "empty name");
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_setf (rep, "greeting", "Hello %s", name);
    zm_msg_set_str (rep, "node", s_demo.name);
    const char *caller = zm_ctx_caller (ctx);
    s_say ("Say.Hello from %s: \"Hello %s\"",
           !caller ? "this process" : *caller ? caller : "anonymous", name);
    return zm_reply (ctx, &rep);
}

//  An event on demo.topic: print it, its body as JSON
static int
s_on_event (zm_ctx_t *ctx, zm_msg_t *event)
{
    char from[64];
    s_node_name (zm_ctx_publisher (ctx), from, sizeof from);
    void *json = NULL;
    size_t size = 0;
    if (event && zm_codec_json.encode (event, &json, &size) == 0)
        s_say ("event %s from %s: %.*s", zm_ctx_topic (ctx), from, (int) size,
               (const char *) json);
    else
        s_say ("event %s from %s", zm_ctx_topic (ctx), from);
    free (json);
    return 0;
}

//  --------------------------------------------------------------------------
//  The registry: which nodes come and go

static void *
s_watch (void *arg)
{
    zm_watch_t *watch = zm_watch_new (s_demo.node);
    if (!watch) {
        s_say ("cannot watch the registry");
        return NULL;
    }
    while (!s_stop) {
        zm_msg_t *event = NULL;
        int rc = zm_watch_next (watch, &event, 200);
        if (rc == ZM_ETIMEOUT)
            continue;
        if (rc)
            break; //  the node is going
        const char *type = zm_msg_get_str (event, "type", "");
        const char *action = zm_msg_get_str (event, "action", "");
        const char *uuid = zm_msg_get_str (event, "node", "");
        const char *name = zm_msg_get_str (event, "name", "?");
        if (streq (type, "node") && !streq (uuid, zm_node_uuid (s_demo.node))) {
            if (streq (action, "add")) {
                const zm_val_t *addresses = zm_val_get (zm_msg_root (event), "addresses");
                pthread_mutex_lock (&s_lock);
                zhash_update (s_demo.names, uuid, (void *) name);
                pthread_mutex_unlock (&s_lock);
                s_say ("found %s at %s", name, zm_val_str (zm_val_at (addresses, 0), "?", NULL));
            }
            else if (streq (action, "remove"))
                s_say ("lost %s (silent)", name);
        }
        zm_msg_destroy (&event);
    }
    zm_watch_destroy (&watch);
    return NULL;
}

//  --------------------------------------------------------------------------
//  The election: campaign, and lead while the lease holds

static void *
s_campaign (void *arg)
{
    while (!s_stop) {
        //  Wait up to a second while another leads, then again
        uint64_t term = 0;
        int rc = zm_elect_campaign (s_demo.node, s_demo.election, s_demo.name, s_demo.ttl, 1000,
                                    &term);
        if (rc == ZM_ETIMEOUT)
            continue;
        if (rc) {
            zclock_sleep (100); //  no quorum yet: the group is starting
            continue;
        }
        s_say ("I lead election %s (term %" PRIu64 ")", s_demo.election, term);
        while (!s_stop && zm_elect_is_leader (s_demo.node, s_demo.election, term))
            zclock_sleep (20);
        if (s_stop) {
            zm_elect_resign (s_demo.node, s_demo.election, term);
            break;
        }
        s_say ("I no longer lead election %s (term %" PRIu64 ")", s_demo.election, term);
    }
    return NULL;
}

//  Who leads, and every change: lines for the leaders that are not us
static void *
s_observe (void *arg)
{
    zm_leader_t leader = {0};
    uint64_t known = 0;
    while (!s_stop) {
        int rc = zm_elect_observe (s_demo.node, s_demo.election, known, 1000, &leader);
        if (rc == ZM_ETIMEOUT)
            continue;
        if (rc) {
            zclock_sleep (100);
            continue;
        }
        if (leader.term == known)
            continue;
        known = leader.term;
        if (leader.term == 0)
            s_say ("nobody leads election %s", s_demo.election);
        else if (!streq (leader.value, s_demo.name))
            s_say ("%s leads election %s (term %" PRIu64 ")", leader.value, s_demo.election,
                   leader.term);
    }
    return NULL;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (!config
        || zm_config_define (config, "demo.topic", ZM_CONFIG_STR, "demo.>",
                             "the topic pattern the node listens to")
        || zm_config_define (config, "demo.election", ZM_CONFIG_STR, "demo-leader",
                             "the election the node campaigns in")
        || zm_config_define (config, "demo.ttl", ZM_CONFIG_INT, "1500",
                             "ms a dead leader keeps the election before another takes it")
        || zm_config_load_all (config, argc, argv, &reason)) {
        fprintf (stderr, "demo_node: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    char topic[ZM_TOPIC_MAX + 1], election[256], members[512];
    snprintf (topic, sizeof topic, "%s", zm_config_get_str (config, "demo.topic", "demo.>"));
    snprintf (election, sizeof election, "%s",
              zm_config_get_str (config, "demo.election", "demo-leader"));
    snprintf (members, sizeof members, "%s", zm_config_get_str (config, "sync.members", ""));
    s_demo.ttl = zm_config_get_int (config, "demo.ttl", 1500);
    s_demo.election = election;
    if (zm_topic_check (topic, true, NULL) || !*election || s_demo.ttl < 100) {
        fprintf (stderr, "demo_node: demo.topic is a topic pattern, demo.election a lock name, "
                         "demo.ttl at least 100\n");
        zm_config_destroy (&config);
        return 2;
    }
    if (!*members) {
        fprintf (stderr, "demo_node: name the sync group: --sync.members=n1,n2,n3\n");
        zm_config_destroy (&config);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    s_demo.node = node;
    s_demo.name = zm_node_name (node);
    s_demo.names = zhash_new ();
    zhash_autofree (s_demo.names); //  keeps copies of the names
    zhash_update (s_demo.names, zm_node_uuid (node), (void *) s_demo.name);

    zm_service_t *greeter = zm_service_new (node, "greeter", "1.0.0");
    if (!greeter || zm_service_handle (greeter, "Say.Hello", s_say_hello)
        || zm_service_subscribe (greeter, topic, NULL, s_on_event) || zm_service_start (greeter)) {
        fprintf (stderr, "demo_node: cannot start the greeter service\n");
        zm_node_destroy (&node);
        zhash_destroy (&s_demo.names);
        return 1;
    }
    int port = zm_node_rpc_port (node, 0);
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", port, key);
    s_say ("up on tcp://%s:%d: serves greeter 1.0.0, listens to %s, syncs with %s",
           zm_config_get_str (zm_node_config (node), "rpc.bind", "*"), port, topic, members);

    pthread_t threads[3];
    void *(*bodies[3]) (void *) = {s_watch, s_campaign, s_observe};
    int started = 0;
    while (started < 3 && pthread_create (&threads[started], NULL, bodies[started], NULL) == 0)
        started++;
    //  czmq turns SIGINT and SIGTERM into zsys_interrupted
    while (started == 3 && !zsys_interrupted)
        zclock_sleep (50);
    s_stop = true;
    while (started)
        pthread_join (threads[--started], NULL);
    zm_node_destroy (&node);
    zhash_destroy (&s_demo.names);
    return 0;
}
