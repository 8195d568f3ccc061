/*  Test support: child processes, and a LAN of network namespaces.

    Header only: SConstruct builds every tests/test_*.c alone, so everything
    here is `static inline` (no warning in a test that uses only part of it).

    Processes. zt_spawn starts a program with its stdout on a pipe that the
    test reads line by line with a deadline (zt_read_line, zt_ready); stderr
    goes where the test's goes. A spawned program dies with the test: the
    child sets PR_SET_PDEATHSIG (SIGKILL) before exec, which survives exec and
    `ip netns exec` (ip execs the program in place after setns: the pid we
    hold is the program's). The signal comes when the *thread* that called
    zt_spawn ends, so spawn from the test's own thread. zt_kill stops and
    reaps; it is safe twice and on a process that never started.

    LAN. zt_lan_new (n) builds n hosts on one Ethernet segment out of network
    namespaces, each named zmt<pid>-<seq>-...:

        zmt<pid>-<seq>-sw   the switch: bridge br0, ports h0 .. h<n-1>
        zmt<pid>-<seq>-h<i> host i: lo, and eth0 = 198.18.0.<10+i>/15
                            (broadcast 198.19.255.255), cabled to port h<i>;
                            the default route is eth0 (no gateway)

    198.18.0.0/15 is reserved for benchmarking (RFC 2544): it is never a real
    network. UDP broadcast works to the subnet's address (what zbeacon uses by
    default: eth0 is each host's only broadcast interface) and to
    255.255.255.255 (zbeacon with ZSYS_INTERFACE=*): that one needs the
    default route, without which sendto fails with ENETUNREACH. The price: a
    connection to an address off the LAN fails by ARP timeout (about 3 s),
    not at once. Interface names need no prefix: they live inside private
    namespaces, and veths are created straight into them, so the root
    namespace never holds any of them. Programs join a host with
    zt_spawn (argv, zt_lan_host (lan, i)). zt_lan_link cuts and heals one
    host's cable (its switch port goes down: eth0 in the host loses carrier
    but stays up). The bridge has STP off (a port forwards as soon as it is
    up) and multicast snooping off (a dumb switch: multicast is flooded).

    A LAN needs root. Without it the test is skipped, except under CI=true,
    where it fails: CI runs as root and must not skip quietly.

    Teardown must run even when an assertion fails mid-test, so keep the LAN
    in a file-static pointer and destroy it in the test's .fini:

        static zt_lan_t *s_lan;

        static void
        s_teardown (void)
        {
            zt_lan_destroy (&s_lan);
        }

        Test (discovery, peers_meet, .fini = s_teardown, .timeout = 30)
        {
            s_lan = zt_lan_new (3);
            ...
        }

    A test killed by its timeout runs no .fini: the next zt_lan_new in any
    test process deletes namespaces whose zmt<pid> is no longer alive (and
    kills what still runs in them). No other namespace is ever touched.
*/
#ifndef ZT_SUPPORT_H_INCLUDED
#define ZT_SUPPORT_H_INCLUDED

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "zmicro.h"

//  How long zt_kill waits for a signalled process before SIGKILL: longer
//  than a node's default node.shutdown_timeout (5000 ms).
#define ZT_KILL_GRACE_MS 10000

//  The most hosts on one LAN.
#define ZT_LAN_MAX 64

//  ---------------------------------------------------------------------------
//  Processes

//  A program started by zt_spawn, returned by value. Initialise one that
//  may never be started with ZT_PROC_NONE (not zeroes: fd 0 is stdin).
typedef struct {
    pid_t pid;      //  the process, 0 when not running (or reaped)
    int out;        //  our end of its stdout, -1 when closed
    int status;     //  exit status once reaped (128 + signal if killed), else -1
    int port;       //  from its "READY <port> [<key>]" line (zt_ready), else 0
    char key[41];   //  its public key from that line, "" when it gave none
    char address[128]; //  "tcp://127.0.0.1:<port>[#<key>]": how to reach it
    size_t len;     //  bytes in buf
    char buf[1024]; //  stdout read past the last line returned
} zt_proc_t;

