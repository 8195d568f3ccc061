/*  =========================================================================
    zm_runtime.h - internals shared by node, reactor and actor

    How a message moves:
      - A sender wraps the body in an envelope (zm_env_t) and routes it by the
        target pid, whose top byte names the target reactor.
      - Same reactor: the envelope goes on that reactor's run queue (a FIFO,
        no syscall, no lock).
      - Other reactor: it is chained onto the sender reactor's outbox for that
        target; at the end of each dispatch round every non-empty outbox is
        sent as ONE inproc message holding the chain head. One ZeroMQ message
        per batch is what makes cross-reactor tells cheap.
      - Plain threads (main, tests) send single envelopes over a PUSH socket
        per reactor, under a mutex.
    An actor's mailbox is its share of its reactor's run queue: FIFO per
    sender, one message at a time, since one thread runs the whole reactor.
    =========================================================================
*/
#ifndef ZM_RUNTIME_H_INCLUDED
#define ZM_RUNTIME_H_INCLUDED

#include "zm_internal.h"
#include "zm_wire.h"
#include <pthread.h>

#define ZM_MAX_REACTORS 64

//  pid layout: [8 bits reactor + 1][24 bits slot][32 bits generation].
//  Generations make a pid of a stopped actor stale even if its slot is
//  reused; 0 is never a valid pid because the reactor byte is >= 1.
#define ZM_PID_MAKE(r, slot, gen)                                                          \
    ((((uint64_t) (r) + 1) << 56) | (((uint64_t) (slot) & 0xFFFFFF) << 32) | (uint32_t) (gen))
#define ZM_PID_REACTOR(pid) ((int) ((pid) >> 56) - 1)
#define ZM_PID_SLOT(pid)    ((uint32_t) (((pid) >> 32) & 0xFFFFFF))
#define ZM_PID_GEN(pid)     ((uint32_t) (pid))
#define ZM_SLOT_MAX         (1u << 24)
#define ZM_SLOT_CHUNK       4096
#define ZM_SLOT_CHUNKS      (ZM_SLOT_MAX / ZM_SLOT_CHUNK)

typedef struct _zm_reactor_t zm_reactor_t;
typedef struct _zm_waiter_t zm_waiter_t;

typedef enum {
    ZM_ENV_TELL = 0, //  fire and forget
    ZM_ENV_ASK,      //  request; exactly one reply goes back
    ZM_ENV_REPLY,    //  answer to an ask, routed to the asker's reactor
    ZM_ENV_START,    //  run the target's init
    ZM_ENV_STOP      //  stop the target
} zm_env_kind_t;

#define ZM_ENV_INLINE_TYPE 40

//  Counts the envelopes queued to one subscription (pubsub.queue bounds
//  it). Reference counted: the subscription and every envelope in flight
//  hold one, so an envelope outliving its subscription is harmless.
typedef struct {
    atomic_int pending;                   //  envelopes not handled yet
    atomic_int refs;                      //  holders
} zm_gauge_t;

static inline void
zm_gauge_unref (zm_gauge_t **gauge_p)
{
    if (*gauge_p && atomic_fetch_sub (&(*gauge_p)->refs, 1) == 1)
        free (*gauge_p);
    *gauge_p = NULL;
}

//  What an event's handler reads of it (zm_ctx_topic, zm_ctx_event_id,
//  zm_ctx_publisher, zm_ctx_event_time): one allocation per delivery, the
//  topic at its end, freed with its envelope.
typedef struct {
    uint64_t timestamp; //  publish time, Unix ms; 0: unknown
    char id[65];        //  "": unknown (64 bytes at most on the wire)
    char publisher[65]; //  "": unknown
    char topic[];       //  the event's topic
} zm_event_t;

