/*  The LAN harness of tests/support.h, tested: namespaces on one bridge
    carry UDP broadcast and TCP, a cable can be cut and healed, nothing is
    left behind and nothing appears in the root namespace.

    The programs inside the hosts are small python3 probes (the script
    below), started with zt_spawn (argv, host). They print what they saw on
    stdout, one line each, and each ends itself after 60 s whatever happens.

    This file also shows the teardown pattern: the LAN and the probes live in
    file-static variables and s_teardown, the tests' .fini, removes them even
    when an assertion fails halfway.

    Needs root (skipped without, failed under CI=true), iproute2 and
    /usr/bin/python3 (./run.sh test installs both).
*/
#include "support.h"
#include <sys/stat.h>

//  Probes, by argv[1]:
//    udp-listen PORT           print READY, then GOT <data> <from> per datagram
//    udp-send ADDR PORT N TEXT send TEXT N times, 100 ms apart
//    tcp-listen PORT           print READY, then ACCEPTED <from> per connection
//    tcp-connect ADDR PORT S   connect within S seconds: CONNECTED <greeting>
//                              and exit 0, or FAILED <why> and exit 1
//    whoami                    print <pid> <parent death signal> <netns>
static const char *s_probe =
    "import ctypes, os, signal, socket, sys, time\n"
    "signal.alarm(60)\n"
    "mode = sys.argv[1]\n"
    "if mode == 'udp-listen':\n"
    "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "    s.bind(('', int(sys.argv[2])))\n"
    "    print('READY', sys.argv[2], flush=True)\n"
    "    while True:\n"
    "        data, peer = s.recvfrom(256)\n"
    "        print('GOT', data.decode(), peer[0], flush=True)\n"
    "elif mode == 'udp-send':\n"
    "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n"
    "    for i in range(int(sys.argv[4])):\n"
    "        s.sendto(sys.argv[5].encode(), (sys.argv[2], int(sys.argv[3])))\n"
    "        time.sleep(0.1)\n"
    "    print('SENT', flush=True)\n"
    "elif mode == 'tcp-listen':\n"
    "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    s.bind(('', int(sys.argv[2])))\n"
    "    s.listen(8)\n"
    "    print('READY', sys.argv[2], flush=True)\n"
    "    while True:\n"
    "        c, peer = s.accept()\n"
    "        print('ACCEPTED', peer[0], flush=True)\n"
    "        c.sendall(b'hi\\n')\n"
    "        c.close()\n"
    "elif mode == 'tcp-connect':\n"
    "    try:\n"
    "        c = socket.create_connection((sys.argv[2], int(sys.argv[3])), float(sys.argv[4]))\n"
    "        c.settimeout(float(sys.argv[4]))\n"
    "        print('CONNECTED', c.recv(16).decode().strip(), flush=True)\n"
    "    except OSError as e:\n"
    "        print('FAILED', e, flush=True)\n"
    "        sys.exit(1)\n"
    "elif mode == 'whoami':\n"
    "    sig = ctypes.c_int(0)\n"
    "    ctypes.CDLL(None).prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG\n"
    "    print(os.getpid(), sig.value, os.readlink('/proc/self/ns/net'), flush=True)\n";

#define PYTHON "/usr/bin/python3"
#define PORT   "5670"

static zt_lan_t *s_lan;     //  the test's LAN
static zt_proc_t s_probes[4] = {ZT_PROC_NONE, ZT_PROC_NONE, ZT_PROC_NONE, ZT_PROC_NONE};
static char s_extra[4][64]; //  namespaces a test made by hand

//  .fini of every test: runs after a failed assertion too.
static void
s_teardown (void)
{
    for (int i = 0; i < 4; i++)
        zt_kill (&s_probes[i], SIGKILL);
    zt_lan_destroy (&s_lan);
    for (int i = 0; i < 4; i++)
        if (*s_extra[i]) {
            char command[320];
            snprintf (command, sizeof command, "ip netns delete %s 2>/dev/null", s_extra[i]);
            zt_run (command, NULL, 0);
        }
}

//  Start a probe with up to four arguments in a host.
static zt_proc_t
s_probe_start (int host, const char *mode, const char *a, const char *b, const char *c,
               const char *d)
{
    cr_assert (access (PYTHON, X_OK) == 0,
               PYTHON " is missing: apt-get install python3 (./run.sh test does)");
    const char *argv[] = {PYTHON, "-c", s_probe, mode, a, b, c, d, NULL};
    zt_proc_t probe = zt_spawn (argv, zt_lan_host (s_lan, host));
    cr_assert (probe.pid > 0, "cannot start %s in host %d", mode, host);
    return probe;
}

//  Start a listener probe in slot, in host; wait for its READY line.
static void
s_listen (int slot, int host, const char *mode)
{
    s_probes[slot] = s_probe_start (host, mode, PORT, NULL, NULL, NULL);
    cr_assert_eq (zt_ready (&s_probes[slot], 10000), atoi (PORT), "%s in host %d not ready",
                  mode, host);
}

