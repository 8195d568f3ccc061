/*  =========================================================================
    zmicro/node.h - nodes, reactors and actors

    A node is one per process. It owns the configuration, an identity (UUID)
    and R reactors (config key "reactors"). A reactor is one thread running a
    czmq zloop; reactors share nothing and talk over inproc.

    An actor is a unit of state plus a handler table keyed by message type,
    placed on one reactor. It handles one message at a time, so its state
    needs no locks. Actors are addressed by pid (a 64-bit id that is never
    reused for another actor) or by name.

        tell    fire and forget: the message is queued to the actor.
        ask     request/reply: the reply (or a timeout, or an error) comes
                back to the asking actor as a message of the reply type it
                named. From a plain thread, zm_node_ask blocks instead.

    Delivery is FIFO between one sender and one receiver. A handler that
    returns an error does not stop its actor or its reactor: the error is
    logged, counted, and sent back to an asker as an error reply.
    =========================================================================
*/
#ifndef ZMICRO_NODE_H_INCLUDED
#define ZMICRO_NODE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmicro/config.h"
#include "zmicro/error.h"
#include "zmicro/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zm_node_t zm_node_t;
typedef struct _zm_ctx_t zm_ctx_t;

//  An actor id. 0 is never a valid pid.
typedef uint64_t zm_pid_t;

//  A message handler. msg is the body (NULL when the sender sent none); it
//  is borrowed for the call: use zm_ctx_take () to keep it. Return 0, or an
//  error code (zm_error () sets the detail and returns the code).
//  Runs on the actor's reactor thread. Must not block.
typedef int (zm_actor_fn) (zm_ctx_t *ctx, zm_msg_t *msg);

typedef struct {
    const char *type;       //  message type this entry handles
    zm_actor_fn *fn;        //  its handler
} zm_handler_t;

//  What an actor does: shared by every actor of the kind, so it costs an
//  actor nothing. Static storage; must outlive the actors using it.
typedef struct {
    const char *kind;                   //  name for logs, e.g. "counter"
    const zm_handler_t *handlers;       //  table ended by {NULL, NULL}
    zm_actor_fn *fallback;              //  unmatched types; NULL: dead letter
    //  Called on the actor's reactor before its first message; msg is NULL.
    //  A non-zero return stops the actor at once. May be NULL.
    zm_actor_fn *init;
    //  Called on the actor's reactor when it stops (and at node shutdown),
    //  to free the state. msg is NULL. May be NULL.
    zm_actor_fn *destroy;
} zm_actor_def_t;

//  --------------------------------------------------------------------------
//  Node

//  Create a node from a configuration (taken: the node owns and destroys
//  it; NULL means zm_config_load (0, NULL)). Starts the reactors. Returns
//  NULL when the configuration is bad or resources are exhausted (logged).
zm_node_t *
    zm_node_new (zm_config_t **config_p);

//  Stop (if running) and destroy; frees everything; idempotent.
void
    zm_node_destroy (zm_node_t **self_p);

//  Block until SIGINT or SIGTERM (or zm_node_stop), then stop gracefully:
//  refuse new work from plain threads, let in-flight messages and asks finish
//  for up to node.shutdown_timeout ms, run every actor's destroy, free what
//  is still in flight. zm_node_destroy does the same when the node runs.
//  Returns 0.
int
    zm_node_run (zm_node_t *self);

//  Ask a running zm_node_run to return. Safe from any thread and from
//  handlers.
void
    zm_node_stop (zm_node_t *self);

//  The node's UUID as 32 hex digits.
const char *
    zm_node_uuid (zm_node_t *self);

//  The node's name: config node.name, or the host name.
const char *
    zm_node_name (zm_node_t *self);

//  The node's configuration (owned by the node).
zm_config_t *
    zm_node_config (zm_node_t *self);

//  Number of reactors.
int
    zm_node_reactors (zm_node_t *self);

//  --------------------------------------------------------------------------
//  Actors

//  Spawn an actor. name may be NULL (anonymous) and must be unique in the
//  node otherwise. reactor picks the reactor (0..R-1), or -1 for the next
//  one in turn. state is the actor's (see zm_ctx_state); the def's destroy
//  frees it. Any thread, handlers included. Returns the pid, or 0 with
//  *err_p (when not NULL) set to ZM_ECONFLICT (name taken), ZM_EINVAL,
//  ZM_ECLOSED (node stopping) or ZM_ENOMEM.
zm_pid_t
    zm_spawn (zm_node_t *node, const char *name, const zm_actor_def_t *def, void *state,
              int reactor, int *err_p);

//  Stop an actor: it handles the messages already queued to it before
//  the stop, then its destroy runs; later messages are dead letters.
//  Returns 0 or ZM_ENOTFOUND.
int
    zm_stop (zm_node_t *node, zm_pid_t pid);