typedef struct _zm_env_t zm_env_t;
struct _zm_env_t {
    zm_env_t *next;                       //  run queue / outbox chain link
    zm_pid_t to;                          //  target actor
    zm_pid_t from;                        //  sender actor, 0 from outside
    uint64_t ask_id;                      //  ask: its id; reply: the id answered
    zm_msg_t *msg;                        //  body, may be NULL
    zm_msg_t *meta;                       //  call or event metadata and trace, or NULL
    zm_event_t *event;                    //  event: what it is, else NULL
    int64_t deadline;                     //  zclock_mono ms; 0: none
    zm_error_t *error;                    //  reply: error value, or NULL
    zm_waiter_t *waiter;                  //  ask from a plain thread: who waits
    char *type;                           //  message type (inline or heap)
    char *caller;                         //  remote call: who (zm_caller_new), or NULL
    int status;                           //  reply: ZM_OK or error code
    uint8_t kind;                         //  zm_env_kind_t
    bool replied;                         //  ask: reply sent or deferred
    zm_gauge_t *gauge;                    //  event: its subscription's queue count
    struct _zm_stream_t *stream;          //  stream event or kick: its stream (a ref)
    uint8_t stream_event;                 //  zm_stream_event_t, 0: none
    bool stream_handled;                  //  a handler ran for the stream event
    char inline_type[ZM_ENV_INLINE_TYPE]; //  short types live here
};

//  A plain thread blocked in zm_node_ask. Reference counted: the caller and
//  the in-flight ask each hold one, so a late reply never touches freed
//  memory and a timed-out caller never leaks.
struct _zm_waiter_t {
    pthread_mutex_t mutex;  //  guards the fields below
    pthread_cond_t cond;    //  signalled when done
    int refs;               //  holders (under mutex)
    bool done;              //  result is in
    int status;             //  ZM_OK or error
    zm_msg_t *reply;        //  reply body
    zm_error_t *error;      //  error value
};

//  One actor. Kept small: 100,000 idle actors must fit in ~50 MB.
typedef struct {
    zm_pid_t pid;                 //  its id
    const zm_actor_def_t *def;    //  handlers, shared by its kind
    void *state;                  //  user state
    char *name;                   //  directory name, NULL if anonymous
    bool started;                 //  init has run
} zm_actor_t;

struct _zm_reply_t {
    zm_pid_t to;            //  asker (0 for a plain thread)
    uint64_t ask_id;        //  the ask answered
    zm_waiter_t *waiter;    //  plain-thread asker, or NULL
};

struct _zm_ctx_t {
    zm_reactor_t *reactor;  //  where the handler runs
    zm_actor_t *actor;      //  who handles
    zm_env_t *env;          //  what is handled (NULL in init/destroy)
    int error_code;         //  set by zm_error ()
    char *error_detail;     //  set by zm_error ()
};

