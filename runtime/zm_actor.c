/*  =========================================================================
    zm_actor - what a handler can do: tell, ask, reply, fail, defer

    These calls run on the handler's reactor thread with the context the
    reactor built for the message (zm_reactor.c owns dispatch). Routing from
    here never blocks and never takes a lock: same-reactor envelopes go on
    the run queue, others into the outbox flushed after this dispatch round.
    =========================================================================
*/
#include "zm_runtime.h"

static int
s_send (zm_ctx_t *ctx, int kind, zm_pid_t to, const char *type, zm_msg_t **msg_p,
        zm_env_t **env_p)
{
    if (!ctx || !type) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_EINVAL;
    }
    //  Forwarding the message being handled: it leaves that envelope.
    if (msg_p && ctx->env && *msg_p && ctx->env->msg == *msg_p)
        ctx->env->msg = NULL;
    zm_env_t *env = zm_env_new (kind, to, ctx->actor->pid, type, msg_p);
    if (!env) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_ENOMEM;
    }
    *env_p = env;
    return 0;
}

int
zm_tell (zm_ctx_t *ctx, zm_pid_t to, const char *type, zm_msg_t **msg_p)
{
    zm_env_t *env;
    int rc = s_send (ctx, ZM_ENV_TELL, to, type, msg_p, &env);
    if (rc == 0)
        zm_reactor_route (ctx->reactor, env);
    return rc;
}

int
zm_tell_name (zm_ctx_t *ctx, const char *name, const char *type, zm_msg_t **msg_p)
{
    zm_pid_t pid = ctx ? zm_lookup (zm_reactor_node (ctx->reactor), name) : 0;
    if (!pid) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_ENOTFOUND;
    }
    return zm_tell (ctx, pid, type, msg_p);
}

int
zm_ask (zm_ctx_t *ctx, zm_pid_t to, const char *type, zm_msg_t **msg_p, const char *reply_type,
        int timeout_ms, uint64_t *id_p)
{
    if (!reply_type) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_EINVAL;
    }
    zm_env_t *env;
    int rc = s_send (ctx, ZM_ENV_ASK, to, type, msg_p, &env);
    if (rc)
        return rc;
    if (timeout_ms <= 0)
        timeout_ms = zm_reactor_node (ctx->reactor)->ask_timeout;
    rc = zm_reactor_ask (ctx->reactor, env, reply_type, timeout_ms);
    if (rc) {
        zm_env_destroy (&env, rc);
        return rc;
    }
    if (id_p)
        *id_p = env->ask_id;
    zm_reactor_route (ctx->reactor, env);
    return 0;
}

int
zm_reply (zm_ctx_t *ctx, zm_msg_t **msg_p)
{
    zm_env_t *env = ctx ? ctx->env : NULL;
    if (!env || env->kind != ZM_ENV_ASK || env->replied) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_EINVAL;
    }
    env->replied = true;
    zm_reply_t to = {env->from, env->ask_id, env->waiter};
    env->waiter = NULL;
    if (msg_p && *msg_p && env->msg == *msg_p)
        env->msg = NULL; //  echoing the request back
    zm_reactor_send_reply (zm_reactor_node (ctx->reactor), &to, ZM_OK, msg_p, NULL);
    return 0;
}

int
zm_error (zm_ctx_t *ctx, int code, const char *format, ...)
{
    if (!ctx)
        return code;
    free (ctx->error_detail);
    ctx->error_detail = NULL;
    ctx->error_code = code;
    if (format) {
        va_list args;
        va_start (args, format);
        if (vasprintf (&ctx->error_detail, format, args) < 0)
            ctx->error_detail = NULL;
        va_end (args);
    }
    return code;
}

zm_reply_t *
zm_ctx_defer (zm_ctx_t *ctx)
{
    zm_env_t *env = ctx ? ctx->env : NULL;
    if (!env || env->kind != ZM_ENV_ASK || env->replied)
        return NULL;
    zm_reply_t *reply = (zm_reply_t *) malloc (sizeof (zm_reply_t));
    if (!reply)
        return NULL;
    reply->to = env->from;
    reply->ask_id = env->ask_id;
    reply->waiter = env->waiter;
    env->waiter = NULL;
    env->replied = true;
    return reply;
}

int
zm_reply_send (zm_node_t *node, zm_reply_t **reply_p, zm_msg_t **msg_p, int error,
               const char *detail)
{
    if (!node || !reply_p || !*reply_p) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_EINVAL;
    }
    zm_reply_t *reply = *reply_p;
    *reply_p = NULL;
    zm_error_t *value = NULL;
    if (error) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        value = zm_error_new (error, NULL, "%s", detail ? detail : zm_strerror (error));
        zm_reactor_send_reply (node, reply, error, NULL, &value);
    }
    else
        zm_reactor_send_reply (node, reply, ZM_OK, msg_p, NULL);
    free (reply);
    return 0;
}

zm_node_t *
zm_ctx_node (zm_ctx_t *ctx)
{
    return zm_reactor_node (ctx->reactor);
}

zm_pid_t
zm_ctx_self (zm_ctx_t *ctx)
{
    return ctx->actor->pid;
}

zm_pid_t
zm_ctx_sender (zm_ctx_t *ctx)
{
    return ctx->env ? ctx->env->from : 0;
}

const char *
zm_ctx_type (zm_ctx_t *ctx)
{
    return ctx->env ? ctx->env->type : "";
}

void *
zm_ctx_state (zm_ctx_t *ctx)
{
    return ctx->actor->state;
}

void
zm_ctx_set_state (zm_ctx_t *ctx, void *state)
{
    ctx->actor->state = state;
}

int
zm_ctx_status (zm_ctx_t *ctx)
{
    return ctx->env && (ctx->env->kind == ZM_ENV_REPLY || ctx->env->stream_event)
               ? ctx->env->status
               : ZM_OK;
}

const zm_error_t *
zm_ctx_error (zm_ctx_t *ctx)
{
    return ctx->env ? ctx->env->error : NULL;
}

uint64_t
zm_ctx_ask_id (zm_ctx_t *ctx)
{
    return ctx->env && ctx->env->kind == ZM_ENV_REPLY ? ctx->env->ask_id : 0;
}

zm_msg_t *
zm_ctx_take (zm_ctx_t *ctx)
{
    if (!ctx->env)
        return NULL;
    zm_msg_t *msg = ctx->env->msg;
    ctx->env->msg = NULL;
    return msg;
}

int
zm_ctx_reactor (zm_ctx_t *ctx)
{
    return zm_reactor_index (ctx->reactor);
}
