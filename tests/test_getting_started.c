/*  The newcomer's docs stay true to the code.

    getting_started: docs/getting-started.md is run as written, the way a
    reader would run it, and fails when what the commands print differs
    from what the page shows.

    How the commands are found. The page is read as Markdown:

      - every ```sh block, in page order, is a list of commands to run;
      - the ```text block right below it (only blank lines between) is the
        output they must print, stdout and stderr together, as a terminal
        shows them; a ```sh block without one must print nothing;
      - in that output "<word>" (lower-case letters, digits, '_', '-', ' ')
        stands for one value that changes from run to run: a run of
        characters without blanks, commas or double quotes (a port, a key, a
        UUID, the time); a line "..." stands for any number of lines;
      - a ```sh block right below the line "<!-- test: packages -->" or
        "<!-- test: build -->" is checked, not run: the packages must be
        run.sh's BUILD_PKGS exactly, the build must be scons with targets
        that exist (this test runs after the build, so it need not build);
      - any other block (```shell, ```c, ```text elsewhere) is not run, and
        an HTML comment is skipped (the page explains the scheme in one,
        out of the reader's sight).

    How they run. One bash (--noprofile --norc) for the whole page, so that
    exports, shell functions and background jobs carry on from block to
    block. bash starts in the source tree, in a process group of its own,
    with a clean environment: PATH (the test's), HOME and TMPDIR (a scratch
    directory of the test's, so the page's `mktemp -d` lands in it),
    LC_ALL=C, ZM_REGISTRY_BEACON=false as a safety net (the page must
    export it itself before it starts a node: checked), and the sanitizers'
    options when set. No other ZM_* variable reaches it (support.h sets
    ZM_AUTH_KEYS for other tests; a reader does not have it). The fixed
    ports the page's nodes take (--rpc.port=N) must be free beforehand:
    the test says so when one is not. Each block is written to a file and sourced
    with stdin from /dev/null, after the text "$PWD/build/debug" in it is
    replaced by this test's build directory (build/debug, or build/asan
    under ./run.sh test's second pass); then bash prints a marker line with
    the block's status, which must be 0, and `jobs -p`.

    Background jobs the page starts (`&`) are stopped by pid at the end,
    whatever happened: each pid of the last `jobs -p` that is still in
    bash's process group gets SIGTERM, then SIGKILL after 10 s; then bash
    ends and the group gets a SIGKILL for anything left. If the test itself
    is killed (its timeout), a watchdog process it forked sees its pipe
    close, kills the group and removes the scratch directory.

    The C programs of the page (```c blocks with a main) are compiled
    against this build's library; the first actor must print "total 55".

    api_docs: docs/api.md is what docs/gen_api.py makes of the headers
    (run with --check), and every function the public headers declare, as
    counted here by a parser of its own, has an entry in it.
*/
#include "support.h"
#include <arpa/inet.h>
#include <criterion/logging.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <regex.h>
#include <sys/socket.h>
#include <sys/stat.h>

//  Most blocks on the page, and most background jobs followed.
#define S_BLOCKS_MAX 128
#define S_JOBS_MAX 64
//  How long one block may run (the test's timeout is well above it).
#define S_BLOCK_TIMEOUT_MS 60000
//  Most output of one block.
#define S_OUTPUT_MAX 65536

//  ---------------------------------------------------------------------------
//  Files

//  The source tree: the build directory's grandparent (build/<variant>).
static const char *
s_root (void)
{
    static char root[4096];
    if (!*root) {
        char copy[4096];
        snprintf (copy, sizeof copy, "%s", zt_build_dir ());
        snprintf (root, sizeof root, "%s", dirname (dirname (copy)));
    }
    return root;
}

//  The contents of root/relative, NUL-terminated, or NULL. Caller frees.
static char *
s_slurp (const char *relative)
{
    char path[8192];
    snprintf (path, sizeof path, "%s/%s", s_root (), relative);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        return NULL;
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    return text;
}

//  Write text to path. Returns 0 or -1.
static int
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    size_t size = strlen (text);
    int rc = fwrite (text, 1, size, file) == size ? 0 : -1;
    return fclose (file) == 0 ? rc : -1;
}

//  A new scratch directory under /tmp, made mode 0700. Into dir.
static void
s_scratch (char *dir, size_t size)
{
    snprintf (dir, size, "/tmp/zt-getting-started-XXXXXX");
    cr_assert_not_null (mkdtemp (dir), "mkdtemp: %s", strerror (errno));
}

static void
s_remove_tree (const char *dir)
{
    if (*dir && strncmp (dir, "/tmp/zt-getting-started-", 24) == 0) {
        char command[4200];
        snprintf (command, sizeof command, "rm -rf '%s'", dir);
        zt_run (command, NULL, 0);
    }
}