//  Node internals used by reactors and the actor API.
struct _zm_node_t {
    zm_config_t *config;                //  owned
    char uuid[33];                      //  identity
    char *name;                         //  node.name, or the host name
    int reactor_count;                  //  R general reactors (spawn -1, RPC)
    atomic_int reactor_total;           //  R + dedicated reactors (routing)
    zm_reactor_t **reactors;            //  R reactors
    atomic_int next_reactor;            //  round robin for spawn (-1)
    atomic_uint next_stream;            //  round robin of threads' streams over reactors
    atomic_bool stopping;               //  no new work once set
    atomic_bool stop_requested;         //  zm_node_stop was called
    //  Both tables are czmq zhashx, whose lookup writes a cache field: every
    //  access, lookups too, takes the lock exclusively.
    pthread_rwlock_t dir_lock;          //  guards directory
    zhashx_t *directory;                //  name -> actor pid
    pthread_mutex_t ext_lock;           //  guards ext sockets
    zsock_t **ext;                      //  PUSH per reactor, plain threads
    zsock_t *run_pipe[2];               //  zm_node_stop wakes zm_node_run
    int ask_timeout;                    //  default ask timeout, ms
    uint64_t epoch;                     //  unique per node in the process
    pthread_rwlock_t svc_lock;          //  guards services
    zhashx_t *services;                 //  name -> zm_service_t
    int *rpc_ports;                     //  per reactor, 0 when not bound
    pthread_mutex_t client_lock;        //  guards clients and peers below
    zlistx_t *clients;                  //  per-thread RPC clients (zm_client.c)
    struct _zm_registry_t *reg;         //  what the node knows of the cluster
    void *discovery;                    //  beacon discovery state (reactor 0)
    struct _zm_broker_t *broker;        //  pub/sub (actors/zm_broker.c)
    atomic_uint services_seq;           //  bumps when a service starts or stops
    atomic_int_fast64_t settle_until;   //  zclock_mono: calls wait for discovery till then
    atomic_bool statics_ready;          //  the first round of static HELLOs is over
    void *selector;                     //  instance stats, breakers (zm_client.c)
    //  Client knobs read on every call, cached from the config (and kept
    //  current by the node's config watcher) so a call takes no lock for them.
    atomic_int rpc_timeout;             //  rpc.timeout
    atomic_int rpc_retries;             //  rpc.retries
    atomic_int rpc_backoff;             //  rpc.backoff
    atomic_int rpc_selector;            //  rpc.selector as zm_select_t
    atomic_int breaker_failures;        //  rpc.breaker_failures
    atomic_int breaker_cooldown;        //  rpc.breaker_cooldown
    atomic_int registry_ttl;            //  registry.ttl
    //  RPC server counters, summed over reactors, reported by $node stats
    atomic_uint_fast64_t rpc_requests;  //  requests taken
    atomic_uint_fast64_t rpc_malformed; //  messages that failed to decode
    atomic_uint_fast64_t rpc_dropped;   //  messages dropped unanswered
    struct _zm_node_store_t *store;     //  the node's store (zm_node_store.c)
    struct _zm_auth_t *auth;            //  keys (zm_auth.c)
    atomic_uint_fast64_t beacons_rejected; //  beacons not believed (forged, altered, replayed)
    struct _zm_sync_client_t *sync_client; //  locks this node holds (zm_sync.c), or NULL
};

//  The node's keys, membership, identities and access rules (zm_auth.c),
//  made at start before any socket is bound
typedef struct _zm_rules_t zm_rules_t;
typedef struct _zm_auth_t {
    zcert_t *cert;              //  the node's keypair: its servers' key
    zcert_t *client;            //  the keypair its clients present (owned)
    bool curve;                 //  auth.curve: CURVE on every TCP socket
    bool cluster;               //  a cluster key was given
    uint8_t beacon_key[32];     //  derived from it: the beacons' MAC key
    uint8_t member_key[32];     //  derived from it: the members' public key
    char domain[40];            //  ZAP domain of this node's sockets
    zcertstore_t *identities;   //  auth.identities, or NULL (the ZAP thread's)
    pthread_rwlock_t rules_lock; //  guards rules
    zm_rules_t *rules;          //  auth.rules compiled, NULL: none (all allowed)
    char *rules_text;           //  the text they came from
    char *self_caller;          //  this node as a caller (its client key's kind, name, roles)
} zm_auth_t;
int zm_auth_new (zm_node_t *node);
void zm_auth_destroy (zm_node_t *node);
const uint8_t *zm_auth_public_key (zm_node_t *node);
//  The MAC (32 bytes) of data under the cluster's beacon key; checking one
void zm_auth_mac (zm_node_t *node, const uint8_t *data, size_t size, uint8_t mac[32]);
bool zm_auth_mac_ok (zm_node_t *node, const uint8_t *data, size_t size, const uint8_t mac[32]);
//  Make sock a CURVE server of this node (before binding). 0 or ZM_EIO.
int zm_auth_server (zm_node_t *node, zsock_t *sock);
//  Connect sock to address "tcp://host:port#KEY" (KEY: the server's
//  public key, Z85): as a CURVE client presenting the node's client key.
//  Without "#KEY" only when CURVE is off. 0, ZM_EINVAL (logged), ZM_EIO.
int zm_auth_connect (zm_node_t *node, zsock_t *sock, const char *address);
//  Disconnect what zm_auth_connect connected.
void zm_auth_disconnect (zsock_t *sock, const char *address);
//  The node's public key as Z85 text (ZM_KEY_TEXT bytes) into text.
void zm_auth_public_text (zm_node_t *node, char *text);
//  A caller record: kind ('m' member, 'i' identity, 'a' anonymous), name
//  NUL roles NUL. Caller frees.
char *zm_caller_new (char kind, const char *name, const char *roles);
//  A remote caller nothing is known of (CURVE off)
#define ZM_CALLER_ANONYMOUS "a\0"
//  "identity NAME", "a member", "an anonymous caller": for messages
const char *zm_caller_describe (const char *caller);
//  Resource types of access rules
enum { ZM_RES_SERVICE = 0, ZM_RES_TOPIC, ZM_RES_STORE };
//  May caller (NULL: this process itself, always allowed) do endpoint on
//  resource name of type? 0 or ZM_EDENIED.
int zm_auth_check (zm_node_t *node, int type, const char *name, const char *endpoint,
                   const char *caller);

