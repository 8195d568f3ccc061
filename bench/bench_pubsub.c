/*  bench_pubsub - pub/sub over loopback TCP against raw libzmq sockets

    Every node and every raw socket lives in this process and talks over
    tcp://127.0.0.1 (beacons off: nodes find each other through static
    peers). Events carry a 100-byte body sent as application/octet-stream,
    the codec closest to raw bytes (the body is one binary, untouched); its
    first 16 bytes are the publish time (zclock_usecs) and a sequence
    number. The raw baselines send the same 100 bytes after a topic frame.
      throughput_100B  events/s one subscriber node receives from one
                       publisher thread calling zm_publish in a loop, vs a
                       raw PUB -> SUB
      fanout_8         one publisher, 8 subscriber nodes: events/s each
                       subscriber receives, vs a raw PUB -> 8 SUBs (one
                       thread each)
      queue_group      4 member nodes in group "workers": events/s in all
                       and the count per member, vs a raw PUSH -> 4 PULLs
                       (round robin; PUSH blocks at its high-water mark
                       where zm_publish never does)
      latency          paced publishing, one event every 500 us: p50 / p99
                       from zm_publish to the handler, vs raw PUB -> SUB
    throughput_100B and fanout_8 measure what a subscriber can take, not
    what it drops: the nodes' pubsub.hwm and the raw sockets' high-water
    marks hold the whole run (events + 1000), so nothing is lost at full
    speed on either side. queue_group and latency run with the default
    (10000) on both sides. Before measuring, warm-up events (sequence -1)
    go out until every subscriber has one, so subscriptions are live. A
    rate counts what arrived, divided by the time from the first publish
    to the last arrival; events lost on the way are reported beside it,
    (throughput_100B runs 3 rounds, raw then zmicro in each, and reports
    the median rate of each side, the ratio of the medians, and each
    round's ratio: the machine's noise hits both sides),
    with the nodes' zm_pubsub_stats counters, and published_per_s is how
    fast the publishing thread got its events out.

    Usage: bench_pubsub [events [case]]   (default 200,000 for throughput;
           fanout_8 publishes events/4, queue_group events/2, latency
           min (events/10, 2,000); bounded 1,000..1,000,000; case:
           throughput, fanout, group or latency runs only that one)
*/
#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include "zmicro.h"
#include "bench_util.h"

#define BODY 100           //  event body, bytes
#define TOPIC "bench.data" //  every event's
#define HWM 10000          //  pubsub.hwm's default
#define FANOUT 8           //  subscribers in fanout_8
#define MEMBERS 4          //  members in queue_group
#define PACE_US 500        //  between events in latency
#define QUIET_MS 1000      //  a run ends when nothing arrived for this long
#define RUN_CAP_MS 30000   //  or after this long in all
#define ROUNDS 3           //  throughput_100B: alternating raw / zmicro rounds

//  High-water mark of the raw sockets and of the nodes (pubsub.hwm), per case
static int s_hwm = HWM;

//  --------------------------------------------------------------------------
//  A sink counts what one subscriber receives. The same code records for
//  the raw receivers and for the zmicro handlers.

typedef struct {
    atomic_long received;    //  measured events
    atomic_long warm;        //  warm-up events
    atomic_long bad;         //  bodies that were not ours
    _Atomic int64_t last_us; //  arrival of the last measured event
    int64_t *latency;        //  per sequence, us (-1: not arrived); or NULL
    int64_t capacity;        //  size of latency
} sink_t;

static void
s_sink_reset (sink_t *self, int64_t *latency, int64_t capacity)
{
    atomic_store (&self->received, 0);
    atomic_store (&self->warm, 0);
    atomic_store (&self->bad, 0);
    atomic_store (&self->last_us, 0);
    self->latency = latency;
    self->capacity = capacity;
    for (int64_t i = 0; latency && i < capacity; i++)
        latency[i] = -1;
}

static void
s_sink_record (sink_t *self, const void *body, size_t size)
{
    int64_t now = s_now_us ();
    int64_t sent, seq;
    if (!body || size != BODY) {
        atomic_fetch_add (&self->bad, 1);
        return;
    }
    memcpy (&sent, body, 8);
    memcpy (&seq, (const char *) body + 8, 8);
    if (seq < 0) {
        atomic_fetch_add (&self->warm, 1);
        return;
    }
    if (self->latency && seq < self->capacity)
        self->latency[seq] = now - sent;
    atomic_store (&self->last_us, now);
    atomic_fetch_add (&self->received, 1);
}

