/* The server: listening socket, connections, signals, graceful shutdown. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "prh/conn.h"
#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/notify.h"
#include "prh/pool.h"
#include "prh/server.h"
#include "prh/status.h"
#include "prh/trace.h"

/* How long accepting pauses after EMFILE/ENFILE. */
#define ACCEPT_RETRY_MS 200
/* Parked connections retried per completion. */
#define RESUME_BATCH	8
/* Extra time granted to a drain beyond the SG_IO timeout. */
#define DRAIN_SLACK_S	5
/* Period of the sweep that delivers completions nobody asked for. */
#define SWEEP_MS	20
/* Fds kept free beyond those open at start-up and one per worker. */
#define FD_MARGIN	16

/* Signals read through a signalfd: blocked in every thread, so no
 * asynchronous handler ever runs and the loop sees them as plain input. */
static const int server_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

/* Stop the event loop once nothing is left to finish. */
static void
server_maybe_done(struct server *srv)
{
	if (srv->draining && srv->stats.connections == 0 &&
	    srv->stats.inflight == 0)
		event_base_loopbreak(srv->base);
}

/* Listen if not shutting down, not paused after EMFILE and not full;
 * if the listener cannot be armed (no memory), retry from the timer. */
static void
server_accept_update(struct server *srv)
{
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };

	if (srv->listener == NULL)
		return;
	if (srv->draining || srv->accept_paused || srv->accept_full) {
		evconnlistener_disable(srv->listener);
	} else if (evconnlistener_enable(srv->listener) < 0) {
		log_warn("cannot listen: out of memory; retrying in %d ms",
		    ACCEPT_RETRY_MS);
		srv->accept_paused = true;
		evtimer_add(srv->accept_retry, &tv);
	}
}

/* A connection closed or an orphaned command finished. */
void
server_conn_gone(struct server *srv)
{
	if (srv->accept_full && srv->stats.connections < srv->conn_max) {
		srv->accept_full = false;
		log_msg(LOG_NOTICE, "%u connections: accepting again",
		    srv->stats.connections);
		server_accept_update(srv);
	}
	server_maybe_done(srv);
}

/* Number of fds open in this process (64 if /proc is not available). */
static unsigned
server_count_fds(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (d == NULL)
		return 64;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0; /* ".", ".." and the DIR's own fd */
}

/* Raise the soft fd limit to the hard one, then work out how many
 * connections fit in it.  Kept free: the fds open now, one device fd per
 * worker (a command whose client left), a margin, and room for the device
 * fds of the commands that can be in flight (running or queued), but at
 * most half of what is left.  So idle connections cannot take the fds
 * that requests on the existing ones need. */
static unsigned
server_conn_limit(const struct prh_config *cfg)
{
	unsigned long long cur, reserve, dev;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return UINT_MAX;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { .rlim_cur = rl.rlim_max,
			.rlim_max = rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	cur = rl.rlim_cur == RLIM_INFINITY ? 1ull << 30 : rl.rlim_cur;
	reserve = server_count_fds() + cfg->threads + FD_MARGIN;
	if (cur < reserve + 2)
		return 1;
	cur -= reserve;
	dev = (unsigned long long)cfg->threads + cfg->queue_max;
	cur -= dev < cur / 2 ? dev : cur / 2;
	return cur > UINT_MAX ? UINT_MAX : (unsigned)cur;
}

/* Get a command, recycled if possible. */
struct cmd *
server_cmd_get(struct server *srv)
{
	struct cmd *cmd = srv->free_cmds;

	if (cmd != NULL) {
		srv->free_cmds = cmd->next_free;
		srv->n_free_cmds--;
	} else {
		cmd = malloc(sizeof(*cmd));
		if (cmd == NULL)
			return NULL;
	}
	memset(cmd, 0, offsetof(struct cmd, data));
	cmd->devfd = -1;
	cmd->sockfd = -1;
	return cmd;
}

/* Return a command; keep a bounded number for reuse. */
void
server_cmd_put(struct server *srv, struct cmd *cmd)
{
	if (srv->n_free_cmds >= srv->cfg->threads * 2u) {
		free(cmd);
		return;
	}
	cmd->next_free = srv->free_cmds;
	srv->free_cmds = cmd;
	srv->n_free_cmds++;
}

/* Give parked connections another chance at the pool queue. */
static void
server_resume_parked(struct server *srv)
{
	for (int i = 0; i < RESUME_BATCH; i++) {
		struct conn *c = TAILQ_FIRST(&srv->parked);

		if (c == NULL)
			break;
		if (conn_resume(c) == -EAGAIN &&
		    (unsigned)i + 1 >= srv->stats.parked)
			break; /* went round once without luck */
	}
}

/* Pool completion: answer, then let a waiting connection in.  While
 * connections are parked every completion wakes the loop, so that they
 * get room as soon as there is some. */
static void
server_cmd_done(struct pool_job *job, void *arg)
{
	struct server *srv = arg;

	conn_cmd_done(job, srv);
	if (!TAILQ_EMPTY(&srv->parked))
		server_resume_parked(srv);
	if (srv->eager && TAILQ_EMPTY(&srv->parked) && !srv->draining) {
		pool_set_eager(srv->pool, 0);
		srv->eager = false;
	}
}

/* Sweep timer: deliver finished commands whose clients sent nothing
 * since; keep sweeping while commands are in flight. */
static void
server_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	pool_reap(srv->pool);
	if (srv->stats.inflight > 0)
		server_sweep_arm(srv);
}

