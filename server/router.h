/* router.h: the route table of the HTTP API and its matcher. Patterns are literal paths
 * whose "*" segments match one non-empty path segment (captured in order). A path that
 * matches some route but not with this method is a 405 with the Allow list; no match is
 * a 404. HEAD is matched as GET. Pure functions, thread-safe. */
#ifndef TG_ROUTER_H
#define TG_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_LEN 128

struct hreq;
typedef void (*route_fn)(struct hreq *h);

typedef struct route {
    const char *method;
    const char *pattern;
    const char *name;    /* metrics label */
    route_fn fn;
    int auth;            /* 1: needs the bearer token when one is configured */
} route;

typedef struct route_match {
    int index;                                   /* into router_routes() */
    int path_index;                              /* the first route of this path, any
                                                  * method (-1: none) */
    int n_params;
    char params[ROUTER_MAX_PARAMS][ROUTER_PARAM_LEN];
    char allow[128];                             /* for 405: "GET, DELETE" */
} route_match;

/* The table (terminated by a NULL method) and its size. */
const route *router_routes(size_t *n_out);
/* 200 with m filled, 404 (no route) or 405 (m->allow filled). */
int router_match(const char *method, const char *path, route_match *m);

#endif