//  Connect from host from to host to's listener; true if it answered.
//  line gets what the probe said.
static bool
s_connect (int from, int to, const char *seconds, char *line, size_t size)
{
    zt_proc_t probe = s_probe_start (from, "tcp-connect", zt_lan_addr (s_lan, to), PORT, seconds,
                                     NULL);
    *line = 0;
    zt_read_line (&probe, line, size, 15000);
    int status = zt_wait (&probe, 15000);
    zt_kill (&probe, SIGKILL);
    return status == 0;
}

//  The names of the root namespace's interfaces, one a line.
static void
s_root_links (char *out, size_t size)
{
    cr_assert_eq (zt_run ("ip -o link show | awk -F': ' '{print $2}' | sort", out, size), 0);
}

//  True if name is one of the namespaces in list (`ip netns list` output:
//  a name, maybe followed by " (id: N)", per line).
static bool
s_listed (const char *list, const char *name)
{
    size_t len = strlen (name);
    for (const char *at = strstr (list, name); at; at = strstr (at + 1, name))
        if ((at == list || at[-1] == '\n') && (at[len] == '\n' || at[len] == ' ' || !at[len]))
            return true;
    return false;
}

Test (lan, broadcast_reaches_every_other_host, .fini = s_teardown, .timeout = 60)
{
    s_lan = zt_lan_new (3);
    s_listen (1, 1, "udp-listen");
    s_listen (2, 2, "udp-listen");
    s_probes[0] = s_probe_start (0, "udp-send", zt_lan_broadcast (s_lan), PORT, "3", "hello");
    cr_assert_eq (zt_wait (&s_probes[0], 10000), 0, "the broadcast could not be sent");
    for (int host = 1; host <= 2; host++) {
        char line[256], want[256];
        cr_assert (zt_read_line (&s_probes[host], line, sizeof line, 5000),
                   "host %d heard no broadcast", host);
        snprintf (want, sizeof want, "GOT hello %s", zt_lan_addr (s_lan, 0));
        cr_assert_str_eq (line, want, "host %d", host);
    }
    //  The limited broadcast too (it leaves by the default route).
    zt_kill (&s_probes[0], SIGKILL);
    s_probes[0] = s_probe_start (0, "udp-send", "255.255.255.255", PORT, "3", "limited");
    cr_assert_eq (zt_wait (&s_probes[0], 10000), 0, "255.255.255.255 could not be sent");
    for (int host = 1; host <= 2; host++) {
        char line[256], want[256];
        snprintf (want, sizeof want, "GOT limited %s", zt_lan_addr (s_lan, 0));
        bool heard = false;
        while (!heard && zt_read_line (&s_probes[host], line, sizeof line, 5000))
            heard = strcmp (line, want) == 0;
        cr_assert (heard, "host %d heard no limited broadcast", host);
    }
}

Test (lan, tcp_connects_across_the_switch, .fini = s_teardown, .timeout = 60)
{
    s_lan = zt_lan_new (3);
    s_listen (2, 2, "tcp-listen");
    char line[256], want[256];
    cr_assert (s_connect (0, 2, "5", line, sizeof line), "host 0 -> host 2: %s", line);
    cr_assert_str_eq (line, "CONNECTED hi");
    cr_assert (zt_read_line (&s_probes[2], line, sizeof line, 5000));
    snprintf (want, sizeof want, "ACCEPTED %s", zt_lan_addr (s_lan, 0));
    cr_assert_str_eq (line, want, "the listener saw host 0's address");
}

Test (lan, cut_link_makes_host_unreachable_until_healed, .fini = s_teardown, .timeout = 60)
{
    s_lan = zt_lan_new (3);
    s_listen (2, 2, "tcp-listen");
    char line[256];
    cr_assert (s_connect (0, 2, "5", line, sizeof line), "before the cut: %s", line);
    zt_lan_link (s_lan, 2, false);
    cr_assert_not (s_connect (0, 2, "1", line, sizeof line), "host 2 answered through a cut");
    cr_assert (strstr (line, "FAILED"), "%s", line);
    //  Host 1 still reaches host 0's side of the switch: only host 2 is cut.
    s_listen (1, 1, "tcp-listen");
    cr_assert (s_connect (0, 1, "5", line, sizeof line), "host 1 during the cut: %s", line);
    zt_lan_link (s_lan, 2, true);
    //  A few tries: ARP may have given up on host 2 during the cut.
    bool healed = false;
    for (int attempt = 0; attempt < 5 && !healed; attempt++)
        healed = s_connect (0, 2, "2", line, sizeof line);
    cr_assert (healed, "after healing: %s", line);
}