/* Arm the sweep timer unless it is pending. */
void
server_sweep_arm(struct server *srv)
{
	struct timeval tv = { 0, SWEEP_MS * 1000 };

	if (!evtimer_pending(srv->sweep, NULL))
		evtimer_add(srv->sweep, &tv);
}

/* New connection from the listener. */
static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct server *srv = arg;

	if (srv->draining) {
		close(fd);
		return;
	}
	if (srv->accept_pauses > 0) {
		log_msg(LOG_NOTICE, "accepting again after %u pause(s)",
		    srv->accept_pauses);
		srv->accept_pauses = 0;
	}
	(void)conn_new(srv, fd);
	if (!srv->accept_full && srv->stats.connections >= srv->conn_max) {
		srv->accept_full = true;
		log_warn("%u connections: the fd limit allows no more; "
			 "accepting paused until one closes",
		    srv->conn_max);
		server_accept_update(srv);
	}
}

/* Accept failed: on fd or memory exhaustion pause accepting (the
 * pending connection would wake the loop again at once) and retry from a
 * timer.  Only the first pause of a run is logged. */
static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct server *srv = arg;
	int err = errno;
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		if (srv->accept_pauses++ == 0)
			log_warn("accept: %s; pausing accept, retrying every "
				 "%d ms",
			    strerror(err), ACCEPT_RETRY_MS);
		srv->accept_paused = true;
		server_accept_update(srv);
		evtimer_add(srv->accept_retry, &tv);
		return;
	}
	log_warn("accept: %s", strerror(err));
}

/* Timer after an accept pause: listen again. */
static void
server_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	srv->accept_paused = false;
	server_accept_update(srv);
}

/* One signal: SIGUSR1 logs the summary, the others drain. */
static void
server_on_signal(struct server *srv, int sig)
{
	TRACE(TP_SIGNAL, "signo=%d", sig);
	if (sig == SIGUSR1) {
		status_log_summary(srv);
		return;
	}
	if (srv->draining) {
		log_info("signal %d during shutdown: exiting now", (int)sig);
		event_base_loopbreak(srv->base);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	server_shutdown(srv);
}

/* The signalfd is readable: handle every queued signal. */
static void
server_signal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct signalfd_siginfo si[8];
	ssize_t n;

	while ((n = read(fd, si, sizeof(si))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++)
			server_on_signal(arg, (int)si[i].ssi_signo);
	}
}

/* Block the handled signals and open a signalfd for them: fd or -errno.
 * Called before the pool starts, so every thread inherits the mask. */
static int
server_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(server_signals) / sizeof(int); i++)
		sigaddset(&set, server_signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The drain took too long (a device never answered): stop anyway. */
static void
server_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	log_warn("shutdown: %u command(s) still running; exiting anyway",
	    srv->stats.inflight);
	event_base_loopbreak(srv->base);
}

/* Close the listening socket and remove the path we created. */
static void
server_stop_listening(struct server *srv)
{
	if (srv->listener != NULL) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		srv->listen_fd = -1;
	}
	if (srv->unlink_path != NULL) {
		if (unlink(srv->unlink_path) < 0 && errno != ENOENT)
			log_warn("Failed to unlink socket %s: %s",
			    srv->unlink_path, strerror(errno));
		srv->unlink_path = NULL;
	}
}

