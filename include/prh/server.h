/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The server: the listening socket and accepting (the fd budget, the
 * allow-list, connections per uid), signals, graceful shutdown, and the
 * objects every connection shares (devices, dispatch, counters).
 *
 * struct server is opaque: connections get what they need through struct
 * conn_env (conn.h) and report back through its gone callback; status.c
 * sees the server only through server_view().  Loop thread only.
 */
#ifndef PRH_SERVER_H
#define PRH_SERVER_H

#include "prh/config.h"

struct event_base;
struct server;
struct status_view;

/* Create the server on an already listening, non-blocking socket and
 * start its worker pool: 0 and *out, or a negative errno (the caller still
 * owns listen_fd then).  If unlink_path is not NULL the path is removed
 * when listening stops. */
int server_new(struct event_base *base, const struct prh_config *cfg,
    int listen_fd, const char *unlink_path, struct server **out);

/* Free everything; connections are closed.  Call after the loop ends. */
void server_free(struct server *srv);

/* Begin graceful shutdown: stop accepting, finish commands in flight,
 * flush their answers, then end the loop. */
void server_shutdown(struct server *srv);

/* Fill a status view (a status_view_fn; arg is the server). */
void server_view(void *arg, struct status_view *v);

/* Create the listening socket at path: refuses a live socket, replaces a
 * stale one.  Returns the fd or a negative errno (message logged). */
int server_bind(const char *path);

#endif