static void
s_body_fill (char *body, int64_t seq)
{
    int64_t now = s_now_us ();
    memcpy (body, &now, 8);
    memcpy (body + 8, &seq, 8);
}

//  Wait (bounded) until every sink has a warm-up event, sending one more
//  through send every millisecond. Returns true when they all have one.
typedef void (warm_fn) (void *arg, const char *body);

static bool
s_warm_up (sink_t *sinks, int count, warm_fn *send, void *arg)
{
    char body[BODY];
    memset (body, 'x', sizeof body);
    int64_t deadline = zclock_mono () + 10000;
    while (zclock_mono () < deadline) {
        int ready = 0;
        for (int i = 0; i < count; i++)
            ready += atomic_load (&sinks[i].warm) > 0;
        if (ready == count)
            return true;
        s_body_fill (body, -1);
        send (arg, body);
        zclock_sleep (1);
    }
    fprintf (stderr, "bench_pubsub: subscribers not live after 10 s\n");
    return false;
}

//  Wait until the sinks hold expected events in all, or nothing arrived
//  for QUIET_MS, or RUN_CAP_MS passed. Returns the events received; the
//  latest arrival goes in *last_us_p.
static int64_t
s_wait_done (sink_t *sinks, int count, int64_t expected, int64_t *last_us_p)
{
    int64_t cap = zclock_mono () + RUN_CAP_MS, quiet = zclock_mono () + QUIET_MS;
    int64_t total = 0;
    while (true) {
        int64_t now_total = 0, last = 0;
        for (int i = 0; i < count; i++) {
            now_total += atomic_load (&sinks[i].received);
            int64_t at = atomic_load (&sinks[i].last_us);
            last = at > last ? at : last;
        }
        *last_us_p = last;
        if (now_total != total)
            quiet = zclock_mono () + QUIET_MS;
        total = now_total;
        if (total >= expected || zclock_mono () > quiet || zclock_mono () > cap)
            break;
        zclock_sleep (2);
    }
    for (int i = 0; i < count; i++)
        if (atomic_load (&sinks[i].bad))
            fprintf (stderr, "bench_pubsub: subscriber %d got %ld bodies that are not ours\n", i,
                     atomic_load (&sinks[i].bad));
    return total;
}

static double
s_rate (int64_t events, int64_t start_us, int64_t last_us)
{
    return last_us > start_us ? (double) events * 1e6 / (double) (last_us - start_us) : 0;
}

//  --------------------------------------------------------------------------
//  Raw side: sockets made here, then each receiver on a thread of its own

typedef struct {
    void *socket;     //  SUB or PULL, owned by the caller
    sink_t *sink;     //  what it got
    atomic_int stop;  //  set to end the thread
    pthread_t thread; //  the receiver
} raw_rx_t;

static void *
s_raw_rx_run (void *arg)
{
    raw_rx_t *self = (raw_rx_t *) arg;
    zmq_pollitem_t item = {self->socket, 0, ZMQ_POLLIN, 0};
    char topic[64], body[BODY + 16];
    while (!atomic_load (&self->stop)) {
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        while (zmq_recv (self->socket, topic, sizeof topic, ZMQ_DONTWAIT) >= 0) {
            int size = zmq_recv (self->socket, body, sizeof body, 0);
            s_sink_record (self->sink, body, size < 0 ? 0 : (size_t) size);
        }
    }
    return NULL;
}

static void *
s_raw_socket (int type, int port)
{
    void *socket = zmq_socket (zsys_init (), type);
    int hwm = s_hwm, linger = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    if (type == ZMQ_SUB)
        zmq_setsockopt (socket, ZMQ_SUBSCRIBE, TOPIC, strlen (TOPIC));
    if (type == ZMQ_SUB || type == ZMQ_PULL) {
        bench_curve_client (socket);
        zmq_connect (socket, endpoint);
    }
    else
        bench_curve_server (socket);
    return socket;
}

//  A raw sender bound on an ephemeral port (PUB or PUSH), and count
//  receivers (SUB or PULL) connected to it, each on its thread.
typedef struct {
    void *out;            //  PUB or PUSH
    raw_rx_t rx[FANOUT];  //  receivers
    int count;            //  how many
    sink_t sinks[FANOUT]; //  what each receiver got
} raw_net_t;

