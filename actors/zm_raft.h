/*  =========================================================================
    zm_raft - the Raft consensus core of the sync actor (step 7), with no I/O

    A deterministic state machine in the manner of etcd's raft package: the
    caller feeds it time (zm_raft_tick) and messages from peers
    (zm_raft_step), proposes commands on the leader (zm_raft_propose), and
    takes out what it must send (zm_raft_pop) and what it may apply
    (zm_raft_apply). It never reads a clock, a socket or a random device
    itself, so the same core runs in a node (actors/zm_sync.c, over the
    cluster's CURVE sockets) and in tests that drive it step by step.

    Durability: term, vote and log go through a storage ops struct before
    the core emits any message that depends on them (a vote is persisted
    before it is granted, entries before they are acknowledged). The LMDB
    storage fsyncs each of those writes; the memory storage is for tests.

    Raft as in Ongaro and Ousterhout (2014), sections 5.1-5.4: randomized
    election timeouts, log replication with consistency check, commit on a
    majority of the current term only, plus two extensions that keep a
    cut-off minority from disturbing or misleading the cluster:
      - check quorum: a leader that has not heard from a majority within
        an election timeout steps down (it cannot commit anyway);
      - pre-vote: a node asks whether it could win before it raises its
        term, so a member healed from a partition does not depose a
        working leader.
    Members are numbered 0..count-1, in the order of sync.members.

    Log compaction (section 7): the application hands the core a snapshot
    of its state machine as of an applied index (zm_raft_compact); the
    core stores it and drops the entries it covers. A follower that needs
    entries the leader no longer holds is sent the snapshot instead
    (ZM_RAFT_SNAPSHOT), installs it, and the application loads it
    (zm_raft_restore) before it applies anything after it. A member that
    starts from storage with a snapshot does the same.
    =========================================================================
*/
#ifndef ZM_RAFT_H_INCLUDED
#define ZM_RAFT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZM_RAFT_MAX_MEMBERS 9
#define ZM_RAFT_NONE (-1)

typedef enum {
    ZM_RAFT_FOLLOWER = 0,
    ZM_RAFT_PRE_CANDIDATE,
    ZM_RAFT_CANDIDATE,
    ZM_RAFT_LEADER
} zm_raft_role_t;

typedef enum {
    ZM_RAFT_PRE_VOTE = 1,     //  could I win an election for term?
    ZM_RAFT_PRE_VOTE_REPLY,
    ZM_RAFT_VOTE,             //  vote for me in term
    ZM_RAFT_VOTE_REPLY,
    ZM_RAFT_APPEND,           //  entries after (prev_index, prev_term); heartbeat when none
    ZM_RAFT_APPEND_REPLY,     //  (to APPEND and SNAPSHOT)
    ZM_RAFT_SNAPSHOT          //  the leader's snapshot: index and log_term are its last
                              //  entry's, entries[0] (that index and term) its data
} zm_raft_msg_type_t;

//  A log entry. data is owned by whoever holds the entry.
typedef struct {
    uint64_t term;
    uint64_t index;
    void *data;               //  the command; NULL for the leader's no-op
    size_t size;
} zm_raft_entry_t;

//  A snapshot of the state machine: every entry up to index (of term)
//  applied. data is owned by whoever holds the snapshot.
typedef struct {
    uint64_t index;
    uint64_t term;
    void *data;
    size_t size;
} zm_raft_snapshot_t;

//  A message between members. Entries (APPEND) are owned by the message.
typedef struct {
    zm_raft_msg_type_t type;
    int from, to;
    uint64_t term;
    uint64_t index;           //  VOTE: last log index; APPEND: prev index;
                              //  APPEND_REPLY: match index (success) or hint;
                              //  SNAPSHOT: its last index
    uint64_t log_term;        //  VOTE: last log term; APPEND: prev term; SNAPSHOT: its term
    uint64_t commit;          //  APPEND: leader's commit index
    bool granted;             //  VOTE_REPLY, PRE_VOTE_REPLY: granted; APPEND_REPLY: success
    uint64_t round;           //  APPEND: the leader's round; APPEND_REPLY: the round answered
    zm_raft_entry_t *entries; //  APPEND; SNAPSHOT: one, the snapshot's data
    size_t count;
} zm_raft_msg_t;

//  Free what a message owns (its entries), not the message.
void zm_raft_msg_clear (zm_raft_msg_t *msg);

//  Durable state. Each call returns 0 once the change is durable, or an
//  error (the core then stops answering: a member that cannot persist
//  must not vote or acknowledge).
typedef struct {
    //  At start: the persisted term and vote, the last snapshot (index 0
    //  and no data when none) and every entry after it (the core takes the
    //  array, the entries' data and the snapshot's; *entries_p may be NULL).
    int (*load) (void *self, uint64_t *term_p, int *vote_p, zm_raft_snapshot_t *snapshot,
                 zm_raft_entry_t **entries_p, size_t *count_p);
    int (*save_state) (void *self, uint64_t term, int vote);
    //  Remove every entry from index on (index past the snapshot), then
    //  append count entries (their indexes follow on), as one durable change.
    int (*append) (void *self, uint64_t index, const zm_raft_entry_t *entries, size_t count);
    //  Replace the snapshot and remove the entries it covers, as one
    //  durable change; keep: the entries after it stay, else all go.
    int (*save_snapshot) (void *self, const zm_raft_snapshot_t *snapshot, bool keep);
} zm_raft_storage_ops_t;

