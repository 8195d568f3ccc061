/*  =========================================================================
    zm_sync - the sync actor: Raft over the cluster's sockets, and locks

    On a node named in sync.members, the built-in service "$sync" runs one
    instance on a reactor of its own (its writes wait for the disk). The
    instance owns a Raft core (zm_raft.c), ticks it every S_TICK_MS from a
    reactor timer, keeps its term, vote and log in the node's LMDB store
    (database "zmicro.sync": each change one committed, fsynced
    transaction before the core goes on), and carries its messages to the
    other members as one-way REQUESTs to "$sync raft" on a DEALER per peer
    (CURVE, ZMQ_IMMEDIATE: nothing queues for a peer that is down; Raft
    resends).

    Locks are the state machine. An entry is a msgpack map:
        {op: "acquire", name, owner, ttl}   granted when free (token: the
                                            entry's index), else busy
        {op: "release", name, token}        frees it when the token holds it
        {op: "expire",  name, token}        the same, proposed by the leader
                                            when a lease ran out
    Every member applies every entry in order, so each holds the same lock
    table. Leases are the leader's alone (renewals are not logged): the
    leader gives each held lock ttl from the moment it took over or last
    heard a renewal, and proposes "expire" when that passes; a new leader
    therefore never frees a lock before its holder could have stopped.

    A caller's "lock" request to a member that is not the leader is passed
    on to the leader; the leader answers once the entry is applied (or the
    wait is over). docs/sync.md.
    =========================================================================
*/
#include "zm_raft.h"
#include "zm_runtime.h"
#include "zm_wire.h"
#include "zmicro/sync.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>

#define S_TICK_MS 10
#define S_DATABASE "zmicro.sync"
#define S_MAX_NAME 255
#define S_FORWARD_TYPE "sync.forwarded"
#define S_ATTEMPT_MS 250        //  a caller waits this long at most per request
#define S_LIST_MAX (ZM_RAFT_MAX_MEMBERS * 65) //  a member list, comma-separated
#define S_HELLO_MS 100          //  sync.expect: how often candidates tell each other
#define S_SUSPECT_MS 2000       //  a member that did not answer is passed over this long
#define S_SUSPECTS 16
#define S_MAX_ASK 64            //  members a caller chooses from

//  --------------------------------------------------------------------------
//  Raft storage in the node's store

typedef struct {
    zm_store_t *store;          //  database S_DATABASE
    uint64_t first, last;       //  entries on disk: first..last (none when last < first)
} s_disk_t;

static void
s_log_key (char *key, size_t size, uint64_t index)
{
    snprintf (key, size, "log.%016" PRIx64, index);
}

static void
s_put64 (uint8_t *data, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        data[i] = (uint8_t) (value >> (56 - 8 * i));
}

static uint64_t
s_get64 (const uint8_t *data)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | data[i];
    return value;
}

//  The snapshot under "snap": its index and term (8 bytes each), then its data
static int
s_disk_load_snapshot (s_disk_t *self, zm_raft_snapshot_t *snapshot)
{
    memset (snapshot, 0, sizeof *snapshot);
    zm_records_t *records = NULL;
    int rc = zm_store_read (self->store, "snap", NULL, &records);
    if (rc == ZM_ENOTFOUND)
        return 0;
    const zm_record_t *record = rc == 0 ? zm_records_at (records, 0) : NULL;
    if (record && (record->size < 16 || s_get64 ((const uint8_t *) record->value) == 0))
        rc = ZM_EIO;
    else if (record) {
        const uint8_t *data = (const uint8_t *) record->value;
        snapshot->index = s_get64 (data);
        snapshot->term = s_get64 (data + 8);
        snapshot->size = record->size - 16;
        if (snapshot->size && !(snapshot->data = malloc (snapshot->size)))
            rc = ZM_ENOMEM;
        else if (snapshot->size)
            memcpy (snapshot->data, data + 16, snapshot->size);
    }
    zm_records_destroy (&records);
    return rc;
}

static int
s_disk_load (void *arg, uint64_t *term_p, int *vote_p, zm_raft_snapshot_t *snapshot,
             zm_raft_entry_t **entries_p, size_t *count_p)
{
    s_disk_t *self = (s_disk_t *) arg;
    *term_p = 0;
    *vote_p = ZM_RAFT_NONE;
    *entries_p = NULL;
    *count_p = 0;
    int rc = s_disk_load_snapshot (self, snapshot);
    if (rc)
        return rc;
    zm_records_t *records = NULL;
    rc = zm_store_read (self->store, "state", NULL, &records);
    if (rc == 0) {
        const zm_record_t *state = zm_records_at (records, 0);
        const uint8_t *data = (const uint8_t *) state->value;
        if (state->size != 12) {
            zm_records_destroy (&records);
            return ZM_EIO;
        }
        uint64_t term = 0;
        uint32_t vote = 0;
        for (int i = 0; i < 8; i++)
            term = term << 8 | data[i];
        for (int i = 8; i < 12; i++)
            vote = vote << 8 | data[i];
        *term_p = term;
        *vote_p = (int) (int32_t) vote;
    }
    zm_records_destroy (&records);
    if (rc && rc != ZM_ENOTFOUND)
        return rc;
    zm_read_opts_t opts = {.prefix = true};
    rc = zm_store_read (self->store, "log.", &opts, &records);
    if (rc)
        return rc;
    size_t count = zm_records_size (records);
    zm_raft_entry_t *entries = count ? (zm_raft_entry_t *) calloc (count, sizeof *entries) : NULL;
    if (count && !entries) {
        zm_records_destroy (&records);
        return ZM_ENOMEM;
    }
    for (size_t i = 0; i < count && rc == 0; i++) {
        const zm_record_t *record = zm_records_at (records, i);
        const uint8_t *data = (const uint8_t *) record->value;
        char key[32];
        s_log_key (key, sizeof key, snapshot->index + i + 1);
        if (record->size < 8 || strcmp (record->key, key) != 0) {
            rc = ZM_EIO; //  a hole or a stray key: not a log we wrote
            break;
        }
        entries[i].term = s_get64 (data);
        entries[i].index = snapshot->index + i + 1;
        entries[i].size = record->size - 8;
        if (entries[i].size && !(entries[i].data = malloc (entries[i].size)))
            rc = ZM_ENOMEM;
        else if (entries[i].size)
            memcpy (entries[i].data, data + 8, entries[i].size);
    }
    zm_records_destroy (&records);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            free (entries[i].data);
        free (entries);
        free (snapshot->data);
        snapshot->data = NULL;
        return rc;
    }
    *entries_p = entries;
    *count_p = count;
    self->first = snapshot->index + 1;
    self->last = snapshot->index + count;
    return 0;
}

static int
s_disk_save_state (void *arg, uint64_t term, int vote)
{
    s_disk_t *self = (s_disk_t *) arg;
    uint8_t data[12];
    s_put64 (data, term);
    uint32_t v = (uint32_t) (int32_t) vote;
    for (int i = 0; i < 4; i++)
        data[8 + i] = (uint8_t) (v >> (24 - 8 * i));
    return zm_store_write (self->store, "state", data, sizeof data, NULL, NULL);
}

static int
s_disk_append (void *arg, uint64_t index, const zm_raft_entry_t *entries, size_t count)
{
    s_disk_t *self = (s_disk_t *) arg;
    zm_batch_t *batch = zm_batch_new ();
    int rc = batch ? 0 : ZM_ENOMEM;
    char key[32];
    //  Entries past the new ones go; the new ones replace the rest
    for (uint64_t at = index + count; rc == 0 && at <= self->last; at++) {
        s_log_key (key, sizeof key, at);
        rc = zm_batch_delete (batch, key, NULL);
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        uint8_t *data = (uint8_t *) malloc (8 + entries[i].size);
        if (!data) {
            rc = ZM_ENOMEM;
            break;
        }
        s_put64 (data, entries[i].term);
        if (entries[i].size)
            memcpy (data + 8, entries[i].data, entries[i].size);
        s_log_key (key, sizeof key, index + i);
        rc = zm_batch_write (batch, key, data, 8 + entries[i].size, NULL);
        free (data);
    }
    if (rc == 0)
        rc = zm_store_commit (self->store, batch);
    zm_batch_destroy (&batch);
    if (rc == 0)
        self->last = index + count - 1;
    return rc;
}

static int
s_disk_save_snapshot (void *arg, const zm_raft_snapshot_t *snapshot, bool keep)
{
    s_disk_t *self = (s_disk_t *) arg;
    zm_batch_t *batch = zm_batch_new ();
    uint8_t *data = (uint8_t *) malloc (16 + snapshot->size);
    int rc = batch && data ? 0 : ZM_ENOMEM;
    if (rc == 0) {
        s_put64 (data, snapshot->index);
        s_put64 (data + 8, snapshot->term);
        if (snapshot->size)
            memcpy (data + 16, snapshot->data, snapshot->size);
        rc = zm_batch_write (batch, "snap", data, 16 + snapshot->size, NULL);
    }
    //  The entries it covers go, and the others too unless kept
    uint64_t until = keep && snapshot->index < self->last ? snapshot->index : self->last;
    char key[32];
    for (uint64_t at = self->first; rc == 0 && at <= until; at++) {
        s_log_key (key, sizeof key, at);
        rc = zm_batch_delete (batch, key, NULL);
    }
    if (rc == 0)
        rc = zm_store_commit (self->store, batch);
    zm_batch_destroy (&batch);
    free (data);
    if (rc == 0) {
        self->first = snapshot->index + 1;
        if (self->last < snapshot->index || !keep)
            self->last = snapshot->index;
    }
    return rc;
}

static const zm_raft_storage_ops_t s_disk_ops = {.load = s_disk_load,
                                                 .save_state = s_disk_save_state,
                                                 .append = s_disk_append,
                                                 .save_snapshot = s_disk_save_snapshot};

//  --------------------------------------------------------------------------
//  The instance

typedef struct {
    char owner[80];             //  who holds it: "<node uuid>/<n>"
    char *value;                //  an election's leader value, or NULL
    uint64_t token;             //  the grant's index
    int64_t ttl;                //  lease length, ms
    int64_t expires;            //  leader only: zclock_mono when the lease ends
    bool expiring;              //  leader only: an "expire" is proposed
} s_lock_t;

//  A caller waiting for an answer on the leader
typedef struct {
    zm_reply_t *reply;          //  deferred answer
    char op[16];                //  "acquire", "release", "observe" or "renew"
    char name[S_MAX_NAME + 1];
    char owner[80];
    char *value;                //  acquire: an election's value, or NULL
    int64_t ttl;
    uint64_t token;             //  release: the token; observe: the one known
    int64_t deadline;           //  acquire, observe: give up then (zclock_mono)
    uint64_t index;             //  the entry proposed for it, 0 while parked
    uint64_t round;             //  renew: the leader's round when it arrived
    int64_t arrived;            //  renew: when (zclock_mono)
} s_waiter_t;