static void
s_raw_send (void *arg, const char *body)
{
    raw_net_t *net = (raw_net_t *) arg;
    zmq_send (net->out, TOPIC, strlen (TOPIC), ZMQ_SNDMORE);
    zmq_send (net->out, body, BODY, 0);
}

static void
s_raw_net_start (raw_net_t *self, int out_type, int count, int64_t *latency, int64_t capacity)
{
    memset (self, 0, sizeof *self);
    self->out = s_raw_socket (out_type, 0);
    zmq_bind (self->out, "tcp://127.0.0.1:*");
    char endpoint[64];
    size_t size = sizeof endpoint;
    zmq_getsockopt (self->out, ZMQ_LAST_ENDPOINT, endpoint, &size);
    int port = atoi (strrchr (endpoint, ':') + 1);
    self->count = count;
    for (int i = 0; i < count; i++) {
        raw_rx_t *rx = &self->rx[i];
        rx->socket = s_raw_socket (out_type == ZMQ_PUB ? ZMQ_SUB : ZMQ_PULL, port);
        rx->sink = &self->sinks[i];
        s_sink_reset (rx->sink, i == 0 ? latency : NULL, capacity);
        pthread_create (&rx->thread, NULL, s_raw_rx_run, rx);
    }
}

static void
s_raw_net_stop (raw_net_t *self)
{
    for (int i = 0; i < self->count; i++) {
        atomic_store (&self->rx[i].stop, 1);
        pthread_join (self->rx[i].thread, NULL);
        zmq_close (self->rx[i].socket);
    }
    zmq_close (self->out);
}

//  --------------------------------------------------------------------------
//  zmicro side

//  A subscription's handler: the body is one binary (octet-stream)
static int
s_on_event (zm_ctx_t *ctx, zm_msg_t *event)
{
    size_t size = 0;
    const void *body = event ? zm_val_bin (zm_msg_root (event), &size) : NULL;
    s_sink_record ((sink_t *) zm_ctx_state (ctx), body, size);
    return 0;
}

//  A node on loopback that never broadcasts; peers: its static peers.
static zm_node_t *
s_node_new (const char *peers)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    zm_config_set (config, "log.level", "warning", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL); //  NEVER broadcast
    zm_config_set (config, "node.shutdown_timeout", "500", NULL);
    zm_config_set (config, "auth.curve", s_bench_curve ? "true" : "false", NULL);
    char hwm[32];
    snprintf (hwm, sizeof hwm, "%d", s_hwm);
    zm_config_set (config, "pubsub.hwm", hwm, NULL);
    if (peers)
        zm_config_set (config, "registry.peers", peers, NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node) {
        fprintf (stderr, "bench_pubsub: cannot create a node\n");
        exit (1);
    }
    return node;
}

static const char *
s_endpoint_of (zm_node_t *node, char *buf, size_t size)
{
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    snprintf (buf, size, "tcp://127.0.0.1:%d#%s", zm_node_rpc_port (node, 0), key);
    return buf;
}

//  Sum a counter of zm_pubsub_stats over nodes
static uint64_t
s_stat (zm_node_t **nodes, int count, const char *key)
{
    uint64_t sum = 0;
    for (int i = 0; i < count; i++) {
        zm_msg_t *stats = zm_pubsub_stats (nodes[i]);
        sum += zm_msg_get_uint (stats, key, 0);
        zm_msg_destroy (&stats);
    }
    return sum;
}

static const zm_pub_opts_t s_raw_opts = {ZM_CT_RAW, NULL};

static int
s_publish (zm_node_t *node, const char *body)
{
    zm_msg_t *event = NULL;
    int rc = zm_msg_decode (ZM_CT_RAW, body, BODY, &event, NULL);
    if (rc == 0)
        rc = zm_publish (node, TOPIC, &event, &s_raw_opts);
    return rc;
}

static void
s_zm_send (void *arg, const char *body)
{
    s_publish ((zm_node_t *) arg, body);
}

//  A publisher node and count subscriber nodes (static peer: the
//  publisher), each with one subscription on TOPIC in group (NULL:
//  broadcast). For a group, the publisher must know the members: they
//  come first and the publisher lists them as its static peers.
typedef struct {
    zm_node_t *pub;          //  publisher node
    zm_node_t *subs[FANOUT]; //  subscriber nodes
    int count;               //  how many
    sink_t sinks[FANOUT];    //  what each got
} zm_net_t;