/* Begin graceful shutdown. */
void
server_shutdown(struct server *srv)
{
	struct timeval tv = { srv->cfg->sg_timeout + DRAIN_SLACK_S, 0 };
	if (srv->draining)
		return;
	srv->draining = true;
	notify_send("STOPPING=1");
	mpath_drain(); /* commands waiting for libmpathpersist answer BUSY */
	/* Every completion now wakes the loop: the drain waits for them. */
	pool_set_eager(srv->pool, 1);
	srv->eager = true;
	server_stop_listening(srv);
	evtimer_add(srv->drain_timer, &tv);
	/* Connections that are idle close now; busy ones after answering. */
	conn_drain_all(srv);
	server_maybe_done(srv);
}

/* Set up listener, signals, timers and the pool. */
int
server_new(struct event_base *base, const struct prh_config *cfg, int listen_fd,
    const char *unlink_path, struct server **out)
{
	struct pool_limits lim = {
		.threads = cfg->threads,
		.max_per_device = cfg->max_per_device,
		.queue_max = cfg->queue_max,
		.dev_queue_max = cfg->queue_max / 4 ? cfg->queue_max / 4 : 1,
		.defer_wake = 1,
	};
	struct server *srv;
	int r = -ENOMEM;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->base = base;
	srv->cfg = cfg;
	srv->listen_fd = listen_fd;
	srv->sig_fd = -1;
	srv->unlink_path = unlink_path;
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->parked);
	srv->conn_max = server_conn_limit(cfg);

	srv->accept_retry = evtimer_new(base, server_accept_retry_cb, srv);
	srv->drain_timer = evtimer_new(base, server_drain_timeout_cb, srv);
	srv->sweep = evtimer_new(base, server_sweep_cb, srv);
	if (srv->accept_retry == NULL || srv->drain_timer == NULL ||
	    srv->sweep == NULL)
		goto fail;
	srv->sig_fd = server_signalfd();
	if (srv->sig_fd < 0) {
		r = srv->sig_fd;
		goto fail;
	}
	srv->sig_ev = event_new(base, srv->sig_fd, EV_READ | EV_PERSIST,
	    server_signal_cb, srv);
	if (srv->sig_ev == NULL || event_add(srv->sig_ev, NULL) < 0)
		goto fail;
	r = pool_new(base, &lim, server_cmd_done, srv, &srv->pool);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	/* Backlog 0: the socket is already listening (SOMAXCONN). */
	srv->listener = evconnlistener_new(base, server_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd);
	/* evconnlistener_new() does not say if arming the event failed. */
	if (srv->listener == NULL || evconnlistener_enable(srv->listener) < 0)
		goto fail;
	evconnlistener_set_error_cb(srv->listener, server_accept_error_cb);
	*out = srv;
	return 0;
fail:
	srv->listen_fd = -1; /* the caller still owns it */
	srv->unlink_path = NULL;
	server_free(srv);
	return r;
}

/* Free everything; open connections are closed. */
void
server_free(struct server *srv)
{
	struct pool_stats ps;
	struct cmd *cmd;

	if (srv == NULL)
		return;
	srv->draining = true; /* no loop-break bookkeeping from here on */
	if (srv->pool != NULL)
		pool_reap(srv->pool); /* finished commands: free them */
	while (!TAILQ_EMPTY(&srv->conns))
		conn_free(TAILQ_FIRST(&srv->conns));
	server_stop_listening(srv);
	if (srv->pool != NULL) {
		pool_shutdown(srv->pool);
		pool_get_stats(srv->pool, &ps);
		/* A worker stuck in a hung device cannot be joined; the
		 * process is about to exit and takes it along. */
		if (ps.running == 0 && ps.queued == 0)
			pool_free(srv->pool);
	}
	if (srv->sig_ev != NULL)
		event_free(srv->sig_ev);
	if (srv->sig_fd >= 0)
		close(srv->sig_fd);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	if (srv->drain_timer != NULL)
		event_free(srv->drain_timer);
	if (srv->sweep != NULL)
		event_free(srv->sweep);
	while ((cmd = srv->free_cmds) != NULL) {
		srv->free_cmds = cmd->next_free;
		free(cmd);
	}
	free(srv);
}

/* Whether a listening socket answers at path. */
static bool
server_path_is_live(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool live;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    errno == EAGAIN;
	close(fd);
	return live;
}

/* Create, bind and listen on the socket at path. */
int
server_bind(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (r < 0 && errno == EADDRINUSE) {
		if (server_path_is_live(path)) {
			log_err("%s is in use by a running helper; not "
				"replacing it",
			    path);
			close(fd);
			return -EADDRINUSE;
		}
		/* A stale socket (or any other non-directory file): replace. */
		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode))
			(void)unlink(path);
		r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	}
	if (r < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_err("Failed to listen on %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}
