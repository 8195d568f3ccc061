/*  =========================================================================
    zmicro/pubsub.h - events across the cluster: topics, broadcast, queue groups

    zm_publish sends an event (a topic, a header, a codec body) to every
    matching subscription in the cluster. A subscription's handler is an
    ordinary actor handler: the event body is the message, and zm_ctx_topic
    and friends read its header. Two kinds of subscription:

      - broadcast (group NULL or ""): every matching subscription gets each
        event. Between nodes this is ZeroMQ PUB/SUB with filtering at the
        publisher: each node has one PUB socket, and its SUB socket is
        connected to the PUB of every node the registry knows.
      - queue group (group "workers"): exactly one member of the group, in
        the whole cluster, gets each event. The publisher picks a member
        node through the selector (rpc.selector) among those the registry
        lists and sends the event to it point to point; a member it cannot
        reach is skipped for another. On the member node one of the group's
        local subscriptions gets it.

    Topics are dot-separated segments: "orders.created", "user.42.login".
    A segment is 1 or more bytes of [A-Za-z0-9_-]; a topic is 1..255 bytes.
    Patterns add two wildcards, each a whole segment:
      "*"  exactly one segment:   "user.*.login" matches "user.42.login"
      ">"  one or more segments, last segment only:
                                  "orders.>" matches "orders.created" and
                                  "orders.eu.created", not "orders"
    A pattern without wildcards matches that exact topic.

    Delivery is at most once. An event is lost, and counted where it can be,
    when: a subscription's queue holds pubsub.queue events not handled yet
    (the slow subscriber loses the newest, others are not affected); a
    subscriber node's SUB falls pubsub.hwm events behind (libzmq drops at
    the publisher; the subscriber sees the gap in the topic's sequence and
    counts it as lost); a node dies with events queued; or an event is
    published before the subscriber's node has heard of the publisher
    (subscriptions reach peers through discovery, in tens of milliseconds
    on a LAN). A publisher never blocks. See docs/pubsub.md.
    =========================================================================
*/
#ifndef ZMICRO_PUBSUB_H_INCLUDED
#define ZMICRO_PUBSUB_H_INCLUDED

#include "zmicro/node.h"
#include "zmicro/service.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZM_TOPIC_MAX 255

typedef struct {
    const char *content_type;   //  of the body; NULL: msgpack
    const zm_msg_t *metadata;   //  map of str -> str sent with the event, or NULL
} zm_pub_opts_t;

#define ZM_PUB_OPTS_DEFAULT {NULL, NULL}

//  Check a topic (pattern false) or a subscription pattern (pattern true)
//  against the grammar above. Returns 0, or ZM_EINVAL with a static
//  one-line reason in *reason_p (when not NULL).
int
    zm_topic_check (const char *topic, bool pattern, const char **reason_p);

//  Does the (valid) pattern match the (valid) topic?
bool
    zm_topic_match (const char *pattern, const char *topic);

//  Publish *msg_p (taken in every case and nulled; NULL or *msg_p NULL is an
//  empty body) on topic. From any thread or handler; never blocks.
//  opts may be NULL. Returns 0 (handed to every matching subscriber this
//  node knows; delivery is at most once), ZM_EINVAL (bad topic, bad
//  opts), ZM_ECODEC (the body cannot be encoded in the content type),
//  ZM_ETOOBIG (body over pubsub.max_body), ZM_ECLOSED (node stopping).
int
    zm_publish (zm_node_t *node, const char *topic, zm_msg_t **msg_p, const zm_pub_opts_t *opts);

//  Subscribe a service: each matching event goes to one of its instances
//  as a message handled by fn (group NULL: every node that runs the
//  service gets each event; a group name: one member of the group in the
//  cluster gets it - pass the service's name for go-micro's default).
//  Before zm_service_start; active while the service runs. Returns 0,
//  ZM_EINVAL (bad pattern or group), ZM_ECONFLICT (service started).
int
    zm_service_subscribe (zm_service_t *self, const char *pattern, const char *group,
                          zm_actor_fn *fn);

//  Subscribe outside any service: fn runs on an actor of its own, on the
//  node's reactors in turn, one event at a time; state is its zm_ctx_state.
//  Any time, from any thread. Returns the subscription's id (> 0), or 0
//  and *err_p (when not NULL): ZM_EINVAL, ZM_ECLOSED, ZM_ENOMEM.
uint64_t
    zm_subscribe (zm_node_t *node, const char *pattern, const char *group, zm_actor_fn *fn,
                  void *state, int *err_p);

//  End a zm_subscribe subscription: no event reaches fn once this returns
//  (events already queued to it are dropped). Returns 0 or ZM_ENOTFOUND.
int
    zm_unsubscribe (zm_node_t *node, uint64_t id);

//  Counters of this node's pub/sub, a map of uint: published, delivered
//  (handed to a local subscription), dropped_queue (subscription queue
//  full), dropped_no_member (a queue group had no reachable member),
//  lost (gaps seen in publishers' sequences), malformed (bad events from
//  the network), subscriptions, pub_port. Also in "$node stats" under
//  "pubsub". Caller owns return value; NULL when out of memory.
zm_msg_t *
    zm_pubsub_stats (zm_node_t *node);

//  Inside a subscription's handler: the event's topic (NULL when the
//  message is not an event), id (32 hex characters), publishing node's
//  UUID, and publish time (Unix ms). zm_ctx_meta reads its metadata.
const char *zm_ctx_topic (zm_ctx_t *ctx);
const char *zm_ctx_event_id (zm_ctx_t *ctx);
const char *zm_ctx_publisher (zm_ctx_t *ctx);
int64_t     zm_ctx_event_time (zm_ctx_t *ctx);

#ifdef __cplusplus
}
#endif

#endif