//  Sync (actors/zm_sync.c): "$sync" on the members of sync.members; the
//  locks this node holds, renewed by a thread of its own
typedef struct _zm_sync_client_t zm_sync_client_t;
int zm_sync_start (zm_node_t *node);
void zm_sync_client_stop (zm_node_t *node);
void zm_sync_client_destroy (zm_node_t *node);

//  The node's store (zm_node_store.c): state made with the node, the store
//  opened on first use, the sweeper, the built-in "$store" service
typedef struct _zm_node_store_t zm_node_store_t;
int zm_node_store_new (zm_node_t *node);
void zm_node_store_destroy (zm_node_t *node);
int zm_node_store_service (zm_node_t *node);

//  Selection strategies (rpc.selector)
typedef enum { ZM_SELECT_RANDOM = 0, ZM_SELECT_ROUND_ROBIN, ZM_SELECT_LEAST } zm_select_t;
int zm_select_parse (const char *name);
//  Reload the cached client knobs from the config.
void zm_node_cache_rpc_config (zm_node_t *node);

//  Services (zm_service.c)
typedef struct _zm_endpoint_t zm_endpoint_t;
//  A started or stopped service (stopped ones answer 503), NULL otherwise.
zm_service_t *zm_service_lookup (zm_node_t *node, const char *name);
bool zm_service_stopped (zm_service_t *self);
bool zm_service_running (zm_service_t *self);
zm_node_t *zm_service_node (zm_service_t *self);
//  Add an internal handler ("$event.N") for a subscription. Before start.
int zm_service_on_event (zm_service_t *self, const char *type, zm_actor_fn *fn);
//  Instance to handle a request arriving on reactor r; 0 when none.
zm_pid_t zm_service_pick (zm_service_t *self, int reactor);
zm_endpoint_t *zm_service_endpoint (zm_service_t *self, const char *name);
const char *zm_endpoint_name (zm_endpoint_t *self);
//  Is it a stream endpoint (zm_service_stream)?
bool zm_endpoint_is_stream (zm_endpoint_t *self);
void zm_endpoint_account (zm_endpoint_t *self, int status, const char *detail,
                          int64_t latency_us);
int zm_services_start_all (zm_node_t *node);
void zm_services_destroy (zm_node_t *node);
int zm_node_services_init (zm_node_t *node);
//  A built-in service ("$" name, the runtime's): as zm_service_new.
zm_service_t *zm_service_builtin (zm_node_t *node, const char *name);

//  RPC server on every reactor (zm_server.c)
int zm_server_start (zm_node_t *node);
//  Stop taking new requests (in-flight ones go on). Any thread.
void zm_server_pause (zm_node_t *node);

//  Registry cache (zm_registry.c): nodes heard of, a service index, watch
typedef struct _zm_registry_t zm_registry_t;
#define ZM_REG_SELF   1u   //  this node
#define ZM_REG_BEACON 2u   //  heard on the LAN
#define ZM_REG_STATIC 4u   //  a registry.peers entry
zm_registry_t *zm_registry_new (void);
void zm_registry_destroy (zm_registry_t **self_p);
//  Wake plain-thread watchers of a node going away (ZM_ECLOSED).
void zm_registry_close_watchers (zm_node_t *node);
//  Store what a node said (its HELLO answer, taken), reached at host, HELLO
//  port port (0: unknown), public key key (Z85; "" or NULL with CURVE
//  off), through source. Replaces an entry of another UUID at the same
//  host and port. Emits watch events. 0 or ZM_EINVAL.
int zm_registry_put (zm_node_t *node, const char *host, int port, const char *key,
                     unsigned source, zm_msg_t **descriptor_p);