static void
s_zm_net_start (zm_net_t *self, int count, const char *group, int64_t *latency,
                int64_t capacity)
{
    memset (self, 0, sizeof *self);
    self->count = count;
    char endpoint[128];
    if (group) {
        char peers[FANOUT * 128] = "";
        for (int i = 0; i < count; i++)
            self->subs[i] = s_node_new (NULL);
        for (int i = 0; i < count; i++) {
            s_sink_reset (&self->sinks[i], i == 0 ? latency : NULL, capacity);
            int err = 0;
            if (!zm_subscribe (self->subs[i], TOPIC, group, s_on_event, &self->sinks[i], &err)) {
                fprintf (stderr, "bench_pubsub: zm_subscribe: %s\n", zm_strerror (err));
                exit (1);
            }
            strcat (peers, i ? "," : "");
            strcat (peers, s_endpoint_of (self->subs[i], endpoint, sizeof endpoint));
        }
        self->pub = s_node_new (peers);
    }
    else {
        self->pub = s_node_new (NULL);
        s_endpoint_of (self->pub, endpoint, sizeof endpoint);
        for (int i = 0; i < count; i++) {
            self->subs[i] = s_node_new (endpoint);
            s_sink_reset (&self->sinks[i], i == 0 ? latency : NULL, capacity);
            int err = 0;
            if (!zm_subscribe (self->subs[i], TOPIC, NULL, s_on_event, &self->sinks[i], &err)) {
                fprintf (stderr, "bench_pubsub: zm_subscribe: %s\n", zm_strerror (err));
                exit (1);
            }
        }
    }
}

static void
s_zm_net_stop (zm_net_t *self)
{
    for (int i = 0; i < self->count; i++)
        zm_node_destroy (&self->subs[i]);
    zm_node_destroy (&self->pub);
}

//  Publish events as fast as the caller can; returns the start time and
//  sets *publish_rate (events/s the publisher got out). failures counts
//  zm_publish errors.
static int64_t
s_zm_blast (zm_node_t *node, int64_t events, int64_t *failures, double *publish_rate)
{
    char body[BODY];
    memset (body, 'x', sizeof body);
    int64_t start = s_now_us ();
    for (int64_t seq = 0; seq < events; seq++) {
        s_body_fill (body, seq);
        if (s_publish (node, body))
            (*failures)++;
    }
    *publish_rate = s_rate (events, start, s_now_us ());
    return start;
}

static int64_t
s_raw_blast (raw_net_t *net, int64_t events, double *publish_rate)
{
    char body[BODY];
    memset (body, 'x', sizeof body);
    int64_t start = s_now_us ();
    for (int64_t seq = 0; seq < events; seq++) {
        s_body_fill (body, seq);
        s_raw_send (net, body);
    }
    *publish_rate = s_rate (events, start, s_now_us ());
    return start;
}

//  --------------------------------------------------------------------------
//  The cases

//  One round of throughput_100B: raw, then zmicro. Fills the rates.
typedef struct {
    double raw_rate, raw_publish, rate, publish;
    int64_t raw_received, received, failures;
    uint64_t dropped_queue, lost;
} round_t;

static void
s_throughput_round (int64_t events, round_t *round)
{
    memset (round, 0, sizeof *round);
    raw_net_t raw;
    s_raw_net_start (&raw, ZMQ_PUB, 1, NULL, 0);
    int64_t raw_last = 0;
    if (s_warm_up (raw.sinks, raw.count, s_raw_send, &raw)) {
        int64_t start = s_raw_blast (&raw, events, &round->raw_publish);
        round->raw_received = s_wait_done (raw.sinks, raw.count, events, &raw_last);
        round->raw_rate = s_rate (round->raw_received, start, raw_last);
    }
    s_raw_net_stop (&raw);

    zm_net_t net;
    s_zm_net_start (&net, 1, NULL, NULL, 0);
    int64_t last = 0, start = 0;
    if (s_warm_up (net.sinks, 1, s_zm_send, net.pub)) {
        start = s_zm_blast (net.pub, events, &round->failures, &round->publish);
        round->received = s_wait_done (net.sinks, 1, events, &last);
    }
    round->rate = s_rate (round->received, start, last);
    round->dropped_queue = s_stat (net.subs, 1, "dropped_queue");
    round->lost = s_stat (net.subs, 1, "lost");
    s_zm_net_stop (&net);
}

