/*  bench_sync - distributed locks: zmicro's Raft "$sync" against etcd 3.4,
    the same lock workload in the same run

        bench_sync [pairs 20..1000000] [threads 1..64] [rounds 1..20]
                   (defaults 2000, 8, 3)

    zmicro: three members m0, m1, m2 as child processes (this program again,
    "--member"), configured as tests/test_sync.c does (node.name,
    registry.beacon=false, rpc.bind=127.0.0.1, fixed rpc.port, a keypair
    per node made with zm_keypair_create, store.path per node, the others as
    static peers tcp://127.0.0.1:PORT#KEY, sync.members=m0,m1,m2), LMDB with
    its default durability (every commit synced), default timeouts
    (sync.election_timeout 300 ms, sync.heartbeat 50 ms); the client node
    in this process calls zm_lock_acquire (ttl 10000 ms, wait 1000 ms) and
    zm_lock_release.

    etcd: three `etcd` processes (etcd-server) on 127.0.0.1 with default
    timeouts (election 1000 ms, heartbeat 100 ms) and fsynced WAL; driven
    through its v3 gRPC gateway (JSON over HTTP/1.1) on persistent
    keep-alive connections written here with POSIX sockets: one lease per
    client thread (POST /v3/lease/grant {"TTL":10}), kept alive every 3 s
    by a thread as zmicro's renewer does for its held locks, then
    POST /v3/lock/lock {name, lease} -> {key} and POST /v3/lock/unlock
    {key}. Each client thread holds a connection to every member and
    sends its requests to them in turn, as etcd's clientv3 balancer does
    (zmicro's client picks a member at random for each call).

    Cases, one JSON line each:
      latency      `pairs` acquire+release pairs of one lock name, one at a
                   time: p50, p99 and mean of a pair in µs, pairs per second
      concurrency  `threads` threads, each with a lock name of its own,
                   pairs / threads pairs each: pairs per second in total
      failover     with a thread taking and releasing fresh lock names,
                   the leader is killed (SIGKILL); ms: the time from the
                   kill to the next successful acquire of a fresh lock name
                   from a client (zmicro: zm_lock_acquire with wait 1000 ms
                   from the client node, again at once on failure; etcd:
                   lock on a connection to a surviving member, each try cut
                   off after 1000 ms, 10 ms between tries); tries: each try,
                   its outcome and when it ended; elected_ms: when a
                   survivor first said it leads (polled every 10 ms). The
                   member is then restarted from its data and the cluster
                   waited for. `rounds` rounds, each and the median.
      failover_election_300ms  (etcd) the same after restarting the three
                   with --election-timeout 300 --heartbeat-interval 50,
                   zmicro's defaults

    etcd missing: a JSON line says so and only zmicro runs. Every process
    started here is killed by pid at the end or on failure (and dies with
    this one: PR_SET_PDEATHSIG); the temporary directory is removed.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "zmicro.h"

#define MEMBERS 3
#define TTL_MS 10000      //  lock ttl (zmicro) and lease TTL (etcd)
#define WAIT_MS 1000      //  zmicro: how long an acquire waits
#define HTTP_TIMEOUT 5000 //  etcd: one request, ms
#define MAX_THREADS 64

static char s_dir[64];  //  temporary directory, removed at the end
static int s_base;      //  zmicro: members' RPC ports s_base+0..2, client +3
static int s_etcd_base; //  etcd: client ports +0..2, peer ports +3..5
static char s_keys[MEMBERS + 1][ZM_KEY_TEXT];
static pid_t s_zm_pid[MEMBERS];   //  zmicro member processes (0: not running)
static pid_t s_etcd_pid[MEMBERS]; //  etcd processes (0: not running)
static zm_node_t *s_client;       //  the zmicro client node

//  --------------------------------------------------------------------------
//  Processes

static long s_max_fd = 1024;

//  Start argv (argv[0] a path) with output appended to log; it dies with us
static pid_t
s_spawn (char *const argv[], const char *log)
{
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  Only async-signal-safe calls between fork and exec
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open ("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
        }
        if (nul >= 0)
            dup2 (nul, 0);
        for (long i = 3; i < s_max_fd; i++) //  none of our sockets
            close ((int)i);
        execv (argv[0], argv);
        _exit (127);
    }
    return pid;
}

static void
s_kill (pid_t *pid_p)
{
    if (*pid_p > 0) {
        kill (*pid_p, SIGKILL);
        waitpid (*pid_p, NULL, 0);
    }
    *pid_p = 0;
}

//  SIGTERM, then SIGKILL after 3 s
static void
s_stop (pid_t *pid_p)
{
    if (*pid_p <= 0)
        return;
    kill (*pid_p, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid (*pid_p, NULL, WNOHANG) == *pid_p) {
            *pid_p = 0;
            return;
        }
        zclock_sleep (10);
    }
    s_kill (pid_p);
}

static void
s_remove_dir (void)
{
    if (!*s_dir)
        return;
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    if (system (command) != 0)
        fprintf (stderr, "bench_sync: could not remove %s\n", s_dir);
    *s_dir = 0;
}

//  Kill whatever we started, remove the directory, leave
static void
s_fail (const char *what)
{
    fprintf (stderr, "bench_sync: %s\n", what);
    for (int i = 0; i < MEMBERS; i++) {
        s_kill (&s_zm_pid[i]);
        s_kill (&s_etcd_pid[i]);
    }
    s_remove_dir ();
    _exit (1);
}

static void
s_on_signal (int sig)
{
    (void)sig;
    for (int i = 0; i < MEMBERS; i++) {
        if (s_zm_pid[i] > 0)
            kill (s_zm_pid[i], SIGKILL);
        if (s_etcd_pid[i] > 0)
            kill (s_etcd_pid[i], SIGKILL);
    }
    //  The directory too, with async-signal-safe calls only
    pid_t pid = *s_dir ? fork () : -1;
    if (pid == 0) {
        execl ("/bin/rm", "rm", "-rf", s_dir, (char *)NULL);
        _exit (127);
    }
    if (pid > 0)
        waitpid (pid, NULL, 0);
    _exit (130);
}

static bool
s_port_free (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool free_port = bind (fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close (fd);
    return free_port;
}

//  A first port of count free ports in a row, below the ephemeral range
static int
s_free_ports (int count, int salt)
{
    int slots = (32000 - 20000) / count;
    for (int attempt = 0; attempt < slots; attempt++) {
        int base = 20000 + (int)((getpid () + salt + attempt) % slots) * count;
        bool ok = true;
        for (int i = 0; ok && i < count; i++)
            ok = s_port_free (base + i);
        if (ok)
            return base;
    }
    s_fail ("no free ports");
    return 0;
}

//  --------------------------------------------------------------------------
//  Statistics

static void
s_stats (int64_t *values, int count, int64_t *p50, int64_t *p99, double *mean)
{
    *p50 = *p99 = 0;
    *mean = 0;
    if (count <= 0)
        return;
    qsort (values, (size_t)count, sizeof (int64_t), s_cmp);
    double sum = 0;
    for (int i = 0; i < count; i++)
        sum += (double)values[i];
    *p50 = values[count / 2];
    *p99 = values[(int)((int64_t)count * 99 / 100)];
    *mean = sum / count;
}

//  The file system of the temporary directory (fsync is real on a disk)
static const char *
s_fs (void)
{
    static char name[32];
    struct statfs info;
    if (statfs (s_dir, &info) != 0)
        return "unknown";
    switch ((unsigned long)info.f_type) {
    case 0xEF53:
        return "ext2/3/4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs (fsync is free)";
    case 0x794C7630:
        return "overlayfs";
    default:
        snprintf (name, sizeof name, "0x%lx", (unsigned long)info.f_type);
        return name;
    }
}

//  Median of count values (any count; -1 when none); sorts values
static double
s_median_any (double *values, int count)
{
    if (count <= 0)
        return -1;
    qsort (values, (size_t)count, sizeof (double), s_cmp_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

//  --------------------------------------------------------------------------
//  zmicro: members as child processes

//  Node i (0..2 members m0..m2, 3 the client), as tests/test_sync.c
static zm_config_t *
s_config (int i)
{
    zm_config_t *config = zm_config_new ();
    char name[16], port[16], keys[128], store[128], peers[1024] = "";
    snprintf (name, sizeof name, i < MEMBERS ? "m%d" : "client", i);
    snprintf (port, sizeof port, "%d", s_base + i);
    snprintf (keys, sizeof keys, "%s/keys-%d", s_dir, i);
    snprintf (store, sizeof store, "%s/store-%d", s_dir, i);
    for (int m = 0; m < MEMBERS; m++)
        if (m != i) {
            size_t used = strlen (peers);
            snprintf (peers + used, sizeof peers - used, "%stcp://127.0.0.1:%d#%s", used ? "," : "",
                      s_base + m, s_keys[m]);
        }
    zm_config_set (config, "node.name", name, NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "registry.ttl", "200", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "rpc.port", port, NULL);
    zm_config_set (config, "auth.keys", keys, NULL);
    zm_config_set (config, "store.path", store, NULL);
    zm_config_set (config, "registry.peers", peers, NULL);
    zm_config_set (config, "sync.members", "m0,m1,m2", NULL);
    return config;
}

static zm_node_t *
s_start_node (int i)
{
    zm_node_t *node = NULL;
    //  A node just killed may hold its port for a moment
    for (int attempt = 0; !node && attempt < 30; attempt++) {
        zm_config_t *config = s_config (i);
        node = zm_node_new (&config);
        zm_config_destroy (&config);
        if (!node)
            zclock_sleep (100);
    }
    return node;
}

//  bench_sync --member i dir base key0 key1 key2: one member until SIGTERM
static int
s_member_main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (argc != 8 || getppid () == 1)
        return 2;
    int i = atoi (argv[2]);
    if (i < 0 || i >= MEMBERS)
        return 2;
    snprintf (s_dir, sizeof s_dir, "%s", argv[3]);
    s_base = atoi (argv[4]);
    for (int m = 0; m < MEMBERS; m++)
        snprintf (s_keys[m], sizeof s_keys[m], "%s", argv[5 + m]);
    zm_node_t *node = s_start_node (i);
    if (!node) {
        fprintf (stderr, "bench_sync: member %d did not start\n", i);
        return 1;
    }
    zm_node_run (node);
    zm_node_destroy (&node);
    return 0;
}

static void
s_zm_spawn (int i)
{
    char index[8], base[16], log[128];
    snprintf (index, sizeof index, "%d", i);
    snprintf (base, sizeof base, "%d", s_base);
    snprintf (log, sizeof log, "%s/m%d.log", s_dir, i);
    char *argv[] = {"/proc/self/exe", "--member", index,     s_dir, base,
                    s_keys[0],        s_keys[1],  s_keys[2], NULL};
    s_zm_pid[i] = s_spawn (argv, log);
    if (s_zm_pid[i] < 0)
        s_fail ("fork failed");
}

//  "$sync status" of member i, or NULL
static zm_msg_t *
s_zm_status (int i)
{
    char address[128];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d#%.40s", s_base + i, s_keys[i]);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 500;
    opts.retries = 0;
    zm_msg_t *status = NULL;
    return zm_call (s_client, "$sync", "status", NULL, &status, NULL, &opts) == 0 ? status : NULL;
}

//  Wait until the running members agree on one leader; its index or -1
static int
s_zm_leader (int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        char leader[32] = "";
        int agree = 0, live = 0, index = -1;
        for (int i = 0; i < MEMBERS; i++) {
            if (s_zm_pid[i] <= 0)
                continue;
            live++;
            zm_msg_t *status = s_zm_status (i);
            const char *said = zm_msg_get_str (status, "leader", "");
            if (*said && (!*leader || streq (leader, said))) {
                snprintf (leader, sizeof leader, "%s", said);
                agree++;
            }
            if (streq (zm_msg_get_str (status, "role", ""), "leader"))
                index = i;
            zm_msg_destroy (&status);
        }
        if (index >= 0 && agree == live)
            return index;
        zclock_sleep (50);
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  etcd: a small HTTP/1.1 client on a persistent connection

typedef struct {
    int fd; //  -1: not connected
    int port;
    size_t have;     //  bytes in buf
    char buf[16385]; //  what was read and not yet used, and a NUL
} http_t;

static void
s_http_init (http_t *self, int port)
{
    self->fd = -1;
    self->port = port;
    self->have = 0;
}

static void
s_http_close (http_t *self)
{
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
    self->have = 0;
}

static int
s_http_connect (http_t *self, int64_t deadline)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)self->port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int rc = connect (fd, (struct sockaddr *)&addr, sizeof addr);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd item = {.fd = fd, .events = POLLOUT};
        int64_t left = deadline - zclock_mono ();
        int err = 0;
        socklen_t len = sizeof err;
        if (left > 0 && poll (&item, 1, (int)left) == 1 &&
            getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            rc = 0;
    }
    if (rc != 0) {
        close (fd);
        return -1;
    }
    int on = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    self->fd = fd;
    self->have = 0;
    return 0;
}

//  Read more into buf; -1 on EOF, error, timeout or a full buffer
static int
s_http_fill (http_t *self, int64_t deadline)
{
    while (true) {
        if (self->have + 1 >= sizeof self->buf)
            return -1;
        ssize_t got = recv (self->fd, self->buf + self->have, sizeof self->buf - 1 - self->have, 0);
        if (got > 0) {
            self->have += (size_t)got;
            self->buf[self->have] = 0;
            return 0;
        }
        if (got == 0 || (errno != EAGAIN && errno != EINTR))
            return -1;
        int64_t left = deadline - zclock_mono ();
        struct pollfd item = {.fd = self->fd, .events = POLLIN};
        if (left <= 0 || poll (&item, 1, (int)left) < 0) {
            if (left > 0 && errno == EINTR)
                continue;
            return -1;
        }
    }
}

//  Where "\r\n" is in buf from at, or -1
static long
s_http_line (http_t *self, size_t at)
{
    for (size_t i = at; i + 1 < self->have; i++)
        if (self->buf[i] == '\r' && self->buf[i + 1] == '\n')
            return (long)i;
    return -1;
}

static void
s_http_append (char *out, size_t out_size, size_t *used, const char *data, size_t size)
{
    if (*used + 1 >= out_size)
        return;
    size_t room = out_size - 1 - *used;
    size_t take = size < room ? size : room;
    memcpy (out + *used, data, take);
    *used += take;
    out[*used] = 0;
}

//  POST body to path; the response body into out. Returns the HTTP status,
//  or -1 (the connection is then closed; the next call reconnects).
static int
s_http_post (http_t *self, const char *path, const char *body, char *out, size_t out_size,
             int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    *out = 0;
    if (self->fd < 0 && s_http_connect (self, deadline) != 0)
        return -1;
    char request[2048];
    int size = snprintf (request, sizeof request,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         path, self->port, strlen (body), body);
    if (size <= 0 || size >= (int)sizeof request) {
        s_http_close (self);
        return -1;
    }
    for (int sent = 0; sent < size;) {
        ssize_t n = send (self->fd, request + sent, (size_t)(size - sent), MSG_NOSIGNAL);
        if (n > 0) {
            sent += (int)n;
            continue;
        }
        struct pollfd item = {.fd = self->fd, .events = POLLOUT};
        int64_t left = deadline - zclock_mono ();
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || left <= 0 ||
            poll (&item, 1, (int)left) < 0) {
            s_http_close (self);
            return -1;
        }
    }
    //  Status line and headers
    long end = -1;
    for (int n = 0; n < 1000; n++) {
        char *found = self->have >= 4 ? memmem (self->buf, self->have, "\r\n\r\n", 4) : NULL;
        if (found) {
            end = found - self->buf;
            break;
        }
        if (s_http_fill (self, deadline) != 0)
            break;
    }
    int status = 0;
    if (end < 0 || sscanf (self->buf, "HTTP/1.%*d %d", &status) != 1) {
        s_http_close (self);
        return -1;
    }
    long length = -1;
    bool chunked = false, closing = false;
    for (long at = s_http_line (self, 0) + 2; at < end;) {
        long eol = s_http_line (self, (size_t)at);
        char header[256];
        size_t n = (size_t)(eol - at) < sizeof header - 1 ? (size_t)(eol - at) : sizeof header - 1;
        memcpy (header, self->buf + at, n);
        header[n] = 0;
        if (strncasecmp (header, "content-length:", 15) == 0)
            length = atol (header + 15);
        else if (strncasecmp (header, "transfer-encoding:", 18) == 0 &&
                 strcasestr (header, "chunked"))
            chunked = true;
        else if (strncasecmp (header, "connection:", 11) == 0 && strcasestr (header, "close"))
            closing = true;
        at = eol + 2;
    }
    size_t at = (size_t)end + 4, used = 0;
    int rc = status;
    if (chunked) {
        for (int n = 0; rc > 0 && n < 100000; n++) {
            long eol = s_http_line (self, at);
            if (eol < 0) {
                rc = s_http_fill (self, deadline) == 0 ? rc : -1;
                continue;
            }
            size_t chunk = (size_t)strtoul (self->buf + at, NULL, 16);
            size_t data = (size_t)eol + 2;
            if (chunk == 0) {
                //  Trailers, then an empty line
                long blank = s_http_line (self, data);
                while (blank > (long)data) {
                    data = (size_t)blank + 2;
                    blank = s_http_line (self, data);
                }
                if (blank < 0) {
                    rc = s_http_fill (self, deadline) == 0 ? rc : -1;
                    continue;
                }
                at = data + 2;
                break;
            }
            if (self->have < data + chunk + 2) {
                rc = s_http_fill (self, deadline) == 0 ? rc : -1;
                continue;
            }
            s_http_append (out, out_size, &used, self->buf + data, chunk);
            at = data + chunk + 2;
        }
    } else if (length >= 0) {
        for (int n = 0; rc > 0 && self->have < at + (size_t)length && n < 100000; n++)
            rc = s_http_fill (self, deadline) == 0 ? rc : -1;
        if (rc > 0) {
            s_http_append (out, out_size, &used, self->buf + at, (size_t)length);
            at += (size_t)length;
        }
    } else {
        closing = true; //  a body up to EOF: not what the gateway sends
        rc = -1;
    }
    if (rc < 0 || closing || at > self->have) {
        s_http_close (self);
        return rc;
    }
    memmove (self->buf, self->buf + at, self->have - at);
    self->have -= at;
    self->buf[self->have] = 0;
    return rc;
}

//  The string value of "field" in JSON text, or false
static bool
s_json_str (const char *json, const char *field, char *out, size_t size)
{
    char pattern[64];
    snprintf (pattern, sizeof pattern, "\"%s\":\"", field);
    const char *at = strstr (json, pattern);
    if (!at)
        return false;
    at += strlen (pattern);
    const char *end = strchr (at, '"');
    if (!end || (size_t)(end - at) >= size)
        return false;
    memcpy (out, at, (size_t)(end - at));
    out[end - at] = 0;
    return true;
}

static void
s_base64 (const char *in, char *out)
{
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t size = strlen (in), o = 0;
    const uint8_t *data = (const uint8_t *)in;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < size)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < size)
            v |= data[i + 2];
        out[o++] = table[v >> 18 & 63];
        out[o++] = table[v >> 12 & 63];
        out[o++] = i + 1 < size ? table[v >> 6 & 63] : '=';
        out[o++] = i + 2 < size ? table[v & 63] : '=';
    }
    out[o] = 0;
}

//  --------------------------------------------------------------------------
//  etcd: cluster and API

static char s_etcd_path[256];
static char s_etcd_version[64];
static bool s_etcd_short; //  zmicro's timeouts (300 / 50 ms) instead of etcd's

static int
s_etcd_client_port (int i)
{
    return s_etcd_base + i;
}

static void
s_etcd_spawn (int i)
{
    char name[8], data[128], client[64], peer[64], cluster[256], token[64], log[128];
    snprintf (name, sizeof name, "e%d", i);
    snprintf (data, sizeof data, "%s/etcd-%d", s_dir, i);
    snprintf (client, sizeof client, "http://127.0.0.1:%d", s_etcd_client_port (i));
    snprintf (peer, sizeof peer, "http://127.0.0.1:%d", s_etcd_base + MEMBERS + i);
    snprintf (cluster, sizeof cluster,
              "e0=http://127.0.0.1:%d,e1=http://127.0.0.1:%d,"
              "e2=http://127.0.0.1:%d",
              s_etcd_base + MEMBERS, s_etcd_base + MEMBERS + 1, s_etcd_base + MEMBERS + 2);
    snprintf (token, sizeof token, "zm-bench-sync-%d", (int)getpid ());
    snprintf (log, sizeof log, "%s/etcd-%d.log", s_dir, i);
    char *argv[] = {s_etcd_path, "--name", name, "--data-dir", data, "--listen-client-urls", client,
                    "--advertise-client-urls", client, "--listen-peer-urls", peer,
                    "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                    "--initial-cluster-token", token, "--initial-cluster-state", "new", "--logger",
                    "zap", "--log-level", "warn",
                    //  (a NULL here ends the list: etcd's own timeouts)
                    s_etcd_short ? "--election-timeout" : NULL, "300", "--heartbeat-interval", "50",
                    NULL};
    s_etcd_pid[i] = s_spawn (argv, log);
    if (s_etcd_pid[i] < 0)
        s_fail ("fork failed");
}

//  maintenance/status of member i: its id and the leader's; false if no answer
static bool
s_etcd_status (int i, char *member, char *leader)
{
    http_t *conn = (http_t *)malloc (sizeof (http_t));
    if (!conn)
        return false;
    s_http_init (conn, s_etcd_client_port (i));
    char body[4096];
    bool ok = s_http_post (conn, "/v3/maintenance/status", "{}", body, sizeof body, 500) == 200 &&
              s_json_str (body, "member_id", member, 32) && s_json_str (body, "leader", leader, 32);
    s_http_close (conn);
    free (conn);
    return ok;
}

//  Wait until the running members agree on one leader; its index or -1
static int
s_etcd_leader (int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        char leader[32] = "", member[32], said[32];
        int agree = 0, live = 0, index = -1;
        for (int i = 0; i < MEMBERS; i++) {
            if (s_etcd_pid[i] <= 0)
                continue;
            live++;
            if (!s_etcd_status (i, member, said) || streq (said, "0"))
                continue;
            if (!*leader || streq (leader, said)) {
                snprintf (leader, sizeof leader, "%s", said);
                agree++;
            }
            if (streq (member, said))
                index = i;
        }
        if (index >= 0 && agree == live)
            return index;
        zclock_sleep (50);
    }
    return -1;
}

//  Leases kept alive by a thread (every TTL / 3), as zmicro's renewer does
static pthread_mutex_t s_leases_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_leases[MAX_THREADS + 8][32];
static int s_lease_count;
static atomic_bool s_keepalive_stop;

static int
s_etcd_grant (http_t *conn, char *lease)
{
    char body[1024];
    char request[64];
    snprintf (request, sizeof request, "{\"TTL\":%d}", TTL_MS / 1000);
    if (s_http_post (conn, "/v3/lease/grant", request, body, sizeof body, HTTP_TIMEOUT) != 200 ||
        !s_json_str (body, "ID", lease, 32))
        return -1;
    pthread_mutex_lock (&s_leases_lock);
    if (s_lease_count < (int)(sizeof s_leases / sizeof s_leases[0]))
        snprintf (s_leases[s_lease_count++], 32, "%s", lease);
    pthread_mutex_unlock (&s_leases_lock);
    return 0;
}

static void *
s_keepalive (void *arg)
{
    (void)arg;
    http_t *conn = (http_t *)malloc (sizeof (http_t));
    if (!conn)
        return NULL;
    int member = 0;
    s_http_init (conn, s_etcd_client_port (member));
    int64_t next = zclock_mono () + TTL_MS / 3;
    for (int64_t n = 0; n < 100000 && !atomic_load (&s_keepalive_stop); n++) {
        if (zclock_mono () < next) {
            zclock_sleep (20);
            continue;
        }
        next = zclock_mono () + TTL_MS / 3;
        pthread_mutex_lock (&s_leases_lock);
        int count = s_lease_count;
        pthread_mutex_unlock (&s_leases_lock);
        for (int i = 0; i < count; i++) {
            char request[64], body[1024];
            pthread_mutex_lock (&s_leases_lock);
            snprintf (request, sizeof request, "{\"ID\":\"%.31s\"}", s_leases[i]);
            pthread_mutex_unlock (&s_leases_lock);
            //  A member that is down: the next one
            for (int attempt = 0; attempt < MEMBERS; attempt++) {
                if (s_http_post (conn, "/v3/lease/keepalive", request, body, sizeof body, 1000) ==
                    200)
                    break;
                s_http_close (conn);
                member = (member + 1) % MEMBERS;
                s_http_init (conn, s_etcd_client_port (member));
            }
        }
    }
    s_http_close (conn);
    free (conn);
    return NULL;
}

//  --------------------------------------------------------------------------
//  One client: either system

typedef struct {
    bool etcd;
    int only;              //  etcd: -1, members in turn; else this member only
    int next;              //  etcd: the member for the next request
    int timeout_ms;        //  etcd: of a lock request
    char lease[32];        //  etcd
    http_t *conn[MEMBERS]; //  etcd
} client_t;

typedef struct {
    uint64_t token; //  zmicro
    char key[256];  //  etcd
} held_t;

static client_t *
s_client_new (bool etcd, int first, int only)
{
    client_t *self = (client_t *)calloc (1, sizeof *self);
    if (!self)
        s_fail ("out of memory");
    self->etcd = etcd;
    self->only = only;
    self->next = first;
    self->timeout_ms = HTTP_TIMEOUT;
    if (!etcd)
        return self;
    for (int i = 0; i < MEMBERS; i++) {
        self->conn[i] = (http_t *)malloc (sizeof (http_t));
        if (!self->conn[i])
            s_fail ("out of memory");
        s_http_init (self->conn[i], s_etcd_client_port (i));
    }
    //  One lease for this client, granted once
    bool granted = false;
    for (int attempt = 0; attempt < 20 && !granted; attempt++) {
        int member = only >= 0 ? only : (first + attempt) % MEMBERS;
        granted = s_etcd_grant (self->conn[member], self->lease) == 0;
        if (!granted)
            zclock_sleep (50);
    }
    if (!granted)
        s_fail ("etcd: cannot grant a lease");
    return self;
}

static void
s_client_destroy (client_t **self_p)
{
    client_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < MEMBERS; i++)
        if (self->conn[i]) {
            s_http_close (self->conn[i]);
            free (self->conn[i]);
        }
    free (self);
    *self_p = NULL;
}

static http_t *
s_client_conn (client_t *self)
{
    if (self->only >= 0)
        return self->conn[self->only];
    http_t *conn = self->conn[self->next];
    self->next = (self->next + 1) % MEMBERS;
    return conn;
}

//  0 when granted
static int
s_acquire (client_t *self, const char *name, held_t *held)
{
    if (!self->etcd)
        return zm_lock_acquire (s_client, name, TTL_MS, WAIT_MS, &held->token);
    char name64[400], request[600], body[2048];
    s_base64 (name, name64);
    snprintf (request, sizeof request, "{\"name\":\"%s\",\"lease\":\"%s\"}", name64, self->lease);
    if (s_http_post (s_client_conn (self), "/v3/lock/lock", request, body, sizeof body,
                     self->timeout_ms) != 200 ||
        !s_json_str (body, "key", held->key, sizeof held->key))
        return -1;
    return 0;
}

//  0 when released
static int
s_release (client_t *self, const char *name, const held_t *held)
{
    if (!self->etcd)
        return zm_lock_release (s_client, name, held->token);
    char request[400], body[2048];
    snprintf (request, sizeof request, "{\"key\":\"%s\"}", held->key);
    //  A member that does not answer: another
    for (int attempt = 0; attempt < MEMBERS; attempt++)
        if (s_http_post (s_client_conn (self), "/v3/lock/unlock", request, body, sizeof body,
                         HTTP_TIMEOUT) == 200)
            return 0;
    return -1;
}

//  --------------------------------------------------------------------------
//  The cases

typedef struct {
    client_t *client;
    char name[64];
    int pairs;
    int64_t *pair_us;    //  pairs
    int64_t *acquire_us; //  pairs
    int done, failures;
} job_t;

static void *
s_job_run (void *arg)
{
    job_t *job = (job_t *)arg;
    for (int i = 0; i < job->pairs; i++) {
        held_t held;
        int64_t start = s_now_us ();
        if (s_acquire (job->client, job->name, &held) != 0) {
            job->failures++;
            continue;
        }
        int64_t granted = s_now_us ();
        if (s_release (job->client, job->name, &held) != 0)
            job->failures++;
        int64_t end = s_now_us ();
        job->pair_us[job->done] = end - start;
        job->acquire_us[job->done] = granted - start;
        job->done++;
    }
    return NULL;
}

static void
s_job_init (job_t *job, client_t *client, const char *name, int pairs)
{
    memset (job, 0, sizeof *job);
    job->client = client;
    snprintf (job->name, sizeof job->name, "%s", name);
    job->pairs = pairs;
    job->pair_us = (int64_t *)calloc ((size_t)pairs, sizeof (int64_t));
    job->acquire_us = (int64_t *)calloc ((size_t)pairs, sizeof (int64_t));
    if (!job->pair_us || !job->acquire_us)
        s_fail ("out of memory");
}

static void
s_job_free (job_t *job)
{
    free (job->pair_us);
    free (job->acquire_us);
}

static const char *
s_system (bool etcd)
{
    return etcd ? "etcd" : "zmicro";
}

static void
s_case_latency (bool etcd, int pairs)
{
    client_t *client = s_client_new (etcd, 0, -1);
    job_t job;
    s_job_init (&job, client, "bench-warmup", 20);
    s_job_run (&job);
    s_job_free (&job);
    s_job_init (&job, client, "bench-latency", pairs);
    int64_t start = s_now_us ();
    s_job_run (&job);
    int64_t elapsed = s_now_us () - start;
    int64_t p50, p99, a50, a99;
    double mean, amean;
    s_stats (job.pair_us, job.done, &p50, &p99, &mean);
    s_stats (job.acquire_us, job.done, &a50, &a99, &amean);
    printf ("{\"bench\":\"sync\",\"system\":\"%s\",\"case\":\"latency\",\"pairs\":%d,"
            "\"failures\":%d,\"p50_us\":%" PRId64 ",\"p99_us\":%" PRId64 ",\"mean_us\":%.0f,"
            "\"ops_s\":%.1f,\"acquire_p50_us\":%" PRId64 ",\"acquire_p99_us\":%" PRId64 "}\n",
            s_system (etcd), job.done, job.failures, p50, p99, mean,
            elapsed > 0 ? job.done * 1e6 / (double)elapsed : 0, a50, a99);
    fflush (stdout);
    s_job_free (&job);
    s_client_destroy (&client);
}

static void
s_case_concurrency (bool etcd, int pairs, int threads)
{
    int each = pairs / threads > 20 ? pairs / threads : 20;
    client_t *clients[MAX_THREADS];
    job_t jobs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        char name[32];
        snprintf (name, sizeof name, "bench-thread-%d", t);
        clients[t] = s_client_new (etcd, t % MEMBERS, -1);
        s_job_init (&jobs[t], clients[t], name, each);
    }
    int64_t start = s_now_us ();
    for (int t = 0; t < threads; t++)
        if (pthread_create (&ids[t], NULL, s_job_run, &jobs[t]) != 0)
            s_fail ("pthread_create failed");
    for (int t = 0; t < threads; t++)
        pthread_join (ids[t], NULL);
    int64_t elapsed = s_now_us () - start;
    int done = 0, failures = 0;
    int64_t *all = (int64_t *)calloc ((size_t)(unsigned)each * (unsigned)threads, sizeof (int64_t));
    if (!all)
        s_fail ("out of memory");
    for (int t = 0; t < threads; t++) {
        memcpy (all + done, jobs[t].pair_us, (size_t)jobs[t].done * sizeof (int64_t));
        done += jobs[t].done;
        failures += jobs[t].failures;
        s_job_free (&jobs[t]);
        s_client_destroy (&clients[t]);
    }
    int64_t p50, p99;
    double mean;
    s_stats (all, done, &p50, &p99, &mean);
    free (all);
    printf ("{\"bench\":\"sync\",\"system\":\"%s\",\"case\":\"concurrency\",\"threads\":%d,"
            "\"lock_names\":\"one per thread\",\"pairs\":%d,\"failures\":%d,\"ops_s\":%.1f,"
            "\"p50_us\":%" PRId64 ",\"p99_us\":%" PRId64 ",\"mean_us\":%.0f}\n",
            s_system (etcd), threads, done, failures,
            elapsed > 0 ? done * 1e6 / (double)elapsed : 0, p50, p99, mean);
    fflush (stdout);
}

//  Failover: a thread takes and releases fresh lock names meanwhile
typedef struct {
    client_t *client;
    int round;
    atomic_bool stop;
    int done, failures;
    int64_t longest_us; //  the longest pair or failure
} load_t;

static void *
s_load_run (void *arg)
{
    load_t *load = (load_t *)arg;
    int64_t until = zclock_mono () + 60000;
    for (int i = 0; i < 1000000 && !atomic_load (&load->stop) && zclock_mono () < until; i++) {
        char name[64];
        snprintf (name, sizeof name, "load-%d-%d", load->round, i);
        held_t held;
        int64_t start = s_now_us ();
        int rc = s_acquire (load->client, name, &held);
        if (rc == 0)
            rc = s_release (load->client, name, &held);
        int64_t took = s_now_us () - start;
        if (took > load->longest_us)
            load->longest_us = took;
        if (rc == 0)
            load->done++;
        else {
            load->failures++;
            zclock_sleep (10);
        }
    }
    return NULL;
}

//  Watches the survivors for a new leader (every 10 ms): when one leads
typedef struct {
    bool etcd;
    int killed;       //  the member that was killed
    int64_t since_us; //  when
    atomic_bool stop;
    double elected_ms; //  -1: not seen
} watch_t;

static void *
s_watch_run (void *arg)
{
    watch_t *watch = (watch_t *)arg;
    watch->elected_ms = -1;
    int64_t until = zclock_mono () + 20000;
    while (!atomic_load (&watch->stop) && zclock_mono () < until && watch->elected_ms < 0) {
        for (int i = 0; i < MEMBERS && watch->elected_ms < 0; i++) {
            if (i == watch->killed)
                continue;
            bool leads = false;
            if (watch->etcd) {
                char member[32], leader[32];
                leads = s_etcd_status (i, member, leader) && streq (member, leader);
            } else {
                zm_msg_t *status = s_zm_status (i);
                leads = streq (zm_msg_get_str (status, "role", ""), "leader");
                zm_msg_destroy (&status);
            }
            if (leads)
                watch->elected_ms = (double)(s_now_us () - watch->since_us) / 1000.0;
        }
        zclock_sleep (10);
    }
    return NULL;
}

static void
s_case_failover (bool etcd, int rounds, const char *label)
{
    double ms[20], elected[20];
    char each[256] = "", leaders[128] = "", elections[256] = "", tries[2048] = "";
    int measured = 0, load_done = 0, load_failures = 0;
    int64_t load_longest = 0;
    for (int round = 0; round < rounds; round++) {
        int leader = etcd ? s_etcd_leader (20000) : s_zm_leader (20000);
        if (leader < 0)
            s_fail ("failover: no leader");
        int survivor = (leader + 1) % MEMBERS;
        //  The probe: etcd, connected to a surviving member, each try
        //  given 1000 ms as zmicro's acquire waits 1000 ms; zmicro, the
        //  client node as it is
        client_t *probe = s_client_new (etcd, survivor, etcd ? survivor : -1);
        probe->timeout_ms = WAIT_MS;
        client_t *loader = s_client_new (etcd, survivor, -1);
        load_t load = {.client = loader, .round = round};
        atomic_init (&load.stop, false);
        pthread_t load_id, watch_id;
        if (pthread_create (&load_id, NULL, s_load_run, &load) != 0)
            s_fail ("pthread_create failed");
        zclock_sleep (300);
        pid_t *pid = etcd ? &s_etcd_pid[leader] : &s_zm_pid[leader];
        int64_t killed = s_now_us ();
        kill (*pid, SIGKILL);
        waitpid (*pid, NULL, 0);
        *pid = 0;
        watch_t watch = {.etcd = etcd, .killed = leader, .since_us = killed};
        atomic_init (&watch.stop, false);
        if (pthread_create (&watch_id, NULL, s_watch_run, &watch) != 0)
            s_fail ("pthread_create failed");
        double took = -1;
        size_t used = strlen (tries);
        snprintf (tries + used, sizeof tries - used, "%s\"", round ? "," : "");
        for (int attempt = 0; s_now_us () - killed < 20000000 && attempt < 100000; attempt++) {
            char name[64];
            snprintf (name, sizeof name, "failover-%d-%d", round, attempt);
            held_t held;
            int rc = s_acquire (probe, name, &held);
            double at = (double)(s_now_us () - killed) / 1000.0;
            used = strlen (tries);
            snprintf (tries + used, sizeof tries - used, "%s%s@%.0f", attempt ? " " : "",
                      rc == 0 ? "ok"
                      : etcd  ? "failed"
                              : zm_strerror (rc),
                      at);
            if (rc == 0) {
                took = at;
                s_release (probe, name, &held);
                break;
            }
            zclock_sleep (etcd ? 10 : 0); //  zmicro's acquire pauses itself
        }
        used = strlen (tries);
        snprintf (tries + used, sizeof tries - used, "\"");
        atomic_store (&load.stop, true);
        atomic_store (&watch.stop, true);
        pthread_join (load_id, NULL);
        pthread_join (watch_id, NULL);
        s_client_destroy (&probe);
        s_client_destroy (&loader);
        load_done += load.done;
        load_failures += load.failures;
        if (load.longest_us > load_longest)
            load_longest = load.longest_us;
        used = strlen (each);
        snprintf (each + used, sizeof each - used, "%s%.1f", round ? "," : "", took);
        used = strlen (elections);
        snprintf (elections + used, sizeof elections - used, "%s%.1f", round ? "," : "",
                  watch.elected_ms);
        used = strlen (leaders);
        snprintf (leaders + used, sizeof leaders - used, "%s\"%s%d\"", round ? "," : "",
                  etcd ? "e" : "m", leader);
        if (took >= 0)
            ms[measured++] = took;
        elected[round] = watch.elected_ms;
        //  The killed member again, from its data
        if (etcd)
            s_etcd_spawn (leader);
        else
            s_zm_spawn (leader);
    }
    if ((etcd ? s_etcd_leader (20000) : s_zm_leader (20000)) < 0)
        s_fail ("failover: no leader after the last restart");
    double median = s_median_any (ms, measured);
    double elected_median = s_median_any (elected, rounds);
    printf ("{\"bench\":\"sync\",\"system\":\"%s\",\"case\":\"%s\",\"rounds\":%d,"
            "\"ms\":[%s],\"median_ms\":%.1f,\"elected_ms\":[%s],\"elected_median_ms\":%.1f,"
            "\"killed\":[%s],\"tries\":[%s],\"load_pairs\":%d,\"load_failures\":%d,"
            "\"load_longest_ms\":%.1f,\"probe\":\"%s\"%s}\n",
            s_system (etcd), label, rounds, each, median, elections, elected_median, leaders, tries,
            load_done, load_failures, (double)load_longest / 1000.0,
            etcd ? "lock of a fresh name via a surviving member, each try 1000 ms at most, "
                   "10 ms between tries"
                 : "zm_lock_acquire of a fresh name from the client node (wait 1000 ms)",
            etcd ? "" : ",\"target_ms\":1000");
    fflush (stdout);
}

//  --------------------------------------------------------------------------

static void
s_run_zmicro (int pairs, int threads, int rounds)
{
    s_base = s_free_ports (MEMBERS + 1, 0);
    for (int i = 0; i <= MEMBERS; i++) {
        char keys[128];
        snprintf (keys, sizeof keys, "%s/keys-%d", s_dir, i);
        if (zm_keypair_create (keys, "node", NULL, s_keys[i]) != 0)
            s_fail ("zm_keypair_create failed");
    }
    for (int i = 0; i < MEMBERS; i++)
        s_zm_spawn (i);
    s_client = s_start_node (MEMBERS);
    if (!s_client)
        s_fail ("the client node did not start");
    if (s_zm_leader (20000) < 0)
        s_fail ("zmicro: no leader within 20 s");
    printf ("{\"bench\":\"sync\",\"system\":\"zmicro\",\"case\":\"setup\",\"members\":"
            "\"child processes\",\"client\":\"in-process node\",\"store\":\"LMDB, every commit "
            "synced (default; there is no store.sync option)\",\"fs\":\"%s\","
            "\"election_timeout_ms\":300,\"heartbeat_ms\":50,\"ttl_ms\":%d,\"wait_ms\":%d}\n",
            s_fs (), TTL_MS, WAIT_MS);
    fflush (stdout);
    s_case_latency (false, pairs);
    s_case_concurrency (false, pairs, threads);
    s_case_failover (false, rounds, "failover");
    zm_node_destroy (&s_client);
    for (int i = 0; i < MEMBERS; i++)
        s_stop (&s_zm_pid[i]);
}

//  etcd on PATH and its version, or false
static bool
s_etcd_find (char *why, size_t size)
{
    const char *path = getenv ("PATH");
    char *copy = strdup (path ? path : "/usr/bin:/bin");
    char *save = NULL;
    *s_etcd_path = 0;
    for (char *dir = copy ? strtok_r (copy, ":", &save) : NULL; dir && !*s_etcd_path;
         dir = strtok_r (NULL, ":", &save)) {
        char candidate[256];
        snprintf (candidate, sizeof candidate, "%s/etcd", dir);
        if (access (candidate, X_OK) == 0)
            snprintf (s_etcd_path, sizeof s_etcd_path, "%s", candidate);
    }
    free (copy);
    if (!*s_etcd_path) {
        snprintf (why, size, "etcd is not installed (apt-get install etcd-server etcd-client)");
        return false;
    }
    char command[300];
    snprintf (command, sizeof command, "'%s' --version 2>&1", s_etcd_path);
    FILE *pipe = popen (command, "r");
    char line[256];
    while (pipe && fgets (line, sizeof line, pipe))
        if (sscanf (line, "etcd Version: %63s", s_etcd_version) == 1)
            break;
    if (pipe)
        pclose (pipe);
    if (!*s_etcd_version) {
        snprintf (why, size, "%.200s --version gave no version", s_etcd_path);
        return false;
    }
    return true;
}

static void
s_run_etcd (int pairs, int threads, int rounds)
{
    s_etcd_base = s_free_ports (2 * MEMBERS, 7);
    for (int i = 0; i < MEMBERS; i++)
        s_etcd_spawn (i);
    if (s_etcd_leader (30000) < 0) {
        for (int i = 0; i < MEMBERS; i++)
            s_kill (&s_etcd_pid[i]);
        printf ("{\"bench\":\"sync\",\"system\":\"etcd\",\"case\":\"skipped\",\"reason\":"
                "\"the etcd cluster had no leader within 30 s\"}\n");
        fflush (stdout);
        return;
    }
    printf ("{\"bench\":\"sync\",\"system\":\"etcd\",\"case\":\"setup\",\"version\":\"%s\","
            "\"members\":\"child processes\",\"flags\":\"--listen/advertise-client-urls, "
            "--listen-peer-urls, --initial-advertise-peer-urls, --initial-cluster, "
            "--initial-cluster-token, --initial-cluster-state new, --logger zap, --log-level "
            "warn; defaults otherwise\",\"fs\":\"%s\",\"election_timeout_ms\":1000,"
            "\"heartbeat_ms\":100,\"failover_election_300ms\":\"the failover case again after "
            "a restart of all three with --election-timeout 300 --heartbeat-interval 50\","
            "\"api\":\"v3 gRPC gateway, JSON over keep-alive HTTP/1.1, one connection per "
            "member per client thread, members in turn\",\"lease\":\"one per client thread, "
            "TTL %d s, kept alive every %d ms by a thread (zmicro: lock ttl %d ms renewed by "
            "the node)\"}\n",
            s_etcd_version, s_fs (), TTL_MS / 1000, TTL_MS / 3, TTL_MS);
    fflush (stdout);
    atomic_store (&s_keepalive_stop, false);
    pthread_t keepalive;
    if (pthread_create (&keepalive, NULL, s_keepalive, NULL) != 0)
        s_fail ("pthread_create failed");
    s_case_latency (true, pairs);
    s_case_concurrency (true, pairs, threads);
    s_case_failover (true, rounds, "failover");
    //  Again with zmicro's timeouts, for comparison (flags only: same data)
    for (int i = 0; i < MEMBERS; i++)
        s_stop (&s_etcd_pid[i]);
    s_etcd_short = true;
    for (int i = 0; i < MEMBERS; i++)
        s_etcd_spawn (i);
    if (s_etcd_leader (30000) < 0)
        s_fail ("etcd: no leader with --election-timeout 300 --heartbeat-interval 50");
    s_case_failover (true, rounds, "failover_election_300ms");
    atomic_store (&s_keepalive_stop, true);
    pthread_join (keepalive, NULL);
    for (int i = 0; i < MEMBERS; i++)
        s_stop (&s_etcd_pid[i]);
}

int
main (int argc, char **argv)
{
    if (argc > 1 && streq (argv[1], "--member"))
        return s_member_main (argc, argv);
    int pairs = argc > 1 ? atoi (argv[1]) : 2000;
    int threads = argc > 2 ? atoi (argv[2]) : 8;
    int rounds = argc > 3 ? atoi (argv[3]) : 3;
    if (pairs < 20 || pairs > 1000000 || threads < 1 || threads > MAX_THREADS || rounds < 1 ||
        rounds > 20) {
        fprintf (stderr, "usage: bench_sync [pairs 20..1000000] [threads 1..%d] [rounds 1..20]\n",
                 MAX_THREADS);
        return 2;
    }
    long max_fd = sysconf (_SC_OPEN_MAX);
    s_max_fd = max_fd > 0 && max_fd < 65536 ? max_fd : 65536;
    char why[256] = "";
    bool etcd = s_etcd_find (why, sizeof why);
    zsys_init ();
    zsys_set_logstream (stderr);
    snprintf (s_dir, sizeof s_dir, "/tmp/zm-bench-sync-XXXXXX");
    if (!mkdtemp (s_dir)) {
        perror ("mkdtemp");
        return 1;
    }
    struct sigaction action = {.sa_handler = s_on_signal};
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGHUP, &action, NULL);
    s_run_zmicro (pairs, threads, rounds);
    if (etcd)
        s_run_etcd (pairs, threads, rounds);
    else {
        printf ("{\"bench\":\"sync\",\"system\":\"etcd\",\"case\":\"skipped\",\"reason\":\"%s\"}\n",
                why);
        fflush (stdout);
    }
    s_remove_dir ();
    return 0;
}