typedef struct {
    zm_node_t *node;
    zm_reactor_t *reactor;
    int timer;
    zm_raft_t *raft;
    s_disk_t disk;
    int self, count;
    char *members[ZM_RAFT_MAX_MEMBERS];
    char address[ZM_RAFT_MAX_MEMBERS][128]; //  where each peer is (tcp://...#KEY)
    zsock_t *dealer[ZM_RAFT_MAX_MEMBERS];   //  one-way to each peer
    uint64_t generation;                    //  registry generation resolved at
    uint64_t corr;
    zhashx_t *locks;            //  name -> s_lock_t (held locks)
    zlistx_t *waiters;          //  s_waiter_t (leader)
    bool was_leader;
    int leader_seen;            //  the leader the forwards went to
    zhashx_t *forwards;         //  call id -> zm_reply_t * (requests passed to the leader)
    FILE *trace;                //  sync.trace: what this member applied and led
    uint64_t applied;           //  the last entry applied to the lock table
    uint64_t snapshot_entries;  //  sync.snapshot_entries
    bool broken;                //  a snapshot could not be loaded: silent from then on
    //  sync.expect: the group forms from discovery (raft is NULL until then)
    int expect;                 //  N, or 0 with sync.members
    char proposal[S_LIST_MAX];  //  the N candidates this member sees, sorted; "" if not N
    zhashx_t *proposals;        //  candidate name -> its last proposal (char *)
    int64_t bootstrap_at;       //  next round of hellos
    char said[256];             //  the last thing logged about forming
} s_sync_t;

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_lock_free (void **item)
{
    s_lock_t *lock = (s_lock_t *) *item;
    if (lock) {
        free (lock->value);
        free (lock);
        *item = NULL;
    }
}

static void
s_waiter_destroy (void **item)
{
    s_waiter_t *waiter = (s_waiter_t *) *item;
    if (waiter) {
        free (waiter->value);
        free (waiter);
        *item = NULL;
    }
}

//  A line of sync.trace, on the disk before this returns (a member killed
//  the next moment keeps it): "<mono us> <what>"
static void
s_trace (s_sync_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_trace (s_sync_t *self, const char *format, ...)
{
    if (!self->trace)
        return;
    va_list args;
    va_start (args, format);
    fprintf (self->trace, "%" PRId64 " ", zclock_usecs ());
    vfprintf (self->trace, format, args);
    va_end (args);
    fputc ('\n', self->trace);
    fflush (self->trace);
}

//  Answer a waiter and drop it
static void
s_answer (s_sync_t *self, s_waiter_t *waiter, int code, uint64_t token, const char *detail)
{
    zm_msg_t *msg = NULL;
    if (code == 0) {
        msg = zm_msg_new ();
        zm_msg_set_uint (msg, "token", token);
    }
    zm_reply_send (self->node, &waiter->reply, &msg, code, detail);
    zm_msg_destroy (&msg);
}

//  Encode a Raft message as msgpack, for "$sync raft"
static int
s_encode (const zm_raft_msg_t *msg, void **data_p, size_t *size_p)
{
    zm_msg_t *out = zm_msg_new ();
    if (!out)
        return ZM_ENOMEM;
    zm_msg_set_uint (out, "t", (uint64_t) msg->type);
    zm_msg_set_uint (out, "f", (uint64_t) msg->from);
    zm_msg_set_uint (out, "to", (uint64_t) msg->to);
    zm_msg_set_uint (out, "term", msg->term);
    zm_msg_set_uint (out, "i", msg->index);
    zm_msg_set_uint (out, "lt", msg->log_term);
    zm_msg_set_uint (out, "c", msg->commit);
    zm_msg_set_bool (out, "g", msg->granted);
    zm_msg_set_uint (out, "r", msg->round);
    if (msg->count) {
        zm_val_t *entries = zm_val_set_array (zm_msg_root_mut (out), "e");
        for (size_t i = 0; entries && i < msg->count; i++) {
            zm_val_t *entry = zm_val_push_array (entries);
            zm_val_push_uint (entry, msg->entries[i].term);
            zm_val_push_uint (entry, msg->entries[i].index);
            zm_val_push_bin (entry, msg->entries[i].data ? msg->entries[i].data : "",
                             msg->entries[i].size);
        }
    }
    int rc = zm_msg_encode (out, ZM_CT_MSGPACK, data_p, size_p);
    zm_msg_destroy (&out);
    return rc;
}

//  Decode one, checking every field; false when malformed
static bool
s_decode (const zm_msg_t *in, int count, zm_raft_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    uint64_t type = zm_msg_get_uint (in, "t", 0), from = zm_msg_get_uint (in, "f", 99),
             to = zm_msg_get_uint (in, "to", 99);
    if (type < ZM_RAFT_PRE_VOTE || type > ZM_RAFT_SNAPSHOT || from >= (uint64_t) count
        || to >= (uint64_t) count)
        return false;
    msg->type = (zm_raft_msg_type_t) type;
    msg->from = (int) from;
    msg->to = (int) to;
    msg->term = zm_msg_get_uint (in, "term", 0);
    msg->index = zm_msg_get_uint (in, "i", 0);
    msg->log_term = zm_msg_get_uint (in, "lt", 0);
    msg->commit = zm_msg_get_uint (in, "c", 0);
    msg->granted = zm_msg_get_bool (in, "g", false);
    msg->round = zm_msg_get_uint (in, "r", 0);
    const zm_val_t *entries = zm_val_get (zm_msg_root (in), "e");
    size_t n = zm_val_size (entries);
    bool snapshot = type == ZM_RAFT_SNAPSHOT;
    if (n == 0)
        return !snapshot; //  a snapshot carries its data
    if ((type != ZM_RAFT_APPEND && !snapshot) || (snapshot && n != 1) || n > 10000
        || !(msg->entries = (zm_raft_entry_t *) calloc (n, sizeof (zm_raft_entry_t))))
        return false;
    for (size_t i = 0; i < n; i++) {
        const zm_val_t *entry = zm_val_at (entries, i);
        size_t size = 0;
        const void *data = zm_val_bin (zm_val_at (entry, 2), &size);
        msg->entries[i].term = zm_val_uint (zm_val_at (entry, 0), 0);
        msg->entries[i].index = zm_val_uint (zm_val_at (entry, 1), 0);
        msg->count = i + 1;
        //  Entries follow the previous index; a snapshot's is its own
        uint64_t expected = snapshot ? msg->index : msg->index + i + 1;
        if (zm_val_size (entry) != 3 || !data || msg->entries[i].index != expected) {
            zm_raft_msg_clear (msg);
            return false;
        }
        if (size && !(msg->entries[i].data = malloc (size))) {
            zm_raft_msg_clear (msg);
            return false;
        }
        if (size)
            memcpy (msg->entries[i].data, data, size);
        msg->entries[i].size = size;
    }
    return true;
}

//  Answers to our one-way messages: read and dropped
static int
s_on_dealer (zloop_t *loop, zsock_t *dealer, void *arg)
{
    (void) loop;
    (void) arg;
    for (int n = 0; n < 64; n++) {
        zm_wire_t wire;
        int rc = zm_wire_recv (zsock_resolve (dealer), NULL, 0, &wire);
        if (rc == -1)
            break;
        if (rc == 0)
            zm_wire_clear (&wire);
    }
    return 0;
}

//  (Re)connect to peers whose address changed in the registry
static void
s_resolve (s_sync_t *self)
{
    uint64_t generation = zm_registry_generation (self->node);
    if (generation == self->generation)
        return;
    self->generation = generation;
    for (int i = 0; i < self->count; i++) {
        char address[128];
        if (i == self->self || !zm_registry_address_of (self->node, self->members[i], address)
            || streq (address, self->address[i]))
            continue;
        if (self->dealer[i]) {
            zm_reactor_reader_end (self->reactor, self->dealer[i]);
            zsock_destroy (&self->dealer[i]);
        }
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        if (!dealer)
            continue;
        zsock_set_linger (dealer, 0);
        zsock_set_immediate (dealer, 1);
        //  A connection that went silent (a cut cable) is dropped and made
        //  anew, rather than left to TCP's retransmission backoff
        zsock_set_heartbeat_ivl (dealer, 250);
        zsock_set_heartbeat_timeout (dealer, 1000);
        if (zm_auth_connect (self->node, dealer, address) != 0
            || zm_reactor_reader (self->reactor, dealer, s_on_dealer, self) != 0) {
            zsock_destroy (&dealer);
            continue;
        }
        self->dealer[i] = dealer;
        snprintf (self->address[i], sizeof self->address[i], "%s", address);
        zm_log_info ("sync: member %s at %s", self->members[i], address);
        s_trace (self, "connect %d %s", i, address);
    }
}

//  Send what the core has for the others
static void
s_flush (s_sync_t *self)
{
    zm_raft_msg_t msg;
    while (zm_raft_pop (self->raft, &msg)) {
        zsock_t *dealer = msg.to >= 0 && msg.to < self->count ? self->dealer[msg.to] : NULL;
        void *data = NULL;
        size_t size = 0;
        if (msg.type <= ZM_RAFT_VOTE_REPLY)
            s_trace (self, "send %d to %d term %" PRIu64 " granted %d%s", (int) msg.type, msg.to,
                     msg.term, msg.granted, dealer ? "" : " (no connection)");
        if (dealer && s_encode (&msg, &data, &size) == 0) {
            zm_wire_t wire = {.command = ZM_CMD_REQUEST,
                              .corr = ++self->corr,
                              .service = "$sync",
                              .endpoint = "raft",
                              .timeout_ms = 1000,
                              .content_type = ZM_CT_MSGPACK};
            zm_wire_send (zsock_resolve (dealer), NULL, &wire, data, size, ZMQ_DONTWAIT);
        }
        free (data);
        zm_raft_msg_clear (&msg);
    }
}

//  Propose an entry for a waiter (leader). False when it cannot be.
static bool
s_propose (s_sync_t *self, s_waiter_t *waiter)
{
    zm_msg_t *entry = zm_msg_new ();
    zm_msg_set_str (entry, "op", waiter->op);
    zm_msg_set_str (entry, "name", waiter->name);
    if (streq (waiter->op, "acquire")) {
        zm_msg_set_str (entry, "owner", waiter->owner);
        zm_msg_set_int (entry, "ttl", waiter->ttl);
        if (waiter->value)
            zm_msg_set_str (entry, "value", waiter->value);
    }
    else
        zm_msg_set_uint (entry, "token", waiter->token);
    void *data = NULL;
    size_t size = 0;
    int rc = entry ? zm_msg_encode (entry, ZM_CT_MSGPACK, &data, &size) : ZM_ENOMEM;
    zm_msg_destroy (&entry);
    if (rc == 0)
        rc = zm_raft_propose (self->raft, data, size, &waiter->index);
    free (data);
    return rc == 0;
}

//  The leader proposes the expiry of a lease that ran out
static void
s_propose_expire (s_sync_t *self, const char *name, s_lock_t *lock)
{
    s_waiter_t expire = {.token = lock->token};
    snprintf (expire.op, sizeof expire.op, "expire");
    snprintf (expire.name, sizeof expire.name, "%s", name);
    lock->expiring = s_propose (self, &expire);
}

//  Parked acquires of name get another try (the lock may be free now)
static void
s_wake (s_sync_t *self, const char *name)
{
    for (s_waiter_t *waiter = (s_waiter_t *) zlistx_first (self->waiters); waiter;
         waiter = (s_waiter_t *) zlistx_next (self->waiters))
        if (waiter->index == 0 && streq (waiter->op, "acquire") && streq (waiter->name, name)) {
            s_propose (self, waiter);
            return; //  one at a time, in arrival order
        }
}

//  Drop the waiter the list's cursor is on (iterating with zlistx_first
//  and zlistx_next); *waiter_p becomes the first again, as a deletion
//  loses the cursor: loops start over, their lists are short
static void
s_drop (s_sync_t *self, s_waiter_t **waiter_p)
{
    assert (zlistx_cursor (self->waiters) && zlistx_item (self->waiters) == *waiter_p);
    zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
    *waiter_p = (s_waiter_t *) zlistx_first (self->waiters);
}

//  Answer an observer with the holder of its lock as the leader knows it
static void
s_observed (s_sync_t *self, s_waiter_t *waiter)
{
    s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, waiter->name);
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_uint (msg, "token", lock ? lock->token : 0);
    if (lock) {
        zm_msg_set_str (msg, "owner", lock->owner);
        zm_msg_set_str (msg, "value", lock->value ? lock->value : "");
    }
    zm_reply_send (self->node, &waiter->reply, &msg, 0, NULL);
    zm_msg_destroy (&msg);
}

