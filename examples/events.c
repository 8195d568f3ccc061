/*  events - two services reacting to each other's events

    Two services on one node that talk to each other only through events:

        orders     Order.Place {item, qty} -> {id}: publishes "orders.created"
                   and, subscribed to "inventory.>", marks each order
                   confirmed (or rejected) when inventory answers
        inventory  subscribed to "orders.created" in queue group
                   "inventory" (one member in the cluster takes each order):
                   reserves the stock and publishes "inventory.reserved", or
                   "inventory.short" when there is not enough left

    The main thread places the orders through RPC, then asks Order.Status
    until every order is confirmed or rejected, and prints a summary:

        events: 20 orders created, 20 reserved, 20 confirmed, 0 rejected

    Inventory holds 100 widgets and orders ask for 1, 2, 3, 1, 2, 3...:
    --events.orders=60 empties the shelf and shows rejections. Exits 0
    when every order got its answer, 1 after 10 s without.

    Usage: events [--events.orders=20] [config flags]

    Beacons are off and RPC listens on loopback by default: the two
    services share a node and need no discovery. --registry.beacon=true
    (or ZM_REGISTRY_BEACON=true) and --rpc.bind=* bring them back, and
    with them inventory members and order watchers on other nodes.
*/
#include <czmq.h>
#include "zmicro.h"

//  --------------------------------------------------------------------------
//  orders: one instance, so its state needs no lock

typedef struct {
    int next_id;   //  last order number given
    int created;   //  orders.created published
    int confirmed; //  inventory.reserved heard
    int rejected;  //  inventory.short heard
} orders_t;

//  Order.Place {item, qty} -> {id}
static int
s_order_place (zm_ctx_t *ctx, zm_msg_t *req)
{
    orders_t *self = (orders_t *) zm_ctx_state (ctx);
    int64_t qty = zm_msg_get_int (req, "qty", 1);
    if (qty < 1 || qty > 100)
        return zm_error (ctx, ZM_EINVAL, "qty is 1..100");
    char id[32];
    snprintf (id, sizeof id, "A-%d", 1001 + self->next_id++);
    zm_msg_t *event = zm_msg_new ();
    zm_msg_set_str (event, "id", id);
    zm_msg_set_str (event, "item", zm_msg_get_str (req, "item", "widget"));
    zm_msg_set_int (event, "qty", qty);
    //  Never blocks: the event goes out, the answer comes back as an event
    int rc = zm_publish (zm_ctx_node (ctx), "orders.created", &event, NULL);
    if (rc)
        return zm_error (ctx, rc, "cannot publish order %s", id);
    self->created++;
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_str (rep, "id", id);
    return zm_reply (ctx, &rep);
}

//  Order.Status {} -> {created, confirmed, rejected}
static int
s_order_status (zm_ctx_t *ctx, zm_msg_t *req)
{
    orders_t *self = (orders_t *) zm_ctx_state (ctx);
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_int (rep, "created", self->created);
    zm_msg_set_int (rep, "confirmed", self->confirmed);
    zm_msg_set_int (rep, "rejected", self->rejected);
    return zm_reply (ctx, &rep);
}

//  Event "inventory.>": the topic says what inventory did with the order
static int
s_on_inventory (zm_ctx_t *ctx, zm_msg_t *event)
{
    orders_t *self = (orders_t *) zm_ctx_state (ctx);
    const char *topic = zm_ctx_topic (ctx);
    if (topic && streq (topic, "inventory.reserved"))
        self->confirmed++;
    else if (topic && streq (topic, "inventory.short"))
        self->rejected++;
    zm_log_debug ("orders: %s %s", zm_msg_get_str (event, "id", "?"), topic);
    return 0;
}

//  --------------------------------------------------------------------------
//  inventory: one instance too

typedef struct {
    int64_t stock; //  widgets on the shelf
    int reserved;  //  orders reserved
} inventory_t;

//  Event "orders.created" {id, item, qty}: reserve, and say so
static int
s_on_order_created (zm_ctx_t *ctx, zm_msg_t *event)
{
    inventory_t *self = (inventory_t *) zm_ctx_state (ctx);
    int64_t qty = zm_msg_get_int (event, "qty", 1);
    bool enough = qty <= self->stock;
    if (enough) {
        self->stock -= qty;
        self->reserved++;
    }
    zm_msg_t *answer = zm_msg_new ();
    zm_msg_set_str (answer, "id", zm_msg_get_str (event, "id", "?"));
    zm_msg_set_int (answer, "left", self->stock);
    return zm_publish (zm_ctx_node (ctx), enough ? "inventory.reserved" : "inventory.short",
                       &answer, NULL);
}

