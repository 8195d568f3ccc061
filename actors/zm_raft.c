/*  =========================================================================
    zm_raft - the Raft consensus core, with no I/O (see zm_raft.h)
    =========================================================================
*/
#include "zm_raft.h"
#include "zmicro/error.h"

#include <stdlib.h>
#include <string.h>

//  The election timeout and the quorum window are at least this many times
//  a durable write: a vote costs the candidate one and the voter one.
#define S_SLOW_FACTOR 4

struct _zm_raft_t {
    zm_raft_config_t config;
    uint64_t term;                      //  current term (durable)
    int vote;                           //  voted for in term (durable), or ZM_RAFT_NONE
    zm_raft_snapshot_t snapshot;        //  the entries up to its index, applied (durable)
    bool restore;                       //  the application must load the snapshot
    zm_raft_entry_t *log;               //  log[i] has index snapshot.index + i + 1 (durable)
    size_t count, capacity;
    uint64_t commit;                    //  highest index known committed
    uint64_t applied;                   //  highest index handed to zm_raft_apply
    zm_raft_role_t role;
    int leader;                         //  leader of term, or ZM_RAFT_NONE
    uint32_t votes;                     //  (pre-)candidate: who granted, a bit each
    uint64_t next[ZM_RAFT_MAX_MEMBERS];  //  leader: next index to send each member
    uint64_t match[ZM_RAFT_MAX_MEMBERS]; //  leader: highest index known replicated there
    int64_t heard[ZM_RAFT_MAX_MEMBERS];  //  leader: when each member last answered
    uint64_t acked[ZM_RAFT_MAX_MEMBERS]; //  leader: highest round each member answered
    uint64_t round;                     //  leader: the heartbeat round
    int64_t election_at;                //  follower, candidates: campaign then
    int64_t heartbeat_at;               //  leader: next APPEND round
    int64_t quorum_at;                  //  leader: next check quorum
    int64_t leader_heard;               //  follower: when the leader last spoke
    int64_t synced_at;                  //  config.clock after the last durable write
    bool unsaved;                       //  term changed, not stored yet (see s_become_follower)
    int64_t slow;                       //  how long writes take (ms, recent worst, decaying)
    uint64_t rng;                       //  xorshift64 state
    bool failed;                        //  storage failed: silent from then on
    zm_raft_msg_t *out;                 //  outbox, a queue
    size_t out_head, out_count, out_capacity;
};

void
zm_raft_msg_clear (zm_raft_msg_t *msg)
{
    if (!msg)
        return;
    for (size_t i = 0; i < msg->count; i++)
        free (msg->entries[i].data);
    free (msg->entries);
    msg->entries = NULL;
    msg->count = 0;
}

//  --------------------------------------------------------------------------
//  Helpers

static uint64_t
s_last_index (const zm_raft_t *self)
{
    return self->snapshot.index + (uint64_t) self->count;
}

//  The term of the entry at index; 0 when it is not known here (before
//  the snapshot's last entry, or past the log)
static uint64_t
s_term_at (const zm_raft_t *self, uint64_t index)
{
    if (index == self->snapshot.index)
        return self->snapshot.term;
    if (index < self->snapshot.index || index > s_last_index (self))
        return 0;
    return self->log[index - self->snapshot.index - 1].term;
}

//  The entry at index, which must be past the snapshot and in the log
static zm_raft_entry_t *
s_entry (const zm_raft_t *self, uint64_t index)
{
    return &self->log[index - self->snapshot.index - 1];
}

//  Drop the log's entries from position (0-based) on
static void
s_log_cut (zm_raft_t *self, size_t position)
{
    for (size_t i = position; i < self->count; i++)
        free (self->log[i].data);
    if (position < self->count)
        self->count = position;
}

static int
s_majority (const zm_raft_t *self)
{
    return self->config.count / 2 + 1;
}

static int
s_bits (uint32_t bits)
{
    int count = 0;
    for (; bits; bits &= bits - 1)
        count++;
    return count;
}

//  How long a member may be silent before it counts as gone: the election
//  timeout's base, stretched while the disk is slow
static int64_t
s_window (const zm_raft_t *self)
{
    int64_t stretched = S_SLOW_FACTOR * self->slow;
    return stretched > self->config.election_ms ? stretched : self->config.election_ms;
}

static int64_t
s_election_timeout (zm_raft_t *self)
{
    self->rng ^= self->rng << 13;
    self->rng ^= self->rng >> 7;
    self->rng ^= self->rng << 17;
    int64_t base = s_window (self);
    return base + (int64_t) (self->rng % (uint64_t) base);
}

