/*  =========================================================================
    zmicro/sync.h - distributed locks with fencing tokens (step 7)

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

#ifdef __cplusplus
}
#endif

#endif