#define ZT_PROC_NONE {.pid = 0, .out = -1, .status = -1}

//  Programs the tests start (helpers, examples) read ZM_* variables: none
//  of them broadcasts beacons on the machine's real network. LAN tests turn
//  beacons back on with --registry.beacon=true inside their namespaces.
//  Nodes make a keypair in memory, not zm-keys/ in the working directory,
//  unless a test names a keys directory (--auth.keys).
__attribute__ ((constructor)) static void
s_zt_no_beacons (void)
{
    setenv ("ZM_REGISTRY_BEACON", "false", 1);
    setenv ("ZM_AUTH_KEYS", ":memory:", 1);
}

//  Milliseconds on the monotonic clock.
static inline int64_t
zt_clock (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  The build directory of this test binary's variant, build/<variant>
//  (the binary is build/<variant>/tests/test_x).
static inline const char *
zt_build_dir (void)
{
    static char dir[4096];
    if (!*dir) {
        char path[4096];
        ssize_t len = readlink ("/proc/self/exe", path, sizeof path - 1);
        cr_assert (len > 0, "readlink /proc/self/exe: %s", strerror (errno));
        path[len] = 0;
        snprintf (dir, sizeof dir, "%s", dirname (dirname (path)));
    }
    return dir;
}

//  Start argv[0] (looked up in PATH if it has no '/') with argv, inside
//  network namespace netns when not NULL (through `ip netns exec`, which
//  execs the program under the same pid). Its stdout comes to us on a pipe,
//  stderr is ours. Never asserts: on failure pid is 0 (check it), and a
//  program that cannot be executed exits 127. The pipe is close-on-exec, so
//  later children do not inherit it.
static inline zt_proc_t
zt_spawn (const char *const argv[], const char *netns)
{
    zt_proc_t self = ZT_PROC_NONE;
    size_t argc = 0;
    while (argv[argc])
        argc++;
    //  Built before fork: the child only makes syscalls (the parent may have
    //  threads, e.g. czmq's).
    const char **full = (const char **) calloc (argc + 5, sizeof (char *));
    if (!full)
        return self;
    size_t at = 0;
    if (netns) {
        full[at++] = "ip";
        full[at++] = "netns";
        full[at++] = "exec";
        full[at++] = netns;
    }
    for (size_t i = 0; i < argc; i++)
        full[at++] = argv[i];
    full[at] = NULL;

    int fds[2];
    if (pipe2 (fds, O_CLOEXEC)) {
        free (full);
        return self;
    }
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127); //  the test died before we could ask
        if (dup2 (fds[1], STDOUT_FILENO) < 0)
            _exit (127);
        execvp (full[0], (char *const *) full);
        _exit (127);
    }
    free (full);
    close (fds[1]);
    if (pid < 0) {
        close (fds[0]);
        return self;
    }
    self.pid = pid;
    self.out = fds[0];
    return self;
}

//  Read the next line of the process's stdout into line (without its
//  newline; cut at size - 1). Waits at most timeout_ms. Returns false on
//  timeout, or when the process closed stdout with nothing more to read.
static inline bool
zt_read_line (zt_proc_t *self, char *line, size_t size, int timeout_ms)
{
    int64_t deadline = zt_clock () + timeout_ms;
    while (true) {
        char *newline = (char *) memchr (self->buf, '\n', self->len);
        bool full = self->len == sizeof self->buf;
        if (newline || full || (self->out < 0 && self->len > 0)) {
            //  A line, an overlong one, or the last one without a newline.
            size_t take = newline ? (size_t) (newline - self->buf) : self->len;
            size_t copy = take < size - 1 ? take : size - 1;
            memcpy (line, self->buf, copy);
            line[copy] = 0;
            size_t used = newline ? take + 1 : take;
            memmove (self->buf, self->buf + used, self->len - used);
            self->len -= used;
            return true;
        }
        if (self->out < 0)
            return false;
        //  timeout_ms 0 still reads what is there now
        int64_t left = deadline - zt_clock ();
        struct pollfd item = {self->out, POLLIN, 0};
        int rc = poll (&item, 1, left > 0 ? (int) left : 0);
        if (rc < 0 && errno == EINTR && left > 0)
            continue;
        if (rc <= 0)
            return false;
        ssize_t got = read (self->out, self->buf + self->len, sizeof self->buf - self->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            //  End of its stdout. Closed here, so the next call ends at once.
            close (self->out);
            self->out = -1;
        } else
            self->len += (size_t) got;
    }
}