//  ---------------------------------------------------------------------------
//  The page

typedef struct {
    char lang[16];   //  after the opening fence: "sh", "text", "c", ...
    char *body;      //  the lines between the fences, each ending in '\n'
    char marker[32]; //  "packages" / "build" from "<!-- test: X -->" above, else ""
    int line;        //  of the opening fence, 1-based
    int expected;    //  index of the ```text block right below, or -1
} s_block_t;

typedef struct {
    s_block_t blocks[S_BLOCKS_MAX];
    int count;
} s_page_t;

//  Read the fenced blocks of a Markdown text. Asserts on a malformed page.
static void
s_page_parse (s_page_t *page, const char *text)
{
    memset (page, 0, sizeof *page);
    const char *at = text;
    int line = 0;
    char marker[32] = "";
    int last_closed = -1; //  the block whose closing fence was the last non-blank line
    while (*at) {
        const char *end = strchr (at, '\n');
        size_t len = end ? (size_t)(end - at) : strlen (at);
        line++;
        const char *next = end ? end + 1 : at + len;
        if (len == 0) {
            at = next;
            continue;
        }
        if (strncmp (at, "<!--", 4) == 0) {
            //  A marker on one line, or a comment to skip (maybe many lines)
            char word[32];
            if (sscanf (at, "<!-- test: %31[a-z] -->", word) == 1)
                snprintf (marker, sizeof marker, "%s", word);
            else {
                while (*at && !(strstr (at, "-->") && strstr (at, "-->") < next)) {
                    at = next;
                    end = strchr (at, '\n');
                    next = end ? end + 1 : at + strlen (at);
                    line++;
                }
            }
            last_closed = -1;
            at = next;
            continue;
        }
        if (strncmp (at, "```", 3) == 0) {
            cr_assert_lt (page->count, S_BLOCKS_MAX, "too many blocks");
            s_block_t *block = &page->blocks[page->count];
            size_t lang_len = len - 3 < sizeof block->lang - 1 ? len - 3 : sizeof block->lang - 1;
            memcpy (block->lang, at + 3, lang_len);
            block->lang[lang_len] = 0;
            block->line = line;
            block->expected = -1;
            snprintf (block->marker, sizeof block->marker, "%s", marker);
            //  The body: up to a line that is exactly ```
            const char *body = next, *close = NULL;
            for (const char *scan = body; *scan;) {
                const char *scan_end = strchr (scan, '\n');
                size_t scan_len = scan_end ? (size_t)(scan_end - scan) : strlen (scan);
                line++;
                if (scan_len == 3 && strncmp (scan, "```", 3) == 0) {
                    close = scan;
                    next = scan_end ? scan_end + 1 : scan + scan_len;
                    break;
                }
                scan = scan_end ? scan_end + 1 : scan + scan_len;
            }
            cr_assert_not_null (close, "docs/getting-started.md:%d: a block is not closed",
                                block->line);
            block->body = strndup (body, (size_t)(close - body));
            if (streq (block->lang, "text") && last_closed >= 0 &&
                streq (page->blocks[last_closed].lang, "sh"))
                page->blocks[last_closed].expected = page->count;
            last_closed = page->count;
            page->count++;
            *marker = 0;
            at = next;
            continue;
        }
        //  Prose: a marker only holds for the block right below it
        *marker = 0;
        last_closed = -1;
        at = next;
    }
}

static void
s_page_free (s_page_t *page)
{
    for (int i = 0; i < page->count; i++)
        free (page->blocks[i].body);
    page->count = 0;
}

//  The text with every "$PWD/build/debug" replaced by the build directory.
//  Caller frees.
static char *
s_substitute (const char *text)
{
    const char *from = "$PWD/build/debug";
    const char *to = zt_build_dir ();
    size_t size = strlen (text) + 1;
    for (const char *hit = strstr (text, from); hit; hit = strstr (hit + 1, from))
        size += strlen (to);
    char *out = (char *)malloc (size);
    char *put = out;
    for (const char *at = text;;) {
        const char *hit = strstr (at, from);
        if (!hit) {
            strcpy (put, at);
            break;
        }
        memcpy (put, at, (size_t)(hit - at));
        put += hit - at;
        strcpy (put, to);
        put += strlen (to);
        at = hit + strlen (from);
    }
    return out;
}

//  ---------------------------------------------------------------------------
//  Expected output