Test (lan, destroy_leaves_nothing_behind, .fini = s_teardown, .timeout = 60)
{
    char before[8192], during[8192], after[8192], namespaces[16384], prefix[32];
    s_root_links (before, sizeof before);
    s_lan = zt_lan_new (3);
    s_root_links (during, sizeof during);
    cr_assert_str_eq (during, before, "the LAN added interfaces to the root namespace");
    snprintf (prefix, sizeof prefix, "zmt%d-", (int) getpid ());
    cr_assert_eq (zt_run ("ip netns list", namespaces, sizeof namespaces), 0);
    cr_assert (strstr (namespaces, prefix), "no %s namespace in:\n%s", prefix, namespaces);
    //  A probe still running inside is killed by destroy.
    s_listen (0, 1, "tcp-listen");
    zt_lan_destroy (&s_lan);
    cr_assert_null (s_lan);
    zt_lan_destroy (&s_lan); //  idempotent
    cr_assert_eq (zt_wait (&s_probes[0], 5000), 128 + SIGKILL, "the probe inside was killed");
    cr_assert_eq (zt_run ("ip netns list", namespaces, sizeof namespaces), 0);
    cr_assert_null (strstr (namespaces, prefix), "left behind:\n%s", namespaces);
    s_root_links (after, sizeof after);
    cr_assert_str_eq (after, before, "the root namespace's interfaces changed");
}

//  A spawned program is the process inside the host (ip netns exec execs it
//  in place), and it will die with the test.
Test (lan, spawned_program_runs_inside_the_host, .fini = s_teardown, .timeout = 60)
{
    s_lan = zt_lan_new (2);
    s_probes[0] = s_probe_start (1, "whoami", NULL, NULL, NULL, NULL);
    char line[256];
    cr_assert (zt_read_line (&s_probes[0], line, sizeof line, 10000), "whoami said nothing");
    int pid = 0, deathsig = 0;
    unsigned long netns = 0;
    cr_assert_eq (sscanf (line, "%d %d net:[%lu]", &pid, &deathsig, &netns), 3, "%s", line);
    cr_assert_eq (pid, s_probes[0].pid, "the pid we hold is the program's");
    cr_assert_eq (deathsig, SIGKILL, "PR_SET_PDEATHSIG survived ip netns exec");
    char path[128];
    snprintf (path, sizeof path, "/run/netns/%s", zt_lan_host (s_lan, 1));
    struct stat info;
    cr_assert_eq (stat (path, &info), 0);
    cr_assert_eq ((unsigned long) info.st_ino, netns, "it runs in host 1's namespace");
    cr_assert_eq (zt_wait (&s_probes[0], 10000), 0);
}

//  Namespaces of dead test processes go at the next zt_lan_new, with what
//  runs in them; no other namespace is touched.
Test (lan, stale_namespaces_are_cleaned, .fini = s_teardown, .timeout = 60)
{
    if (geteuid () != 0) {
        s_lan = zt_lan_new (1); //  skips, or fails under CI
        return;
    }
    pid_t dead = fork ();
    if (dead == 0)
        _exit (0);
    cr_assert (dead > 0);
    waitpid (dead, NULL, 0);
    snprintf (s_extra[0], sizeof s_extra[0], "zmt%d-0-h0", (int) dead);          //  stale
    snprintf (s_extra[1], sizeof s_extra[1], "zmt%d-7-sw", (int) getpid ());     //  stale: ours,
                                                                                //  never handed out
    snprintf (s_extra[2], sizeof s_extra[2], "zmt%d-999-sw", (int) getppid ()); //  alive: kept
    snprintf (s_extra[3], sizeof s_extra[3], "zmt%dx-keep", (int) dead);        //  not ours: kept
    for (int i = 0; i < 4; i++)
        zt_must ("ip netns add %s", s_extra[i]);
    //  Something still running in a stale one (the one only this process
    //  would clean: other test processes may run zt_lan_new meanwhile).
    const char *argv[] = {"sleep", "50", NULL};
    s_probes[0] = zt_spawn (argv, s_extra[1]);
    cr_assert (s_probes[0].pid > 0);
    int64_t deadline = zt_clock () + 5000;
    char pids[256] = "";
    while (!*pids && zt_clock () < deadline) {
        char command[128];
        snprintf (command, sizeof command, "ip netns pids %s", s_extra[1]);
        zt_run (command, pids, sizeof pids);
        usleep (10000);
    }
    cr_assert (*pids, "sleep never ran inside %s", s_extra[1]);

    s_lan = zt_lan_new (1);
    cr_assert_eq (zt_wait (&s_probes[0], 5000), 128 + SIGKILL, "what ran inside was killed");
    char namespaces[16384];
    cr_assert_eq (zt_run ("ip netns list", namespaces, sizeof namespaces), 0);
    for (int i = 0; i < 4; i++) {
        if (i < 2)
            cr_assert_not (s_listed (namespaces, s_extra[i]), "stale %s was not deleted",
                           s_extra[i]);
        else
            cr_assert (s_listed (namespaces, s_extra[i]), "%s was deleted, it is not stale",
                       s_extra[i]);
    }
}