//  Observers of name whose view is now out of date get the news
static void
s_notify (s_sync_t *self, const char *name)
{
    s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, name);
    uint64_t token = lock ? lock->token : 0;
    s_waiter_t *waiter = (s_waiter_t *) zlistx_first (self->waiters);
    while (waiter) {
        if (streq (waiter->op, "observe") && waiter->token != token
            && streq (waiter->name, name)) {
            s_observed (self, waiter);
            s_drop (self, &waiter);
            continue;
        }
        waiter = (s_waiter_t *) zlistx_next (self->waiters);
    }
}

//  Apply one committed entry to the lock table; on the leader, answer
//  whoever waits for it
static void
s_apply (s_sync_t *self, const zm_raft_entry_t *entry, int64_t now)
{
    self->applied = entry->index;
    if (!entry->size)
        return; //  a leader's no-op
    zm_msg_t *cmd = NULL;
    if (zm_msg_decode (ZM_CT_MSGPACK, entry->data, entry->size, &cmd, NULL) != 0) {
        zm_log_error ("sync: %s: entry %" PRIu64 " is not a command", self->node->name,
                      entry->index);
        return;
    }
    const char *op = zm_msg_get_str (cmd, "op", "");
    const char *name = zm_msg_get_str (cmd, "name", "");
    s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, name);
    bool granted = false, freed = false;
    uint64_t token = 0;
    if (streq (op, "acquire")) {
        const char *owner = zm_msg_get_str (cmd, "owner", "");
        if (!lock && (lock = (s_lock_t *) calloc (1, sizeof *lock))) {
            const char *value = zm_msg_get_str (cmd, "value", NULL);
            snprintf (lock->owner, sizeof lock->owner, "%s", owner);
            lock->value = value ? strdup (value) : NULL;
            lock->token = entry->index;
            lock->ttl = zm_msg_get_int (cmd, "ttl", 1000);
            lock->expires = now + lock->ttl;
            zhashx_insert (self->locks, name, lock);
            granted = true;
            s_trace (self, "grant %s %" PRIu64 " %" PRIu64 " %s", name, entry->index, entry->term,
                     owner);
        }
        else if (lock && streq (lock->owner, owner))
            granted = true; //  asked twice: the grant stands
        token = lock ? lock->token : 0;
    }
    else if ((streq (op, "release") || streq (op, "expire")) && lock
             && lock->token == zm_msg_get_uint (cmd, "token", 0)) {
        s_trace (self, "free %s %" PRIu64 " %" PRIu64 " %s", name, lock->token, entry->index, op);
        zhashx_delete (self->locks, name);
        freed = true;
    }
    bool leader = zm_raft_role (self->raft) == ZM_RAFT_LEADER;
    for (s_waiter_t *waiter = leader ? (s_waiter_t *) zlistx_first (self->waiters) : NULL; waiter;
         waiter = (s_waiter_t *) zlistx_next (self->waiters)) {
        if (waiter->index != entry->index)
            continue;
        if (streq (waiter->op, "release")) {
            s_answer (self, waiter, freed ? 0 : ZM_ENOTFOUND, waiter->token,
                      freed ? NULL : "the lock is not held with that token");
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        }
        else if (granted) {
            s_answer (self, waiter, 0, token, NULL);
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        }
        else
            waiter->index = 0; //  busy: parked until it frees or the wait ends
        break;
    }
    if (leader && (freed || granted))
        s_notify (self, name);
    if (leader && freed)
        s_wake (self, name);
    zm_msg_destroy (&cmd);
}

//  The lock table as a snapshot: a msgpack array of
//  [name, owner, token, ttl, value or nil], one per held lock
static int
s_snapshot_encode (s_sync_t *self, void **data_p, size_t *size_p)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *locks = msg ? zm_msg_set_root_array (msg) : NULL;
    int rc = locks ? 0 : ZM_ENOMEM;
    for (s_lock_t *lock = (s_lock_t *) zhashx_first (self->locks); lock && rc == 0;
         lock = (s_lock_t *) zhashx_next (self->locks)) {
        zm_val_t *item = zm_val_push_array (locks);
        if (!item) {
            rc = ZM_ENOMEM;
            break;
        }
        rc = zm_val_push_str (item, (const char *) zhashx_cursor (self->locks));
        rc = rc ? rc : zm_val_push_str (item, lock->owner);
        rc = rc ? rc : zm_val_push_uint (item, lock->token);
        rc = rc ? rc : zm_val_push_int (item, lock->ttl);
        rc = rc ? rc : lock->value ? zm_val_push_str (item, lock->value) : zm_val_push_nil (item);
    }
    if (rc == 0)
        rc = zm_msg_encode (msg, ZM_CT_MSGPACK, data_p, size_p);
    zm_msg_destroy (&msg);
    return rc;
}

//  The lock table from a snapshot (from: "disk" at start, or "leader"
//  when installed from it): every lease counts from now. False when it is
//  not one we made.
static bool
s_restore (s_sync_t *self, const zm_raft_snapshot_t *snapshot, const char *from, int64_t now)
{
    zm_msg_t *msg = NULL;
    if (zm_msg_decode (ZM_CT_MSGPACK, snapshot->data, snapshot->size, &msg, NULL) != 0
        || zm_val_type (zm_msg_root (msg)) != ZM_TYPE_ARRAY) {
        zm_msg_destroy (&msg);
        return false;
    }
    zhashx_purge (self->locks);
    const zm_val_t *locks = zm_msg_root (msg);
    bool ok = true;
    for (size_t i = 0; ok && i < zm_val_size (locks); i++) {
        const zm_val_t *item = zm_val_at (locks, i);
        const char *name = zm_val_str (zm_val_at (item, 0), NULL, NULL);
        const char *owner = zm_val_str (zm_val_at (item, 1), NULL, NULL);
        const char *value = zm_val_str (zm_val_at (item, 4), NULL, NULL);
        s_lock_t *lock = (s_lock_t *) calloc (1, sizeof *lock);
        ok = lock && zm_val_size (item) == 5 && name && owner
             && zm_val_type (zm_val_at (item, 2)) == ZM_TYPE_UINT
             && zm_val_int (zm_val_at (item, 3), 0) > 0;
        if (ok) {
            snprintf (lock->owner, sizeof lock->owner, "%s", owner);
            lock->value = value ? strdup (value) : NULL;
            lock->token = zm_val_uint (zm_val_at (item, 2), 0);
            lock->ttl = zm_val_int (zm_val_at (item, 3), 1000);
            lock->expires = now + lock->ttl;
            ok = (!value || lock->value) && zhashx_insert (self->locks, name, lock) == 0;
        }
        if (!ok && lock) {
            free (lock->value);
            free (lock);
        }
    }
    zm_msg_destroy (&msg);
    if (!ok)
        return false;
    self->applied = snapshot->index;
    s_trace (self, "restore %" PRIu64 " %s", snapshot->index, from);
    return true;
}

//  Leadership changed: a new leader takes every lease as renewed now and
//  retries its parked acquires; a former one lets its callers go elsewhere
static void
s_on_leadership (s_sync_t *self, bool leader, int64_t now)
{
    if (leader) {
        for (s_lock_t *lock = (s_lock_t *) zhashx_first (self->locks); lock;
             lock = (s_lock_t *) zhashx_next (self->locks)) {
            lock->expires = now + lock->ttl;
            lock->expiring = false;
        }
        zm_log_info ("sync: %s leads term %" PRIu64, self->node->name,
                     zm_raft_term (self->raft));
        s_trace (self, "lead %" PRIu64, zm_raft_term (self->raft));
    }
    else {
        zm_log_info ("sync: %s no longer leads (term %" PRIu64 ")", self->node->name,
                     zm_raft_term (self->raft));
    }
    if (!leader)
        for (s_waiter_t *waiter = (s_waiter_t *) zlistx_first (self->waiters); waiter;
             waiter = (s_waiter_t *) zlistx_next (self->waiters))
            s_answer (self, waiter, ZM_EUNAVAIL, 0, "leadership changed: try again");
    if (!leader)
        zlistx_purge (self->waiters);
    self->was_leader = leader;
}

