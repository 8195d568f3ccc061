#include <stdio.h>
#include <zmicro.h>

//  "hello" {name} -> {greeting}
static int
say_hello (zm_ctx_t *ctx, zm_msg_t *req)
{
    const char *name = zm_msg_get_str (req, "name", "stranger");
    if (!*name)
        return zm_error (ctx, ZM_EINVAL, "empty name");
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_setf (rep, "greeting", "Hello %s", name);
    return zm_reply (ctx, &rep);
}

static const zm_handler_t handlers[] = {{"hello", say_hello}, {NULL, NULL}};
static const zm_actor_def_t greeter = {.kind = "greeter", .handlers = handlers};

int
main (int argc, char **argv)
{
    zm_node_t *node = zm_node_new (NULL);       //  config: file, ZM_* env, defaults
    zm_pid_t pid = zm_spawn (node, "greeter", &greeter, NULL, -1, NULL);

    zm_msg_t *req = zm_msg_new (), *rep = NULL;
    zm_msg_set_str (req, "name", "world");
    if (zm_node_ask (node, pid, "hello", &req, &rep, NULL, 1000) == 0)
        printf ("%s\n", zm_msg_get_str (rep, "greeting", ""));
    zm_msg_destroy (&rep);
    zm_node_destroy (&node);
    return 0;
}
