/*  The registry and its watch API, on loopback with static peers (no
    beacons: the LAN side is tests/test_discovery.c). Nodes live in this
    process; the HELLO exchange goes over real TCP sockets.
*/
#include <criterion/criterion.h>
#include <czmq.h>
#include <pthread.h>
#include "zmicro.h"
#include "support.h"

static zm_node_t *
s_node (const char *name, const char *peers, const char *ttl)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    cr_assert_not_null (config);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "node.name", name, NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL);
    if (peers)
        zm_config_set (config, "registry.peers", peers, NULL);
    if (ttl)
        zm_config_set (config, "registry.ttl", ttl, NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    return node;
}

static int
s_hello (zm_ctx_t *ctx, zm_msg_t *req)
{
    return zm_reply (ctx, NULL);
}

static void
s_serve (zm_node_t *node, const char *name)
{
    zm_service_t *svc = zm_service_new (node, name, "1.0.0");
    cr_assert_not_null (svc);
    zm_service_set_meta (svc, "zone", "blue");
    zm_service_handle (svc, "Hello", s_hello);
    cr_assert_eq (zm_service_start (svc), 0);
}

//  Read events until one matches action, type, node name and service (NULL:
//  any); returns it (caller destroys) or fails after timeout_ms.
static zm_msg_t *
s_next_match (zm_watch_t *watch, const char *action, const char *type, const char *name,
              const char *service, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        zm_msg_t *event = NULL;
        int rc = zm_watch_next (watch, &event, (int) (deadline - zclock_mono ()));
        if (rc == ZM_ETIMEOUT)
            break;
        cr_assert_eq (rc, 0, "watch: %s", zm_strerror (rc));
        const zm_val_t *svc = zm_val_get (zm_msg_root (event), "service");
        const char *svc_name = zm_val_str (zm_val_get (svc, "name"), NULL, NULL);
        if (streq (zm_msg_get_str (event, "action", ""), action)
            && streq (zm_msg_get_str (event, "type", ""), type)
            && streq (zm_msg_get_str (event, "name", ""), name)
            && (!service || (svc_name && streq (svc_name, service))))
            return event;
        zm_msg_destroy (&event);
    }
    cr_assert_fail ("no '%s %s %s %s' event within %d ms", action, type, name,
                    service ? service : "", timeout_ms);
    return NULL;
}

Test (registry, watch_follows_a_static_peer, .timeout = 30)
{
    zm_node_t *server = s_node ("server", NULL, NULL);
    s_serve (server, "greeter");
    char peers[128];
    zt_node_address (server, peers, sizeof peers);
    zm_node_t *client = s_node ("client", peers, "100");
    zm_watch_t *watch = zm_watch_new (client);
    cr_assert_not_null (watch);
    //  The client itself first (a watch starts with the current state)
    zm_msg_t *event = s_next_match (watch, "add", "node", "client", NULL, 5000);
    zm_msg_destroy (&event);
    event = s_next_match (watch, "add", "service", "server", "greeter", 5000);
    const zm_val_t *svc = zm_val_get (zm_msg_root (event), "service");
    cr_assert_str_eq (zm_val_str (zm_val_get (svc, "version"), "", NULL), "1.0.0");
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (svc, "metadata"), "zone"), "", NULL),
                      "blue");
    cr_assert_str_eq (zm_val_str (zm_val_at (zm_val_get (svc, "endpoints"), 0), "", NULL),
                      "Hello");
    cr_assert_str_eq (zm_msg_get_str (event, "host", ""), "127.0.0.1");
    char address[64];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d", zm_node_rpc_port (server, 0));
    cr_assert_str_eq (zm_val_str (zm_val_at (zm_val_get (zm_msg_root (event), "addresses"), 0),
                                  "", NULL),
                      address);
    cr_assert_eq (strlen (zm_msg_get_str (event, "node", "")), 32);
    zm_msg_destroy (&event);
    //  A service started later is seen at the next round
    s_serve (server, "extra");
    event = s_next_match (watch, "add", "service", "server", "extra", 5000);
    zm_msg_destroy (&event);
    //  Calls find both, by name
    cr_assert_eq (zm_call (client, "extra", "Hello", NULL, NULL, NULL, NULL), 0);
    //  The list says where each entry came from
    zm_msg_t *list = NULL;
    cr_assert_eq (zm_registry_list (client, &list), 0);
    const zm_val_t *nodes = zm_val_get (zm_msg_root (list), "nodes");
    cr_assert_eq (zm_val_size (nodes), 2);
    int statics = 0, selves = 0;
    for (size_t i = 0; i < zm_val_size (nodes); i++) {
        const char *source =
            zm_val_str (zm_val_at (zm_val_get (zm_val_at (nodes, i), "sources"), 0), "", NULL);
        statics += streq (source, "static");
        selves += streq (source, "self");
    }
    cr_assert (statics == 1 && selves == 1);
    zm_msg_destroy (&list);
    //  The peer goes away: dropped after two silent rounds
    zm_node_destroy (&server);
    event = s_next_match (watch, "remove", "node", "server", NULL, 5000);
    zm_msg_destroy (&event);
    cr_assert_eq (zm_call (client, "greeter", "Hello", NULL, NULL, NULL, NULL), ZM_ENOTFOUND);
    zm_watch_destroy (&watch);
    cr_assert_null (watch);
    zm_node_destroy (&client);
}