//  Pid of a named actor, 0 when there is none.
zm_pid_t
    zm_lookup (zm_node_t *node, const char *name);

//  Reactor index of a pid.
int
    zm_pid_reactor (zm_pid_t pid);

//  Tell from a plain thread (not a handler): sender is "outside".
//  msg_p may be NULL or point to NULL (no body); the message is taken.
//  Returns 0, ZM_ENOTFOUND (no such actor now; the message is dropped),
//  ZM_ECLOSED.
int
    zm_node_tell (zm_node_t *node, zm_pid_t to, const char *type, zm_msg_t **msg_p);

//  Ask from a plain thread and wait for the reply. On 0, *reply_p is the
//  reply body (may be NULL; caller owns it). On error, returns the code and,
//  when error_p is not NULL, the error value (caller owns it).
//  timeout_ms <= 0 means config actor.ask_timeout. Refused with ZM_EBLOCKING
//  when called on a reactor thread.
int
    zm_node_ask (zm_node_t *node, zm_pid_t to, const char *type, zm_msg_t **msg_p,
                 zm_msg_t **reply_p, zm_error_t **error_p, int timeout_ms);

//  --------------------------------------------------------------------------
//  Inside a handler: the context

//  Tell another actor. Sender is this actor. Same returns as zm_node_tell.
int
    zm_tell (zm_ctx_t *ctx, zm_pid_t to, const char *type, zm_msg_t **msg_p);

//  Tell by name; ZM_ENOTFOUND when no actor has the name.
int
    zm_tell_name (zm_ctx_t *ctx, const char *name, const char *type, zm_msg_t **msg_p);

//  Ask another actor. The reply comes back to this actor as a message of
//  type reply_type, exactly once: the reply, an error reply (the handler
//  failed, the target is gone) or a timeout (ZM_ETIMEOUT) after timeout_ms
//  (<= 0: config actor.ask_timeout). In that handler zm_ctx_status () tells
//  which, and zm_ctx_ask_id () matches it to the id stored in *id_p.
//  A reply arriving after the timeout is discarded. Returns 0 or an error
//  (nothing will be delivered then).
int
    zm_ask (zm_ctx_t *ctx, zm_pid_t to, const char *type, zm_msg_t **msg_p,
            const char *reply_type, int timeout_ms, uint64_t *id_p);

//  Reply to the message being handled, if it was an ask (else ZM_EINVAL).
//  At most one reply per ask; if the handler returns without replying, an
//  empty reply (no body) is sent for it, or an error reply when the handler
//  returned an error.
int
    zm_reply (zm_ctx_t *ctx, zm_msg_t **msg_p);

//  Record an error for the current message and return its code, for
//  "return zm_error (ctx, ZM_ENOTFOUND, "no user %s", id);".
int
    zm_error (zm_ctx_t *ctx, int code, const char *format, ...)
        __attribute__ ((format (printf, 3, 4)));

//  A deferred reply: keep answering an ask after the handler returned
//  (e.g. once an ask of your own has come back).
typedef struct _zm_reply_t zm_reply_t;

//  Take over the reply to the current ask. NULL if it was not an ask or
//  was already replied. The runtime then sends no automatic reply.
zm_reply_t *
    zm_ctx_defer (zm_ctx_t *ctx);

//  Send a deferred reply (success when error is 0, else an error reply with
//  detail); destroys the token and nulls it. Any thread of the node.
int
    zm_reply_send (zm_node_t *node, zm_reply_t **reply_p, zm_msg_t **msg_p, int error,
                   const char *detail);

//  Accessors for the message being handled.
zm_node_t *zm_ctx_node (zm_ctx_t *ctx);
zm_pid_t    zm_ctx_self (zm_ctx_t *ctx);
zm_pid_t    zm_ctx_sender (zm_ctx_t *ctx);      //  0 when from outside
const char *zm_ctx_type (zm_ctx_t *ctx);
void       *zm_ctx_state (zm_ctx_t *ctx);
void        zm_ctx_set_state (zm_ctx_t *ctx, void *state);
//  For a reply message: ZM_OK, or the error (ZM_ETIMEOUT, ...).
int         zm_ctx_status (zm_ctx_t *ctx);
//  For an error reply: the error value (borrowed), else NULL.
const zm_error_t *zm_ctx_error (zm_ctx_t *ctx);
//  For a reply message: the id zm_ask returned.
uint64_t    zm_ctx_ask_id (zm_ctx_t *ctx);
//  Take ownership of the message being handled.
zm_msg_t   *zm_ctx_take (zm_ctx_t *ctx);
//  Reactor index this handler runs on.
int         zm_ctx_reactor (zm_ctx_t *ctx);

#ifdef __cplusplus
}
#endif

#endif
