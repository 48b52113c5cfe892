/* The server: listening socket, the set of connections, signals and
 * graceful shutdown, the worker pool and the command allocator.
 *
 * Everything here belongs to the loop thread.  The worker threads see only
 * struct cmd (conn.h) through the pool.
 */
#ifndef PRH_SERVER_H
#define PRH_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "prh/config.h"

struct event;
struct event_base;
struct evconnlistener;
struct pool;
struct conn;
struct cmd;

TAILQ_HEAD(conn_list, conn);

/* Counters for status reports; loop thread only. */
struct server_stats {
	uint64_t accepted;	  /* connections accepted */
	uint64_t commands;	  /* commands answered */
	uint64_t closed_protocol; /* connections closed for bad input */
	uint64_t refused_peers;	  /* closed at accept: not allowed */
	uint64_t timed_out;	  /* closed by the write or idle timeout */
	unsigned connections;	  /* open now */
	unsigned inflight;	  /* commands submitted, not yet answered */
	unsigned parked;	  /* connections waiting for queue room */
};

/* The whole serving state.  Owned by the loop thread. */
struct server {
	struct event_base *base;
	const struct prh_config *cfg;
	struct pool *pool;
	struct evconnlistener *listener;
	struct event *accept_retry; /* re-enables accept after EMFILE */
	bool accept_paused;	    /* accept_retry is pending */
	bool accept_full;	    /* conn_max reached */
	unsigned accept_pauses;	    /* EMFILE pauses since the last accept */
	unsigned conn_max;	    /* connections that fit the fd limit */
	struct event *sig_ev;	    /* the signalfd: TERM, INT, HUP, USR1 */
	int sig_fd;
	struct event *drain_timer; /* bounds the drain on shutdown */
	struct event *sweep;	   /* delivers lazy completions */
	struct conn *reaping;	   /* conn_reap's connection, or NULL */
	bool eager;		   /* pool_set_eager() is on */
	struct conn_list conns;	   /* every open connection */
	struct conn_list
	    parked; /* connections whose command waits for queue room */
	struct cmd *free_cmds; /* recycled commands */
	unsigned n_free_cmds;
	const char *unlink_path; /* socket path to remove at exit, or NULL */
	int listen_fd;
	bool draining; /* shutdown requested */
	struct server_stats stats;
};

/* Create the server on an already listening, non-blocking socket.  If
 * unlink_path is not NULL the path is removed when listening stops. */
int server_new(struct event_base *base, const struct prh_config *cfg,
    int listen_fd, const char *unlink_path, struct server **out);

/* Free everything; connections are closed. Call after the loop ends. */
void server_free(struct server *srv);

/* Begin graceful shutdown: stop accepting, finish commands in flight,
 * flush their answers, then end the loop. */
void server_shutdown(struct server *srv);

/* A connection was closed (called by conn.c); may end a drain or let
 * accepting resume. */
void server_conn_gone(struct server *srv);

/* A command whose completion does not wake the loop was submitted: make
 * sure a sweep delivers it even if its client sends nothing more. */
void server_sweep_arm(struct server *srv);

/* Get a command buffer (recycled or new): NULL on allocation failure. */
struct cmd *server_cmd_get(struct server *srv);

/* Return a command buffer; its device fd must already be closed. */
void server_cmd_put(struct server *srv, struct cmd *cmd);

/* Create the listening socket at path: refuses a live socket, replaces a
 * stale one.  Returns the fd or a negative errno (message logged). */
int server_bind(const char *path);

#endif
