/*  beacon_forger - an attacker on the LAN, for the security tests

    Usage: beacon_forger TARGET_IP BROADCAST_IP PORT CLUSTER_KEY

    Listens on UDP PORT until it captures an authenticated ALIVE beacon
    (100 bytes, docs/discovery.md) from TARGET_IP, prints "CAPTURED <uuid>",
    waits a second, then broadcasts to BROADCAST_IP:PORT, once each and
    200 ms apart, five beacons that a member must not believe:
        replayed  the captured beacon as it was
        altered   the captured beacon with another port (its MAC no longer fits)
        forged    a new UUID with a MAC made up
        stale     a goodbye for the target's UUID, signed with the cluster
                  key, 60 s old: a goodbye captured a while ago
        rewound   a goodbye for the target's UUID, signed, with the time
                  of the captured beacon: a replay within the time window
    and prints "SENT 5". (The last two need the cluster key only to stand
    for goodbyes a real attacker would have captured.) Exits 0, or 1 when
    nothing was captured within 10 s.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static int64_t
s_now_ms (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
s_put_be (uint8_t *p, uint64_t value, int bytes)
{
    for (int index = bytes - 1; index >= 0; index--) {
        p[index] = (uint8_t) value;
        value >>= 8;
    }
}

int
main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    uint8_t cluster[32], mac_key[32];
    if (argc != 5 || sodium_init () < 0 || strlen (argv[4]) != 40
        || !zmq_z85_decode (cluster, argv[4])) {
        fprintf (stderr, "usage: beacon_forger TARGET_IP BROADCAST_IP PORT CLUSTER_KEY\n");
        return 2;
    }
    //  The beacons' MAC key, as zm_auth.c derives it
    crypto_kdf_derive_from_key (mac_key, sizeof mac_key, 1, "zmbeacon", cluster);
    int port = atoi (argv[3]);
    int sock = socket (AF_INET, SOCK_DGRAM, 0);
    int on = 1;
    setsockopt (sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt (sock, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt (sock, SOL_SOCKET, SO_BROADCAST, &on, sizeof on);
    struct timeval timeout = {1, 0};
    setsockopt (sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                .sin_addr.s_addr = htonl (INADDR_ANY)};
    if (sock < 0 || bind (sock, (struct sockaddr *) &local, sizeof local) != 0) {
        perror ("beacon_forger: bind");
        return 1;
    }
    uint8_t captured[100];
    bool got = false;
    int64_t deadline = s_now_ms () + 10000;
    while (!got && s_now_ms () < deadline) {
        uint8_t data[512];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t size = recvfrom (sock, data, sizeof data, 0, (struct sockaddr *) &from, &len);
        char ip[INET_ADDRSTRLEN] = "";
        inet_ntop (AF_INET, &from.sin_addr, ip, sizeof ip);
        if (size == 100 && memcmp (data, "ZMB\1", 4) == 0 && data[4] == 1 && data[5] == 3
            && strcmp (ip, argv[1]) == 0) {
            memcpy (captured, data, 100);
            got = true;
        }
    }
    if (!got) {
        fprintf (stderr, "beacon_forger: no beacon from %s\n", argv[1]);
        return 1;
    }
    printf ("CAPTURED ");
    for (int i = 0; i < 16; i++)
        printf ("%02X", captured[6 + i]);
    printf ("\n");
    fflush (stdout);
    sleep (1);

    uint8_t beacons[5][100];
    memcpy (beacons[0], captured, 100); //  replayed
    memcpy (beacons[1], captured, 100); //  altered
    beacons[1][27] ^= 0x01;
    memcpy (beacons[2], captured, 100); //  forged
    randombytes_buf (beacons[2] + 6, 16);
    s_put_be (beacons[2] + 60, (uint64_t) s_now_ms (), 8);
    randombytes_buf (beacons[2] + 68, 32);
    for (int i = 3; i < 5; i++) { //  signed goodbyes: stale, rewound
        memcpy (beacons[i], captured, 100);
        beacons[i][4] = 2;
        if (i == 3)
            s_put_be (beacons[i] + 60, (uint64_t) (s_now_ms () - 60000), 8);
        crypto_auth (beacons[i] + 68, beacons[i], 68, mac_key);
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    inet_pton (AF_INET, argv[2], &to.sin_addr);
    int sent = 0;
    for (int i = 0; i < 5; i++) {
        if (sendto (sock, beacons[i], 100, 0, (struct sockaddr *) &to, sizeof to) == 100)
            sent++;
        usleep (200 * 1000);
    }
    printf ("SENT %d\n", sent);
    fflush (stdout);
    close (sock);
    return sent == 5 ? 0 : 1;
}