//  Renewals the leader has confirmed: a majority answered a round that
//  began after the renewal arrived, so this member still led then and no
//  other leader can count the lease from an earlier moment. Each extends
//  its lease from when it arrived.
static void
s_confirm (s_sync_t *self, int64_t now)
{
    uint64_t confirmed = zm_raft_confirmed (self->raft);
    s_waiter_t *waiter = (s_waiter_t *) zlistx_first (self->waiters);
    while (waiter) {
        if (streq (waiter->op, "renew") && (confirmed > waiter->round || now >= waiter->deadline)) {
            s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, waiter->name);
            if (confirmed <= waiter->round)
                s_answer (self, waiter, ZM_EUNAVAIL, 0, "sync: no quorum to confirm the renewal");
            else if (!lock || lock->token != waiter->token || lock->expiring)
                s_answer (self, waiter, ZM_ENOTFOUND, 0, "sync: the lock is not held with that token");
            else {
                if (waiter->arrived + lock->ttl > lock->expires)
                    lock->expires = waiter->arrived + lock->ttl;
                s_answer (self, waiter, 0, waiter->token, NULL);
            }
            s_drop (self, &waiter);
            continue;
        }
        waiter = (s_waiter_t *) zlistx_next (self->waiters);
    }
}

//  Load a snapshot if the core has one for us, apply what committed, and
//  snapshot the lock table when the log since the last one is long
static void
s_catch_up (s_sync_t *self, int64_t now)
{
    const zm_raft_snapshot_t *snapshot;
    if (zm_raft_restore (self->raft, &snapshot)
        && !s_restore (self, snapshot, self->timer ? "leader" : "disk", now)) {
        //  Without the table, what follows cannot be applied: this member
        //  falls silent (the others go on) rather than answer wrong
        zm_log_error ("sync: %s: cannot load the snapshot at %" PRIu64
                      " (not a lock table, or out of memory): this member stops taking part",
                      self->node->name, snapshot->index);
        self->broken = true;
        return;
    }
    const zm_raft_entry_t *entry;
    while (zm_raft_apply (self->raft, &entry))
        s_apply (self, entry, now);
    if (self->applied >= zm_raft_snapshot_index (self->raft) + self->snapshot_entries) {
        void *data = NULL;
        size_t size = 0;
        int rc = s_snapshot_encode (self, &data, &size);
        if (rc == 0)
            rc = zm_raft_compact (self->raft, self->applied, data, size);
        free (data);
        if (rc)
            zm_log_error ("sync: %s: cannot snapshot at %" PRIu64 ": %s", self->node->name,
                          self->applied, zm_strerror (rc));
    }
}

//  After the core moved on: apply what committed, follow leadership
//  changes, confirm renewals. Returns whether this member leads.
static bool
s_progress (s_sync_t *self, int64_t now)
{
    s_catch_up (self, now);
    bool leader = zm_raft_role (self->raft) == ZM_RAFT_LEADER;
    if (leader != self->was_leader)
        s_on_leadership (self, leader, now);
    int known = zm_raft_leader (self->raft);
    if (known != self->leader_seen) {
        //  Requests passed to a leader that is no more: their callers try
        //  again now rather than at their deadline
        for (zm_reply_t *reply = (zm_reply_t *) zhashx_first (self->forwards); reply;
             reply = (zm_reply_t *) zhashx_next (self->forwards))
            zm_reply_send (self->node, &reply, NULL, ZM_EUNAVAIL,
                           "sync: the leader changed: try again");
        zhashx_purge (self->forwards);
        self->leader_seen = known;
    }
    if (leader)
        s_confirm (self, now);
    return leader;
}

static void s_bootstrap (s_sync_t *self, int64_t now);

//  Every S_TICK_MS, on the instance's reactor (between its handlers)
static void
s_tick (s_sync_t *self)
{
    if (self->broken)
        return;
    int64_t now = zclock_mono ();
    if (!self->raft) {
        s_bootstrap (self, now);
        return;
    }
    s_resolve (self);
    zm_raft_tick (self->raft, now);
    bool leader = s_progress (self, now);
    if (leader) {
        for (s_lock_t *lock = (s_lock_t *) zhashx_first (self->locks); lock;
             lock = (s_lock_t *) zhashx_next (self->locks))
            if (!lock->expiring && now >= lock->expires)
                s_propose_expire (self, (const char *) zhashx_cursor (self->locks), lock);
        //  Parked acquires whose wait is over
        s_waiter_t *waiter = (s_waiter_t *) zlistx_first (self->waiters);
        while (waiter) {
            if (streq (waiter->op, "observe") && now >= waiter->deadline) {
                s_observed (self, waiter); //  nothing changed
                s_drop (self, &waiter);
                continue;
            }
            else if (waiter->index == 0 && now >= waiter->deadline
                     && streq (waiter->op, "acquire")) {
                s_answer (self, waiter, ZM_ECONFLICT, 0, "the lock is held by another");
                s_drop (self, &waiter);
                continue;
            }
            waiter = (s_waiter_t *) zlistx_next (self->waiters);
        }
    }
    s_flush (self);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_tick ((s_sync_t *) arg);
    return 0;
}

//  "raft": a message of the protocol from another member
static int
s_raft (zm_ctx_t *ctx, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    zm_raft_msg_t msg;
    if (self->broken || !self->raft)
        return 0; //  forming: Raft is not running yet, and resends
    if (!req || !s_decode (req, self->count, &msg))
        return zm_error (ctx, ZM_EINVAL, "not a raft message");
    int64_t now = zclock_mono ();
    if (msg.type <= ZM_RAFT_VOTE_REPLY)
        s_trace (self, "recv %d from %d term %" PRIu64 " granted %d", (int) msg.type, msg.from,
                 msg.term, msg.granted);
    zm_raft_step (self->raft, &msg, now);
    s_progress (self, now);
    s_flush (self);
    return 0;
}

//  Where the leader is, when this member is not it: its address or NULL
static const char *
s_leader_address (s_sync_t *self)
{
    int leader = zm_raft_leader (self->raft);
    return leader >= 0 && leader != self->self && *self->address[leader]
               ? self->address[leader]
               : NULL;
}

//  Pass a caller's request on to the leader; its answer is relayed by
//  s_forwarded. Returns what the handler returns.
static int
s_forward (zm_ctx_t *ctx, const char *endpoint, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    const char *leader = s_leader_address (self);
    if (!self->raft)
        return zm_error (ctx, ZM_EUNAVAIL, "sync: the group is forming (sync.expect %d)",
                         self->expect);
    if (!leader || zm_msg_get_bool (req, "forwarded", false))
        return zm_error (ctx, ZM_EUNAVAIL, "sync: no leader known to %s now", self->node->name);
    zm_msg_t *copy = zm_ctx_take (ctx);
    if (!copy)
        return zm_error (ctx, ZM_EINVAL, "sync: no request");
    zm_msg_set_bool (copy, "forwarded", true); //  one hop at most
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = leader;
    opts.retries = 0;
    opts.no_breaker = true;
    //  Within the caller's time (its wait + S_ATTEMPT_MS): a live member
    //  answers, even when the leader it knows is gone, so a caller takes
    //  only a silent member for a dead one
    opts.timeout_ms = (int) zm_msg_get_int (copy, "wait", 0) + S_ATTEMPT_MS / 2;
    uint64_t id = 0;
    zm_reply_t *reply = zm_ctx_defer (ctx);
    if (!reply) {
        zm_msg_destroy (&copy);
        return zm_error (ctx, ZM_EINVAL, "sync: not a call");
    }
    if (zm_call_async (ctx, "$sync", endpoint, &copy, S_FORWARD_TYPE, &opts, &id) != 0) {
        zm_reply_send (self->node, &reply, NULL, ZM_EUNAVAIL, "sync: the leader is unreachable");
        return 0;
    }
    zhashx_insert (self->forwards, (void *) (uintptr_t) id, reply);
    return 0;
}

//  The leader's answer to a request we passed on
static int
s_forwarded (zm_ctx_t *ctx, zm_msg_t *msg)
{
    (void) msg;
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    void *key = (void *) (uintptr_t) zm_ctx_ask_id (ctx);
    zm_reply_t *reply = (zm_reply_t *) zhashx_lookup (self->forwards, key);
    if (!reply)
        return 0;
    zhashx_delete (self->forwards, key);
    int status = zm_ctx_status (ctx);
    zm_msg_t *body = status == 0 ? zm_ctx_take (ctx) : NULL;
    const zm_error_t *error = zm_ctx_error (ctx);
    zm_reply_send (self->node, &reply, &body, status,
                   status ? (error ? zm_error_detail (error) : zm_strerror (status)) : NULL);
    zm_msg_destroy (&body);
    return 0;
}

//  Is name a lock name? Elections are locks named S_ELECT + their name, a
//  prefix a caller's lock cannot have.
#define S_ELECT "$elect/"

static bool
s_name_ok (const char *name, bool election)
{
    if (election && name && strncmp (name, S_ELECT, strlen (S_ELECT)) == 0)
        name += strlen (S_ELECT);
    size_t size = name ? strlen (name) : 0;
    if (size == 0 || size > S_MAX_NAME)
        return false;
    for (const char *c = name; *c; c++)
        if (!(isalnum ((unsigned char) *c) || *c == '.' || *c == '_' || *c == '-' || *c == '/'))
            return false;
    return true;
}

//  The leader takes a caller's request: proposed at once, or parked while
//  another holds the lock; answered when its entry is applied
static int
s_submit (zm_ctx_t *ctx, s_waiter_t *waiter, bool park)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    waiter->reply = zm_ctx_defer (ctx);
    if (!park && !s_propose (self, waiter)) {
        s_answer (self, waiter, ZM_EUNAVAIL, 0, "sync: cannot propose");
        free (waiter);
        return 0;
    }
    zlistx_add_end (self->waiters, waiter);
    s_flush (self);
    return 0;
}

//  "lock" {name, owner, ttl, wait}: answered with {token} once granted
static int
s_lock (zm_ctx_t *ctx, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    const char *name = zm_msg_get_str (req, "name", NULL);
    const char *owner = zm_msg_get_str (req, "owner", NULL);
    const char *value = zm_msg_get_str (req, "value", NULL);
    int64_t ttl = zm_msg_get_int (req, "ttl", 0), wait = zm_msg_get_int (req, "wait", -1);
    if (!s_name_ok (name, true) || !owner || !*owner || strlen (owner) >= 80 || ttl < 100
        || ttl > 3600000 || wait < 0 || wait > 3600000
        || (value && strlen (value) > ZM_ELECT_VALUE_MAX))
        return zm_error (ctx, ZM_EINVAL, "sync lock: wants name, owner, ttl 100..3600000, "
                                         "wait 0..3600000, a value of at most %d bytes",
                         ZM_ELECT_VALUE_MAX);
    if (zm_raft_role (self->raft) != ZM_RAFT_LEADER)
        return s_forward (ctx, "lock", req);
    s_waiter_t *waiter = (s_waiter_t *) calloc (1, sizeof *waiter);
    if (!waiter)
        return zm_error (ctx, ZM_ENOMEM, "sync: out of memory");
    snprintf (waiter->op, sizeof waiter->op, "acquire");
    snprintf (waiter->name, sizeof waiter->name, "%s", name);
    snprintf (waiter->owner, sizeof waiter->owner, "%s", owner);
    if (value && !(waiter->value = strdup (value))) {
        free (waiter);
        return zm_error (ctx, ZM_ENOMEM, "sync: out of memory");
    }
    waiter->ttl = ttl;
    waiter->deadline = zclock_mono () + wait;
    s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, name);
    return s_submit (ctx, waiter, lock && strneq (lock->owner, owner));
}