//  Read lines until one says "READY <port> [<key>]" (what our helper
//  programs and examples print once they serve: the RPC port and the
//  node's public key), skipping any others, for at most timeout_ms in all.
//  Returns the port, also kept in self->port (and self->key, self->address),
//  or -1 (timeout, or the process closed stdout first).
static inline int
zt_ready (zt_proc_t *self, int timeout_ms)
{
    int64_t deadline = zt_clock () + timeout_ms;
    char line[256];
    int port;
    while (true) {
        int64_t left = deadline - zt_clock ();
        if (left <= 0 || !zt_read_line (self, line, sizeof line, (int) left))
            return -1;
        char key[41] = "";
        if (sscanf (line, "READY %d %40s", &port, key) >= 1 && port > 0) {
            memcpy (self->key, key, sizeof key);
            snprintf (self->address, sizeof self->address, "tcp://127.0.0.1:%d%s%s", port,
                      *key ? "#" : "", key);
            return self->port = port;
        }
    }
}

//  "tcp://127.0.0.1:<port>#<key>" of an in-process node's reactor 0: what
//  registry.peers and direct calls take. Into buffer; returns it.
static inline char *
zt_node_address (zm_node_t *node, char *buffer, size_t size)
{
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    snprintf (buffer, size, "tcp://127.0.0.1:%d#%s", zm_node_rpc_port (node, 0), key);
    return buffer;
}

//  A raw socket of type connected to address "tcp://host:port#KEY" as a
//  CURVE client with a keypair of its own (a stranger: an open node admits
//  it, a keyed one does not), or in the clear when there is no "#KEY".
static inline zsock_t *
zt_curve_socket (int type, const char *address)
{
    zsock_t *sock = zsock_new (type);
    const char *hash = strchr (address, '#');
    if (sock && hash) {
        zcert_t *cert = zcert_new ();
        zcert_apply (cert, sock);
        zcert_destroy (&cert);
        zsock_set_curve_serverkey (sock, hash + 1);
    }
    if (sock && zsock_connect (sock, "%.*s", (int) (hash ? hash - address : (long) strlen (address)),
                               address) != 0)
        zsock_destroy (&sock);
    return sock;
}

//  Wait at most timeout_ms for the process to exit, and reap it. Returns
//  its exit status (128 + signal when a signal ended it), or -1 when it is
//  still running (or was never started). Once reaped, returns the same
//  status again. Leaves the pipe open: zt_kill closes it.
static inline int
zt_wait (zt_proc_t *self, int timeout_ms)
{
    if (self->pid <= 0)
        return self->status;
    int64_t deadline = zt_clock () + timeout_ms;
    while (true) {
        int status;
        pid_t rc = waitpid (self->pid, &status, WNOHANG);
        if (rc == self->pid) {
            self->status = WIFEXITED (status)     ? WEXITSTATUS (status)
                           : WIFSIGNALED (status) ? 128 + WTERMSIG (status)
                                                  : -1;
            self->pid = 0;
            return self->status;
        }
        if (rc < 0 && errno != EINTR) {
            self->pid = 0; //  not our child (any more): nothing to wait for
            return -1;
        }
        if (zt_clock () >= deadline)
            return -1;
        usleep (5000);
    }
}