//  Does one line of output match one expected line, with its <placeholders>?
static bool
s_line_matches (const char *expected, const char *actual)
{
    //  As a POSIX extended regex anchored at both ends: literal text
    //  escaped, each <word> a run without blanks, commas or quotes.
    //  At most 6 bytes for one: a 3-byte "<x>" gives 17 of them
    char *pattern = (char *)malloc (strlen (expected) * 6 + 3);
    char *put = pattern;
    *put++ = '^';
    for (const char *at = expected; *at;) {
        if (*at == '<') {
            size_t word = strspn (at + 1, "abcdefghijklmnopqrstuvwxyz0123456789_- ");
            if (word > 0 && at[1 + word] == '>') {
                put += sprintf (put, "[^[:space:],\"]+");
                at += word + 2;
                continue;
            }
        }
        if (strchr ("\\.[]()*+?{}|^$", *at))
            *put++ = '\\';
        *put++ = *at++;
    }
    *put++ = '$';
    *put = 0;
    regex_t regex;
    bool matches = false;
    if (regcomp (&regex, pattern, REG_EXTENDED | REG_NOSUB) == 0) {
        matches = regexec (&regex, actual, 0, NULL, 0) == 0;
        regfree (&regex);
    }
    free (pattern);
    return matches;
}

//  Do the lines of actual match the expected lines (a "..." line: any
//  number of lines)?
static bool
s_lines_match (char **expected, int expected_count, char **actual, int actual_count)
{
    if (expected_count == 0)
        return actual_count == 0;
    if (streq (expected[0], "...")) {
        for (int skip = 0; skip <= actual_count; skip++)
            if (s_lines_match (expected + 1, expected_count - 1, actual + skip,
                               actual_count - skip))
                return true;
        return false;
    }
    return actual_count > 0 && s_line_matches (expected[0], actual[0]) &&
           s_lines_match (expected + 1, expected_count - 1, actual + 1, actual_count - 1);
}

//  Split text into lines (a last line without '\n' counts). Modifies text;
//  returns the count, lines in *lines_p (caller frees the array).
static int
s_split_lines (char *text, char ***lines_p)
{
    int count = 0;
    for (char *c = text; *c; c++)
        if (*c == '\n')
            count++;
    char **lines = (char **)calloc ((size_t)count + 2, sizeof (char *));
    int n = 0;
    for (char *at = text; *at;) {
        char *end = strchr (at, '\n');
        lines[n++] = at;
        if (!end)
            break;
        *end = 0;
        at = end + 1;
    }
    *lines_p = lines;
    return n;
}

//  Does the output match the expected text?
static bool
s_output_matches (const char *expected, const char *output)
{
    char *exp_copy = strdup (expected), *out_copy = strdup (output);
    char **exp_lines = NULL, **out_lines = NULL;
    int exp_count = s_split_lines (exp_copy, &exp_lines);
    int out_count = s_split_lines (out_copy, &out_lines);
    bool matches = s_lines_match (exp_lines, exp_count, out_lines, out_count);
    free (exp_lines);
    free (out_lines);
    free (exp_copy);
    free (out_copy);
    return matches;
}

Test (getting_started, placeholders_stand_for_one_value, .timeout = 10)
{
    cr_assert (s_output_matches ("READY 7101 <key>\n", "READY 7101 a(b)c#d$e<f>\n"));
    cr_assert (s_output_matches ("key <key>)\n", "key a(b))\n"));
    cr_assert (s_output_matches ("{\"node\":\"<node>\"}\n", "{\"node\":\"alpha\"}\n"));
    cr_assert_not (s_output_matches ("{\"node\":\"<node>\"}\n", "{\"node\":\"al\",\"pha\"}\n"));
    cr_assert_not (s_output_matches ("READY <port>\n", "READY 7101 extra\n"));
    cr_assert_not (s_output_matches ("a.c\n", "abc\n"));
    cr_assert (s_output_matches ("first\n...\nlast\n", "first\nx\ny\nlast\n"));
    cr_assert (s_output_matches ("first\n...\nlast\n", "first\nlast\n"));
    cr_assert_not (s_output_matches ("first\nlast\n", "first\nx\nlast\n"));
    cr_assert (s_output_matches ("", ""));
    cr_assert_not (s_output_matches ("", "anything\n"));
}

//  ---------------------------------------------------------------------------
//  The shell

typedef struct {
    pid_t pid;              //  bash, also its process group; 0 when not running
    int in;                 //  its stdin, our end; -1 when closed
    int out;                //  its stdout and stderr, our end; -1 when closed
    pid_t watchdog;         //  kills the group if we die; 0 when not running
    int watch;              //  our end of the watchdog's pipe, -1 when closed
    pid_t jobs[S_JOBS_MAX]; //  background jobs, from the last marker
    int job_count;
    char dir[4096]; //  scratch: HOME, TMPDIR, the blocks' files
    int sequence;   //  blocks run so far
} s_shell_t;

static s_shell_t s_shell = {.in = -1, .out = -1, .watch = -1};