//  The time to start a timer from: now, or later when a durable write
//  finished after the time step or tick was given
static int64_t
s_now (const zm_raft_t *self, int64_t now)
{
    return self->synced_at > now ? self->synced_at : now;
}

//  Around each durable write: the clock before it (0 without a clock), and
//  after it, what it took
static int64_t
s_write_begin (const zm_raft_t *self)
{
    return self->config.clock ? self->config.clock () : 0;
}

static void
s_write_end (zm_raft_t *self, int64_t began)
{
    if (!self->config.clock)
        return;
    self->synced_at = self->config.clock ();
    int64_t took = self->synced_at - began;
    //  The recent worst: a slow write counts at once, fast ones wear it down
    self->slow -= self->slow / 8;
    if (took > self->slow)
        self->slow = took;
}

static void
s_send (zm_raft_t *self, zm_raft_msg_t *msg)
{
    if (self->failed) {
        zm_raft_msg_clear (msg);
        return;
    }
    if (self->out_count == self->out_capacity) {
        size_t capacity = self->out_capacity ? self->out_capacity * 2 : 16;
        zm_raft_msg_t *out = (zm_raft_msg_t *) malloc (capacity * sizeof *out);
        if (!out) {
            zm_raft_msg_clear (msg); //  dropped: Raft retries everything
            return;
        }
        for (size_t i = 0; i < self->out_count; i++)
            out[i] = self->out[(self->out_head + i) % self->out_capacity];
        free (self->out);
        self->out = out;
        self->out_head = 0;
        self->out_capacity = capacity;
    }
    self->out[(self->out_head + self->out_count++) % self->out_capacity] = *msg;
}

static bool
s_persist_state (zm_raft_t *self)
{
    if (self->failed)
        return false;
    int64_t began = s_write_begin (self);
    if (self->config.storage->save_state (self->config.storage_self, self->term, self->vote) != 0)
        self->failed = true;
    s_write_end (self, began);
    self->unsaved = false;
    return !self->failed;
}

//  Replace the snapshot in storage; false (and failed) when it cannot
static bool
s_save_snapshot (zm_raft_t *self, const zm_raft_snapshot_t *snapshot, bool keep)
{
    if (self->failed)
        return false;
    int64_t began = s_write_begin (self);
    if (self->config.storage->save_snapshot (self->config.storage_self, snapshot, keep) != 0)
        self->failed = true;
    s_write_end (self, began);
    return !self->failed;
}

//  Truncate the log from index on and append count entries (copied) after
//  it, durably first. False when storage failed.
static bool
s_log_put (zm_raft_t *self, uint64_t index, const zm_raft_entry_t *entries, size_t count)
{
    if (index <= self->snapshot.index || index > s_last_index (self) + 1)
        return false; //  never: the callers keep to the log
    if (self->failed)
        return false;
    int64_t began = s_write_begin (self);
    int rc = self->config.storage->append (self->config.storage_self, index, entries, count);
    s_write_end (self, began);
    if (rc != 0) {
        self->failed = true;
        return false;
    }
    s_log_cut (self, (size_t) (index - self->snapshot.index - 1));
    if (self->count + count > self->capacity) {
        size_t capacity = (self->count + count) * 2 + 16;
        zm_raft_entry_t *log = (zm_raft_entry_t *) realloc (self->log, capacity * sizeof *log);
        if (!log) {
            self->failed = true;
            return false;
        }
        self->log = log;
        self->capacity = capacity;
    }
    for (size_t i = 0; i < count; i++) {
        zm_raft_entry_t *entry = &self->log[self->count];
        *entry = entries[i];
        entry->index = s_last_index (self) + 1;
        entry->data = NULL;
        if (entries[i].size) {
            entry->data = malloc (entries[i].size);
            if (!entry->data) {
                self->failed = true;
                return false;
            }
            memcpy (entry->data, entries[i].data, entries[i].size);
        }
        self->count++;
    }
    return true;
}

//  A new term (or none): follower of leader (may be ZM_RAFT_NONE). A new
//  term is stored at once, or, with defer, by the caller before it answers
//  (a vote request: term and vote go to the disk in one write).
static void
s_become_follower (zm_raft_t *self, uint64_t term, int leader, int64_t now, bool defer)
{
    if (term != self->term) {
        self->term = term;
        self->vote = ZM_RAFT_NONE;
        if (defer)
            self->unsaved = true;
        else
            s_persist_state (self);
    }
    self->role = ZM_RAFT_FOLLOWER;
    self->leader = leader;
    self->votes = 0;
    self->election_at = s_now (self, now) + s_election_timeout (self);
}