static void
s_bench_throughput (int64_t events)
{
    s_hwm = (int) events + 1000; //  lossless: the whole run fits in the queues
    //  Rounds alternate raw and zmicro: a noisy neighbour on the machine
    //  hits both, and the medians drop the odd round out.
    round_t rounds[ROUNDS];
    double rates[ROUNDS], raw_rates[ROUNDS], publish[ROUNDS], raw_publish[ROUNDS];
    char ratios[ROUNDS * 8] = "";
    int64_t received = 0, raw_received = 0, failures = 0;
    uint64_t dropped_queue = 0, lost = 0;
    for (int r = 0; r < ROUNDS; r++) {
        s_throughput_round (events, &rounds[r]);
        rates[r] = rounds[r].rate;
        raw_rates[r] = rounds[r].raw_rate;
        publish[r] = rounds[r].publish;
        raw_publish[r] = rounds[r].raw_publish;
        received += rounds[r].received;
        raw_received += rounds[r].raw_received;
        failures += rounds[r].failures;
        dropped_queue += rounds[r].dropped_queue;
        lost += rounds[r].lost;
        snprintf (ratios + strlen (ratios), sizeof ratios - strlen (ratios), "%s%.2f",
                  r ? "," : "", rounds[r].raw_rate > 0 ? rounds[r].rate / rounds[r].raw_rate : 0);
    }
    double rate = s_median (rates, ROUNDS), raw_rate = s_median (raw_rates, ROUNDS);
    printf ("{\"bench\":\"pubsub\",\"curve\":%s,\"case\":\"throughput_100B\",\"events\":%" PRId64
            ",\"rounds\":%d,\"body_bytes\":%d,\"content_type\":\"" ZM_CT_RAW "\",\"hwm\":%d"
            ",\"received\":%" PRId64 ",\"events_per_s\":%.0f,\"published_per_s\":%.0f"
            ",\"publish_failures\":%" PRId64 ",\"dropped_queue\":%" PRIu64 ",\"lost\":%" PRIu64
            ",\"baseline\":\"raw PUB -> SUB, topic + 100 B\",\"baseline_received\":%" PRId64
            ",\"baseline_events_per_s\":%.0f,\"baseline_published_per_s\":%.0f,"
            "\"ratio\":%.2f,\"round_ratios\":[%s],\"target\":0.6}\n",
            s_bench_curve ? "true" : "false", events, ROUNDS, BODY, s_hwm, received, rate, s_median (publish, ROUNDS), failures,
            dropped_queue, lost, raw_received, raw_rate, s_median (raw_publish, ROUNDS),
            raw_rate > 0 ? rate / raw_rate : 0, ratios);
    fflush (stdout);
}

static void
s_bench_fanout (int64_t events)
{
    s_hwm = (int) events + 1000;
    raw_net_t raw;
    s_raw_net_start (&raw, ZMQ_PUB, FANOUT, NULL, 0);
    int64_t raw_received = 0, raw_last = 0, raw_start = 0, raw_min = 0;
    double raw_publish = 0, publish = 0;
    if (s_warm_up (raw.sinks, raw.count, s_raw_send, &raw)) {
        raw_start = s_raw_blast (&raw, events, &raw_publish);
        raw_received = s_wait_done (raw.sinks, raw.count, events * FANOUT, &raw_last);
        raw_min = events;
        for (int i = 0; i < FANOUT; i++)
            if (atomic_load (&raw.sinks[i].received) < raw_min)
                raw_min = atomic_load (&raw.sinks[i].received);
    }
    s_raw_net_stop (&raw);
    double raw_rate = s_rate (raw_received, raw_start, raw_last) / FANOUT;

    zm_net_t net;
    s_zm_net_start (&net, FANOUT, NULL, NULL, 0);
    int64_t received = 0, last = 0, failures = 0, start = 0, min = 0;
    if (s_warm_up (net.sinks, FANOUT, s_zm_send, net.pub)) {
        start = s_zm_blast (net.pub, events, &failures, &publish);
        received = s_wait_done (net.sinks, FANOUT, events * FANOUT, &last);
        min = events;
        for (int i = 0; i < FANOUT; i++)
            if (atomic_load (&net.sinks[i].received) < min)
                min = atomic_load (&net.sinks[i].received);
    }
    double rate = s_rate (received, start, last) / FANOUT;
    printf ("{\"bench\":\"pubsub\",\"curve\":%s,\"case\":\"fanout_8\",\"events\":%" PRId64
            ",\"subscribers\":%d,\"body_bytes\":%d,\"hwm\":%d,\"received\":%" PRId64
            ",\"received_min\":%" PRId64 ",\"events_per_s_per_subscriber\":%.0f,"
            "\"published_per_s\":%.0f,\"publish_failures\":%" PRId64 ",\"dropped_queue\":%" PRIu64
            ",\"lost\":%" PRIu64 ",\"baseline\":\"raw PUB -> 8 SUBs, one thread each\","
            "\"baseline_received\":%" PRId64 ",\"baseline_received_min\":%" PRId64
            ",\"baseline_events_per_s_per_subscriber\":%.0f,\"baseline_published_per_s\":%.0f,"
            "\"ratio\":%.2f}\n",
            s_bench_curve ? "true" : "false", events, FANOUT, BODY, s_hwm, received, min, rate, publish, failures,
            s_stat (net.subs, FANOUT, "dropped_queue"), s_stat (net.subs, FANOUT, "lost"),
            raw_received, raw_min, raw_rate, raw_publish, raw_rate > 0 ? rate / raw_rate : 0);
    fflush (stdout);
    s_zm_net_stop (&net);
}