//  A beacon of a known node: refresh its age; false if unknown. *seq_p gets
//  the state sequence of what we hold.
bool zm_registry_seen (zm_node_t *node, const char *uuid, uint32_t *seq_p);
//  Remove a node; returns 1 if it was there.
int zm_registry_drop (zm_node_t *node, const char *uuid, const char *why);
//  Remove nodes known only through source and not seen since before.
int zm_registry_expire (zm_node_t *node, unsigned source, int64_t before, const char *why);
//  Addresses of a service's instances passing version and match.
int zm_registry_candidates (zm_node_t *node, const char *service, const char *version,
                            const zm_msg_t *match, char out[][128], int max);
//  Wake zm_registry_wait callers to look again.
void zm_registry_poke (zm_node_t *node);
//  Wait until service is known and the first static round is over, or
//  until (zclock_mono); true when both.
bool zm_registry_wait (zm_node_t *node, const char *service, int64_t until);
zm_msg_t *zm_registry_snapshot (zm_node_t *node);
//  Deep copy of value into parent, under key (a map) or pushed (key NULL).
void zm_val_copy_into (zm_val_t *parent, const char *key, const zm_val_t *value);
//  Bumps on every change of the cache.
uint64_t zm_registry_generation (zm_node_t *node);
//  A queue-group subscription some node advertised.
typedef struct {
    char group[256];          //  group name
    char pattern[256];        //  its pattern
    char address[128];        //  tcp://host:port of the node's RPC socket
    char node[33];            //  node UUID
} zm_member_t;
//  Members (one per node and group) whose pattern matches topic.
int zm_registry_members (zm_node_t *node, const char *topic, zm_member_t *out, int max);
//  The public key of the node the registry knows at endpoint
//  (tcp://host:port, an RPC or PUB port) into key, or else the key
//  registry.peers gives for that address; false when none.
bool zm_registry_key (zm_node_t *node, const char *endpoint, char key[41]);
//  tcp://host:port#KEY of reactor 0 of the node named name (the one heard
//  from last when several are); false when the registry knows none.
bool zm_registry_address_of (zm_node_t *node, const char *name, char out[128]);
//  PUB endpoints (tcp://host:pub_port#KEY) of every other node.
int zm_registry_publishers (zm_node_t *node, char out[][128], int max);
void zm_registry_unwatch_pid (zm_node_t *node, zm_pid_t pid);

//  This node's descriptor: what "$node describe" and "$node hello" answer
//  (zm_service.c). Caller owns return value.
zm_msg_t *zm_node_descriptor (zm_node_t *node);
//  Put this node's own entry in its registry (after a service starts).
void zm_registry_put_self (zm_node_t *node);

//  Beacon discovery and static peers (actors/zm_discovery.c)
int zm_discovery_start (zm_node_t *node);
//  Send the goodbye beacon now (shutdown begins). Any thread.
void zm_discovery_leave (zm_node_t *node);

//  Per-thread clients (zm_client.c)
void zm_clients_destroy (zm_node_t *node);
//  Send an EVENT to one of candidates (selector key: key); candidate local
//  (or -1) is this node: picked, not sent. 0 and *picked_p, ZM_EUNAVAIL
//  when no member took it, or an encoding error.
int zm_client_send_event (zm_node_t *node, const char *key, char candidates[][128], int count,
                          int local, const zm_wire_t *wire, const void *data, size_t size,
                          int *picked_p);