//  The snapshot to a member that needs entries it covers
static void
s_send_snapshot (zm_raft_t *self, int to)
{
    zm_raft_msg_t msg = {.type = ZM_RAFT_SNAPSHOT,
                         .from = self->config.self,
                         .to = to,
                         .term = self->term,
                         .index = self->snapshot.index,
                         .log_term = self->snapshot.term,
                         .commit = self->commit,
                         .round = self->round,
                         .count = 1};
    msg.entries = (zm_raft_entry_t *) calloc (1, sizeof (zm_raft_entry_t));
    if (!msg.entries)
        return;
    msg.entries[0] = (zm_raft_entry_t) {.term = self->snapshot.term,
                                        .index = self->snapshot.index,
                                        .size = self->snapshot.size};
    if (self->snapshot.size && !(msg.entries[0].data = malloc (self->snapshot.size))) {
        zm_raft_msg_clear (&msg);
        return;
    }
    if (self->snapshot.size)
        memcpy (msg.entries[0].data, self->snapshot.data, self->snapshot.size);
    s_send (self, &msg);
}

static void
s_send_append (zm_raft_t *self, int to)
{
    uint64_t next = self->next[to], last = s_last_index (self);
    if (next <= self->snapshot.index) {
        s_send_snapshot (self, to);
        return;
    }
    zm_raft_msg_t msg = {.type = ZM_RAFT_APPEND,
                         .from = self->config.self,
                         .to = to,
                         .term = self->term,
                         .index = next - 1,
                         .log_term = s_term_at (self, next - 1),
                         .commit = self->commit,
                         .round = self->round};
    size_t count = next <= last ? (size_t) (last - next + 1) : 0;
    if (count > self->config.max_batch)
        count = self->config.max_batch;
    if (count) {
        msg.entries = (zm_raft_entry_t *) calloc (count, sizeof (zm_raft_entry_t));
        for (size_t i = 0; msg.entries && i < count; i++) {
            const zm_raft_entry_t *entry = s_entry (self, next + i);
            msg.entries[i] = *entry;
            msg.entries[i].data = entry->size ? malloc (entry->size) : NULL;
            if (entry->size && !msg.entries[i].data) {
                msg.count = i;
                zm_raft_msg_clear (&msg);
                return;
            }
            if (entry->size)
                memcpy (msg.entries[i].data, entry->data, entry->size);
            msg.count = i + 1;
        }
        if (!msg.entries)
            return;
    }
    s_send (self, &msg);
}

static void
s_broadcast_append (zm_raft_t *self, int64_t now)
{
    self->round++;
    for (int member = 0; member < self->config.count; member++)
        if (member != self->config.self)
            s_send_append (self, member);
    self->heartbeat_at = s_now (self, now) + self->config.heartbeat_ms;
}

static void
s_advance_commit (zm_raft_t *self)
{
    for (uint64_t index = s_last_index (self); index > self->commit; index--) {
        //  Only entries of the current term commit by counting (5.4.2)
        if (s_term_at (self, index) != self->term)
            break;
        int replicated = 0;
        for (int member = 0; member < self->config.count; member++)
            replicated += self->match[member] >= index;
        if (replicated >= s_majority (self)) {
            self->commit = index;
            break;
        }
    }
}

static void
s_become_leader (zm_raft_t *self, int64_t now)
{
    self->role = ZM_RAFT_LEADER;
    self->leader = self->config.self;
    for (int member = 0; member < self->config.count; member++) {
        self->next[member] = s_last_index (self) + 1;
        self->match[member] = 0;
        self->acked[member] = 0;
    }
    //  A no-op of this term: commits what earlier terms left (5.4.2)
    zm_raft_entry_t noop = {.term = self->term};
    if (!s_log_put (self, s_last_index (self) + 1, &noop, 1))
        return;
    //  Everyone counts as heard from now, once the no-op is on the disk
    for (int member = 0; member < self->config.count; member++)
        self->heard[member] = s_now (self, now);
    self->match[self->config.self] = s_last_index (self);
    s_advance_commit (self);
    self->quorum_at = s_now (self, now) + s_window (self);
    s_broadcast_append (self, now);
}