//  Stock.Level {} -> {stock, reserved}
static int
s_stock_level (zm_ctx_t *ctx, zm_msg_t *req)
{
    inventory_t *self = (inventory_t *) zm_ctx_state (ctx);
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_int (rep, "stock", self->stock);
    zm_msg_set_int (rep, "reserved", self->reserved);
    return zm_reply (ctx, &rep);
}

//  --------------------------------------------------------------------------

//  Call service.endpoint with an empty request; the reply, or NULL.
static zm_msg_t *
s_ask (zm_node_t *node, const char *service, const char *endpoint)
{
    zm_msg_t *rep = NULL;
    if (zm_call (node, service, endpoint, NULL, &rep, NULL, NULL))
        zm_msg_destroy (&rep);
    return rep;
}

int
main (int argc, char **argv)
{
    //  Our defaults first (beacons off, loopback), then env and flags
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (!config
        || zm_config_define (config, "events.orders", ZM_CONFIG_INT, "20", "orders to place")
        || zm_config_define (config, "registry.beacon", ZM_CONFIG_BOOL, "false",
                             "events: one node, no discovery needed")
        || zm_config_define (config, "rpc.bind", ZM_CONFIG_STR, "127.0.0.1",
                             "events: loopback only")
        || zm_config_load_all (config, argc, argv, &reason)) {
        fprintf (stderr, "events: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    int64_t orders_wanted = zm_config_get_int (config, "events.orders", 20);
    if (orders_wanted < 1 || orders_wanted > 100000) {
        fprintf (stderr, "events: events.orders is 1..100000\n");
        zm_config_destroy (&config);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;

    orders_t orders_state = {0};
    zm_service_t *orders = zm_service_new (node, "orders", "1.0.0");
    inventory_t inventory_state = {.stock = 100};
    zm_service_t *inventory = zm_service_new (node, "inventory", "1.0.0");
    if (!orders || !inventory
        || zm_service_set_state (orders, NULL, NULL, &orders_state)
        || zm_service_handle (orders, "Order.Place", s_order_place)
        || zm_service_handle (orders, "Order.Status", s_order_status)
        || zm_service_subscribe (orders, "inventory.>", NULL, s_on_inventory)
        || zm_service_set_state (inventory, NULL, NULL, &inventory_state)
        || zm_service_handle (inventory, "Stock.Level", s_stock_level)
        || zm_service_subscribe (inventory, "orders.created", "inventory", s_on_order_created)
        || zm_service_start (orders) || zm_service_start (inventory)) {
        fprintf (stderr, "events: cannot start the services\n");
        zm_node_destroy (&node);
        return 1;
    }

    //  Place the orders: each one is an RPC call, the rest is events
    int placed = 0;
    for (int64_t i = 0; i < orders_wanted; i++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_str (req, "item", "widget");
        zm_msg_set_int (req, "qty", 1 + i % 3);
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        int rc = zm_call (node, "orders", "Order.Place", &req, &rep, &error, NULL);
        if (rc)
            fprintf (stderr, "events: order %" PRId64 " failed: %s (%s)\n", i + 1,
                     zm_strerror (rc), zm_error_detail (error));
        else
            placed++;
        zm_msg_destroy (&rep);
        zm_error_destroy (&error);
    }

    //  Wait until every order has its answer, at most 10 s
    int64_t created = 0, confirmed = 0, rejected = 0, reserved = 0;
    int64_t deadline = zclock_mono () + 10000;
    while (true) {
        zm_msg_t *status = s_ask (node, "orders", "Order.Status");
        created = zm_msg_get_int (status, "created", 0);
        confirmed = zm_msg_get_int (status, "confirmed", 0);
        rejected = zm_msg_get_int (status, "rejected", 0);
        zm_msg_destroy (&status);
        if ((placed && confirmed + rejected >= placed) || zclock_mono () > deadline)
            break;
        zclock_sleep (20);
    }
    zm_msg_t *level = s_ask (node, "inventory", "Stock.Level");
    reserved = zm_msg_get_int (level, "reserved", 0);
    zm_msg_destroy (&level);
    zm_node_destroy (&node);

    printf ("events: %" PRId64 " orders created, %" PRId64 " reserved, %" PRId64
            " confirmed, %" PRId64 " rejected\n",
            created, reserved, confirmed, rejected);
    if (placed < orders_wanted || confirmed + rejected < placed) {
        fprintf (stderr, "events: %" PRId64 " of %d orders unanswered\n",
                 placed - confirmed - rejected, placed);
        return 1;
    }
    return 0;
}
