/*  =========================================================================
    zmicro/sync.h - distributed locks with fencing tokens, and elections (step 7)

    The nodes named in config sync.members form a Raft group ("$sync",
    docs/sync.md). Any node of the cluster can take a lock: the request
    goes to a member, which passes it to the leader; a grant is a committed
    log entry, and its index is the lock's fencing token, so the tokens of
    one lock strictly increase. While this node holds a lock it renews the
    lease (every ttl / 3); if this node dies, the lock is free once ttl has
    passed without a renewal. A new leader never grants a lock whose lease
    may still run. Without a quorum, calls fail with ZM_EUNAVAIL after
    their wait: never a wrong answer.
    =========================================================================
*/
#ifndef ZMICRO_SYNC_H_INCLUDED
#define ZMICRO_SYNC_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zmicro/node.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Take lock name (1..255 bytes of [A-Za-z0-9._/-]) for ttl_ms (100 ..
//  3600000), waiting at most wait_ms (0: one try) while another holds it.
//  From a plain thread (ZM_EBLOCKING on a reactor). Returns 0 and the
//  fencing token in *token_p; ZM_ETIMEOUT (held by another all along),
//  ZM_EUNAVAIL (no sync member reachable, or no quorum, within wait_ms),
//  ZM_EINVAL.
int zm_lock_acquire (zm_node_t *node, const char *name, int64_t ttl_ms, int64_t wait_ms,
                     uint64_t *token_p);

//  Give lock name back (token: the grant's). Returns 0, ZM_ENOTFOUND (not
//  held with that token: it expired, or was never granted), ZM_EUNAVAIL,
//  ZM_EINVAL. The node stops renewing it in any case.
int zm_lock_release (zm_node_t *node, const char *name, uint64_t token);

//  Does this node still hold lock name with token, as far as it knows
//  (granted and renewed within its ttl)? A holder that cannot renew loses
//  the lock after ttl; fencing tokens protect what the lock guards.
bool zm_lock_held (zm_node_t *node, const char *name, uint64_t token);

//  --------------------------------------------------------------------------
//  Elections. An election is a lock of its own kind (its names do not clash
//  with locks' names) whose holder is the leader and carries a value (an
//  address, say). Its term is the grant's fencing token: it increases with
//  every new leader, so it fences a deposed leader's late work as a lock's
//  token does. The leader's node renews its lease as for a lock: a leader
//  that dies is replaced once ttl has passed.

#define ZM_ELECT_VALUE_MAX 1024

typedef struct {
    uint64_t term;                      //  0: no leader now
    char value[ZM_ELECT_VALUE_MAX + 1]; //  the leader's campaign value
    char owner[80];                     //  "<node uuid>/<n>" of the leader
} zm_leader_t;

//  Become the leader of election name (a lock name), with value (at most
//  ZM_ELECT_VALUE_MAX bytes), waiting at most wait_ms while another leads.
//  Returns 0 and the term in *term_p; else as zm_lock_acquire.
int zm_elect_campaign (zm_node_t *node, const char *name, const char *value, int64_t ttl_ms,
                       int64_t wait_ms, uint64_t *term_p);

//  Step down (term: the campaign's). As zm_lock_release.
int zm_elect_resign (zm_node_t *node, const char *name, uint64_t term);

//  Is this node still the leader of name in term (renewed within its ttl)?
bool zm_elect_is_leader (zm_node_t *node, const char *name, uint64_t term);

//  The leader of name as the Raft leader knows it, once its term is not
//  known (pass 0 to learn who leads now; the last term seen to wait for a
//  change), waiting at most wait_ms. Returns 0 and *leader (term 0: nobody
//  leads), ZM_ETIMEOUT (still the known term after wait_ms), ZM_EUNAVAIL
//  (no leader of the sync group within wait_ms), ZM_EINVAL. A blocking
//  iterator: loop, passing the term of the last answer. Plain threads only.
int zm_elect_observe (zm_node_t *node, const char *name, uint64_t known, int64_t wait_ms,
                      zm_leader_t *leader);

//  Tell actor to a message of type (body {name, term, value, owner}) now
//  and every time the leader of name changes, from a thread of the node's,
//  until zm_elect_unwatch, the actor's end or the node's. Returns 0,
//  ZM_EINVAL, ZM_ECLOSED, ZM_ENOMEM.
int zm_elect_watch (zm_node_t *node, const char *name, zm_pid_t to, const char *type);

//  End a watch. Returns 0 or ZM_ENOTFOUND.
int zm_elect_unwatch (zm_node_t *node, const char *name, zm_pid_t to);

#ifdef __cplusplus
}
#endif

#endif
