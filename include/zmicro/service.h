/*  =========================================================================
    zmicro/service.h - services: named, versioned actors callable over RPC

    A service is a name ("greeter"), a version ("1.0.0"), metadata, and a set
    of endpoints ("Say.Hello") whose handlers are ordinary actor handlers: the
    request body is the message, zm_reply answers it, a returned error goes
    back to the caller as an ERROR with its HTTP-like code. A service runs as
    N actor instances spread over the node's reactors (one message at a time
    each); every reactor's RPC socket can reach every service of the node.

    Calls (see client.h) come in over ZeroMQ (wire protocol v1, see
    docs/protocol.md) and carry a deadline: a request whose deadline passes
    while it waits in a queue is dropped with 408, never handled late.

    Every node serves the built-in service "$node" with endpoints "describe"
    (services, versions, endpoints, metadata, RPC endpoints), "health" (live,
    ready) and "stats" (per endpoint: requests, errors, last error, latency).
    =========================================================================
*/
#ifndef ZMICRO_SERVICE_H_INCLUDED
#define ZMICRO_SERVICE_H_INCLUDED

#include "zmicro/node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zm_service_t zm_service_t;

//  Create a service on a node (the node owns it; it lives until the node is
//  destroyed). name: 1..255 bytes of [A-Za-z0-9._-]; version: 1..64 bytes.
//  Returns NULL on bad arguments or a name already in use. Services can be
//  added to a running node; peers learn of them within about 50 ms.
zm_service_t *
    zm_service_new (zm_node_t *node, const char *name, const char *version);

//  Add an endpoint: its handler runs on an instance's reactor. Before start.
//  Returns 0, ZM_EINVAL (bad name), ZM_ECONFLICT (endpoint exists).
int
    zm_service_handle (zm_service_t *self, const char *endpoint, zm_actor_fn *fn);

//  Handle a message type the instances receive that is not an endpoint:
//  the reply type of their zm_ask or zm_call_async, or tells between
//  instances. Not callable over RPC, not listed. Before start.
int
    zm_service_on (zm_service_t *self, const char *type, zm_actor_fn *fn);

//  Set a metadata pair, visible in "$node" describe and to selectors.
//  Before start. Returns 0 or ZM_EINVAL.
int
    zm_service_set_meta (zm_service_t *self, const char *key, const char *value);

//  Number of actor instances (default 1), spread over reactors in turn.
//  Before start. Returns 0 or ZM_EINVAL (1..1024).
int
    zm_service_set_instances (zm_service_t *self, int instances);

//  Give the service a reactor of its own (started with the service), for
//  handlers that must block (legacy I/O, long computations): they then
//  never hold up the RPC sockets or other actors. Its instances share that
//  reactor. Before start. Returns 0, ZM_EINVAL, ZM_ECONFLICT.
int
    zm_service_set_dedicated (zm_service_t *self, bool dedicated);

//  Instance state: init runs on the instance's reactor before its first
//  request and may zm_ctx_set_state; destroy frees it. arg is every
//  instance's initial state. Before start.
int
    zm_service_set_state (zm_service_t *self, zm_actor_fn *init, zm_actor_fn *destroy,
                          void *arg);

//  Spawn the instances and open the service to calls. Returns 0 or an
//  error (ZM_EINVAL: no endpoint or subscription; ZM_ECLOSED: node
//  stopping). zm_node_run
//  starts services not started yet.
int
    zm_service_start (zm_service_t *self);

//  Close the service to calls and stop its instances (each finishes the
//  requests already queued to it). New calls get 503 from this node, so
//  callers retry elsewhere; peers drop it from their registries within
//  about 50 ms (a beacon with a new sequence, then HELLO). The service
//  stays defined: zm_service_start serves it again. Returns 0 or ZM_EINVAL.
int
    zm_service_stop (zm_service_t *self);

const char *zm_service_name (zm_service_t *self);
const char *zm_service_version (zm_service_t *self);

//  The TCP port of a reactor's RPC socket (0 if RPC is off or it is not
//  bound yet). Every reactor binds its own (config rpc.bind).
int
    zm_node_rpc_port (zm_node_t *node, int reactor);

//  Inside an endpoint handler: the call's metadata value for key, or NULL.
const char *
    zm_ctx_meta (zm_ctx_t *ctx, const char *key);
//  Inside an endpoint handler: who calls, as the CURVE handshake proved it
//  (the node's ZAP handler, never a header): the identity's name (from
//  its certificate in auth.identities), "member" for a node of the cluster
//  (a holder of the cluster key), "" for an anonymous caller of an open
//  node or with CURVE off; NULL for a call from this process.
const char *
    zm_ctx_caller (zm_ctx_t *ctx);
//  The caller's roles, comma-separated ("" none; NULL as zm_ctx_caller).
const char *
    zm_ctx_caller_roles (zm_ctx_t *ctx);
//  Inside an endpoint handler: the call's trace id, or NULL.
const char *
    zm_ctx_trace_id (zm_ctx_t *ctx);
//  Inside an endpoint handler: milliseconds left before the caller's
//  deadline (0 when past; -1 when the message has no deadline).
int64_t
    zm_ctx_remaining (zm_ctx_t *ctx);

#ifdef __cplusplus
}
#endif

#endif
