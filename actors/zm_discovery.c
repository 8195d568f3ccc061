/*  =========================================================================
    zm_discovery - zero-config discovery: UDP beacons, HELLO, expiry

    Runs on reactor 0 of every node, next to its RPC server. A czmq zbeacon
    broadcasts this node's beacon on registry.port every registry.interval
    ms and hands us every zmicro beacon heard on the LAN, with the source
    address of its datagram: that address, not a guess, is where the node
    is reached, so multi-homed hosts advertise what the peer can route to.

    The beacon is small and binary (docs/discovery.md):

        0   "ZMB"                signature
        3   1                    beacon version
        4   kind                 1 alive, 2 goodbye
        5   flags                bit 0: public key follows, bit 1:
                                 authenticator follows
        6   node UUID            16 bytes
        22  state sequence       uint32 big-endian: bumps when a service
                                 starts, so peers ask again
        26  HELLO port           uint16 big-endian: reactor 0's RPC port
        28  public key           32 bytes: the node's CURVE key
        60  time                 uint64 big-endian, Unix ms: strictly
                                 increasing per sender     } authenticator,
        68  MAC                  32 bytes, crypto_auth of  } with a
                                 bytes 0..67 under a key   } cluster key
                                 derived from the cluster key

    With a cluster key a node believes only beacons whose MAC checks, whose
    time is within S_SKEW_MS of its clock and later than the last it
    believed from that UUID: a forged, altered or replayed beacon (a
    replayed goodbye too) is ignored and counted (registry.beacons_rejected
    in $node stats). It sends a fresh beacon every interval itself, since
    zbeacon's repeats would carry the same time. Without a cluster key
    beacons are believed as they come, and the node said so at start.

    On a beacon from a node we do not know, or whose sequence changed, we
    ask it "$node hello" over its RPC socket (an ordinary REQUEST, from a
    DEALER of our own that lives only for that exchange) and store the
    answer in the registry cache. Each later beacon just refreshes the
    entry's age; an entry silent for registry.expiry ms is dropped. A node
    that stops sends a goodbye beacon first, so peers drop it at once.

    Static peers (registry.peers) get the same HELLO every registry.ttl ms,
    with or without beacons: they are the path where broadcast is not
    available. When no interface can broadcast, the node says so once and
    carries on with static peers.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zm_wire.h"

#define S_BEACON_SIZE 28    //  without key and authenticator
#define S_BEACON_KEYED 60   //  with the public key
#define S_BEACON_AUTHED 100 //  with the authenticator too
#define S_FLAG_KEY 0x01
#define S_FLAG_AUTH 0x02
#define S_SKEW_MS 30000  //  how far a beacon's time may be from ours
#define S_TIMES_MAX 4096 //  senders whose last time is remembered
#define S_KIND_ALIVE 1
#define S_KIND_GOODBYE 2
#define S_TICK_MS 50
#define S_HELLO_TIMEOUT 2000

static const uint8_t s_signature[4] = {'Z', 'M', 'B', 1};

//  A HELLO in flight, keyed by its address
typedef struct {
    zsock_t *dealer; //  its own socket
    char host[64];   //  where
    int port;
    unsigned source;  //  ZM_REG_BEACON or ZM_REG_STATIC
    char uuid[33];    //  the UUID the beacon announced, "" for static
    char key[41];     //  its public key (Z85), "" when CURVE is off
    uint64_t corr;    //  correlation id of the request
    int64_t deadline; //  zclock_mono
    bool first;       //  part of the first round of static peers
} s_hello_t;

typedef struct {
    zm_node_t *node;       //  owner
    zm_reactor_t *reactor; //  reactor 0
    zactor_t *beacon;      //  zbeacon, NULL when beacons are off
    uint8_t uuid[16];      //  our UUID, binary
    uint32_t published;    //  sequence in the beacon we publish
    int interval;          //  registry.interval
    int timer;             //  tick timer id
    zhashx_t *hellos;      //  address -> s_hello_t
    zlistx_t *statics;     //  static peer addresses
    int64_t next_static;   //  zclock_mono of the next round of static HELLOs
    uint64_t next_corr;    //  correlation ids
    int first_pending;     //  first-round static HELLOs not over yet
    bool leaving;          //  goodbye sent: no more changes
    int kind;              //  what we announce: S_KIND_ALIVE or S_KIND_GOODBYE
    int64_t next_publish;  //  zclock_mono of the next fresh beacon (cluster key)
    int64_t last_time;     //  time in our last authenticated beacon
    zhashx_t *times;       //  UUID -> last time believed (int64_t, boxed)
} s_discovery_t;

//  A static HELLO of the first round is over (answered or not): once all
//  are, calls waiting for the registry go ahead.
static void
s_first_done (s_discovery_t *self)
{
    if (self->first_pending > 0 && --self->first_pending == 0) {
        atomic_store (&self->node->statics_ready, true);
        zm_registry_poke (self->node);
    }
}

//  --------------------------------------------------------------------------
//  Beacons

static void
s_put_be (uint8_t *p, uint64_t value, int bytes)
{
    for (int index = bytes - 1; index >= 0; index--) {
        p[index] = (uint8_t)value;
        value >>= 8;
    }
}

static uint64_t
s_get_be (const uint8_t *p, int bytes)
{
    uint64_t value = 0;
    for (int index = 0; index < bytes; index++)
        value = value << 8 | p[index];
    return value;
}

//  Publish our beacon (zbeacon sends it at once, then every interval).
static void
s_publish (s_discovery_t *self, int kind)
{
    if (!self->beacon)
        return;
    uint8_t beacon[S_BEACON_AUTHED];
    bool authed = self->node->auth->cluster;
    memcpy (beacon, s_signature, 4);
    beacon[4] = (uint8_t)kind;
    beacon[5] = S_FLAG_KEY | (authed ? S_FLAG_AUTH : 0);
    memcpy (beacon + 6, self->uuid, 16);
    self->published = atomic_load (&self->node->services_seq);
    s_put_be (beacon + 22, self->published, 4);
    s_put_be (beacon + 26, (uint64_t)self->node->rpc_ports[0], 2);
    memcpy (beacon + 28, zm_auth_public_key (self->node), 32);
    size_t size = S_BEACON_KEYED;
    int interval = self->interval;
    if (authed) {
        int64_t now = zclock_time ();
        self->last_time = now > self->last_time ? now : self->last_time + 1;
        s_put_be (beacon + 60, (uint64_t)self->last_time, 8);
        zm_auth_mac (self->node, beacon, 68, beacon + 68);
        size = S_BEACON_AUTHED;
        //  We send a fresh one every interval (s_tick); zbeacon's own
        //  repeat, with the same time, only if we fall silent
        interval = 10 * self->interval;
        self->next_publish = zclock_mono () + self->interval;
    }
    self->kind = kind;
    zsock_send (self->beacon, "sbi", "PUBLISH", beacon, size, interval);
}

//  Is this beacon (of size bytes, from uuid) to be believed?
static bool
s_beacon_ok (s_discovery_t *self, const uint8_t *data, size_t size, const char *uuid)
{
    if (!self->node->auth->cluster)
        return true; //  an open node believes every beacon (and said so at start)
    if (size < S_BEACON_AUTHED ||
        (data[5] & (S_FLAG_KEY | S_FLAG_AUTH)) != (S_FLAG_KEY | S_FLAG_AUTH) ||
        !zm_auth_mac_ok (self->node, data, 68, data + 68))
        return false;
    int64_t time = (int64_t)s_get_be (data + 60, 8), now = zclock_time ();
    if (time < now - S_SKEW_MS || time > now + S_SKEW_MS)
        return false;
    int64_t *last = (int64_t *)zhashx_lookup (self->times, uuid);
    if (last && time <= *last)
        return false; //  replayed
    if (!last) {
        if (zhashx_size (self->times) >= S_TIMES_MAX) //  drop who fell out of the window
            for (int64_t *item = (int64_t *)zhashx_first (self->times); item;
                 item = (int64_t *)zhashx_next (self->times))
                if (*item < now - S_SKEW_MS)
                    zhashx_delete (self->times, zhashx_cursor (self->times));
        if (zhashx_size (self->times) >= S_TIMES_MAX || !(last = (int64_t *)malloc (sizeof *last)))
            return false;
        zhashx_insert (self->times, uuid, last);
    }
    *last = time;
    return true;
}

static bool
s_hex_to_bin (const char *hex, uint8_t *out, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        unsigned value;
        if (!hex[2 * i] || !hex[2 * i + 1] || sscanf (hex + 2 * i, "%2x", &value) != 1)
            return false;
        out[i] = (uint8_t)value;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  HELLO exchanges

static void
s_hello_free (void **item)
{
    s_hello_t *hello = (s_hello_t *)*item;
    if (hello) {
        if (hello->dealer) {
            zm_reactor_t *reactor = zm_reactor_current ();
            if (reactor)
                zm_reactor_reader_end (reactor, hello->dealer);
            zsock_destroy (&hello->dealer);
        }
        free (hello);
        *item = NULL;
    }
}

static int s_on_hello (zloop_t *loop, zsock_t *dealer, void *arg);

//  Ask host:port for its descriptor, unless a HELLO to it is in flight.
//  Returns the exchange started, or NULL.
static s_hello_t *
s_hello (s_discovery_t *self, const char *host, int port, const char *key, unsigned source,
         const char *uuid)
{
    char address[128];
    snprintf (address, sizeof address, "tcp://%s:%d", host, port);
    char keyed[180];
    snprintf (keyed, sizeof keyed, "%s%s%s", address, key && *key ? "#" : "", key ? key : "");
    if (self->leaving || zhashx_lookup (self->hellos, address))
        return NULL;
    s_hello_t *hello = (s_hello_t *)calloc (1, sizeof (s_hello_t));
    if (!hello)
        return NULL;
    snprintf (hello->host, sizeof hello->host, "%s", host);
    hello->port = port;
    hello->source = source;
    snprintf (hello->uuid, sizeof hello->uuid, "%s", uuid ? uuid : "");
    snprintf (hello->key, sizeof hello->key, "%s", key ? key : "");
    hello->corr = ++self->next_corr;
    hello->deadline = zclock_mono () + S_HELLO_TIMEOUT;
    hello->dealer = zsock_new (ZMQ_DEALER);
    if (!hello->dealer) {
        free (hello);
        return NULL;
    }
    zsock_set_linger (hello->dealer, 0);
    zm_wire_t wire = {.command = ZM_CMD_REQUEST,
                      .corr = hello->corr,
                      .service = "$node",
                      .endpoint = "hello",
                      .timeout_ms = S_HELLO_TIMEOUT,
                      .caller = self->node->name};
    if (zm_auth_connect (self->node, hello->dealer, keyed) != 0 ||
        zm_wire_send (zsock_resolve (hello->dealer), NULL, &wire, NULL, 0, ZMQ_DONTWAIT) != 0 ||
        zm_reactor_reader (self->reactor, hello->dealer, s_on_hello, self) != 0) {
        zm_log_warning ("registry: cannot send HELLO to %s", address);
        zsock_destroy (&hello->dealer);
        free (hello);
        return NULL;
    }
    zhashx_insert (self->hellos, address, hello);
    zm_log_debug ("registry: HELLO to %s", address);
    return hello;
}

//  The answer to a HELLO
static int
s_on_hello (zloop_t *loop, zsock_t *dealer, void *arg)
{
    s_discovery_t *self = (s_discovery_t *)arg;
    //  Which exchange: few are in flight at once, a scan is fine.
    s_hello_t *hello = NULL;
    const char *address = NULL;
    for (s_hello_t *item = (s_hello_t *)zhashx_first (self->hellos); item;
         item = (s_hello_t *)zhashx_next (self->hellos))
        if (item->dealer == dealer) {
            hello = item;
            address = (const char *)zhashx_cursor (self->hellos);
            break;
        }
    zm_wire_t got;
    int rc = zm_wire_recv (zsock_resolve (dealer), NULL, 0, &got);
    if (!hello || rc == -1) {
        if (rc == 0)
            zm_wire_clear (&got);
        return 0;
    }
    if (rc || got.corr != hello->corr) {
        zm_wire_clear (&got);
        return 0; //  not our answer: keep waiting until the deadline
    }
    zm_msg_t *descriptor = NULL;
    if (got.command == ZM_CMD_REPLY && got.body && zframe_size (got.body) > 0)
        zm_msg_decode (got.content_type, zframe_data (got.body), zframe_size (got.body),
                       &descriptor, NULL);
    else if (got.command == ZM_CMD_ERROR) {
        zm_error_t *error = zm_wire_error_value (&got);
        zm_log_info ("registry: HELLO to %s refused: %s", address,
                     error ? zm_error_detail (error) : "?");
        zm_error_destroy (&error);
    }
    zm_wire_clear (&got);
    const char *uuid = zm_msg_get_str (descriptor, "uuid", NULL);
    if (descriptor && uuid && *hello->uuid && strneq (uuid, hello->uuid)) {
        //  Another node now answers there: its own beacon will tell.
        zm_log_info ("registry: %s answered as %s, not %s", address, uuid, hello->uuid);
        zm_msg_destroy (&descriptor);
    }
    else if (descriptor && uuid && streq (uuid, self->node->uuid))
        zm_msg_destroy (&descriptor); //  a static peer entry that is us
    if (descriptor && !self->leaving &&
        zm_registry_put (self->node, hello->host, hello->port, hello->key, hello->source,
                         &descriptor) != 0)
        zm_log_warning ("registry: %s sent a malformed HELLO answer", address);
    zm_msg_destroy (&descriptor);
    if (hello->first)
        s_first_done (self);
    zhashx_delete (self->hellos, address);
    return 0;
}

//  --------------------------------------------------------------------------
//  The beacon socket and the tick

static int
s_on_beacon (zloop_t *loop, zsock_t *pipe, void *arg)
{
    s_discovery_t *self = (s_discovery_t *)arg;
    for (int n = 0; n < 64 && (zsock_events (pipe) & ZMQ_POLLIN); n++) {
        char *ip = NULL;
        zframe_t *frame = NULL;
        if (zsock_recv (pipe, "sf", &ip, &frame) != 0)
            break;
        size_t size = frame ? zframe_size (frame) : 0;
        const uint8_t *data = frame ? zframe_data (frame) : NULL;
        if (ip && size >= S_BEACON_SIZE && memcmp (data, s_signature, 4) == 0 &&
            memcmp (data + 6, self->uuid, 16) != 0 && !self->leaving) {
            char uuid[33];
            for (int i = 0; i < 16; i++)
                snprintf (uuid + 2 * i, 3, "%02X", data[6 + i]);
            uint32_t seq = (uint32_t)s_get_be (data + 22, 4);
            int port = (int)s_get_be (data + 26, 2);
            if (!s_beacon_ok (self, data, size, uuid)) {
                atomic_fetch_add (&self->node->beacons_rejected, 1);
                zm_log_debug ("registry: beacon from %s (%s) not believed", ip, uuid);
            }
            else if (data[4] == S_KIND_GOODBYE)
                zm_registry_drop (self->node, uuid, "goodbye");
            else if (data[4] == S_KIND_ALIVE && port > 0) {
                uint32_t known_seq = 0;
                char key[41] = "";
                if ((data[5] & S_FLAG_KEY) && size >= S_BEACON_SIZE + 32
                    && self->node->auth->curve)
                    zmq_z85_encode (key, data + S_BEACON_SIZE, 32);
                if (self->node->auth->curve && !*key)
                    zm_log_debug ("registry: beacon from %s (%s) without a key", ip, uuid);
                else if (!zm_registry_seen (self->node, uuid, &known_seq) || known_seq != seq)
                    s_hello (self, ip, port, key, ZM_REG_BEACON, uuid);
            }
        }
        zstr_free (&ip);
        zframe_destroy (&frame);
    }
    return 0;
}

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    s_discovery_t *self = (s_discovery_t *)arg;
    int64_t now = zclock_mono ();
    //  With a cluster key, a beacon with a fresh time every interval
    if (self->beacon && self->next_publish && now >= self->next_publish)
        s_publish (self, self->kind);
    if (self->leaving)
        return 0;
    //  Silent nodes go
    int expiry = (int)zm_config_get_int (self->node->config, "registry.expiry", 5000);
    zm_registry_expire (self->node, ZM_REG_BEACON, now - expiry, "silent");
    //  HELLOs that got no answer
    zlistx_t *late = zlistx_new ();
    for (s_hello_t *hello = (s_hello_t *)zhashx_first (self->hellos); hello && late;
         hello = (s_hello_t *)zhashx_next (self->hellos))
        if (hello->deadline < now)
            zlistx_add_end (late, (void *)zhashx_cursor (self->hellos));
    for (const char *key = late ? (const char *)zlistx_first (late) : NULL; key;
         key = (const char *)zlistx_next (late)) {
        zm_log_info ("registry: no HELLO answer from %s", key);
        s_hello_t *hello = (s_hello_t *)zhashx_lookup (self->hellos, key);
        if (hello && hello->first)
            s_first_done (self);
        zhashx_delete (self->hellos, key);
    }
    zlistx_destroy (&late);
    //  Static peers, every registry.ttl; a static peer that stopped
    //  answering goes after two rounds.
    int ttl = atomic_load (&self->node->registry_ttl);
    if (zlistx_size (self->statics) && now >= self->next_static) {
        bool first = self->next_static == 0;
        for (const char *peer = (const char *)zlistx_first (self->statics); peer;
             peer = (const char *)zlistx_next (self->statics)) {
            char host[100];
            int port = 0;
            s_hello_t *hello = NULL;
            const char *key = strchr (peer, '#');
            if (sscanf (peer, "tcp://%99[^:]:%d", host, &port) == 2 && port > 0 && port < 65536)
                hello = s_hello (self, host, port, key ? key + 1 : NULL, ZM_REG_STATIC, NULL);
            if (first && hello) {
                hello->first = true;
                self->first_pending++;
            }
        }
        self->next_static = now + ttl;
        if (first && self->first_pending == 0) {
            atomic_store (&self->node->statics_ready, true);
            zm_registry_poke (self->node);
        }
    }
    zm_registry_expire (self->node, ZM_REG_STATIC, now - 2 * (int64_t)ttl - S_HELLO_TIMEOUT,
                        "static peer silent");
    //  A service started: peers hear the new sequence now
    if (atomic_load (&self->node->services_seq) != self->published)
        s_publish (self, S_KIND_ALIVE);
    return 0;
}

//  --------------------------------------------------------------------------
//  Start, leave, stop (on reactor 0)

static int
s_stop_on (zm_reactor_t *reactor, void *arg)
{
    s_discovery_t *self = (s_discovery_t *)arg;
    if (!self)
        return 0;
    if (self->beacon) {
        zm_reactor_reader_end (reactor, zactor_sock (self->beacon));
        zactor_destroy (&self->beacon);
    }
    zloop_timer_end (zm_reactor_loop (reactor), self->timer);
    zhashx_destroy (&self->hellos);
    zhashx_destroy (&self->times);
    zlistx_destroy (&self->statics);
    self->node->discovery = NULL;
    free (self);
    *zm_reactor_module (reactor, ZM_MODULE_DISCOVERY) = NULL;
    return 0;
}

//  Start the beacon; false when beacons are off or impossible here.
static bool
s_beacon_start (s_discovery_t *self)
{
    zm_config_t *config = self->node->config;
    if (!zm_config_get_bool (config, "registry.beacon", true)) {
        zm_log_info ("registry: beacons are off (registry.beacon); static peers only");
        return false;
    }
    if (!self->node->rpc_ports[0]) {
        zm_log_info ("registry: no RPC socket (rpc.bind empty): listening to beacons only");
    }
    //  czmq reads the interface from one process-wide setting.
    const char *interface = zm_config_get_str (config, "registry.interface", "");
    if (*interface)
        zsys_set_interface (interface);
    int port = (int)zm_config_get_int (config, "registry.port", 5690);
    self->beacon = zactor_new (zbeacon, NULL);
    if (!self->beacon)
        return false;
    zsock_send (self->beacon, "si", "CONFIGURE", port);
    char *hostname = zstr_recv (self->beacon);
    if (!hostname || !*hostname) {
        zm_log_notice ("registry: no interface can broadcast here%s%s: discovery by beacon is "
                       "off, static peers (registry.peers) only",
                       *interface ? " (registry.interface=" : "", *interface ? interface : "");
        if (*interface)
            zm_log_notice ("registry: ... registry.interface=%s names no broadcast interface",
                           interface);
        zstr_free (&hostname);
        zactor_destroy (&self->beacon);
        return false;
    }
    zm_log_info ("registry: beacons on UDP port %d from %s every %d ms", port, hostname,
                 self->interval);
    zstr_free (&hostname);
    zsock_send (self->beacon, "sb", "SUBSCRIBE", s_signature, (size_t)4);
    if (zm_reactor_reader (self->reactor, zactor_sock (self->beacon), s_on_beacon, self) != 0) {
        zactor_destroy (&self->beacon);
        return false;
    }
    //  A node with no RPC socket listens but does not announce itself.
    if (self->node->rpc_ports[0])
        s_publish (self, S_KIND_ALIVE);
    return true;
}

static int
s_start_on (zm_reactor_t *reactor, void *arg)
{
    zm_node_t *node = (zm_node_t *)arg;
    s_discovery_t *self = (s_discovery_t *)calloc (1, sizeof (s_discovery_t));
    if (!self)
        return ZM_ENOMEM;
    self->node = node;
    self->reactor = reactor;
    self->interval = (int)zm_config_get_int (node->config, "registry.interval", 1000);
    self->hellos = zhashx_new ();
    self->statics = zlistx_new ();
    self->times = zhashx_new ();
    if (!self->hellos || !self->statics || !self->times ||
        !s_hex_to_bin (node->uuid, self->uuid, 16)) {
        zhashx_destroy (&self->hellos);
        zhashx_destroy (&self->times);
        zlistx_destroy (&self->statics);
        free (self);
        return ZM_ENOMEM;
    }
    zhashx_set_destructor (self->hellos, s_hello_free);
    zhashx_set_destructor (self->times, (zhashx_destructor_fn *)zstr_free);
    zlistx_set_destructor (self->statics, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (self->statics, (zlistx_duplicator_fn *)strdup);
    char *peers = strdup (zm_config_get_str (node->config, "registry.peers", ""));
    for (char *save = NULL, *peer = peers ? strtok_r (peers, ", ", &save) : NULL; peer;
         peer = strtok_r (NULL, ", ", &save)) {
        char host[100];
        int port = 0;
        const char *key = strchr (peer, '#');
        uint8_t binary[32];
        if (sscanf (peer, "tcp://%99[^:]:%d", host, &port) != 2 || port <= 0 || port >= 65536)
            zm_log_warning ("registry: static peer '%s' is not tcp://host:port; ignored", peer);
        else if (key && (strlen (key + 1) != 40 || !zmq_z85_decode (binary, key + 1)))
            zm_log_warning ("registry: static peer '%s': what follows # is not a public key "
                            "(40 characters of Z85); ignored",
                            peer);
        else if (!key && node->auth->curve)
            zm_log_warning ("registry: static peer '%s' has no public key: with CURVE on, give "
                            "tcp://host:port#KEY (KEY: the peer's node.cert public key, which "
                            "it logs at start); ignored",
                            peer);
        else
            zlistx_add_end (self->statics, peer);
    }
    free (peers);
    self->timer = zloop_timer (zm_reactor_loop (reactor), S_TICK_MS, 0, s_tick, self);
    *zm_reactor_module (reactor, ZM_MODULE_DISCOVERY) = self;
    zm_reactor_set_module_stop (reactor, ZM_MODULE_DISCOVERY, s_stop_on);
    node->discovery = self;
    bool beacons = s_beacon_start (self);
    //  Calls made right after start wait (within their deadline) for what
    //  discovery will bring: two beacon intervals, or the first static round.
    int64_t settle =
        beacons ? 2 * (int64_t)self->interval : (zlistx_size (self->statics) ? S_HELLO_TIMEOUT : 0);
    atomic_store (&node->settle_until, settle ? zclock_mono () + settle : 0);
    if (zlistx_size (self->statics) == 0)
        atomic_store (&node->statics_ready, true);
    s_tick (NULL, 0, self); //  static peers now, not in a tick
    return 0;
}

int
zm_discovery_start (zm_node_t *node)
{
    return node->reactors[0] ? zm_reactor_exec (node->reactors[0], s_start_on, node) : ZM_EINVAL;
}

static int
s_leave_on (zm_reactor_t *reactor, void *arg)
{
    s_discovery_t *self = (s_discovery_t *)*zm_reactor_module (reactor, ZM_MODULE_DISCOVERY);
    if (!self || self->leaving)
        return 0;
    //  zbeacon sends a new payload at once; it repeats every interval
    //  while the node drains, in case one datagram is lost.
    if (self->node->rpc_ports[0])
        s_publish (self, S_KIND_GOODBYE);
    self->leaving = true;
    zhashx_purge (self->hellos);
    return 0;
}

void
zm_discovery_leave (zm_node_t *node)
{
    if (node->reactors && node->reactors[0] && node->discovery)
        zm_reactor_exec (node->reactors[0], s_leave_on, NULL);
}
