/* One client connection: the protocol state machine.
 *
 * Reading uses a plain read event and recvmsg (bufferevents drop
 * SCM_RIGHTS); replies go out through a write-only bufferevent.  At most
 * one command per connection is read, run and answered at a time; the read
 * event is disarmed while a command is in flight, so pipelined requests
 * wait in the kernel socket buffer and every fd stays with its request.
 *
 * A struct conn belongs to the loop thread.  Its command (struct cmd) is
 * handed to the pool; the worker sees only the cmd, and may write the reply
 * to cmd->sockfd, the connection's socket.  If the connection closes while
 * its command runs, the cmd is orphaned (cmd->conn = NULL) and freed by the
 * completion, which also closes the socket if the worker had it.
 */
#ifndef PRH_CONN_H
#define PRH_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "prh/pool.h"
#include "prh/proto.h"
#include "prh/protocol.h"
#include "prh/scsi_result.h"

struct server;
struct conn;

/* One command in flight: what a worker needs, and its result.
 *
 * From pool_submit() until the completion runs, the worker owns every
 * field but conn and next_free: it reads devfd, sockfd, timeout_ms, req,
 * cdb and data, writes res, data, sent and send_err, and closes devfd.
 * The loop thread may only read sockfd and clear conn.  The pool's
 * completion lock hands the cmd back (see doc/threads.md). */
struct cmd {
	struct pool_job job;   /* first: the pool's handle */
	struct conn *conn;     /* owner; NULL once orphaned */
	struct cmd *next_free; /* server free list */
	int devfd;	       /* the client's device fd */
	int sockfd;	       /* socket the worker replies on, or -1 */
	uint32_t sent;	       /* reply bytes the worker sent */
	int send_err;	       /* the worker's send error, or 0 */
	unsigned timeout_ms;   /* SG_IO timeout */
	struct proto_req req;  /* parsed CDB */
	uint8_t cdb[PRH_CDB_LEN];
	struct scsi_result res;	    /* filled by the worker */
	uint8_t data[PRH_DATA_MAX]; /* PR OUT params / PR IN payload */
};

/* Take a freshly accepted socket: send the hello and start reading.
 * 0 or a negative errno (the socket is closed either way on error). */
int conn_new(struct server *srv, int fd);

/* Close a connection now; its command, if running, is orphaned. */
void conn_free(struct conn *c);

/* The pool's completion callback (loop thread): answer or drop. */
void conn_cmd_done(struct pool_job *job, void *arg);

/* Retry submitting a parked connection's command: 0 if it went to the
 * pool (or the connection closed), -EAGAIN if it must keep waiting. */
int conn_resume(struct conn *c);

/* Shutdown: stop reading; close now if idle, else after the answer.
 * Returns whether the connection is still open. */
bool conn_drain(struct conn *c);

/* Shutdown: drain every connection of the server. */
void conn_drain_all(struct server *srv);

/* Free a command that will never run or complete: close its fd. */
void cmd_discard(struct server *srv, struct cmd *cmd);

#endif