//  Ask everyone for a (pre-)vote
static void
s_campaign (zm_raft_t *self, bool pre, int64_t now)
{
    if (pre)
        self->role = ZM_RAFT_PRE_CANDIDATE;
    else {
        self->term++;
        self->vote = self->config.self;
        if (!s_persist_state (self))
            return;
        self->role = ZM_RAFT_CANDIDATE;
    }
    self->leader = ZM_RAFT_NONE;
    self->votes = 1u << self->config.self;
    self->election_at = s_now (self, now) + s_election_timeout (self);
    if (s_bits (self->votes) >= s_majority (self)) {
        if (pre)
            s_campaign (self, false, now);
        else
            s_become_leader (self, now);
        return;
    }
    for (int member = 0; member < self->config.count; member++)
        if (member != self->config.self) {
            zm_raft_msg_t msg = {.type = pre ? ZM_RAFT_PRE_VOTE : ZM_RAFT_VOTE,
                                 .from = self->config.self,
                                 .to = member,
                                 .term = pre ? self->term + 1 : self->term,
                                 .index = s_last_index (self),
                                 .log_term = s_term_at (self, s_last_index (self))};
            s_send (self, &msg);
        }
}

//  Is a candidate's log (last index, last term) at least as up to date as ours?
static bool
s_up_to_date (const zm_raft_t *self, uint64_t index, uint64_t term)
{
    uint64_t our_term = s_term_at (self, s_last_index (self));
    return term > our_term || (term == our_term && index >= s_last_index (self));
}

//  --------------------------------------------------------------------------
//  Messages

static void
s_on_vote (zm_raft_t *self, const zm_raft_msg_t *msg, bool pre, int64_t now)
{
    zm_raft_msg_t reply = {.type = pre ? ZM_RAFT_PRE_VOTE_REPLY : ZM_RAFT_VOTE_REPLY,
                           .from = self->config.self,
                           .to = msg->from,
                           .term = self->term};
    bool grant;
    if (pre) {
        //  Would we vote in that term? Nothing changes here.
        bool leader_alive = self->leader != ZM_RAFT_NONE
                            && now - self->leader_heard < s_window (self);
        grant = msg->term > self->term && !leader_alive
                && s_up_to_date (self, msg->index, msg->log_term);
        reply.term = grant ? msg->term : self->term;
    }
    else {
        grant = msg->term == self->term
                && (self->vote == ZM_RAFT_NONE || self->vote == msg->from)
                && s_up_to_date (self, msg->index, msg->log_term);
        bool changed = self->unsaved || (grant && self->vote != msg->from);
        if (grant)
            self->vote = msg->from;
        //  Term and vote durable before the candidate is told
        if (changed && !s_persist_state (self))
            return;
        if (grant)
            self->election_at = s_now (self, now) + s_election_timeout (self);
    }
    reply.granted = grant;
    s_send (self, &reply);
}

static void
s_on_vote_reply (zm_raft_t *self, const zm_raft_msg_t *msg, bool pre, int64_t now)
{
    if (!msg->granted)
        return;
    if (pre && self->role == ZM_RAFT_PRE_CANDIDATE && msg->term == self->term + 1) {
        self->votes |= 1u << msg->from;
        if (s_bits (self->votes) >= s_majority (self))
            s_campaign (self, false, now);
    }
    else if (!pre && self->role == ZM_RAFT_CANDIDATE && msg->term == self->term) {
        self->votes |= 1u << msg->from;
        if (s_bits (self->votes) >= s_majority (self))
            s_become_leader (self, now);
    }
}

//  An APPEND or SNAPSHOT: the reply to fill in, and whether it comes from
//  the leader of our term (else a stale leader was told of the new term)
static bool
s_from_leader (zm_raft_t *self, const zm_raft_msg_t *msg, int64_t now, zm_raft_msg_t *reply)
{
    *reply = (zm_raft_msg_t) {.type = ZM_RAFT_APPEND_REPLY,
                              .from = self->config.self,
                              .to = msg->from,
                              .term = self->term,
                              .round = msg->round};
    if (msg->term < self->term) {
        s_send (self, reply);
        return false;
    }
    if (self->role != ZM_RAFT_FOLLOWER || self->leader != msg->from)
        s_become_follower (self, msg->term, msg->from, now, false);
    self->leader_heard = s_now (self, now);
    self->election_at = s_now (self, now) + s_election_timeout (self);
    return true;
}