//  "unlock" {name, token}
static int
s_unlock (zm_ctx_t *ctx, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    const char *name = zm_msg_get_str (req, "name", NULL);
    uint64_t token = zm_msg_get_uint (req, "token", 0);
    if (!s_name_ok (name, true) || !token)
        return zm_error (ctx, ZM_EINVAL, "sync unlock: wants name and token");
    if (zm_raft_role (self->raft) != ZM_RAFT_LEADER)
        return s_forward (ctx, "unlock", req);
    s_waiter_t *waiter = (s_waiter_t *) calloc (1, sizeof *waiter);
    if (!waiter)
        return zm_error (ctx, ZM_ENOMEM, "sync: out of memory");
    snprintf (waiter->op, sizeof waiter->op, "release");
    snprintf (waiter->name, sizeof waiter->name, "%s", name);
    waiter->token = token;
    waiter->deadline = INT64_MAX;
    return s_submit (ctx, waiter, false);
}

//  "renew" {name, token}: the holder is alive (the leader's lease only)
static int
s_renew (zm_ctx_t *ctx, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    const char *name = zm_msg_get_str (req, "name", NULL);
    uint64_t token = zm_msg_get_uint (req, "token", 0);
    if (!s_name_ok (name, true) || !token)
        return zm_error (ctx, ZM_EINVAL, "sync renew: wants name and token");
    if (zm_raft_role (self->raft) != ZM_RAFT_LEADER)
        return s_forward (ctx, "renew", req);
    s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, name);
    if (!lock || lock->token != token || lock->expiring)
        return zm_error (ctx, ZM_ENOTFOUND, "sync: lock %s is not held with token %" PRIu64,
                         name, token);
    //  Answered once a later round confirms this member still leads
    s_waiter_t *waiter = (s_waiter_t *) calloc (1, sizeof *waiter);
    if (!waiter)
        return zm_error (ctx, ZM_ENOMEM, "sync: out of memory");
    snprintf (waiter->op, sizeof waiter->op, "renew");
    snprintf (waiter->name, sizeof waiter->name, "%s", name);
    waiter->token = token;
    waiter->round = zm_raft_round (self->raft);
    waiter->arrived = zclock_mono ();
    waiter->deadline = waiter->arrived + lock->ttl / 3;
    waiter->reply = zm_ctx_defer (ctx);
    zlistx_add_end (self->waiters, waiter);
    return 0;
}

//  "observe" {name, token, wait}: the holder of lock name {token (0: none),
//  owner, value}, as soon as its token is not the one given, or after wait
//  ms with the same
static int
s_observe (zm_ctx_t *ctx, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    const char *name = zm_msg_get_str (req, "name", NULL);
    int64_t wait = zm_msg_get_int (req, "wait", -1);
    if (!s_name_ok (name, true) || wait < 0 || wait > 3600000)
        return zm_error (ctx, ZM_EINVAL, "sync observe: wants name, token, wait 0..3600000");
    if (zm_raft_role (self->raft) != ZM_RAFT_LEADER)
        return s_forward (ctx, "observe", req);
    s_waiter_t *waiter = (s_waiter_t *) calloc (1, sizeof *waiter);
    if (!waiter)
        return zm_error (ctx, ZM_ENOMEM, "sync: out of memory");
    snprintf (waiter->op, sizeof waiter->op, "observe");
    snprintf (waiter->name, sizeof waiter->name, "%s", name);
    waiter->token = zm_msg_get_uint (req, "token", 0);
    waiter->deadline = zclock_mono () + wait;
    waiter->reply = zm_ctx_defer (ctx);
    s_lock_t *lock = (s_lock_t *) zhashx_lookup (self->locks, name);
    if (wait == 0 || (lock ? lock->token : 0) != waiter->token) {
        s_observed (self, waiter);
        s_waiter_destroy ((void **) &waiter);
    }
    else
        zlistx_add_end (self->waiters, waiter);
    return 0;
}

//  "status": this member's view
static int
s_status (zm_ctx_t *ctx, zm_msg_t *req)
{
    (void) req;
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    static const char *roles[] = {"follower", "pre-candidate", "candidate", "leader"};
    zm_msg_t *rep = zm_msg_new ();
    int leader = zm_raft_leader (self->raft);
    zm_msg_set_str (rep, "member", self->node->name);
    zm_msg_set_str (rep, "role", self->raft ? roles[zm_raft_role (self->raft)] : "forming");
    zm_val_t *members = zm_val_set_array (zm_msg_root_mut (rep), "members");
    for (int i = 0; self->raft && i < self->count; i++)
        zm_val_push_str (members, self->members[i]);
    zm_msg_set_uint (rep, "term", zm_raft_term (self->raft));
    zm_msg_set_str (rep, "leader", leader >= 0 ? self->members[leader] : "");
    zm_msg_set_uint (rep, "commit", zm_raft_commit_index (self->raft));
    zm_msg_set_uint (rep, "last", zm_raft_last_index (self->raft));
    zm_msg_set_uint (rep, "locks", zhashx_size (self->locks));
    zm_msg_set_bool (rep, "failed", zm_raft_failed (self->raft) || self->broken);
    zm_msg_set_uint (rep, "snapshot", zm_raft_snapshot_index (self->raft));
    return zm_reply (ctx, &rep);
}

//  Members from a comma-separated list into self (positions, self's too)
static void
s_set_members (s_sync_t *self, const char *list)
{
    for (int i = 0; i < ZM_RAFT_MAX_MEMBERS; i++) {
        if (self->dealer[i]) {
            zm_reactor_reader_end (self->reactor, self->dealer[i]);
            zsock_destroy (&self->dealer[i]);
        }
        *self->address[i] = 0;
        free (self->members[i]);
        self->members[i] = NULL;
    }
    self->count = 0;
    self->self = -1;
    self->generation = UINT64_MAX; //  resolve them again
    char *copy = strdup (list);
    for (char *save = NULL, *name = copy ? strtok_r (copy, ", ", &save) : NULL;
         name && self->count < ZM_RAFT_MAX_MEMBERS; name = strtok_r (NULL, ", ", &save)) {
        if (streq (name, self->node->name))
            self->self = self->count;
        self->members[self->count++] = strdup (name);
    }
    free (copy);
}

//  The Raft core over the members in self, from what the store holds
static int
s_start_raft (s_sync_t *self, int64_t now)
{
    zm_node_t *node = self->node;
    if (self->self < 0) {
        zm_log_error ("sync: this node (%s) is not in the member list", node->name);
        return ZM_EUNAVAIL;
    }
    zm_raft_config_t config = {
        .self = self->self,
        .count = self->count,
        .election_ms = zm_config_get_int (node->config, "sync.election_timeout", 300),
        .heartbeat_ms = zm_config_get_int (node->config, "sync.heartbeat", 50),
        .max_batch = 64,
        .seed = (uint64_t) zclock_usecs () ^ ((uint64_t) getpid () << 20) ^ (uint64_t) self->self,
        .storage = &s_disk_ops,
        .storage_self = &self->disk,
        .clock = zclock_mono};
    self->raft = zm_raft_new (&config, now);
    if (!self->raft) {
        zm_log_error ("sync: cannot start Raft (sync.heartbeat must be below "
                      "sync.election_timeout; the log in the store must be readable)");
        return ZM_EIO;
    }
    //  What the snapshot and log say, before anything else
    s_catch_up (self, now);
    zm_log_info ("sync: member %d of %d (%s), term %" PRIu64 ", %" PRIu64 " entries", self->self,
                 self->count, node->name, zm_raft_term (self->raft),
                 zm_raft_last_index (self->raft));
    return 0;
}

//  --------------------------------------------------------------------------
//  sync.expect N: the group forms from discovery
//
//  Each candidate (a node with sync.expect N and no sync.members) finds
//  the nodes that run "$sync" with metadata expect=N. When it sees exactly
//  N (itself included), its proposal is their names, sorted; it tells the
//  others its proposal every S_HELLO_MS ("$sync bootstrap", one-way). A
//  candidate fixes the group once every one of the N proposes the same
//  list as it does: it stores the list ("members") and starts Raft. A
//  member that formed answers a candidate's hello with its fixed list,
//  which the candidate adopts if it is named in it. A member restarts
//  with the list it stored; discovery no longer matters to it.

//  One hello to member i (one-way): our name, proposal and fixed list
static void
s_hello (s_sync_t *self, int i)
{
    if (i < 0 || i >= self->count || !self->dealer[i] || i == self->self)
        return;
    zm_msg_t *hello = zm_msg_new ();
    void *data = NULL;
    size_t size = 0;
    char fixed[S_LIST_MAX] = "";
    for (int m = 0; self->raft && m < self->count; m++) {
        size_t used = strlen (fixed);
        snprintf (fixed + used, sizeof fixed - used, "%s%s", m ? "," : "", self->members[m]);
    }
    zm_msg_set_str (hello, "name", self->node->name);
    zm_msg_set_int (hello, "expect", self->expect);
    zm_msg_set_str (hello, "proposal", self->raft ? fixed : self->proposal);
    zm_msg_set_str (hello, "fixed", fixed);
    if (zm_msg_encode (hello, ZM_CT_MSGPACK, &data, &size) == 0) {
        zm_wire_t wire = {.command = ZM_CMD_REQUEST,
                          .corr = ++self->corr,
                          .service = "$sync",
                          .endpoint = "bootstrap",
                          .timeout_ms = 1000,
                          .content_type = ZM_CT_MSGPACK};
        zm_wire_send (zsock_resolve (self->dealer[i]), NULL, &wire, data, size, ZMQ_DONTWAIT);
    }
    free (data);
    zm_msg_destroy (&hello);
}