//  Start bash in the source tree, in a process group of its own, and a
//  watchdog for that group.
static void
s_shell_start (s_shell_t *self)
{
    s_scratch (self->dir, sizeof self->dir);
    char home[4200], tmpdir[4200], path[8192];
    snprintf (home, sizeof home, "HOME=%s", self->dir);
    snprintf (tmpdir, sizeof tmpdir, "TMPDIR=%s", self->dir);
    snprintf (path, sizeof path, "PATH=%s",
              getenv ("PATH") ? getenv ("PATH") : "/usr/local/bin:/usr/bin:/bin");
    //  The sanitizers' settings go through (./run.sh test sets them for
    //  the asan pass), nothing else of ours
    char *envp[16] = {path, home, tmpdir, "LC_ALL=C", "ZM_REGISTRY_BEACON=false", NULL};
    size_t envc = 5;
    char sanitizers[3][4096];
    const char *names[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (int i = 0; i < 3; i++)
        if (getenv (names[i])) {
            snprintf (sanitizers[i], sizeof sanitizers[i], "%s=%s", names[i], getenv (names[i]));
            envp[envc++] = sanitizers[i];
        }
    envp[envc] = NULL;
    char *const argv[] = {"bash", "--noprofile", "--norc", NULL};
    int in[2], out[2];
    cr_assert_eq (pipe2 (in, O_CLOEXEC), 0);
    cr_assert_eq (pipe2 (out, O_CLOEXEC), 0);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    cr_assert_geq (pid, 0, "fork: %s", strerror (errno));
    if (pid == 0) {
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        if (dup2 (in[0], STDIN_FILENO) < 0 || dup2 (out[1], STDOUT_FILENO) < 0 ||
            dup2 (out[1], STDERR_FILENO) < 0 || chdir (s_root ()) != 0)
            _exit (127);
        execve ("/bin/bash", argv, envp);
        _exit (127);
    }
    setpgid (pid, pid); //  also here, so the group exists whichever runs first
    close (in[0]);
    close (out[1]);
    self->pid = pid;
    self->in = in[1];
    self->out = out[0];

    //  The watchdog: when our end of its pipe closes without a word (we
    //  were killed), it kills the group and removes the scratch directory.
    //  Not in the group itself.
    int watch[2];
    const char *dir = self->dir;
    cr_assert_eq (pipe2 (watch, O_CLOEXEC), 0);
    pid_t watchdog = fork ();
    cr_assert_geq (watchdog, 0, "fork: %s", strerror (errno));
    if (watchdog == 0) {
        close (watch[1]);
        char byte = 0;
        ssize_t got;
        while ((got = read (watch[0], &byte, 1)) < 0 && errno == EINTR)
            ;
        if (got > 0 && byte == 'k')
            _exit (0);
        kill (-pid, SIGKILL);
        usleep (200000); //  the group gone, nothing writes into the scratch
        if (strncmp (dir, "/tmp/zt-getting-started-", 24) == 0)
            execl ("/bin/rm", "rm", "-rf", dir, (char *)NULL);
        _exit (0);
    }
    close (watch[0]);
    self->watchdog = watchdog;
    self->watch = watch[1];
}

//  Is pid alive and in the shell's process group?
static bool
s_in_group (s_shell_t *self, pid_t pid)
{
    return pid > 0 && getpgid (pid) == self->pid;
}

//  Stop the background jobs by pid, then bash, then the group; then the
//  watchdog. Safe twice. Never asserts.
static void
s_shell_stop (s_shell_t *self)
{
    if (self->pid > 0) {
        for (int i = 0; i < self->job_count; i++)
            if (s_in_group (self, self->jobs[i]))
                kill (self->jobs[i], SIGTERM);
        int64_t deadline = zt_clock () + ZT_KILL_GRACE_MS;
        for (int i = 0; i < self->job_count; i++) {
            while (s_in_group (self, self->jobs[i]) && zt_clock () < deadline)
                usleep (10000); //  bash reaps them (SIGCHLD) as they exit
            if (s_in_group (self, self->jobs[i]))
                kill (self->jobs[i], SIGKILL);
        }
        self->job_count = 0;
        if (self->in >= 0) {
            close (self->in); //  end of input: bash exits
            self->in = -1;
        }
        zt_proc_t bash = ZT_PROC_NONE;
        bash.pid = self->pid;
        if (zt_wait (&bash, 5000) < 0) {
            kill (self->pid, SIGKILL);
            zt_wait (&bash, 5000);
        }
        kill (-self->pid, SIGKILL); //  anything left in the group
        self->pid = 0;
    }
    if (self->out >= 0) {
        close (self->out);
        self->out = -1;
    }
    if (self->watchdog > 0) {
        if (write (self->watch, "k", 1) != 1)
            kill (self->watchdog, SIGKILL);
        zt_proc_t watchdog = ZT_PROC_NONE;
        watchdog.pid = self->watchdog;
        zt_wait (&watchdog, 5000);
        self->watchdog = 0;
    }
    if (self->watch >= 0) {
        close (self->watch);
        self->watch = -1;
    }
    s_remove_tree (self->dir);
    *self->dir = 0;
}

static void
s_teardown (void)
{
    s_shell_stop (&s_shell);
}

//  Run one block: source it, read its output up to the marker. Returns
//  its status, or -1 (timeout, or bash gone); output in out (size bytes).
static int
s_shell_run (s_shell_t *self, const char *commands, char *out, size_t size)
{
    *out = 0;
    char file[4300];
    snprintf (file, sizeof file, "%s/block-%d.sh", self->dir, ++self->sequence);
    char *text = s_substitute (commands);
    int rc = s_write_file (file, text);
    free (text);
    if (rc)
        return -1;
    char line[4500];
    snprintf (line, sizeof line,
              ". '%s' < /dev/null\n"
              "zt_status=$?; echo; echo \"@@zt-end@@ $zt_status $(jobs -p | tr '\\n' ' ')\"\n",
              file);
    if (write (self->in, line, strlen (line)) != (ssize_t)strlen (line))
        return -1;
    size_t got = 0;
    int64_t deadline = zt_clock () + S_BLOCK_TIMEOUT_MS;
    while (true) {
        out[got] = 0;
        char *marker = strstr (out, "@@zt-end@@ ");
        if (marker && strchr (marker, '\n')) {
            int status = atoi (marker + 11);
            char *jobs = strchr (marker + 11, ' ');
            self->job_count = 0;
            while (jobs && self->job_count < S_JOBS_MAX) {
                char *end = NULL;
                long pid = strtol (jobs, &end, 10);
                if (end == jobs || pid <= 0)
                    break;
                self->jobs[self->job_count++] = (pid_t)pid;
                jobs = end;
            }
            //  Drop the marker and the newline echoed before it (the
            //  block's last line may not end in one)
            *marker = 0;
            size_t len = strlen (out);
            if (len > 0 && out[len - 1] == '\n')
                out[len - 1] = 0;
            return status;
        }
        int64_t left = deadline - zt_clock ();
        if (left <= 0 || got + 1 >= size)
            return -1;
        struct pollfd item = {self->out, POLLIN, 0};
        int ready = poll (&item, 1, (int)left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        ssize_t bytes = read (self->out, out + got, size - 1 - got);
        if (bytes < 0 && errno == EINTR)
            continue;
        if (bytes <= 0)
            return -1;
        got += (size_t)bytes;
    }
}

//  ---------------------------------------------------------------------------
//  getting_started

static s_page_t s_page;

//  Can a server bind 127.0.0.1:port now (as libzmq binds: SO_REUSEADDR)?
static bool
s_port_free (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool ok = port > 0 && bind (fd, (struct sockaddr *)&address, sizeof address) == 0;
    close (fd);
    return ok;
}

static void
s_page_load (void)
{
    char *text = s_slurp ("docs/getting-started.md");
    cr_assert_not_null (text, "docs/getting-started.md is missing");
    s_page_parse (&s_page, text);
    free (text);
}

Test (getting_started, commands_run_as_written, .timeout = 240, .fini = s_teardown)
{
    s_page_load ();
    //  The page must keep its nodes off the network itself: the safety net
    //  in bash's environment must never be what does it.
    int first_export = -1, first_node = -1, runs = 0;
    for (int i = 0; i < s_page.count; i++) {
        s_block_t *block = &s_page.blocks[i];
        if (!streq (block->lang, "sh") || *block->marker)
            continue;
        runs++;
        if (first_export < 0 && strstr (block->body, "export ZM_REGISTRY_BEACON=false"))
            first_export = i;
        if (first_node < 0 &&
            (strstr (block->body, "greeter_server") || strstr (block->body, "zm ")))
            first_node = i;
    }
    cr_assert_geq (runs, 10, "only %d blocks to run: is the page parsed right?", runs);
    cr_assert (first_export >= 0 && first_export < first_node,
               "docs/getting-started.md must export ZM_REGISTRY_BEACON=false before it "
               "starts a node");

    //  The fixed ports the page's nodes take must be free here
    for (int i = 0; i < s_page.count; i++) {
        s_block_t *block = &s_page.blocks[i];
        if (!streq (block->lang, "sh") || *block->marker)
            continue;
        for (const char *at = strstr (block->body, "--rpc.port="); at;
             at = strstr (at + 1, "--rpc.port=")) {
            int port = atoi (at + 11);
            cr_assert (s_port_free (port),
                       "TCP port %d on 127.0.0.1 is in use on this machine: the nodes of "
                       "docs/getting-started.md need it",
                       port);
        }
    }

    //  Nothing between s_shell_start and s_shell_stop may abort: failures
    //  are kept and asserted once the shell is stopped.
    s_shell_start (&s_shell);
    char *failure = NULL;
    char *output = (char *)malloc (S_OUTPUT_MAX);
    for (int i = 0; i < s_page.count && !failure; i++) {
        s_block_t *block = &s_page.blocks[i];
        if (!streq (block->lang, "sh") || *block->marker)
            continue;
        int status = s_shell_run (&s_shell, block->body, output, S_OUTPUT_MAX);
        const char *expected = block->expected >= 0 ? s_page.blocks[block->expected].body : "";
        if (status < 0)
            failure = zsys_sprintf ("docs/getting-started.md:%d: the block did not finish "
                                    "within %d s:\n%s\nIt printed:\n%s",
                                    block->line, S_BLOCK_TIMEOUT_MS / 1000, block->body, output);
        else if (status != 0)
            failure = zsys_sprintf ("docs/getting-started.md:%d: the block ended with status "
                                    "%d:\n%s\nIt printed:\n%s",
                                    block->line, status, block->body, output);
        else if (!s_output_matches (expected, output))
            failure = zsys_sprintf ("docs/getting-started.md:%d: the block printed what the "
                                    "page does not show.\nThe block:\n%s\nThe page shows:\n%s\n"
                                    "It printed:\n%s",
                                    block->line, block->body, *expected ? expected : "(nothing)\n",
                                    output);
    }
    free (output);
    s_shell_stop (&s_shell);
    s_page_free (&s_page);
    if (failure) {
        cr_log_error ("%s", failure);
        zstr_free (&failure);
        cr_assert_fail ("docs/getting-started.md and the code disagree (above)");
    }
}

//  The words of a shell line after "apt-get install" that are not options,
//  added to set (a zhashx of name -> "").
static void
s_packages_of (const char *text, zhashx_t *set)
{
    char *copy = strdup (text);
    //  Backslash-newline continues a line
    for (char *c = copy; *c; c++)
        if (c[0] == '\\' && c[1] == '\n')
            c[0] = c[1] = ' ';
    char *save = NULL;
    for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        char *install = strstr (line, "apt-get install");
        if (!install)
            continue;
        char *word_save = NULL;
        for (char *word = strtok_r (install + 15, " \t", &word_save); word;
             word = strtok_r (NULL, " \t", &word_save))
            if (*word != '-')
                zhashx_insert (set, word, "");
    }
    free (copy);
}

//  Are the two sets of names the same? Describes the difference in why.
static bool
s_same_names (zhashx_t *a, zhashx_t *b, char *why, size_t size)
{
    *why = 0;
    for (void *item = zhashx_first (a); item; item = zhashx_next (a))
        if (!zhashx_lookup (b, zhashx_cursor (a)))
            snprintf (why + strlen (why), size - strlen (why), " +%s",
                      (const char *)zhashx_cursor (a));
    for (void *item = zhashx_first (b); item; item = zhashx_next (b))
        if (!zhashx_lookup (a, zhashx_cursor (b)))
            snprintf (why + strlen (why), size - strlen (why), " -%s",
                      (const char *)zhashx_cursor (b));
    return *why == 0;
}

Test (getting_started, install_and_build_steps_are_the_real_ones, .timeout = 30)
{
    s_page_load ();
    int packages = 0, builds = 0;
    for (int i = 0; i < s_page.count; i++) {
        s_block_t *block = &s_page.blocks[i];
        if (streq (block->marker, "packages")) {
            //  Exactly run.sh's BUILD_PKGS
            packages++;
            char *run = s_slurp ("run.sh");
            cr_assert_not_null (run);
            char *start = strstr (run, "BUILD_PKGS=\"");
            cr_assert_not_null (start, "run.sh no longer sets BUILD_PKGS");
            start += 12;
            char *end = strchr (start, '"');
            cr_assert_not_null (end);
            char *list = zsys_sprintf ("apt-get install %.*s", (int)(end - start), start);
            zhashx_t *wanted = zhashx_new (), *shown = zhashx_new ();
            s_packages_of (list, wanted);
            s_packages_of (block->body, shown);
            char why[2048];
            cr_assert_geq (zhashx_size (wanted), 5);
            cr_assert (s_same_names (shown, wanted, why, sizeof why),
                       "docs/getting-started.md:%d installs other packages than run.sh's "
                       "BUILD_PKGS (+ only on the page, - only in run.sh):%s",
                       block->line, why);
            zhashx_destroy (&wanted);
            zhashx_destroy (&shown);
            zstr_free (&list);
            free (run);
        } else if (streq (block->marker, "build")) {
            //  scons, with targets this build has made
            builds++;
            char *copy = strdup (block->body);
            char *save = NULL;
            for (char *line = strtok_r (copy, "\n", &save); line;
                 line = strtok_r (NULL, "\n", &save)) {
                char *word_save = NULL;
                char *word = strtok_r (line, " \t", &word_save);
                cr_assert (word && streq (word, "scons"),
                           "docs/getting-started.md:%d: the build is scons", block->line);
                while ((word = strtok_r (NULL, " \t", &word_save))) {
                    if (*word == '-' || strchr (word, '='))
                        continue; //  -j2, variant=...
                    cr_assert (strncmp (word, "build/debug/", 12) == 0,
                               "docs/getting-started.md:%d: %s is not a debug build target",
                               block->line, word);
                    char path[8192];
                    struct stat info;
                    snprintf (path, sizeof path, "%s/%s", zt_build_dir (), word + 12);
                    cr_assert_eq (stat (path, &info), 0,
                                  "docs/getting-started.md:%d: scons builds no %s", block->line,
                                  word);
                }
            }
            free (copy);
        }
    }
    s_page_free (&s_page);
    cr_assert_eq (packages, 1, "the page has no packages step (<!-- test: packages -->)");
    cr_assert_eq (builds, 1, "the page has no build step (<!-- test: build -->)");
}

Test (getting_started, c_programs_compile_and_the_actor_prints_55, .timeout = 120)
{
    s_page_load ();
    char dir[4096];
    s_scratch (dir, sizeof dir);
    const char *variant = strrchr (zt_build_dir (), '/') + 1;
    const char *cc = getenv ("CC") && *getenv ("CC") ? getenv ("CC") : "cc";
    int programs = 0;
    bool actor = false;
    char *failure = NULL;
    for (int i = 0; i < s_page.count && !failure; i++) {
        s_block_t *block = &s_page.blocks[i];
        if (!streq (block->lang, "c") || !strstr (block->body, "\nmain ("))
            continue;
        programs++;
        char source[4200], program[4200], command[16384], out[8192];
        snprintf (source, sizeof source, "%s/program-%d.c", dir, programs);
        snprintf (program, sizeof program, "%s/program-%d", dir, programs);
        if (s_write_file (source, block->body)) {
            failure = zsys_sprintf ("cannot write %s", source);
            break;
        }
        //  As SConstruct links its programs: the static library and its
        //  dependencies
        snprintf (command, sizeof command,
                  "%s -std=c11 -Wall -Werror -D_GNU_SOURCE -pthread %s -I%s/include -o %s %s "
                  "%s/lib/libzmicro.a $(pkg-config --cflags --libs libczmq libzmq msgpack "
                  "libsodium lmdb) -lm 2>&1",
                  cc, streq (variant, "asan") ? "-fsanitize=address,undefined" : "", s_root (),
                  program, source, zt_build_dir ());
        int status = zt_run (command, out, sizeof out);
        if (status != 0) {
            failure = zsys_sprintf ("docs/getting-started.md:%d: the program does not compile "
                                    "(exit %d):\n%s",
                                    block->line, status, out);
            break;
        }
        if (strstr (block->body, "adder_t")) {
            //  Loopback only: a test binds nothing else
            actor = true;
            snprintf (command, sizeof command, "cd %s && timeout 30 %s --rpc.bind=127.0.0.1 2>&1",
                      dir, program);
            status = zt_run (command, out, sizeof out);
            if (status != 0 || !streq (out, "total 55\n"))
                failure = zsys_sprintf ("docs/getting-started.md:%d: the first actor exits %d "
                                        "and prints:\n%s",
                                        block->line, status, out);
        }
    }
    s_remove_tree (dir);
    s_page_free (&s_page);
    if (failure) {
        cr_log_error ("%s", failure);
        zstr_free (&failure);
        cr_assert_fail ("a program of docs/getting-started.md fails (above)");
    }
    cr_assert_geq (programs, 2, "the page shows a service and an actor, each with a main");
    cr_assert (actor, "the page's first actor (adder_t) is gone");
}

//  ---------------------------------------------------------------------------
//  api_docs

Test (api_docs, committed_file_is_what_the_generator_writes, .timeout = 60)
{
    char command[8192], out[65536];
    snprintf (command, sizeof command, "/usr/bin/python3 %s/docs/gen_api.py --check 2>&1",
              s_root ());
    int status = zt_run (command, out, sizeof out);
    cr_assert_eq (status, 0,
                  "docs/api.md is not what docs/gen_api.py makes of the headers (exit %d); "
                  "run python3 docs/gen_api.py and commit:\n%s",
                  status, out);
}

//  Strip comments (// and block) from C text, keeping string literals and
//  line breaks. In place.
static void
s_strip_comments (char *text)
{
    char *put = text;
    for (char *at = text; *at;) {
        if (at[0] == '"') {
            *put++ = *at++;
            while (*at && *at != '"') {
                if (*at == '\\' && at[1])
                    *put++ = *at++;
                *put++ = *at++;
            }
            if (*at)
                *put++ = *at++;
        } else if (at[0] == '/' && at[1] == '/') {
            while (*at && *at != '\n')
                at++;
        } else if (at[0] == '/' && at[1] == '*') {
            at += 2;
            while (*at && !(at[0] == '*' && at[1] == '/'))
                at++;
            if (*at)
                at += 2;
            *put++ = ' ';
        } else
            *put++ = *at++;
    }
    *put = 0;
}

//  Add to names the functions a header declares: at file level (outside
//  braces), a statement that is not a typedef, struct or extern and has a
//  parenthesis; its name is the identifier before the first one.
static void
s_header_functions (const char *path, zlistx_t *names)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    cr_assert_not_null (chunk, "%s", path);
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    s_strip_comments (text);
    //  Blank out preprocessor lines (with their continuations) and the
    //  C++ guard
    for (char *line = text; line && *line;) {
        char *first = line + strspn (line, " \t");
        char *end = strchr (line, '\n');
        if (*first == '#') {
            while (end && end > line && end[-1] == '\\')
                end = strchr (end + 1, '\n');
            memset (line, ' ', end ? (size_t)(end - line) : strlen (line));
        }
        line = end ? end + 1 : NULL;
    }
    for (char *guard = strstr (text, "extern \"C\" {"); guard;
         guard = strstr (guard, "extern \"C\" {"))
        memset (guard, ' ', 12);
    int depth = 0;
    char *statement = text;
    for (char *at = text; *at; at++) {
        if (*at == '{')
            depth++;
        else if (*at == '}' && depth > 0)
            depth--;
        else if (*at == '}') {
            statement = at + 1; //  the C++ guard's closing brace
            continue;
        }
        if (*at != ';' || depth > 0)
            continue;
        *at = 0;
        char *start = statement + strspn (statement, " \t\n");
        statement = at + 1;
        if (strncmp (start, "typedef", 7) == 0 || strncmp (start, "struct", 6) == 0 ||
            strncmp (start, "extern", 6) == 0)
            continue;
        char *paren = strchr (start, '(');
        if (!paren)
            continue;
        char *end = paren;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
            end--;
        char *begin = end;
        while (begin > start && (isalnum ((unsigned char)begin[-1]) || begin[-1] == '_'))
            begin--;
        char *name = strndup (begin, (size_t)(end - begin));
        cr_assert (strncmp (name, "zm_", 3) == 0, "%s: a function named %s?", path, name);
        zlistx_add_end (names, name);
        free (name);
    }
    free (text);
}

