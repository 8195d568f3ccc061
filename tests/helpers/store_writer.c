/*  store_writer - writes records to an LMDB store as fast as it can and
    says which writes were acknowledged, for the crash test (test_store).

        store_writer PATH single|batch

    Prints "READY 1", then "ACK <i>" once write i (single) or a batch
    ending at i (batch: 10 records at a time) has been acknowledged, and
    exits after 1,000,000 records. Record i is key "k%08d", metadata
    {"i": "<i>"} and a value of s_size (i) bytes, byte j being
    (i * 31 + j) & 0xff: a reader can tell a whole record from a torn one.
*/
#include <czmq.h>
#include "zmicro.h"

#define S_RECORDS 1000000

static size_t
s_size (long i)
{
    return 64 + (size_t) ((i * 37) % 2000);
}

static void
s_value (long i, uint8_t *value)
{
    for (size_t j = 0; j < s_size (i); j++)
        value[j] = (uint8_t) ((i * 31 + (long) j) & 0xff);
}

int
main (int argc, char *argv[])
{
    if (argc != 3 || (strcmp (argv[2], "single") && strcmp (argv[2], "batch"))) {
        fprintf (stderr, "usage: store_writer PATH single|batch\n");
        return 2;
    }
    bool batched = strcmp (argv[2], "batch") == 0;
    int rc = 0;
    zm_store_t *store = zm_store_open (&zm_store_lmdb, argv[1], 0, NULL, &rc);
    if (!store) {
        fprintf (stderr, "store_writer: open %s: %s\n", argv[1], zm_strerror (rc));
        return 1;
    }
    printf ("READY 1\n");
    fflush (stdout);
    uint8_t value[2100];
    zm_batch_t *batch = NULL;
    for (long i = 0; i < S_RECORDS; i++) {
        char key[32], text[32];
        snprintf (key, sizeof key, "k%08ld", i);
        snprintf (text, sizeof text, "%ld", i);
        zm_msg_t *meta = zm_msg_new ();
        zm_msg_set_str (meta, "i", text);
        zm_write_opts_t opts = {.metadata = meta};
        s_value (i, value);
        if (!batched)
            rc = zm_store_write (store, key, value, s_size (i), &opts, NULL);
        else {
            if (!batch)
                batch = zm_batch_new ();
            rc = zm_batch_write (batch, key, value, s_size (i), &opts);
            if (rc == 0 && zm_batch_size (batch) == 10) {
                rc = zm_store_commit (store, batch);
                zm_batch_destroy (&batch);
            }
        }
        zm_msg_destroy (&meta);
        if (rc) {
            fprintf (stderr, "store_writer: write %ld: %s\n", i, zm_strerror (rc));
            break;
        }
        if (!batched || !batch) {
            printf ("ACK %ld\n", i);
            fflush (stdout);
        }
    }
    zm_batch_destroy (&batch);
    zm_store_destroy (&store);
    return rc ? 1 : 0;
}