//  An actor that watches and answers a deferred ask when it has seen the
//  service it waits for.
typedef struct {
    zm_reply_t *waiter;
    int events;
    int blocking;        //  what a blocking zm_watch_next said on the reactor
    int empty_type;      //  what zm_watch_actor said to an empty type
} watcher_t;

static int
s_watch_start (zm_ctx_t *ctx, zm_msg_t *msg)
{
    watcher_t *self = (watcher_t *) zm_ctx_state (ctx);
    self->waiter = zm_ctx_defer (ctx);
    //  A blocking read of a watch is refused on a reactor
    zm_watch_t *watch = zm_watch_new (zm_ctx_node (ctx));
    zm_msg_t *event = NULL;
    int blocking = zm_watch_next (watch, &event, 10);
    zm_msg_destroy (&event);
    zm_watch_destroy (&watch);
    self->blocking = blocking;
    self->empty_type = zm_watch_actor (ctx, "");
    return zm_watch_actor (ctx, "registry");
}

static int
s_watch_event (zm_ctx_t *ctx, zm_msg_t *msg)
{
    watcher_t *self = (watcher_t *) zm_ctx_state (ctx);
    self->events++;
    const zm_val_t *svc = zm_val_get (zm_msg_root (msg), "service");
    const char *name = zm_val_str (zm_val_get (svc, "name"), "", NULL);
    if (self->waiter && streq (zm_msg_get_str (msg, "action", ""), "add") && streq (name, "greeter")) {
        zm_msg_t *answer = zm_msg_new ();
        zm_msg_set_str (answer, "from", zm_msg_get_str (msg, "name", ""));
        zm_reply_send (zm_ctx_node (ctx), &self->waiter, &answer, 0, NULL);
        zm_unwatch_actor (ctx);
    }
    return 0;
}

static const zm_handler_t s_watcher_handlers[] = {
    {"start", s_watch_start}, {"registry", s_watch_event}, {NULL, NULL}};
static const zm_actor_def_t s_watcher = {.kind = "watcher", .handlers = s_watcher_handlers};

static void *
s_serve_later (void *arg)
{
    zclock_sleep (300);
    zm_service_t *svc = zm_service_new ((zm_node_t *) arg, "greeter", "1.0.0");
    zm_service_handle (svc, "Hello", s_hello);
    zm_service_start (svc);
    return NULL;
}

Test (registry, actors_watch_with_messages, .timeout = 30)
{
    zm_node_t *server = s_node ("server", NULL, NULL);
    char peers[128];
    zt_node_address (server, peers, sizeof peers);
    zm_node_t *client = s_node ("client", peers, "100");
    watcher_t state = {NULL, 0, 0, 0};
    zm_pid_t pid = zm_spawn (client, NULL, &s_watcher, &state, 0, NULL);
    cr_assert (pid);
    //  The actor starts watching; the service starts while it waits, and
    //  the actor answers when the event comes.
    pthread_t later;
    pthread_create (&later, NULL, s_serve_later, server);
    zm_msg_t *reply = NULL;
    int rc = zm_node_ask (client, pid, "start", NULL, &reply, NULL, 5000);
    pthread_join (later, NULL);
    cr_assert_eq (rc, 0, "%s", zm_strerror (rc));
    cr_assert_str_eq (zm_msg_get_str (reply, "from", ""), "server");
    cr_assert_gt (state.events, 1, "the snapshot came first");
    cr_assert_eq (state.blocking, ZM_EBLOCKING);
    cr_assert_eq (state.empty_type, ZM_EINVAL);
    zm_msg_destroy (&reply);
    zm_node_destroy (&client);
    zm_node_destroy (&server);
}

static void *
s_run (void *arg)
{
    zm_node_run ((zm_node_t *) arg);
    return NULL;
}

Test (registry, watch_next_edges, .timeout = 30)
{
    zm_node_t *node = s_node ("solo", NULL, NULL);
    zm_watch_t *watch = zm_watch_new (node);
    zm_msg_t *event = NULL;
    cr_assert_eq (zm_watch_next (NULL, &event, 0), ZM_EINVAL);
    cr_assert_eq (zm_watch_next (watch, NULL, 0), ZM_EINVAL);
    //  Drain the snapshot, then nothing is waiting
    while (zm_watch_next (watch, &event, 0) == 0)
        zm_msg_destroy (&event);
    int64_t start = zclock_mono ();
    cr_assert_eq (zm_watch_next (watch, &event, 150), ZM_ETIMEOUT);
    cr_assert_geq (zclock_mono () - start, 140);
    cr_assert_null (event);
    cr_assert_eq (zm_watch_dropped (watch), 0);
    cr_assert_null (zm_watch_new (NULL));
    //  A node that stops wakes a blocked reader with ZM_ECLOSED
    pthread_t runner;
    pthread_create (&runner, NULL, s_run, node);
    zclock_sleep (100);
    zm_node_stop (node);
    cr_assert_eq (zm_watch_next (watch, &event, -1), ZM_ECLOSED);
    pthread_join (runner, NULL);
    zm_watch_destroy (&watch);
    zm_node_destroy (&node);
}