//  What streams share with calls (zm_client.c). Candidates of a service
//  (opts->address, or the registry, waiting for discovery until deadline
//  when not 0): their count and *candidates_p (caller frees), or minus an
//  error with *error_p. A pick among those not tried (-1: none), and its
//  end (breaker: counted by the breaker, else only given back).
int zm_client_candidates (zm_node_t *node, const char *service, const zm_call_opts_t *opts,
                          int64_t deadline, char (**candidates_p)[128], zm_error_t **error_p);
int zm_client_pick (zm_node_t *node, const char *service, char candidates[][128], int count,
                    const bool *tried, const zm_call_opts_t *opts);
void zm_client_done (zm_node_t *node, const char *address, bool failed, bool breaker);
void zm_client_trace (char *trace_id, size_t size);
uint64_t zm_client_corr (void);

//  Streams (zm_stream.c). A stream command that came to a server's ROUTER
//  (on its reactor); a STREAM_OPEN the server checked, for instance (takes
//  *open_p); after an event's handler ran (rc, detail: its result); an
//  event envelope freed unhandled (its actor is gone); a ref dropped.
void zm_stream_served (zm_reactor_t *reactor, void *router, const zm_wire_peer_t *peer,
                       zm_wire_t *wire);
int zm_stream_accept (zm_reactor_t *reactor, void *router, const zm_wire_peer_t *peer,
                      zm_wire_t *wire, zm_endpoint_t *endpoint, zm_pid_t instance,
                      zm_msg_t **open_p);
void zm_stream_handled (zm_env_t *env, int rc, const char *detail);
void zm_stream_lost (zm_env_t *env);
void zm_stream_unref (struct _zm_stream_t **self_p);

//  Pub/sub (actors/zm_broker.c, runtime/zm_topic.c)
typedef struct _zm_broker_t zm_broker_t;
zm_broker_t *zm_broker_new (zm_node_t *node);
void zm_broker_destroy (zm_broker_t **self_p);
//  Bind the PUB socket and start receiving on reactor 0.
int zm_broker_start (zm_node_t *node);
//  A queue-group EVENT that came to the RPC server.
void zm_broker_on_event (zm_node_t *node, zm_wire_t *wire);
//  Count a malformed EVENT (it came to the RPC server).
void zm_broker_malformed (zm_node_t *node);
//  pub_port and subscriptions, into a descriptor.
void zm_broker_describe (zm_node_t *node, zm_val_t *root);
//  The pub/sub counters, into map.
void zm_broker_stats (zm_node_t *node, zm_val_t *map);
//  "$node" "publish"
int zm_broker_publish_endpoint (zm_ctx_t *ctx, zm_msg_t *req);
//  Bytes of pattern before its first wildcard segment.
size_t zm_topic_prefix (const char *pattern);

//  A zhashx keyed by 64-bit ids stored in the key pointer itself (asks,
//  calls): no key copies, an integer hash. Caller owns return value.
zhashx_t *zm_id_table_new (void);

//  Envelopes
zm_env_t *zm_env_new (int kind, zm_pid_t to, zm_pid_t from, const char *type,
                      zm_msg_t **msg_p);
//  Frees the envelope; an ask from a plain thread that was never answered
//  completes its waiter with status.
void zm_env_destroy (zm_env_t **env_p, int status);

//  Waiters
zm_waiter_t *zm_waiter_new (void);
void zm_waiter_unref (zm_waiter_t **waiter_p);
//  Complete (first completion wins); takes msg_p and error_p.
void zm_waiter_complete (zm_waiter_t *waiter, int status, zm_msg_t **msg_p,
                         zm_error_t **error_p);

