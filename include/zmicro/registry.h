/*  =========================================================================
    zmicro/registry.h - what a node knows of the cluster, and watching it

    Every node keeps a registry of the nodes it has heard of: itself, nodes
    found by beacon on the LAN (zero configuration; docs/discovery.md) and
    static peers (registry.peers). Each node entry is what that node said
    about itself: its UUID, name, RPC ports and services (name, version,
    endpoints, metadata). zm_call picks instances from it.

    A watch sees changes as events, each a map:
        action     "add", "update" or "remove"
        type       "node" or "service"
        node       the node's UUID (32 hex digits)
        name       the node's name
        host       the address the node is reached at
        addresses  its RPC endpoints, ["tcp://host:port", ...]
        service    (type "service") {name, version, instances, endpoints,
                   metadata} as the node describes it
    A new watch first receives the current state as "add" events, then the
    changes as they happen, in order.
    =========================================================================
*/
#ifndef ZMICRO_REGISTRY_H_INCLUDED
#define ZMICRO_REGISTRY_H_INCLUDED

#include "zmicro/node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zm_watch_t zm_watch_t;

//  Watch from a plain thread: events queue up (up to 10,000; beyond that
//  they are dropped and counted, see zm_watch_dropped) until read with
//  zm_watch_next. NULL when out of memory or node is NULL.
zm_watch_t *
    zm_watch_new (zm_node_t *node);

//  Next event (caller owns it). timeout_ms: 0 does not wait, < 0 waits
//  without limit. Returns 0, ZM_ETIMEOUT, ZM_ECLOSED (the node is being
//  destroyed: destroy the watch), ZM_EBLOCKING (a waiting call on a reactor
//  thread; use zm_watch_actor there), ZM_EINVAL.
int
    zm_watch_next (zm_watch_t *self, zm_msg_t **event_p, int timeout_ms);

//  Events dropped because the queue was full.
size_t
    zm_watch_dropped (zm_watch_t *self);

//  Stop watching and free. Destroy every watch before its node.
void
    zm_watch_destroy (zm_watch_t **self_p);

//  Inside a handler: deliver registry events to this actor as tells of
//  message type type (the event map is the body). Lasts until
//  zm_unwatch_actor or until the actor is gone. Returns 0, ZM_EINVAL,
//  ZM_ENOMEM.
int
    zm_watch_actor (zm_ctx_t *ctx, const char *type);
int
    zm_unwatch_actor (zm_ctx_t *ctx);

//  The registry now: {"nodes": [{"descriptor": {uuid, name, seq, rpc_ports,
//  services}, "host", "age_ms", "sources": ["self"|"beacon"|"static"]}]}.
//  Caller owns *list_p. Returns 0, ZM_EINVAL, ZM_ENOMEM.
int
    zm_registry_list (zm_node_t *node, zm_msg_t **list_p);

#ifdef __cplusplus
}
#endif

#endif