static void
s_on_append (zm_raft_t *self, zm_raft_msg_t *msg, int64_t now)
{
    zm_raft_msg_t reply;
    if (!s_from_leader (self, msg, now, &reply))
        return;
    if (msg->index < self->snapshot.index) {
        //  What our snapshot covers is committed, so the leader's log holds
        //  the same: skip those entries, and match from the snapshot on
        size_t skip = (size_t) (self->snapshot.index - msg->index);
        if (skip > msg->count)
            skip = msg->count;
        for (size_t i = 0; i < skip; i++)
            free (msg->entries[i].data);
        if (skip)
            memmove (msg->entries, msg->entries + skip,
                     (msg->count - skip) * sizeof *msg->entries);
        msg->count -= skip;
        msg->index += skip;
        msg->log_term = s_term_at (self, msg->index);
        if (msg->index < self->snapshot.index) { //  nothing past the snapshot
            msg->index = self->snapshot.index;
            msg->log_term = self->snapshot.term;
        }
    }
    uint64_t prev = msg->index, last = s_last_index (self);
    if (prev > last || s_term_at (self, prev) != msg->log_term) {
        //  Not consistent: the leader backs off (hint: where to look)
        reply.index = prev > last ? last : prev - 1;
        s_send (self, &reply);
        return;
    }
    //  Skip what we hold already; from the first conflict on, theirs
    size_t first = 0;
    while (first < msg->count && msg->entries[first].index <= last
           && s_term_at (self, msg->entries[first].index) == msg->entries[first].term)
        first++;
    if (first < msg->count
        && !s_log_put (self, msg->entries[first].index, msg->entries + first,
                       msg->count - first))
        return;
    uint64_t matched = prev + msg->count;
    if (msg->commit > self->commit)
        self->commit = msg->commit < matched ? msg->commit : matched;
    reply.granted = true;
    reply.index = matched;
    s_send (self, &reply);
}

//  The leader's snapshot: what we lack of it replaces our state
static void
s_on_snapshot (zm_raft_t *self, zm_raft_msg_t *msg, int64_t now)
{
    zm_raft_msg_t reply;
    if (!s_from_leader (self, msg, now, &reply))
        return;
    zm_raft_snapshot_t snapshot = {.index = msg->index, .term = msg->log_term};
    if (msg->count != 1 || msg->entries[0].index != snapshot.index
        || msg->entries[0].term != snapshot.term || snapshot.index == 0)
        return; //  not one we sent
    if (snapshot.index <= self->commit) {
        //  We have it all, committed: committed entries match the leader's
        reply.granted = true;
        reply.index = self->commit;
    }
    else if (s_term_at (self, snapshot.index) == snapshot.term) {
        //  We hold its last entry, so everything before it: it commits
        self->commit = snapshot.index;
        reply.granted = true;
        reply.index = snapshot.index;
    }
    else {
        //  Install it; our log, which does not reach it or conflicts, goes
        snapshot.data = msg->entries[0].data;
        snapshot.size = msg->entries[0].size;
        if (!s_save_snapshot (self, &snapshot, false))
            return;
        msg->entries[0].data = NULL; //  ours now
        s_log_cut (self, 0);
        free (self->snapshot.data);
        self->snapshot = snapshot;
        self->commit = self->applied = snapshot.index;
        self->restore = true;
        reply.granted = true;
        reply.index = snapshot.index;
    }
    s_send (self, &reply);
}

static void
s_on_append_reply (zm_raft_t *self, const zm_raft_msg_t *msg, int64_t now)
{
    if (self->role != ZM_RAFT_LEADER || msg->term != self->term)
        return;
    int from = msg->from;
    self->heard[from] = now;
    if (msg->round > self->acked[from] && msg->round <= self->round)
        self->acked[from] = msg->round;
    if (msg->granted) {
        if (msg->index > self->match[from])
            self->match[from] = msg->index;
        self->next[from] = self->match[from] + 1;
        s_advance_commit (self);
        if (self->next[from] <= s_last_index (self))
            s_send_append (self, from);
    }
    else {
        uint64_t next = self->next[from] > 1 ? self->next[from] - 1 : 1;
        if (msg->index + 1 < next)
            next = msg->index + 1;
        self->next[from] = next > self->match[from] ? next : self->match[from] + 1;
        s_send_append (self, from);
    }
}