static void
s_bench_group (int64_t events)
{
    s_hwm = HWM;
    raw_net_t raw;
    s_raw_net_start (&raw, ZMQ_PUSH, MEMBERS, NULL, 0);
    int64_t raw_received = 0, raw_last = 0, raw_start = 0;
    double raw_publish = 0, publish = 0;
    if (s_warm_up (raw.sinks, raw.count, s_raw_send, &raw)) {
        raw_start = s_raw_blast (&raw, events, &raw_publish);
        raw_received = s_wait_done (raw.sinks, raw.count, events, &raw_last);
    }
    s_raw_net_stop (&raw);
    double raw_rate = s_rate (raw_received, raw_start, raw_last);

    zm_net_t net;
    s_zm_net_start (&net, MEMBERS, "workers", NULL, 0);
    int64_t received = 0, last = 0, failures = 0, start = 0;
    if (s_warm_up (net.sinks, MEMBERS, s_zm_send, net.pub)) {
        start = s_zm_blast (net.pub, events, &failures, &publish);
        received = s_wait_done (net.sinks, MEMBERS, events, &last);
    }
    double rate = s_rate (received, start, last);
    char spread[128] = "", raw_spread[128] = "";
    for (int i = 0; i < MEMBERS; i++) {
        snprintf (spread + strlen (spread), sizeof spread - strlen (spread), "%s%ld",
                  i ? "," : "", atomic_load (&net.sinks[i].received));
        snprintf (raw_spread + strlen (raw_spread), sizeof raw_spread - strlen (raw_spread),
                  "%s%ld", i ? "," : "", atomic_load (&raw.sinks[i].received));
    }
    printf ("{\"bench\":\"pubsub\",\"curve\":%s,\"case\":\"queue_group\",\"events\":%" PRId64
            ",\"members\":%d,\"body_bytes\":%d,\"received\":%" PRId64
            ",\"events_per_s\":%.0f,\"spread\":[%s],\"published_per_s\":%.0f,"
            "\"publish_failures\":%" PRId64 ",\"dropped_no_member\":%" PRIu64
            ",\"dropped_queue\":%" PRIu64 ",\"baseline\":\"raw PUSH -> 4 PULLs, round robin\","
            "\"baseline_received\":%" PRId64 ",\"baseline_events_per_s\":%.0f,"
            "\"baseline_spread\":[%s],\"baseline_published_per_s\":%.0f,\"ratio\":%.2f}\n",
            s_bench_curve ? "true" : "false", events, MEMBERS, BODY, received, rate, spread, publish, failures,
            s_stat (&net.pub, 1, "dropped_no_member"),
            s_stat (net.subs, MEMBERS, "dropped_queue"), raw_received, raw_rate, raw_spread,
            raw_publish, raw_rate > 0 ? rate / raw_rate : 0);
    fflush (stdout);
    s_zm_net_stop (&net);
}

//  Sleep until the absolute time at (us), spinning the last stretch
static void
s_pace (int64_t at)
{
    int64_t left = at - s_now_us ();
    if (left > 200)
        usleep ((useconds_t) (left - 100));
    while (s_now_us () < at)
        ;
}