//  Send signal to the process, wait for it to exit (SIGKILL after
//  ZT_KILL_GRACE_MS), reap it and close its pipe. Safe to call twice, and
//  on ZT_PROC_NONE.
static inline void
zt_kill (zt_proc_t *self, int signal)
{
    if (self->pid > 0) {
        kill (self->pid, signal);
        if (zt_wait (self, ZT_KILL_GRACE_MS) < 0 && self->pid > 0) {
            kill (self->pid, SIGKILL);
            zt_wait (self, ZT_KILL_GRACE_MS);
        }
        self->pid = 0;
    }
    if (self->out >= 0) {
        close (self->out);
        self->out = -1;
    }
    self->len = 0;
}

//  Run command with /bin/sh; put its stdout (cut at size - 1) in out, which
//  may be NULL to throw it away. Returns its exit status, or -1 when it
//  could not run or a signal ended it. Never asserts.
static inline int
zt_run (const char *command, char *out, size_t size)
{
    if (out && size)
        out[0] = 0;
    FILE *pipe = popen (command, "r");
    if (!pipe)
        return -1;
    size_t got = 0;
    char scrap[512];
    while (true) {
        size_t room = out && size > got + 1 ? size - 1 - got : 0;
        size_t bytes =
            room ? fread (out + got, 1, room, pipe) : fread (scrap, 1, sizeof scrap, pipe);
        if (bytes == 0)
            break;
        if (room)
            got += bytes; //  past size - 1 the rest is drained and dropped
    }
    if (out && size)
        out[got] = 0;
    int status = pclose (pipe);
    return status != -1 && WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Run a printf-formatted command with its stderr joined to stdout, and
//  assert it exits 0; the assertion names the command and shows its output.
static inline void
zt_must (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static inline void
zt_must (const char *format, ...)
{
    char command[2048], out[2048];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command - 8, format, args);
    va_end (args);
    strcat (command, " 2>&1");
    int status = zt_run (command, out, sizeof out);
    cr_assert_eq (status, 0, "command failed (exit %d): %s\n%s", status, command, out);
}

//  ---------------------------------------------------------------------------
//  LAN

//  A LAN: n host namespaces cabled to one switch namespace.
typedef struct {
    int hosts;                 //  how many
    char sw[64];               //  switch namespace name
    char host[ZT_LAN_MAX][64]; //  host namespace names
    char addr[ZT_LAN_MAX][20]; //  host IPv4 addresses
    bool made[ZT_LAN_MAX + 1]; //  which namespaces exist: hosts, then switch
} zt_lan_t;

//  Run a printf-formatted command (stderr joined to stdout). On failure,
//  when error is not NULL and holds no earlier error, describe it there.
//  Returns the exit status. Internal.
static inline int
s_zt_try (char *error, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline int
s_zt_try (char *error, size_t size, const char *format, ...)
{
    char command[1024], out[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command - 8, format, args);
    va_end (args);
    strcat (command, " 2>&1");
    int status = zt_run (command, out, sizeof out);
    if (status != 0 && error && !*error)
        snprintf (error, size, "command failed (exit %d): %s\n%s", status, command, out);
    return status;
}

//  This process's next LAN number: names stay unique when one test makes
//  several LANs. Internal.
static inline int
s_zt_lan_seq (bool take)
{
    static int seq;
    return take ? seq++ : seq;
}

//  SIGKILL every process inside namespace name (never this one). Internal.
static inline void
s_zt_netns_kill (const char *name)
{
    char command[512], out[4096];
    snprintf (command, sizeof command, "ip netns pids %s 2>/dev/null", name);
    if (zt_run (command, out, sizeof out) != 0)
        return;
    char *cursor = out;
    while (*cursor) {
        char *end;
        long pid = strtol (cursor, &end, 10);
        if (end == cursor)
            break;
        if (pid > 1 && pid != getpid ())
            kill ((pid_t) pid, SIGKILL);
        cursor = end;
    }
}

//  Delete namespaces left by LANs of dead processes: zmt<pid>-<seq>-* where
//  pid is gone, or is ours with a number we have not handed out yet (an
//  earlier process that had our pid). Internal.
static inline void
s_zt_lan_clean_stale (void)
{
    char out[16384];
    if (zt_run ("ip netns list 2>/dev/null", out, sizeof out) != 0)
        return;
    char *saveptr = NULL;
    for (char *line = strtok_r (out, "\n", &saveptr); line;
         line = strtok_r (NULL, "\n", &saveptr)) {
        char name[256];
        int pid, seq, end = 0;
        if (sscanf (line, "%255s", name) != 1
            || sscanf (name, "zmt%d-%d-%n", &pid, &seq, &end) != 2 || end == 0 || pid <= 0)
            continue;
        bool stale = pid == getpid () ? seq >= s_zt_lan_seq (false)
                                      : kill (pid, 0) == -1 && errno == ESRCH;
        if (stale) {
            s_zt_netns_kill (name);
            s_zt_try (NULL, 0, "ip netns delete %s", name);
        }
    }
}

//  Delete every namespace of the LAN, first killing (SIGKILL) whatever still
//  runs in each, and free it. Best effort: goes on past a failure, which it
//  reports on stderr. Idempotent; nulls the caller's pointer.
static inline void
zt_lan_destroy (zt_lan_t **self_p)
{
    zt_lan_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i <= self->hosts; i++) {
        if (!self->made[i])
            continue;
        const char *name = i < self->hosts ? self->host[i] : self->sw;
        s_zt_netns_kill (name);
        char error[1200] = "";
        if (s_zt_try (error, sizeof error, "ip netns delete %s", name))
            fprintf (stderr, "zt_lan_destroy: %s\n", error);
    }
    free (self);
    *self_p = NULL;
}

//  Build a LAN of hosts hosts (1 .. ZT_LAN_MAX). Skips the test without
//  root, fails it without root under CI=true, or without `ip`, or when a
//  command fails (naming it; what was built is removed first). Caller owns
//  the LAN: destroy it in the test's .fini.
static inline zt_lan_t *
zt_lan_new (int hosts)
{
    if (geteuid () != 0) {
        const char *ci = getenv ("CI");
        if (ci && (strcmp (ci, "true") == 0 || strcmp (ci, "1") == 0))
            cr_assert_fail ("LAN tests need root (CI runs as root)");
        cr_skip_test ("LAN tests need root: run as root or sudo ./run.sh test");
    }
    cr_assert (zt_run ("ip -V >/dev/null 2>&1", NULL, 0) == 0,
               "LAN tests need the `ip` command: apt-get install iproute2 (./run.sh test does)");
    cr_assert (hosts >= 1 && hosts <= ZT_LAN_MAX, "zt_lan_new: %d hosts (1 .. %d)", hosts,
               ZT_LAN_MAX);
    s_zt_lan_clean_stale ();

    zt_lan_t *self = (zt_lan_t *) calloc (1, sizeof (zt_lan_t));
    cr_assert_not_null (self);
    int seq = s_zt_lan_seq (true);
    char error[1200] = "";
    //  The switch: a bridge, its ports added as hosts are cabled.
    snprintf (self->sw, sizeof self->sw, "zmt%d-%d-sw", (int) getpid (), seq);
    if (s_zt_try (error, sizeof error, "ip netns add %s", self->sw))
        goto fail;
    self->made[hosts] = true;
    self->hosts = hosts;
    if (s_zt_try (error, sizeof error,
                  "ip -n %s link add br0 type bridge stp_state 0 mcast_snooping 0", self->sw)
        || s_zt_try (error, sizeof error, "ip -n %s link set br0 up", self->sw))
        goto fail;
    for (int i = 0; i < hosts; i++) {
        const char *host = self->host[i];
        snprintf (self->host[i], sizeof self->host[i], "zmt%d-%d-h%d", (int) getpid (), seq, i);
        snprintf (self->addr[i], sizeof self->addr[i], "198.18.0.%d", 10 + i);
        if (s_zt_try (error, sizeof error, "ip netns add %s", host))
            goto fail;
        self->made[i] = true;
        //  The cable: a veth made in the switch, its other end born in the
        //  host as eth0.
        if (s_zt_try (error, sizeof error,
                      "ip -n %s link add h%d type veth peer name eth0 netns %s", self->sw, i,
                      host)
            || s_zt_try (error, sizeof error, "ip -n %s link set h%d master br0 up", self->sw, i)
            || s_zt_try (error, sizeof error, "ip -n %s addr add %s/15 brd + dev eth0", host,
                         self->addr[i])
            || s_zt_try (error, sizeof error, "ip -n %s link set lo up", host)
            || s_zt_try (error, sizeof error, "ip -n %s link set eth0 up", host)
            || s_zt_try (error, sizeof error, "ip -n %s route add default dev eth0", host))
            goto fail;
    }
    return self;
fail:
    zt_lan_destroy (&self);
    cr_assert_fail ("zt_lan_new: %s", error);
    return NULL;
}

//  The namespace name of host i, for zt_spawn and `ip -n`.
static inline const char *
zt_lan_host (zt_lan_t *self, int i)
{
    cr_assert (self && i >= 0 && i < self->hosts, "zt_lan_host: no host %d", i);
    return self->host[i];
}

//  The IPv4 address of host i (dotted quad).
static inline const char *
zt_lan_addr (zt_lan_t *self, int i)
{
    cr_assert (self && i >= 0 && i < self->hosts, "zt_lan_addr: no host %d", i);
    return self->addr[i];
}

//  The LAN's broadcast address (every host's eth0 has it).
static inline const char *
zt_lan_broadcast (zt_lan_t *self)
{
    (void) self; //  the same for every LAN
    return "198.19.255.255";
}

//  Cut (up = false) or heal (up = true) host i's cable: its switch port goes
//  down or up. Asserts that it worked.
static inline void
zt_lan_link (zt_lan_t *self, int i, bool up)
{
    cr_assert (self && i >= 0 && i < self->hosts, "zt_lan_link: no host %d", i);
    zt_must ("ip -n %s link set h%d %s", self->sw, i, up ? "up" : "down");
}

//  ---------------------------------------------------------------------------
//  Sync clusters in one process

//  Config of node i of an in-process sync group on loopback: nodes
//  0..members-1 are the members m0, m1, ... and the others (i >= members)
//  clients named "client"; node j listens on port base + j, keeps its
//  keypair and store in dir (keys-<j>, store-<j>), and knows the members by
//  keys[j] (their public keys, made beforehand) as static peers.
static inline zm_config_t *
zt_sync_config (int i, int members, const char *dir, int base, char keys[][ZM_KEY_TEXT])
{
    zm_config_t *config = zm_config_new ();
    char name[16], port[16], keys_dir[128], store[128], peers[1024] = "", list[128] = "";
    snprintf (name, sizeof name, i < members ? "m%d" : "client", i);
    snprintf (port, sizeof port, "%d", base + i);
    snprintf (keys_dir, sizeof keys_dir, "%s/keys-%d", dir, i);
    snprintf (store, sizeof store, "%s/store-%d", dir, i);
    for (int m = 0; m < members; m++) {
        size_t used = strlen (list);
        snprintf (list + used, sizeof list - used, "%sm%d", m ? "," : "", m);
        if (m == i)
            continue;
        used = strlen (peers);
        snprintf (peers + used, sizeof peers - used, "%stcp://127.0.0.1:%d#%s", used ? "," : "",
                  base + m, keys[m]);
    }
    zm_config_set (config, "node.name", name, NULL);
    zm_config_set (config, "log.level", getenv ("ZT_LOG") ? getenv ("ZT_LOG") : "error", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "registry.ttl", "200", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "rpc.port", port, NULL);
    zm_config_set (config, "auth.keys", keys_dir, NULL);
    zm_config_set (config, "store.path", store, NULL);
    zm_config_set (config, "registry.peers", peers, NULL);
    zm_config_set (config, "sync.members", list, NULL);
    return config;
}

#endif