typedef struct {
    int self;                 //  this member's number
    int count;                //  members, 1..ZM_RAFT_MAX_MEMBERS
    int64_t election_ms;      //  election timeout: random in [election_ms, 2 * election_ms)
    int64_t heartbeat_ms;     //  leader's APPEND interval, < election_ms
    size_t max_batch;         //  entries per APPEND at most
    uint64_t seed;            //  of the timeouts' randomness
    const zm_raft_storage_ops_t *storage;
    void *storage_self;
    //  The monotonic clock in ms, or NULL. When set, the core reads it
    //  around each durable write: its timers start once the write is done
    //  (not at the time step or tick was given), and a disk that takes w ms
    //  to sync stretches the election timeout and the leader's quorum
    //  window to at least S_SLOW_FACTOR * w, so that a slow disk slows the
    //  group down instead of stalling its elections. NULL (tests with
    //  simulated time): the time given to step and tick is used.
    int64_t (*clock) (void);
} zm_raft_config_t;

typedef struct _zm_raft_t zm_raft_t;

//  A core from config, its durable state loaded; now is the caller's
//  clock (ms, monotonic). NULL on a bad config or a storage error.
zm_raft_t *zm_raft_new (const zm_raft_config_t *config, int64_t now);
void zm_raft_destroy (zm_raft_t **self_p);

//  Time passes: elections, heartbeats, check quorum.
void zm_raft_tick (zm_raft_t *self, int64_t now);
//  A message from a peer (taken: its entries are consumed or freed).
void zm_raft_step (zm_raft_t *self, zm_raft_msg_t *msg, int64_t now);
//  On the leader: append a command (copied). Returns 0 and its index,
//  ZM_EUNAVAIL when not the leader, ZM_EIO when storage failed.
int zm_raft_propose (zm_raft_t *self, const void *data, size_t size, uint64_t *index_p);

//  The next message to send, into *msg (the caller owns its entries);
//  false when none is waiting.
bool zm_raft_pop (zm_raft_t *self, zm_raft_msg_t *msg);
//  The next committed entry not yet applied (borrowed until the next call
//  into the core); false when none, or while a snapshot waits to be
//  restored.
bool zm_raft_apply (zm_raft_t *self, const zm_raft_entry_t **entry_p);
//  True once after the state machine must be replaced by a snapshot (one
//  loaded at start or installed from the leader), with it in *snapshot_p
//  (borrowed until the next call into the core). Call before
//  zm_raft_apply: the entries after the snapshot follow.
bool zm_raft_restore (zm_raft_t *self, const zm_raft_snapshot_t **snapshot_p);
//  The application's state as of applied index (past the current
//  snapshot, at most the last entry applied) replaces the snapshot, and
//  the entries it covers leave the log. 0, ZM_EINVAL for a bad index,
//  ZM_EIO when storage failed.
int zm_raft_compact (zm_raft_t *self, uint64_t index, const void *data, size_t size);
//  The last index the snapshot covers (0: none)
uint64_t zm_raft_snapshot_index (const zm_raft_t *self);

//  The accessors below take NULL (no core yet): a follower of term 0 with
//  an empty log and no leader.
zm_raft_role_t zm_raft_role (const zm_raft_t *self);
uint64_t zm_raft_term (const zm_raft_t *self);
//  The leader this member knows of for the current term, or ZM_RAFT_NONE.
int zm_raft_leader (const zm_raft_t *self);
uint64_t zm_raft_commit_index (const zm_raft_t *self);
uint64_t zm_raft_last_index (const zm_raft_t *self);
//  Leader: its current round (each heartbeat round raises it), and the
//  highest round a majority (the leader included) has answered in this
//  term. Once confirmed exceeds the round read at some moment, this member
//  was still the leader at that moment: no other could have been elected
//  before a majority answered a later message (leases rest on this).
uint64_t zm_raft_round (const zm_raft_t *self);
uint64_t zm_raft_confirmed (const zm_raft_t *self);
//  The entry at index (past the snapshot, up to last), borrowed until the
//  next call; NULL outside
const zm_raft_entry_t *zm_raft_entry (const zm_raft_t *self, uint64_t index);
//  Has storage failed? (The member is then silent.)
bool zm_raft_failed (const zm_raft_t *self);

//  Storage in memory (tests; a member's "disk" that survives its restart
//  when the test keeps it). zm_raft_memory_ops works on a zm_raft_memory_t.
typedef struct {
    uint64_t term;
    int vote;
    zm_raft_snapshot_t snapshot;
    zm_raft_entry_t *entries; //  the ones after the snapshot
    size_t count, capacity;
    int fail;                 //  when set, every write fails with it
} zm_raft_memory_t;
extern const zm_raft_storage_ops_t zm_raft_memory_ops;
void zm_raft_memory_init (zm_raft_memory_t *self);
void zm_raft_memory_clear (zm_raft_memory_t *self);

#endif