void
zm_raft_step (zm_raft_t *self, zm_raft_msg_t *msg, int64_t now)
{
    if (!self || !msg)
        return;
    int from = msg->from;
    if (self->failed || from < 0 || from >= self->config.count || from == self->config.self
        || msg->to != self->config.self) {
        zm_raft_msg_clear (msg);
        return;
    }
    //  A vote request while our leader is alive is a disrupted member's:
    //  ignored whole, its term included (section 6 of the thesis)
    bool leader_alive = self->role == ZM_RAFT_FOLLOWER && self->leader != ZM_RAFT_NONE
                        && now - self->leader_heard < s_window (self);
    if (msg->type == ZM_RAFT_VOTE && msg->term > self->term && leader_alive) {
        zm_raft_msg_clear (msg);
        return;
    }
    //  A higher term makes us a follower, but for pre-votes, which change
    //  nothing, and granted pre-vote replies, which carry the term asked for
    bool pre = msg->type == ZM_RAFT_PRE_VOTE
               || (msg->type == ZM_RAFT_PRE_VOTE_REPLY && msg->granted);
    if (msg->term > self->term && !pre)
        s_become_follower (self, msg->term,
                           msg->type == ZM_RAFT_APPEND || msg->type == ZM_RAFT_SNAPSHOT
                               ? from
                               : ZM_RAFT_NONE,
                           now, msg->type == ZM_RAFT_VOTE);
    switch (msg->type) {
        case ZM_RAFT_PRE_VOTE:
            s_on_vote (self, msg, true, now);
            break;
        case ZM_RAFT_VOTE:
            s_on_vote (self, msg, false, now);
            break;
        case ZM_RAFT_PRE_VOTE_REPLY:
            s_on_vote_reply (self, msg, true, now);
            break;
        case ZM_RAFT_VOTE_REPLY:
            s_on_vote_reply (self, msg, false, now);
            break;
        case ZM_RAFT_APPEND:
            s_on_append (self, msg, now);
            break;
        case ZM_RAFT_APPEND_REPLY:
            s_on_append_reply (self, msg, now);
            break;
        case ZM_RAFT_SNAPSHOT:
            s_on_snapshot (self, msg, now);
            break;
    }
    zm_raft_msg_clear (msg);
}

//  --------------------------------------------------------------------------
//  Time, proposals, output

void
zm_raft_tick (zm_raft_t *self, int64_t now)
{
    if (!self || self->failed)
        return;
    if (self->role == ZM_RAFT_LEADER) {
        if (now >= self->quorum_at) {
            //  Check quorum: a leader cut off from a majority steps down
            int alive = 1;
            for (int member = 0; member < self->config.count; member++)
                if (member != self->config.self
                    && now - self->heard[member] < s_window (self))
                    alive++;
            if (alive < s_majority (self)) {
                s_become_follower (self, self->term, ZM_RAFT_NONE, now, false);
                return;
            }
            self->quorum_at = now + s_window (self);
        }
        if (now >= self->heartbeat_at)
            s_broadcast_append (self, now);
    }
    else if (now >= self->election_at)
        s_campaign (self, true, now);
}

int
zm_raft_propose (zm_raft_t *self, const void *data, size_t size, uint64_t *index_p)
{
    if (!self || self->role != ZM_RAFT_LEADER || self->failed)
        return ZM_EUNAVAIL;
    zm_raft_entry_t entry = {.term = self->term, .data = (void *) data, .size = size};
    if (!s_log_put (self, s_last_index (self) + 1, &entry, 1))
        return ZM_EIO;
    self->match[self->config.self] = s_last_index (self);
    s_advance_commit (self);
    if (index_p)
        *index_p = s_last_index (self);
    for (int member = 0; member < self->config.count; member++)
        if (member != self->config.self && self->next[member] == s_last_index (self))
            s_send_append (self, member); //  the caught-up ones get it at once
    return 0;
}

bool
zm_raft_pop (zm_raft_t *self, zm_raft_msg_t *msg)
{
    if (!self || !self->out_count)
        return false;
    *msg = self->out[self->out_head];
    self->out_head = (self->out_head + 1) % self->out_capacity;
    self->out_count--;
    return true;
}

bool
zm_raft_apply (zm_raft_t *self, const zm_raft_entry_t **entry_p)
{
    if (!self || self->restore || self->applied >= self->commit)
        return false;
    *entry_p = s_entry (self, ++self->applied);
    return true;
}

bool
zm_raft_restore (zm_raft_t *self, const zm_raft_snapshot_t **snapshot_p)
{
    if (!self || !self->restore)
        return false;
    self->restore = false;
    *snapshot_p = &self->snapshot;
    return true;
}

int
zm_raft_compact (zm_raft_t *self, uint64_t index, const void *data, size_t size)
{
    if (!self || self->restore || index <= self->snapshot.index || index > self->applied)
        return ZM_EINVAL;
    if (self->failed)
        return ZM_EIO;
    zm_raft_snapshot_t snapshot = {
        .index = index, .term = s_term_at (self, index), .data = NULL, .size = size};
    if (size && !(snapshot.data = malloc (size)))
        return ZM_ENOMEM;
    if (size)
        memcpy (snapshot.data, data, size);
    if (!s_save_snapshot (self, &snapshot, true)) {
        free (snapshot.data);
        return ZM_EIO;
    }
    size_t covered = (size_t) (index - self->snapshot.index);
    for (size_t i = 0; i < covered; i++)
        free (self->log[i].data);
    memmove (self->log, self->log + covered, (self->count - covered) * sizeof *self->log);
    self->count -= covered;
    free (self->snapshot.data);
    self->snapshot = snapshot;
    return 0;
}