//  Reactors
zm_reactor_t *zm_reactor_new (zm_node_t *node, int index);
//  Start one more reactor for a service that blocks; its index, or -1.
int zm_node_add_reactor (zm_node_t *node);
//  Phase 1 of shutdown: stop delivering, destroy every actor. Blocks.
void zm_reactor_quiesce (zm_reactor_t *self);
//  End the thread and free; for a reactor that quiesced and drained, or
//  one that never started.
void zm_reactor_destroy (zm_reactor_t **self_p);
//  Shutdown of a node's reactors: let in-flight work finish for up to
//  drain_ms (new work from plain threads is already refused), then quiesce
//  all (no handler runs afterwards), drain all inboxes (nothing is left in a
//  pipe), end all.
void zm_reactors_shutdown (zm_reactor_t **reactors, int count, int drain_ms);
//  Reactor of the calling thread, NULL on a plain thread.
zm_reactor_t *zm_reactor_current (void);
zm_node_t *zm_reactor_node (zm_reactor_t *self);
int zm_reactor_index (zm_reactor_t *self);
//  Route an envelope from the calling reactor thread (self is current).
void zm_reactor_route (zm_reactor_t *self, zm_env_t *env);
//  Create an actor in a slot of this reactor; any thread. 0 on failure.
zm_pid_t zm_reactor_add_actor (zm_reactor_t *self, const zm_actor_def_t *def, void *state,
                               char *name, int *err_p);
//  Next ask id of this reactor and registration of its pending reply.
int zm_reactor_ask (zm_reactor_t *self, zm_env_t *env, const char *reply_type, int timeout_ms);
//  Register a reply the reactor waits for on behalf of actor asker: it is
//  delivered as reply_type when a REPLY envelope with the returned id comes
//  (zm_reactor_route), or as a timeout after timeout_ms. 0 when out of memory.
uint64_t zm_reactor_expect (zm_reactor_t *self, zm_pid_t asker, const char *reply_type,
                            int timeout_ms);
//  Stop waiting for a reply registered with zm_reactor_expect.
void zm_reactor_forget (zm_reactor_t *self, uint64_t id);
//  Send a reply from any thread of the node (routing as needed).
void zm_reactor_send_reply (zm_node_t *node, zm_reply_t *to, int status, zm_msg_t **msg_p,
                            zm_error_t **error_p);

//  Hooks for modules that live on every reactor (the RPC server, later the
//  broker): a socket read on the reactor thread, with a dispatch round after
//  each read; a function run on the reactor thread, synchronously; and a
//  state slot per module.
#define ZM_REACTOR_MODULES 5
#define ZM_MODULE_SERVER   0
#define ZM_MODULE_CLIENT   1
#define ZM_MODULE_DISCOVERY 2
#define ZM_MODULE_BROKER   3
#define ZM_MODULE_STREAM   4
typedef int (zm_reactor_exec_fn) (zm_reactor_t *self, void *arg);
int zm_reactor_reader (zm_reactor_t *self, zsock_t *sock, zloop_reader_fn *fn, void *arg);
void zm_reactor_reader_end (zm_reactor_t *self, zsock_t *sock);
//  Returns fn's result (0..255) or ZM_ECLOSED.
int zm_reactor_exec (zm_reactor_t *self, zm_reactor_exec_fn *fn, void *arg);
void **zm_reactor_module (zm_reactor_t *self, int module);
//  stop (self, module state) runs on the reactor thread when it quiesces.
void zm_reactor_set_module_stop (zm_reactor_t *self, int module, zm_reactor_exec_fn *stop);
zloop_t *zm_reactor_loop (zm_reactor_t *self);
//  Run what module code queued outside a dispatch round: a zloop timer's
//  callback ends with it (readers get one on their own).
void zm_reactor_drain (zm_reactor_t *self);

//  Node
//  Route an envelope from any thread: reactor routing when called on one of
//  this node's reactors, the ext sockets otherwise. Takes the envelope.
int zm_node_route (zm_node_t *self, zm_env_t *env);
//  Remove a name from the directory (when its actor stops).
void zm_node_unname (zm_node_t *self, const char *name, zm_pid_t pid);

//  Codecs (codecs/zm_msg.c)
//  zm_msg_encode into a malloc'ed buffer that starts with room free bytes
//  (room <= 1 MiB) and then the encoding, *size_p bytes: a caller puts its
//  own framing in front without copying the body. Built-in codecs encode
//  in place; a registered one is copied once. Caller frees *data_p.
int zm_msg_encode_room (const zm_msg_t *self, const char *content_type, size_t room,
                        void **data_p, size_t *size_p);

#endif