//  p50 and p99 of the arrived latencies; returns how many arrived
static int64_t
s_percentiles (int64_t *latency, int64_t count, int64_t *p50, int64_t *p99)
{
    int64_t n = 0;
    for (int64_t i = 0; i < count; i++)
        if (latency[i] >= 0)
            latency[n++] = latency[i];
    qsort (latency, n, sizeof (int64_t), s_cmp);
    *p50 = n ? latency[n / 2] : -1;
    *p99 = n ? latency[n * 99 / 100] : -1;
    return n;
}

static void
s_bench_latency (int64_t events)
{
    s_hwm = HWM;
    int64_t *latency = (int64_t *) calloc (events, sizeof (int64_t));
    char body[BODY];
    memset (body, 'x', sizeof body);
    raw_net_t raw;
    s_raw_net_start (&raw, ZMQ_PUB, 1, latency, events);
    int64_t raw_p50 = -1, raw_p99 = -1, raw_received = 0, last = 0;
    if (s_warm_up (raw.sinks, raw.count, s_raw_send, &raw)) {
        int64_t start = s_now_us ();
        for (int64_t seq = 0; seq < events; seq++) {
            s_pace (start + seq * PACE_US);
            s_body_fill (body, seq);
            s_raw_send (&raw, body);
        }
        s_wait_done (raw.sinks, raw.count, events, &last);
    }
    s_raw_net_stop (&raw);
    raw_received = s_percentiles (latency, events, &raw_p50, &raw_p99);

    zm_net_t net;
    s_zm_net_start (&net, 1, NULL, latency, events);
    int64_t p50 = -1, p99 = -1, received = 0, failures = 0;
    if (s_warm_up (net.sinks, 1, s_zm_send, net.pub)) {
        int64_t start = s_now_us ();
        for (int64_t seq = 0; seq < events; seq++) {
            s_pace (start + seq * PACE_US);
            s_body_fill (body, seq);
            if (s_publish (net.pub, body))
                failures++;
        }
        s_wait_done (net.sinks, 1, events, &last);
    }
    uint64_t dropped_queue = s_stat (net.subs, 1, "dropped_queue");
    uint64_t lost = s_stat (net.subs, 1, "lost");
    s_zm_net_stop (&net); //  no handler writes latency after this
    received = s_percentiles (latency, events, &p50, &p99);
    printf ("{\"bench\":\"pubsub\",\"curve\":%s,\"case\":\"latency\",\"events\":%" PRId64
            ",\"interval_us\":%d,\"body_bytes\":%d,\"received\":%" PRId64 ",\"p50_us\":%" PRId64
            ",\"p99_us\":%" PRId64 ",\"publish_failures\":%" PRId64 ",\"dropped_queue\":%" PRIu64
            ",\"lost\":%" PRIu64 ",\"baseline\":\"raw PUB -> SUB\",\"baseline_received\":%" PRId64
            ",\"baseline_p50_us\":%" PRId64 ",\"baseline_p99_us\":%" PRId64
            ",\"ratio_p50\":%.2f,\"ratio_p99\":%.2f}\n",
            s_bench_curve ? "true" : "false", events, PACE_US, BODY, received, p50, p99, failures, dropped_queue, lost,
            raw_received, raw_p50, raw_p99, raw_p50 > 0 ? (double) p50 / (double) raw_p50 : 0,
            raw_p99 > 0 ? (double) p99 / (double) raw_p99 : 0);
    fflush (stdout);
    free (latency);
}

int
main (int argc, char **argv)
{
    int64_t events = argc > 1 ? atoll (argv[1]) : 200000;
    const char *only = argc > 2 && !streq (argv[2], "all") ? argv[2] : NULL;
    if (events < 1000 || events > 1000000
        || (only && !streq (only, "throughput") && !streq (only, "fanout")
            && !streq (only, "group") && !streq (only, "latency"))
        || bench_curve_init (argc > 3 ? argv[3] : NULL) != 0) {
        fprintf (stderr, "usage: bench_pubsub [events 1000..1e6 "
                         "[all|throughput|fanout|group|latency [curve|plain]]]\n");
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (stderr);
    if (!only || streq (only, "throughput"))
        s_bench_throughput (events);
    if (!only || streq (only, "fanout"))
        s_bench_fanout (events / 4);
    if (!only || streq (only, "group"))
        s_bench_group (events / 2);
    if (!only || streq (only, "latency"))
        s_bench_latency (events / 10 < 2000 ? events / 10 : 2000);
    return 0;
}
