/*  =========================================================================
    zmicro/stream.h - bidirectional streams with credit-based flow control

    A client opens a stream to SERVICE.ENDPOINT, an instance chosen as for
    a call (registry, version, match, selector, circuit breaker). Both sides
    then send any number of messages, in both directions at once, until the
    server ends the stream. On the wire a stream is its own connection
    (docs/protocol.md section 20), so streams never hold each other up.

    Flow control: each side grants the other credit, in messages (the
    client's opts.window or stream.window, the server's stream.window). A
    sender never has more messages in flight than granted; credit comes back
    as the receiver consumes (a thread's zm_stream_recv, an actor's handler
    returning). A slow reader therefore bounds the memory of both sides to
    about window messages each way.

    Ends. The client may close its sending side (zm_stream_close_send): the
    server's handler sees ZM_STREAM_END and can go on sending. The server
    ends the stream with zm_stream_end (the client reads ZM_ECLOSED after
    the last message) or with an error (zm_stream_fail, or an error
    returned by its handler). Either side may cancel (zm_stream_cancel).
    A stream also ends at its deadline (opts.timeout_ms or stream.timeout,
    on both sides) and when the peer goes silent for three times
    stream.heartbeat (a killed process, a cut cable): the other side always
    learns why, and everything the stream held is freed on both sides.

    Server side. zm_service_stream registers a stream endpoint; its handler
    gets the stream as messages of that endpoint's type, with
    zm_ctx_stream_event () telling which:

        ZM_STREAM_OPEN      a client opened it; msg: the open message
        ZM_STREAM_DATA      msg: a message from the peer
        ZM_STREAM_END       the peer will send no more (end of input); on
                            a client, the server ended the stream: it is over
        ZM_STREAM_CANCEL    the stream is over without a normal end: the peer
                            cancelled (ZM_ECANCELED), the deadline passed
                            (ZM_ETIMEOUT), the peer went silent or away
                            (ZM_EUNAVAIL), or the server failed (its error);
                            zm_ctx_status and zm_ctx_error say which
        ZM_STREAM_WRITABLE  credit came back after zm_stream_send found none

    A handler returning an error on any event ends the stream with that
    error (the client receives it). The handle (zm_ctx_stream) may be kept
    between events until the stream is over for this side: ZM_STREAM_CANCEL
    came, or the handler itself ended, failed or cancelled it (on a client
    actor: also ZM_STREAM_END). zm_stream_set_data hangs per-stream state on
    it.

    Client side, from a plain thread: zm_stream_open, then zm_stream_send
    and zm_stream_recv (each blocks up to its timeout; one thread may send
    while another receives), zm_stream_close_send, zm_stream_cancel,
    zm_stream_destroy. From an actor: zm_stream_open_async; events come to
    the actor as messages of the type it names, as on a server.
    =========================================================================
*/
#ifndef ZMICRO_STREAM_H_INCLUDED
#define ZMICRO_STREAM_H_INCLUDED

#include "zmicro/client.h"
#include "zmicro/service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zm_stream_t zm_stream_t;

typedef enum {
    ZM_STREAM_NONE = 0,  //  the message is not a stream event
    ZM_STREAM_OPEN = 1,
    ZM_STREAM_DATA = 2,
    ZM_STREAM_END = 3,
    ZM_STREAM_CANCEL = 4,
    ZM_STREAM_WRITABLE = 5
} zm_stream_event_t;

typedef struct {
    zm_call_opts_t call;        //  instance choice, content type, metadata, trace;
                                //  call.timeout_ms: the stream's deadline (0:
                                //  stream.timeout); call.retries: further instances
                                //  tried when opening fails (-1: rpc.retries)
    int window;                 //  credit granted to the server, in messages,
                                //  1..256 (0: stream.window)
} zm_stream_opts_t;

#define ZM_STREAM_OPTS_DEFAULT {ZM_CALL_OPTS_DEFAULT, 0}

//  Register a stream endpoint on a service: fn gets its events. Before
//  start. Returns 0, ZM_EINVAL (bad name), ZM_ECONFLICT (endpoint exists).
//  A stream endpoint is not callable with zm_call (400), nor a plain one
//  streamable.
int
    zm_service_stream (zm_service_t *self, const char *endpoint, zm_actor_fn *fn);

//  Inside a handler: the stream the message belongs to, or NULL.
zm_stream_t *
    zm_ctx_stream (zm_ctx_t *ctx);
//  Inside a handler: which stream event the message is (ZM_STREAM_NONE
//  when it is not one).
zm_stream_event_t
    zm_ctx_stream_event (zm_ctx_t *ctx);