static void
s_forming (s_sync_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Log how forming goes, once per change
static void
s_forming (s_sync_t *self, const char *format, ...)
{
    char line[256];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (streq (line, self->said))
        return;
    snprintf (self->said, sizeof self->said, "%s", line);
    zm_log_notice ("sync: %s (sync.expect %d): %s", self->node->name, self->expect, line);
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Fix the group as list: stored first, then Raft starts
static void
s_fix (s_sync_t *self, const char *list, int64_t now)
{
    if (zm_store_write (self->disk.store, "members", list, strlen (list), NULL, NULL) != 0) {
        s_forming (self, "cannot store the member list %s", list);
        return;
    }
    s_set_members (self, list);
    if (s_start_raft (self, now) == 0)
        zm_log_notice ("sync: %s: the group formed: %s", self->node->name, list);
    else
        self->broken = true;
}

//  A round of forming: who the candidates are, what they propose
static void
s_bootstrap (s_sync_t *self, int64_t now)
{
    if (now < self->bootstrap_at)
        return;
    self->bootstrap_at = now + S_HELLO_MS;
    char names[ZM_RAFT_MAX_MEMBERS + 1][64];
    int found = 0;
    bool clash = false;
    char expect[16];
    snprintf (expect, sizeof expect, "%d", self->expect);
    snprintf (names[found++], sizeof names[0], "%s", self->node->name);
    zm_msg_t *known = zm_registry_snapshot (self->node);
    const zm_val_t *nodes = zm_val_get (zm_msg_root (known), "nodes");
    for (size_t n = 0; n < zm_val_size (nodes); n++) {
        const zm_val_t *descriptor = zm_val_get (zm_val_at (nodes, n), "descriptor");
        const char *name = zm_val_str (zm_val_get (descriptor, "name"), "", NULL);
        const char *uuid = zm_val_str (zm_val_get (descriptor, "uuid"), "", NULL);
        if (streq (uuid, self->node->uuid))
            continue;
        const zm_val_t *services = zm_val_get (descriptor, "services");
        for (size_t i = 0; i < zm_val_size (services); i++) {
            const zm_val_t *service = zm_val_at (services, i);
            const char *said = zm_val_str (
                zm_val_get (zm_val_get (service, "metadata"), "expect"), "", NULL);
            if (!streq (zm_val_str (zm_val_get (service, "name"), "", NULL), "$sync")
                || !streq (said, expect))
                continue;
            if (!*name || strlen (name) >= sizeof names[0] || strpbrk (name, ", ")) {
                s_forming (self, "a candidate's node name (\"%.64s\") cannot be in a member "
                                 "list: ignored", name);
                continue;
            }
            for (int f = 0; f < found; f++)
                clash |= streq (names[f], name);
            if (found <= ZM_RAFT_MAX_MEMBERS)
                snprintf (names[found++], sizeof names[0], "%s", name);
        }
    }
    zm_msg_destroy (&known);
    qsort (names, (size_t) found, sizeof names[0], s_by_name);
    char list[S_LIST_MAX] = "";
    for (int f = 0; f < found; f++) {
        size_t used = strlen (list);
        snprintf (list + used, sizeof list - used, "%s%s", f ? "," : "", names[f]);
    }
    if (clash)
        s_forming (self, "two candidates are named alike (%s): every node needs its own "
                         "node.name; waiting", list);
    else if (found > self->expect)
        s_forming (self, "%d candidates (%s), more than %d: a group formed without this node, "
                         "or too many were started; waiting", found, list, self->expect);
    else if (found < self->expect)
        s_forming (self, "%d of %d candidates (%s); waiting", found, self->expect, list);
    else
        s_forming (self, "proposing %s", list);
    snprintf (self->proposal, sizeof self->proposal, "%s",
              !clash && found == self->expect ? list : "");
    //  Hellos to everyone seen (also when there are too many: they learn
    //  that this one withdrew its proposal); connections are kept while
    //  the candidates stay the same
    char current[S_LIST_MAX] = "";
    for (int i = 0; i < self->count; i++) {
        size_t used = strlen (current);
        snprintf (current + used, sizeof current - used, "%s%s", i ? "," : "", self->members[i]);
    }
    if (!streq (current, list))
        s_set_members (self, list);
    s_resolve (self);
    for (int i = 0; i < self->count; i++)
        s_hello (self, i);
    if (!*self->proposal)
        return;
    int agree = 1;
    for (int i = 0; i < self->count; i++) {
        const char *theirs = i == self->self ? NULL
                                             : (const char *) zhashx_lookup (self->proposals,
                                                                             self->members[i]);
        agree += theirs && streq (theirs, self->proposal);
    }
    if (agree == self->expect)
        s_fix (self, self->proposal, now);
}

//  "bootstrap": a candidate's hello (one-way)
static int
s_on_hello (zm_ctx_t *ctx, zm_msg_t *req)
{
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    const char *name = zm_msg_get_str (req, "name", "");
    const char *proposal = zm_msg_get_str (req, "proposal", NULL);
    const char *fixed = zm_msg_get_str (req, "fixed", "");
    if (!*name || strlen (name) >= 64 || !proposal || strlen (proposal) >= S_LIST_MAX
        || strlen (fixed) >= S_LIST_MAX || zm_msg_get_int (req, "expect", 0) != self->expect
        || !self->expect)
        return zm_error (ctx, ZM_EINVAL, "not a sync bootstrap hello");
    if (self->raft) {
        //  Formed: a candidate of our group that is late learns the list
        for (int i = 0; i < self->count; i++)
            if (streq (self->members[i], name) && !*fixed)
                s_hello (self, i);
        return 0;
    }
    if (*fixed) {
        //  A member that formed a group: ours too if it names us
        char needle[80], haystack[S_LIST_MAX + 2];
        snprintf (needle, sizeof needle, ",%s,", self->node->name);
        snprintf (haystack, sizeof haystack, ",%s,", fixed);
        if (strstr (haystack, needle))
            s_fix (self, fixed, zclock_mono ());
        return 0;
    }
    char *copy = strdup (proposal);
    if (copy)
        zhashx_update (self->proposals, name, copy);
    return 0;
}

static int
s_init (zm_ctx_t *ctx, zm_msg_t *msg)
{
    (void) msg;
    zm_node_t *node = zm_ctx_node (ctx);
    s_sync_t *self = (s_sync_t *) calloc (1, sizeof *self);
    if (!self)
        return ZM_ENOMEM;
    zm_ctx_set_state (ctx, self);
    self->node = node;
    self->reactor = ctx->reactor;
    self->self = -1;
    self->leader_seen = ZM_RAFT_NONE;
    self->generation = UINT64_MAX;
    self->locks = zhashx_new ();
    self->waiters = zlistx_new ();
    self->forwards = zm_id_table_new ();
    self->proposals = zhashx_new ();
    if (!self->locks || !self->waiters || !self->forwards || !self->proposals)
        return ZM_ENOMEM;
    zhashx_set_destructor (self->locks, s_lock_free);
    zlistx_set_destructor (self->waiters, s_waiter_destroy);
    zhashx_set_destructor (self->proposals, s_free);
    const char *trace = zm_config_get_str (node->config, "sync.trace", "");
    if (*trace && !(self->trace = fopen (trace, "a"))) {
        zm_log_error ("sync: cannot open sync.trace %s: %s", trace, strerror (errno));
        return ZM_EIO;
    }
    zm_store_t *store = zm_node_store (node);
    self->disk.store = store ? zm_store_with_database (store, S_DATABASE) : NULL;
    if (!self->disk.store) {
        zm_log_error ("sync: no store for the Raft log");
        return ZM_EUNAVAIL;
    }
    self->snapshot_entries =
        (uint64_t) zm_config_get_int (node->config, "sync.snapshot_entries", 1000);
    const char *members = zm_config_get_str (node->config, "sync.members", "");
    //  sync.expect: the list this member stored when the group formed, or
    //  forming from discovery (s_bootstrap, from the timer)
    char stored[S_LIST_MAX] = "";
    if (!*members) {
        self->expect = (int) zm_config_get_int (node->config, "sync.expect", 0);
        if (strpbrk (node->name, ", ") || strlen (node->name) >= 64) {
            zm_log_error ("sync: node.name \"%s\" cannot be in a member list (sync.expect): "
                          "no commas or spaces, under 64 characters",
                          node->name);
            return ZM_EINVAL;
        }
        zm_records_t *records = NULL;
        int rc = zm_store_read (self->disk.store, "members", NULL, &records);
        const zm_record_t *record = rc == 0 ? zm_records_at (records, 0) : NULL;
        if (record && record->size < sizeof stored)
            memcpy (stored, record->value, record->size);
        else if (record) {
            //  Not a list we stored: forming again could make another group
            zm_log_error ("sync: the stored member list is damaged (%zu bytes): refused",
                          record->size);
            rc = ZM_EIO;
        }
        zm_records_destroy (&records);
        if (rc && rc != ZM_ENOTFOUND) {
            zm_log_error ("sync: cannot read the stored member list: %s", zm_strerror (rc));
            return rc;
        }
        members = stored;
    }
    int64_t now = zclock_mono ();
    s_set_members (self, members);
    if (*members) {
        int rc = s_start_raft (self, now);
        if (rc)
            return rc;
    }
    self->timer = zloop_timer (zm_reactor_loop (self->reactor), S_TICK_MS, 0, s_on_timer, self);
    return 0;
}

static int
s_destroy (zm_ctx_t *ctx, zm_msg_t *msg)
{
    (void) msg;
    s_sync_t *self = (s_sync_t *) zm_ctx_state (ctx);
    if (!self)
        return 0;
    if (self->timer > 0)
        zloop_timer_end (zm_reactor_loop (self->reactor), self->timer);
    for (int i = 0; i < ZM_RAFT_MAX_MEMBERS; i++) {
        if (self->dealer[i]) {
            zm_reactor_reader_end (self->reactor, self->dealer[i]);
            zsock_destroy (&self->dealer[i]);
        }
        free (self->members[i]);
    }
    for (s_waiter_t *waiter = self->waiters ? (s_waiter_t *) zlistx_first (self->waiters) : NULL;
         waiter; waiter = (s_waiter_t *) zlistx_next (self->waiters))
        s_answer (self, waiter, ZM_EUNAVAIL, 0, "sync: the member is stopping");
    for (zm_reply_t *reply = self->forwards ? (zm_reply_t *) zhashx_first (self->forwards) : NULL;
         reply; reply = (zm_reply_t *) zhashx_next (self->forwards))
        zm_reply_send (self->node, &reply, NULL, ZM_EUNAVAIL, "sync: the member is stopping");
    zlistx_destroy (&self->waiters);
    zhashx_destroy (&self->forwards);
    zhashx_destroy (&self->locks);
    zhashx_destroy (&self->proposals);
    zm_raft_destroy (&self->raft);
    zm_store_destroy (&self->disk.store);
    if (self->trace)
        fclose (self->trace);
    free (self);
    zm_ctx_set_state (ctx, NULL);
    return 0;
}

int
zm_sync_start (zm_node_t *node)
{
    //  Only the members run "$sync"
    const char *members = zm_config_get_str (node->config, "sync.members", "");
    bool member = false;
    char *copy = strdup (members);
    for (char *save = NULL, *name = copy ? strtok_r (copy, ", ", &save) : NULL; name;
         name = strtok_r (NULL, ", ", &save))
        member |= streq (name, node->name);
    free (copy);
    int64_t expect = zm_config_get_int (node->config, "sync.expect", 0);
    if (!member && !(*members == 0 && expect > 0))
        return 0;
    zm_service_t *self = zm_service_builtin (node, "$sync");
    char said[16];
    snprintf (said, sizeof said, "%d", (int) expect);
    if (self && !*members && zm_service_set_meta (self, "expect", said))
        return ZM_ENOMEM;
    if (!self || zm_service_handle (self, "raft", s_raft) || zm_service_handle (self, "lock", s_lock)
        || zm_service_handle (self, "bootstrap", s_on_hello)
        || zm_service_handle (self, "unlock", s_unlock) || zm_service_handle (self, "renew", s_renew)
        || zm_service_handle (self, "status", s_status)
        || zm_service_handle (self, "observe", s_observe)
        || zm_service_on (self, S_FORWARD_TYPE, s_forwarded)
        || zm_service_set_state (self, s_init, s_destroy, NULL)
        || zm_service_set_dedicated (self, true))
        return ZM_ENOMEM;
    return zm_service_start (self);
}

//  --------------------------------------------------------------------------
//  The caller's side: any node. Locks it holds are renewed by a thread of
//  its own while the node lives.

typedef struct {
    char name[S_MAX_NAME + 1];
    uint64_t token;
    int64_t ttl;
    int64_t renewed;            //  zclock_mono of the last renewal that took
    bool releasing;             //  a release is under way: its end is no loss
} s_held_t;

//  A watch: a thread that observes an election and tells an actor
typedef struct {
    zm_node_t *node;
    char name[S_MAX_NAME + 1];
    zm_pid_t to;
    char type[64];
    pthread_t thread;
    atomic_bool stop;
} s_watch_t;

struct _zm_sync_client_t {
    pthread_mutex_t lock;       //  guards everything below
    pthread_cond_t wake;
    zlistx_t *held;             //  s_held_t
    zlistx_t *watches;          //  s_watch_t
    pthread_t renewer;
    bool running, stop;
    uint64_t next_owner;
    uint64_t turn;              //  the next member to ask, in turn
    char suspect[S_SUSPECTS][128];       //  members that did not answer lately
    int64_t suspect_until[S_SUSPECTS];   //  zclock_mono, until when each is passed over
};

static zm_sync_client_t *
s_client (zm_node_t *node)
{
    pthread_mutex_lock (&node->client_lock);
    if (!node->sync_client && (node->sync_client = (zm_sync_client_t *) calloc (1, sizeof (zm_sync_client_t)))) {
        zm_sync_client_t *self = node->sync_client;
        pthread_mutex_init (&self->lock, NULL);
        pthread_cond_init (&self->wake, NULL);
        self->held = zlistx_new ();
        self->watches = zlistx_new ();
        zlistx_set_destructor (self->held, s_free);
    }
    pthread_mutex_unlock (&node->client_lock);
    return node->sync_client;
}

//  A member to ask into address: the next in turn of those discovery
//  knows, passing over any that did not answer lately; false when there
//  is none (zm_call then picks, and waits for discovery)
static bool
s_pick_member (zm_node_t *node, zm_sync_client_t *self, char address[128])
{
    char (*candidates)[128] = (char (*)[128]) calloc (S_MAX_ASK, 128);
    int count = candidates ? zm_registry_candidates (node, "$sync", NULL, NULL, candidates,
                                                     S_MAX_ASK)
                           : 0;
    bool found = false;
    pthread_mutex_lock (&self->lock);
    int64_t now = zclock_mono ();
    uint64_t turn = self->turn++;
    for (int k = 0; k < count && !found; k++) {
        const char *candidate = candidates[(turn + (uint64_t) k) % (uint64_t) count];
        bool suspect = false;
        for (int i = 0; i < S_SUSPECTS; i++)
            suspect |= self->suspect_until[i] > now && streq (self->suspect[i], candidate);
        if (!suspect) {
            snprintf (address, 128, "%s", candidate);
            found = true;
        }
    }
    pthread_mutex_unlock (&self->lock);
    free (candidates);
    return found;
}

//  Note whether member address answered: one that did not is passed over
//  for S_SUSPECT_MS, so a dead member costs a caller one attempt, not one
//  in every few
static void
s_answered (zm_sync_client_t *self, const char *address, bool answered)
{
    pthread_mutex_lock (&self->lock);
    int64_t now = zclock_mono ();
    int slot = -1;
    for (int i = 0; i < S_SUSPECTS; i++)
        if (streq (self->suspect[i], address))
            slot = i;
    for (int i = 0; slot < 0 && !answered && i < S_SUSPECTS; i++)
        if (self->suspect_until[i] <= now)
            slot = i;
    if (slot >= 0) {
        snprintf (self->suspect[slot], sizeof self->suspect[slot], "%s", answered ? "" : address);
        self->suspect_until[slot] = answered ? 0 : now + S_SUSPECT_MS;
    }
    pthread_mutex_unlock (&self->lock);
}

//  A call to a member of the group, which passes it to the leader
static int
s_call (zm_node_t *node, const char *endpoint, zm_msg_t **req_p, zm_msg_t **rep_p,
        int64_t timeout_ms, zm_error_t **error_p)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.timeout_ms = timeout_ms;
    opts.retries = 1;
    opts.no_breaker = true; //  a member without a leader is not a broken one
    zm_sync_client_t *self = s_client (node);
    char address[128];
    if (self && s_pick_member (node, self, address)) {
        opts.address = address; //  the whole time for it: callers ask again anyway
        opts.retries = 0;
    }
    int64_t start = zclock_mono ();
    int rc = zm_call (node, "$sync", endpoint, req_p, rep_p, error_p, &opts);
    //  Silent for all of its time (a timeout, or a connection that never
    //  came up): a live member answers within it, even without a leader
    if (self && opts.address)
        s_answered (self, address, rc == 0 || zclock_mono () - start < timeout_ms * 9 / 10);
    return rc;
}

//  One renewal of a lease; 0 with *sent_p the moment it left (the lease
//  runs at least ttl from then)
static int
s_renew_once (zm_node_t *node, const char *name, uint64_t token, int64_t ttl, int64_t *sent_p)
{
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "name", name);
    zm_msg_set_uint (req, "token", token);
    *sent_p = zclock_mono ();
    return s_call (node, "renew", &req, NULL, ttl / 3, NULL);
}

