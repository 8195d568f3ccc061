/*  =========================================================================
    zmicro/client.h - calling services on other nodes

    zm_call calls SERVICE.ENDPOINT somewhere in the cluster and waits for
    the answer. It runs on the calling thread (main, a worker thread, a
    test): that thread keeps its own pooled DEALER connection per remote RPC
    endpoint, so a call is one round trip on the wire with no hop through
    another thread. From a reactor thread (inside a handler) it refuses with
    ZM_EBLOCKING.

    Where instances come from (until discovery lands): opts->address names
    one endpoint; otherwise the node asks its static peers (config
    registry.peers) and itself for their "$node" descriptions and keeps them
    for registry.ttl ms.

    Every call has a deadline (opts->timeout_ms or rpc.timeout) that covers
    retries; it travels in the request, and the server drops work whose
    deadline passed. A connection failure, an attempt timeout or a 503 is
    retried (rpc.retries, backoff rpc.backoff doubling) on an instance not
    tried yet; handler errors are not retried. An instance that keeps
    failing is put aside for rpc.breaker_cooldown ms (circuit breaker), then
    given one trial call. A reply that arrives after its attempt gave up is
    dropped: no call is ever answered twice.
    =========================================================================
*/
#ifndef ZMICRO_CLIENT_H_INCLUDED
#define ZMICRO_CLIENT_H_INCLUDED

#include "zmicro/node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int timeout_ms;             //  deadline, retries included; 0: rpc.timeout
    int retries;                //  further attempts; -1: rpc.retries
    const char *address;        //  "tcp://host:port": call only this endpoint
    const char *content_type;   //  of request and reply; NULL: msgpack
    const char *version;        //  only instances of this service version
    const char *selector;       //  random, round_robin, least_outstanding; NULL: rpc.selector
    const zm_msg_t *metadata;   //  map of str -> str sent with the call, or NULL
    const char *trace_id;       //  NULL: a new random one
    const zm_msg_t *match;      //  only instances whose service metadata holds
                                //  every str -> str pair of this map, or NULL
    bool no_breaker;            //  neither held back nor counted by the circuit
                                //  breaker (for callers that fail over on their
                                //  own, as the sync client does)
} zm_call_opts_t;

//  Defaults for every field.
#define ZM_CALL_OPTS_DEFAULT {0, -1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false}

//  Call an endpoint and wait. Takes *req_p (may be NULL or point to NULL:
//  no body). On 0, *rep_p is the reply (NULL when the handler replied with
//  no body; caller owns it). On failure returns the code and, when error_p
//  is not NULL, the error value (caller owns it): ZM_ENOTFOUND (no such
//  service, endpoint or instance, or none passes version and match), ZM_ETIMEOUT, ZM_EUNAVAIL (every
//  instance failed or is put aside), ZM_EBLOCKING, or the handler's own.
//  opts may be NULL.
int
    zm_call (zm_node_t *node, const char *service, const char *endpoint, zm_msg_t **req_p,
             zm_msg_t **rep_p, zm_error_t **error_p, const zm_call_opts_t *opts);

//  Call from inside a handler without blocking. The answer comes back to
//  this actor as a message of reply_type, exactly once: the reply
//  (zm_ctx_status () == 0), the error (ZM_ENOTFOUND, ZM_EUNAVAIL, the
//  handler's own, with zm_ctx_error ()), or ZM_ETIMEOUT; zm_ctx_ask_id ()
//  matches it to *id_p. Instances come from opts->address or from what the
//  registry already holds (it is never refreshed from a reactor: a service
//  no zm_call has looked up yet is ZM_ENOTFOUND). A request to an instance
//  not connected yet waits in its queue until the deadline; a timed-out
//  call is not retried, and the circuit breaker puts the instance aside.
//  Called while handling an RPC request, the call passes on that request's
//  metadata and trace id (unless opts sets them) and never waits past its
//  deadline. Takes *req_p. Returns 0, or an error when nothing will be
//  delivered (ZM_EINVAL, ZM_ENOTFOUND, ZM_EUNAVAIL, ZM_ENOMEM).
int
    zm_call_async (zm_ctx_t *ctx, const char *service, const char *endpoint,
                   zm_msg_t **req_p, const char *reply_type, const zm_call_opts_t *opts,
                   uint64_t *id_p);

#ifdef __cplusplus
}
#endif

#endif