uint64_t
zm_raft_snapshot_index (const zm_raft_t *self)
{
    return self ? self->snapshot.index : 0;
}

zm_raft_role_t
zm_raft_role (const zm_raft_t *self)
{
    return self ? self->role : ZM_RAFT_FOLLOWER;
}

uint64_t
zm_raft_term (const zm_raft_t *self)
{
    return self ? self->term : 0;
}

int
zm_raft_leader (const zm_raft_t *self)
{
    return self ? self->leader : ZM_RAFT_NONE;
}

uint64_t
zm_raft_commit_index (const zm_raft_t *self)
{
    return self ? self->commit : 0;
}

uint64_t
zm_raft_round (const zm_raft_t *self)
{
    return self ? self->round : 0;
}

uint64_t
zm_raft_confirmed (const zm_raft_t *self)
{
    if (!self || self->role != ZM_RAFT_LEADER)
        return 0;
    //  The majority-th highest of the rounds answered (ours: the current)
    uint64_t rounds[ZM_RAFT_MAX_MEMBERS];
    int count = self->config.count;
    for (int member = 0; member < count; member++)
        rounds[member] = member == self->config.self ? self->round : self->acked[member];
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && rounds[j] > rounds[j - 1]; j--) {
            uint64_t swap = rounds[j];
            rounds[j] = rounds[j - 1];
            rounds[j - 1] = swap;
        }
    return rounds[s_majority (self) - 1];
}

uint64_t
zm_raft_last_index (const zm_raft_t *self)
{
    return self ? s_last_index (self) : 0;
}

const zm_raft_entry_t *
zm_raft_entry (const zm_raft_t *self, uint64_t index)
{
    return index > self->snapshot.index && index <= s_last_index (self) ? s_entry (self, index)
                                                                         : NULL;
}

bool
zm_raft_failed (const zm_raft_t *self)
{
    return self && self->failed;
}

//  --------------------------------------------------------------------------
//  Life