static void *
s_renewer (void *arg)
{
    zm_node_t *node = (zm_node_t *) arg;
    zm_sync_client_t *self = node->sync_client;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        //  The first lock due for renewal (a third of its ttl after the last)
        int64_t now = zclock_mono ();
        s_held_t due = {.ttl = 0};
        int64_t next = now + 1000;
        for (s_held_t *held = (s_held_t *) zlistx_first (self->held); held;
             held = (s_held_t *) zlistx_next (self->held)) {
            int64_t at = held->renewed + held->ttl / 3;
            if (at <= now && !due.ttl)
                due = *held;
            else if (at < next)
                next = at;
        }
        if (!due.ttl) {
            struct timespec until;
            clock_gettime (CLOCK_REALTIME, &until);
            int64_t wait = next > now ? next - now : 1;
            until.tv_sec += wait / 1000;
            until.tv_nsec += (wait % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait (&self->wake, &self->lock, &until);
            continue;
        }
        pthread_mutex_unlock (&self->lock);
        int64_t sent = 0;
        int rc = s_renew_once (node, due.name, due.token, due.ttl, &sent);
        pthread_mutex_lock (&self->lock);
        for (s_held_t *held = (s_held_t *) zlistx_first (self->held); held;
             held = (s_held_t *) zlistx_next (self->held))
            if (held->token == due.token && streq (held->name, due.name)) {
                if (rc == 0)
                    held->renewed = sent;
                else if (rc == ZM_ENOTFOUND && held->releasing)
                    zlistx_delete (self->held, zlistx_cursor (self->held));
                else if (rc == ZM_ENOTFOUND || sent - held->renewed >= held->ttl) {
                    zm_log_warning ("sync: lock %s (token %" PRIu64 ") is lost", held->name,
                                    held->token);
                    zlistx_delete (self->held, zlistx_cursor (self->held));
                }
                //  else still due: tried again after the pause below
                break;
            }
        if (rc && rc != ZM_ENOTFOUND) {
            //  Do not spin on a cluster without a leader
            pthread_mutex_unlock (&self->lock);
            zclock_sleep (50);
            pthread_mutex_lock (&self->lock);
        }
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

void
zm_sync_client_stop (zm_node_t *node)
{
    zm_sync_client_t *self = node->sync_client;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    bool running = self->running;
    self->stop = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    if (running)
        pthread_join (self->renewer, NULL);
    self->running = false;
    //  Watches end (their threads see stop within a question)
    for (s_watch_t *watch = (s_watch_t *) zlistx_first (self->watches); watch;
         watch = (s_watch_t *) zlistx_next (self->watches))
        watch->stop = true;
    s_watch_t *watch;
    while ((watch = (s_watch_t *) zlistx_detach (self->watches, NULL))) {
        pthread_join (watch->thread, NULL);
        free (watch);
    }
}

void
zm_sync_client_destroy (zm_node_t *node)
{
    zm_sync_client_t *self = node->sync_client;
    if (!self)
        return;
    zm_sync_client_stop (node);
    zlistx_destroy (&self->held);
    zlistx_destroy (&self->watches);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    node->sync_client = NULL;
}

//  Take lock name (validated) for owner "<uuid>/<n>", with value for an
//  election; the grant's token in *token_p
static int
s_acquire (zm_node_t *node, const char *name, const char *value, int64_t ttl_ms,
           int64_t wait_ms, uint64_t *token_p)
{
    if (zm_reactor_current ())
        return ZM_EBLOCKING;
    zm_sync_client_t *self = s_client (node);
    if (!self)
        return ZM_ENOMEM;
    pthread_mutex_lock (&self->lock);
    char owner[80];
    snprintf (owner, sizeof owner, "%s/%" PRIu64, node->uuid, ++self->next_owner);
    pthread_mutex_unlock (&self->lock);
    int64_t deadline = zclock_mono () + wait_ms;
    int rc = ZM_EUNAVAIL;
    while (true) {
        //  Short attempts, so that a member or leader that died does not
        //  hold the caller for long (asking again as the same owner is
        //  safe: a grant stands)
        int64_t left = deadline - zclock_mono ();
        int64_t wait = left < 0 ? 0 : left > S_ATTEMPT_MS ? S_ATTEMPT_MS : left;
        zm_msg_t *req = zm_msg_new (), *rep = NULL;
        zm_msg_set_str (req, "name", name);
        zm_msg_set_str (req, "owner", owner);
        zm_msg_set_int (req, "ttl", ttl_ms);
        zm_msg_set_int (req, "wait", wait);
        if (value)
            zm_msg_set_str (req, "value", value);
        int64_t start = zclock_mono ();
        rc = s_call (node, "lock", &req, &rep, wait + S_ATTEMPT_MS, NULL);
        if (rc == 0) {
            *token_p = zm_msg_get_uint (rep, "token", 0);
            zm_msg_destroy (&rep);
            //  The lease runs from no earlier than the request left; when
            //  the grant took long (it waited its turn), one renewal now
            //  gives the holder its whole ttl
            int64_t sent = 0;
            if (zclock_mono () - start > ttl_ms / 3
                && s_renew_once (node, name, *token_p, ttl_ms, &sent) == 0)
                start = sent;
            s_held_t *held = (s_held_t *) calloc (1, sizeof *held);
            if (!held)
                return ZM_ENOMEM;
            snprintf (held->name, sizeof held->name, "%s", name);
            held->token = *token_p;
            held->ttl = ttl_ms;
            held->renewed = start; //  the lease began no earlier than the request
            pthread_mutex_lock (&self->lock);
            zlistx_add_end (self->held, held);
            if (!self->running && !self->stop)
                self->running = pthread_create (&self->renewer, NULL, s_renewer, node) == 0;
            pthread_cond_broadcast (&self->wake);
            pthread_mutex_unlock (&self->lock);
            return 0;
        }
        if (rc == ZM_ECONFLICT && zclock_mono () >= deadline)
            return ZM_ETIMEOUT; //  held by another for all of the wait
        if (rc == ZM_EINVAL || zclock_mono () >= deadline)
            break;
        if (rc != ZM_ECONFLICT)
            zclock_sleep (50); //  no member or no leader yet: again, within the wait
    }
    return rc == ZM_EINVAL ? rc : ZM_EUNAVAIL;
}

static int
s_release (zm_node_t *node, const char *name, uint64_t token)
{
    if (zm_reactor_current ())
        return ZM_EBLOCKING;
    zm_sync_client_t *self = s_client (node);
    if (!self)
        return ZM_ENOMEM;
    //  The lease is renewed until the release is through: a release that
    //  first tries a member that just died does not lose the lock meanwhile
    pthread_mutex_lock (&self->lock);
    for (s_held_t *held = (s_held_t *) zlistx_first (self->held); held;
         held = (s_held_t *) zlistx_next (self->held))
        if (held->token == token && streq (held->name, name))
            held->releasing = true;
    pthread_mutex_unlock (&self->lock);
    int rc = ZM_EUNAVAIL;
    for (int attempt = 0; attempt < 20; attempt++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_str (req, "name", name);
        zm_msg_set_uint (req, "token", token);
        rc = s_call (node, "unlock", &req, NULL, 2 * S_ATTEMPT_MS, NULL);
        if (rc == 0 || rc == ZM_ENOTFOUND || rc == ZM_EINVAL)
            break;
        rc = ZM_EUNAVAIL;
        zclock_sleep (50);
    }
    pthread_mutex_lock (&self->lock);
    for (s_held_t *held = (s_held_t *) zlistx_first (self->held); held;
         held = (s_held_t *) zlistx_next (self->held))
        if (held->token == token && streq (held->name, name)) {
            zlistx_delete (self->held, zlistx_cursor (self->held));
            break;
        }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

static bool
s_held (zm_node_t *node, const char *name, uint64_t token)
{
    zm_sync_client_t *self = node ? node->sync_client : NULL;
    if (!self)
        return false;
    bool held = false;
    pthread_mutex_lock (&self->lock);
    int64_t now = zclock_mono ();
    for (s_held_t *item = (s_held_t *) zlistx_first (self->held); item && !held;
         item = (s_held_t *) zlistx_next (self->held))
        held = item->token == token && streq (item->name, name) && now < item->renewed + item->ttl;
    pthread_mutex_unlock (&self->lock);
    return held;
}

int
zm_lock_acquire (zm_node_t *node, const char *name, int64_t ttl_ms, int64_t wait_ms,
                 uint64_t *token_p)
{
    if (!node || !s_name_ok (name, false) || ttl_ms < 100 || ttl_ms > 3600000 || wait_ms < 0
        || wait_ms > 3600000 || !token_p)
        return ZM_EINVAL;
    return s_acquire (node, name, NULL, ttl_ms, wait_ms, token_p);
}

int
zm_lock_release (zm_node_t *node, const char *name, uint64_t token)
{
    if (!node || !s_name_ok (name, false) || !token)
        return ZM_EINVAL;
    return s_release (node, name, token);
}

bool
zm_lock_held (zm_node_t *node, const char *name, uint64_t token)
{
    return name && s_name_ok (name, false) && s_held (node, name, token);
}

//  --------------------------------------------------------------------------
//  Elections: the lock S_ELECT + name, whose holder is the leader

static bool
s_election (const char *name, char *lock, size_t size)
{
    if (!s_name_ok (name, false) || strlen (name) + strlen (S_ELECT) >= size)
        return false;
    snprintf (lock, size, "%s%s", S_ELECT, name);
    return true;
}

int
zm_elect_campaign (zm_node_t *node, const char *name, const char *value, int64_t ttl_ms,
                   int64_t wait_ms, uint64_t *term_p)
{
    char lock[S_MAX_NAME + 1];
    if (!node || !s_election (name, lock, sizeof lock) || !value
        || strlen (value) > ZM_ELECT_VALUE_MAX || ttl_ms < 100 || ttl_ms > 3600000
        || wait_ms < 0 || wait_ms > 3600000 || !term_p)
        return ZM_EINVAL;
    return s_acquire (node, lock, value, ttl_ms, wait_ms, term_p);
}

int
zm_elect_resign (zm_node_t *node, const char *name, uint64_t term)
{
    char lock[S_MAX_NAME + 1];
    if (!node || !s_election (name, lock, sizeof lock) || !term)
        return ZM_EINVAL;
    return s_release (node, lock, term);
}

bool
zm_elect_is_leader (zm_node_t *node, const char *name, uint64_t term)
{
    char lock[S_MAX_NAME + 1];
    return node && s_election (name, lock, sizeof lock) && s_held (node, lock, term);
}

int
zm_elect_observe (zm_node_t *node, const char *name, uint64_t known, int64_t wait_ms,
                  zm_leader_t *leader)
{
    char lock[S_MAX_NAME + 1];
    if (!node || !s_election (name, lock, sizeof lock) || wait_ms < 0 || wait_ms > 3600000
        || !leader)
        return ZM_EINVAL;
    if (zm_reactor_current ())
        return ZM_EBLOCKING;
    int64_t deadline = zclock_mono () + wait_ms;
    int rc = ZM_EUNAVAIL;
    while (true) {
        //  A second at most per question, as for locks
        int64_t left = deadline - zclock_mono ();
        int64_t wait = left < 0 ? 0 : left > 1000 ? 1000 : left;
        zm_msg_t *req = zm_msg_new (), *rep = NULL;
        zm_msg_set_str (req, "name", lock);
        zm_msg_set_uint (req, "token", known);
        zm_msg_set_int (req, "wait", wait);
        rc = s_call (node, "observe", &req, &rep, wait + 1000, NULL);
        if (rc == 0) {
            uint64_t term = zm_msg_get_uint (rep, "token", 0);
            if (term != known || wait_ms == 0) {
                memset (leader, 0, sizeof *leader);
                leader->term = term;
                snprintf (leader->value, sizeof leader->value, "%s",
                          zm_msg_get_str (rep, "value", ""));
                snprintf (leader->owner, sizeof leader->owner, "%s",
                          zm_msg_get_str (rep, "owner", ""));
                zm_msg_destroy (&rep);
                return 0;
            }
        }
        zm_msg_destroy (&rep);
        if (rc == ZM_EINVAL)
            return rc;
        if (zclock_mono () >= deadline)
            return rc == 0 ? ZM_ETIMEOUT : ZM_EUNAVAIL;
        if (rc != 0)
            zclock_sleep (50);
    }
}

static void *
s_watcher (void *arg)
{
    s_watch_t *self = (s_watch_t *) arg;
    uint64_t known = UINT64_MAX; //  the first answer is news
    while (!self->stop) {
        zm_leader_t leader;
        int rc = zm_elect_observe (self->node, self->name, known == UINT64_MAX ? 0 : known,
                                   known == UINT64_MAX ? 0 : 250, &leader);
        if (self->stop)
            break;
        if (rc == 0 && leader.term != known) {
            known = leader.term;
            zm_msg_t *msg = zm_msg_new ();
            zm_msg_set_str (msg, "name", self->name);
            zm_msg_set_uint (msg, "term", leader.term);
            zm_msg_set_str (msg, "value", leader.value);
            zm_msg_set_str (msg, "owner", leader.owner);
            if (zm_node_tell (self->node, self->to, self->type, &msg) == ZM_ENOTFOUND)
                break; //  the actor is gone: so is the watch
        }
        else if (rc && rc != ZM_ETIMEOUT)
            zclock_sleep (100);
    }
    return NULL;
}

int
zm_elect_watch (zm_node_t *node, const char *name, zm_pid_t to, const char *type)
{
    char lock[S_MAX_NAME + 1];
    if (!node || !s_election (name, lock, sizeof lock) || !to || !type || !*type
        || strlen (type) >= 64)
        return ZM_EINVAL;
    zm_sync_client_t *client = s_client (node);
    s_watch_t *self = client ? (s_watch_t *) calloc (1, sizeof *self) : NULL;
    if (!self)
        return ZM_ENOMEM;
    self->node = node;
    snprintf (self->name, sizeof self->name, "%s", name);
    self->to = to;
    snprintf (self->type, sizeof self->type, "%s", type);
    pthread_mutex_lock (&client->lock);
    int rc = client->stop ? ZM_ECLOSED : 0;
    if (rc == 0 && pthread_create (&self->thread, NULL, s_watcher, self) != 0)
        rc = ZM_ENOMEM;
    if (rc == 0)
        zlistx_add_end (client->watches, self);
    pthread_mutex_unlock (&client->lock);
    if (rc)
        free (self);
    return rc;
}

int
zm_elect_unwatch (zm_node_t *node, const char *name, zm_pid_t to)
{
    zm_sync_client_t *client = node ? node->sync_client : NULL;
    if (!client || !name)
        return ZM_ENOTFOUND;
    s_watch_t *found = NULL;
    pthread_mutex_lock (&client->lock);
    for (s_watch_t *watch = (s_watch_t *) zlistx_first (client->watches); watch && !found;
         watch = (s_watch_t *) zlistx_next (client->watches))
        if (watch->to == to && streq (watch->name, name)) {
            found = watch;
            zlistx_detach_cur (client->watches);
        }
    pthread_mutex_unlock (&client->lock);
    if (!found)
        return ZM_ENOTFOUND;
    found->stop = true;
    pthread_join (found->thread, NULL);
    free (found);
    return 0;
}