Test (api_docs, every_public_function_is_in_it, .timeout = 30)
{
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (names, (zlistx_duplicator_fn *)strdup);
    char path[8192];
    snprintf (path, sizeof path, "%s/include/zmicro.h", s_root ());
    s_header_functions (path, names);
    snprintf (path, sizeof path, "%s/include/zmicro", s_root ());
    DIR *dir = opendir (path);
    cr_assert_not_null (dir, "%s", path);
    int headers = 1;
    for (struct dirent *entry = readdir (dir); entry; entry = readdir (dir)) {
        size_t len = strlen (entry->d_name);
        if (len > 2 && streq (entry->d_name + len - 2, ".h")) {
            snprintf (path, sizeof path, "%s/include/zmicro/%s", s_root (), entry->d_name);
            s_header_functions (path, names);
            headers++;
        }
    }
    closedir (dir);
    cr_assert_gt (zlistx_size (names), 200, "the headers declare only %zu functions?",
                  zlistx_size (names));

    char *api = s_slurp ("docs/api.md");
    cr_assert_not_null (api, "docs/api.md is missing");
    //  The count it states, and an entry (a #### heading naming it) for each
    char summary[64];
    snprintf (summary, sizeof summary, "\n%zu functions, ", zlistx_size (names));
    cr_assert (strstr (api, summary),
               "docs/api.md does not say the headers declare %zu "
               "functions",
               zlistx_size (names));
    snprintf (summary, sizeof summary, " in %d headers.", headers);
    cr_assert (strstr (api, summary), "docs/api.md does not cover the %d headers", headers);
    for (char *name = (char *)zlistx_first (names); name; name = (char *)zlistx_next (names)) {
        char wanted[300];
        snprintf (wanted, sizeof wanted, "`%s`", name);
        bool found = false;
        for (char *heading = strstr (api, "\n#### "); heading && !found;
             heading = strstr (heading + 1, "\n#### ")) {
            char *end = strchr (heading + 1, '\n');
            char *hit = strstr (heading, wanted);
            found = hit && (!end || hit < end);
        }
        cr_expect (found, "docs/api.md has no entry for %s", name);
    }
    free (api);
    zlistx_destroy (&names);
}