zm_raft_t *
zm_raft_new (const zm_raft_config_t *config, int64_t now)
{
    if (!config || config->count < 1 || config->count > ZM_RAFT_MAX_MEMBERS || config->self < 0
        || config->self >= config->count || config->election_ms < 1 || config->heartbeat_ms < 1
        || config->heartbeat_ms >= config->election_ms || config->max_batch < 1
        || !config->storage || !config->storage->load || !config->storage->save_state
        || !config->storage->append || !config->storage->save_snapshot)
        return NULL;
    zm_raft_t *self = (zm_raft_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->rng = config->seed ? config->seed : 0x9E3779B97F4A7C15ull;
    self->vote = ZM_RAFT_NONE;
    self->leader = ZM_RAFT_NONE;
    int rc = config->storage->load (config->storage_self, &self->term, &self->vote,
                                    &self->snapshot, &self->log, &self->count);
    self->capacity = self->count;
    //  What storage gave must be a Raft log: a snapshot then the indexes
    //  after it, terms that never go down and never pass the current term,
    //  a vote for a member
    const zm_raft_snapshot_t *snapshot = &self->snapshot;
    bool ok = rc == 0
              && (self->vote == ZM_RAFT_NONE || (self->vote >= 0 && self->vote < config->count))
              && snapshot->term <= self->term && (snapshot->index > 0 || snapshot->term == 0);
    for (size_t i = 0; ok && i < self->count; i++)
        ok = self->log[i].index == snapshot->index + i + 1 && self->log[i].term <= self->term
             && self->log[i].term >= (i == 0 ? snapshot->term : self->log[i - 1].term);
    if (!ok) {
        zm_raft_destroy (&self);
        return NULL;
    }
    //  What the snapshot covers was committed and applied
    self->commit = self->applied = snapshot->index;
    self->restore = snapshot->index > 0;
    self->role = ZM_RAFT_FOLLOWER;
    self->election_at = now + s_election_timeout (self);
    return self;
}

void
zm_raft_destroy (zm_raft_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_raft_t *self = *self_p;
    s_log_cut (self, 0);
    free (self->log);
    free (self->snapshot.data);
    for (size_t i = 0; i < self->out_count; i++)
        zm_raft_msg_clear (&self->out[(self->out_head + i) % self->out_capacity]);
    free (self->out);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Storage in memory

//  A copy of size bytes of data (NULL for none); false when out of memory
static bool
s_copy (void **copy_p, const void *data, size_t size)
{
    *copy_p = NULL;
    if (!size)
        return true;
    if (!(*copy_p = malloc (size)))
        return false;
    memcpy (*copy_p, data, size);
    return true;
}

static int
s_memory_load (void *arg, uint64_t *term_p, int *vote_p, zm_raft_snapshot_t *snapshot,
               zm_raft_entry_t **entries_p, size_t *count_p)
{
    zm_raft_memory_t *self = (zm_raft_memory_t *) arg;
    *term_p = self->term;
    *vote_p = self->vote;
    *entries_p = NULL;
    *count_p = 0;
    *snapshot = self->snapshot;
    if (!s_copy (&snapshot->data, self->snapshot.data, self->snapshot.size))
        return ZM_ENOMEM;
    if (!self->count)
        return 0;
    zm_raft_entry_t *entries = (zm_raft_entry_t *) calloc (self->count, sizeof *entries);
    bool ok = entries != NULL;
    for (size_t i = 0; ok && i < self->count; i++) {
        entries[i] = self->entries[i];
        ok = s_copy (&entries[i].data, self->entries[i].data, self->entries[i].size);
    }
    if (!ok) {
        for (size_t i = 0; entries && i < self->count; i++)
            free (entries[i].data);
        free (entries);
        free (snapshot->data);
        snapshot->data = NULL;
        return ZM_ENOMEM;
    }
    *entries_p = entries;
    *count_p = self->count;
    return 0;
}

static int
s_memory_save_state (void *arg, uint64_t term, int vote)
{
    zm_raft_memory_t *self = (zm_raft_memory_t *) arg;
    if (self->fail)
        return self->fail;
    self->term = term;
    self->vote = vote;
    return 0;
}

static int
s_memory_append (void *arg, uint64_t index, const zm_raft_entry_t *entries, size_t count)
{
    zm_raft_memory_t *self = (zm_raft_memory_t *) arg;
    if (self->fail)
        return self->fail;
    uint64_t first = self->snapshot.index + 1;
    if (index < first || index > first + self->count)
        return ZM_EINVAL;
    for (size_t i = (size_t) (index - first); i < self->count; i++)
        free (self->entries[i].data);
    self->count = (size_t) (index - first);
    if (self->count + count > self->capacity) {
        size_t capacity = (self->count + count) * 2 + 16;
        zm_raft_entry_t *grown =
            (zm_raft_entry_t *) realloc (self->entries, capacity * sizeof *grown);
        if (!grown)
            return ZM_ENOMEM;
        self->entries = grown;
        self->capacity = capacity;
    }
    for (size_t i = 0; i < count; i++) {
        zm_raft_entry_t *entry = &self->entries[self->count];
        *entry = entries[i];
        entry->index = first + self->count;
        if (!s_copy (&entry->data, entries[i].data, entries[i].size))
            return ZM_ENOMEM;
        self->count++;
    }
    return 0;
}

static int
s_memory_save_snapshot (void *arg, const zm_raft_snapshot_t *snapshot, bool keep)
{
    zm_raft_memory_t *self = (zm_raft_memory_t *) arg;
    if (self->fail)
        return self->fail;
    void *data;
    if (!s_copy (&data, snapshot->data, snapshot->size))
        return ZM_ENOMEM;
    //  Entries it covers go; the others too unless kept
    size_t covered = 0;
    if (snapshot->index > self->snapshot.index)
        covered = (size_t) (snapshot->index - self->snapshot.index);
    if (!keep || covered > self->count)
        covered = self->count;
    for (size_t i = 0; i < (keep ? covered : self->count); i++)
        free (self->entries[i].data);
    if (keep && covered)
        memmove (self->entries, self->entries + covered,
                 (self->count - covered) * sizeof *self->entries);
    self->count = keep ? self->count - covered : 0;
    free (self->snapshot.data);
    self->snapshot = *snapshot;
    self->snapshot.data = data;
    return 0;
}

const zm_raft_storage_ops_t zm_raft_memory_ops = {.load = s_memory_load,
                                                  .save_state = s_memory_save_state,
                                                  .append = s_memory_append,
                                                  .save_snapshot = s_memory_save_snapshot};

void
zm_raft_memory_init (zm_raft_memory_t *self)
{
    memset (self, 0, sizeof *self);
    self->vote = ZM_RAFT_NONE;
}

void
zm_raft_memory_clear (zm_raft_memory_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free (self->entries[i].data);
    free (self->entries);
    free (self->snapshot.data);
    zm_raft_memory_init (self);
}