//  Open a stream from a plain thread and wait until the server accepts it.
//  Takes *open_p (the open message, may be NULL). Returns the stream (caller
//  owns it: zm_stream_destroy) or NULL with the error in *error_p when not
//  NULL (caller owns it): ZM_ENOTFOUND (no instance; no such service or
//  stream endpoint), ZM_EUNAVAIL (no instance answered), ZM_ETIMEOUT,
//  ZM_EBLOCKING on a reactor thread. opts may be NULL. The server accepts
//  before its handler sees the open message, so a handler's refusal comes
//  either here or, the stream open, from the first zm_stream_recv or
//  zm_stream_send (zm_stream_error).
zm_stream_t *
    zm_stream_open (zm_node_t *node, const char *service, const char *endpoint,
                    zm_msg_t **open_p, zm_error_t **error_p, const zm_stream_opts_t *opts);

//  Open a stream from inside a handler, without blocking: its events come
//  to this actor as messages of event_type (first ZM_STREAM_WRITABLE when
//  the server accepted it, or ZM_STREAM_CANCEL when it did not). Instances
//  come from what the registry holds, as for zm_call_async. Takes *open_p.
//  Returns 0 and the stream in *stream_p (the actor's until the stream is
//  over), or ZM_EINVAL, ZM_ENOTFOUND, ZM_EUNAVAIL, ZM_ENOMEM.
int
    zm_stream_open_async (zm_ctx_t *ctx, const char *service, const char *endpoint,
                          zm_msg_t **open_p, const char *event_type,
                          const zm_stream_opts_t *opts, zm_stream_t **stream_p);

//  Send a message (takes *msg_p on success; NULL or *msg_p NULL sends an
//  empty body). With no credit left it waits up to timeout_ms for some
//  (plain threads; -1: until the stream's deadline; 0: no wait). From a
//  handler timeout_ms must be 0: ZM_ETOOMANY then means no credit, the
//  message stays with the caller and ZM_STREAM_WRITABLE follows once there
//  is credit. Returns 0, ZM_ETOOMANY (no credit in time), ZM_ECLOSED (this
//  side ended its sending, or the stream is over: zm_stream_error says
//  why), ZM_ECODEC (the message does not encode), ZM_EBLOCKING.
int
    zm_stream_send (zm_stream_t *self, zm_msg_t **msg_p, int timeout_ms);

//  Receive the next message, from a plain thread; waits up to timeout_ms
//  (-1: until the stream's deadline). Returns 0 and *msg_p (caller owns; NULL
//  for an empty body), ZM_ETIMEOUT (nothing yet: the stream goes on),
//  ZM_ECLOSED (the server ended the stream normally, after its last
//  message), or why the stream failed (as zm_stream_error). Messages that
//  arrived before the end are returned first, whatever the end (but
//  zm_stream_cancel on this side drops them). On an actor's stream:
//  ZM_EINVAL (messages come as events).
int
    zm_stream_recv (zm_stream_t *self, zm_msg_t **msg_p, int timeout_ms);

//  Client: send no more (the server gets ZM_STREAM_END); messages still
//  come. Server: same as zm_stream_end. Returns 0 or ZM_ECLOSED.
int
    zm_stream_close_send (zm_stream_t *self);

//  Server: end the stream normally after what was sent (the client reads
//  ZM_ECLOSED after the last message). Client: same as zm_stream_close_send.
int
    zm_stream_end (zm_stream_t *self);

//  Server: end the stream with an error (code, detail) the client receives.
int
    zm_stream_fail (zm_stream_t *self, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Stop giving credit back as messages are consumed, and give it again.
//  A handler that cannot pass messages on (zm_stream_send said
//  ZM_ETOOMANY) pauses, keeps them (the peer can send at most the window
//  more), and resumes once ZM_STREAM_WRITABLE let it send them: an echo
//  holds at most a window of messages however slow its client reads.
int
    zm_stream_pause (zm_stream_t *self);
int
    zm_stream_resume (zm_stream_t *self);

//  Abandon the stream: the peer gets ZM_ECANCELED, both sides free it.
//  Returns 0, or ZM_ECLOSED when it was already over.
int
    zm_stream_cancel (zm_stream_t *self);

//  Why the stream failed: NULL while it runs or after a normal end.
const zm_error_t *
    zm_stream_error (zm_stream_t *self);

//  Is the stream over (ended, failed or cancelled)?
bool
    zm_stream_done (zm_stream_t *self);

//  Per-stream state for handlers: destroy (may be NULL) runs on it when
//  the stream is freed, on whichever thread frees it.
void
    zm_stream_set_data (zm_stream_t *self, void *data, void (*destroy) (void *data));
void *
    zm_stream_data (zm_stream_t *self);

//  Counters: messages sent and received so far.
uint64_t zm_stream_sent (zm_stream_t *self);
uint64_t zm_stream_received (zm_stream_t *self);

//  Client thread: cancel the stream if it is not over and free the handle.
//  Nulls *self_p. Not for the streams of actors and handlers.
void
    zm_stream_destroy (zm_stream_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
