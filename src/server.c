/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The server: listening socket, accepting, signals, graceful shutdown
 * (see server.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <pthread.h>
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

#include "prh/audit.h"
#include "prh/closer.h"
#include "prh/conn.h"
#include "prh/device.h"
#include "prh/dispatch.h"
#include "prh/fdpass.h"
#include "prh/latency.h"
#include "prh/log.h"
#include "prh/metrics.h"
#include "prh/mpath.h"
#include "prh/notify.h"
#include "prh/peer.h"
#include "prh/keyguard.h"
#include "prh/peerlog.h"
#include "prh/server.h"
#include "prh/stats.h"
#include "prh/status.h"
#include "prh/trace.h"

/* How long accepting pauses after EMFILE/ENFILE. */
#define ACCEPT_RETRY_MS	 200
/* Extra time granted to a drain beyond the SG_IO timeout. */
#define DRAIN_SLACK_S	 5
/* Fds kept free beyond those open at start-up and two per worker: what
 * one message may bring, and a few for the loop's own files. */
#define FD_MARGIN	 (FDPASS_MAX_FDS + 64)
/* Workers started with the pool, and how long one beyond them may idle. */
#define POOL_MIN_THREADS 4
#define POOL_IDLE_MS	 10000
/* Per-uid refusals logged: the first, then one in this many. */

/* Signals read through a signalfd: blocked in every thread, so no
 * asynchronous handler ever runs and the loop sees them as plain input. */
static const int server_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

/* The whole serving state.  Loop thread only. */
struct server {
	struct event_base *base;
	const struct prh_config *cfg;
	struct conn_env env;		 /* shared by every connection */
	struct dispatch *dispatch;	 /* the worker pool */
	struct device_registry *devices; /* devices commands went to */
	struct latency_table *latency;	 /* their histograms (metrics) */
	struct closer *closer;		 /* closes FUSE files and the like */
	struct peer_counts *uids;	 /* connections per uid */
	struct audit *audit;		 /* the audit trail */
	struct peerlog *peerlog;	 /* each client's share of the log */
	struct keyguard *keyguard;	 /* --protect-keys, or NULL */
	struct metrics *metrics;	 /* --metrics-file, or NULL */
	struct prh_stats stats;
	struct evconnlistener *listener;
	struct event *accept_retry; /* re-enables accept after EMFILE */
	bool accept_paused;	    /* accept_retry is pending */
	bool accept_full;	    /* accept_limit reached */
	uint64_t note_tat_ns;	    /* server_note()'s allowance */
	uint64_t notes_dropped;	    /* its lines not logged since */
	unsigned accept_limit;	    /* fds in use at which accepting pauses */
	unsigned accept_pauses;	    /* EMFILE pauses since the last accept */
	uint64_t uid_refusals;	    /* over --max-clients-per-uid */
	struct event *sig_ev;	    /* the signalfd: TERM, INT, HUP, USR1 */
	int sig_fd;
	struct event *drain_timer; /* bounds the drain on shutdown */
	const char *unlink_path;   /* socket path to remove at exit, or NULL */
	int listen_fd;
	bool draining; /* shutdown requested */
};

/* Stop the event loop once nothing is left to finish. */
static void
server_maybe_done(struct server *srv)
{
	if (srv->draining && srv->env.fds.sockets == 0 &&
	    dispatch_outstanding(srv->dispatch) == 0)
		event_base_loopbreak(srv->base);
}

/* dispatch: the last outstanding command came back during a drain. */
static void
server_idle_cb(void *arg)
{
	struct server *srv = arg;

	conn_drain_idle(&srv->env);
	server_maybe_done(srv);
}

/* Stop now, with commands still out: each is answered first
 * (conn_abort_all()). */
static void
server_stop_now(struct server *srv)
{
	conn_abort_all(&srv->env);
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

/* Lines about accepting (paused, again) that clients can make come and
 * go: at most this many at once, then one a second. */
#define SERVER_NOTE_BURST   10
#define SERVER_NOTE_PER_SEC 1

/* Log a line about accepting, unless such lines come too often; the next
 * one logged says how many were not. */
static void __attribute__((format(printf, 3, 4)))
server_note(struct server *srv, int prio, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!peerlog_rate_take(&srv->note_tat_ns, trace_now_ns(),
		SERVER_NOTE_BURST, SERVER_NOTE_PER_SEC)) {
		srv->notes_dropped++;
		STATS_INC(srv->stats.audit_dropped);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (srv->notes_dropped == 0)
		log_msg(prio, "%s", msg);
	else
		log_msg(prio, "%s (%llu such line%s not logged)", msg,
		    (unsigned long long)srv->notes_dropped,
		    srv->notes_dropped == 1 ? "" : "s");
	srv->notes_dropped = 0;
}

/* conn_env's room callback: fds were freed; accept again if paused at
 * the budget and there is room now. */
static void
server_fd_room(void *arg)
{
	struct server *srv = arg;

	if (srv->accept_full &&
	    fdbudget_used(&srv->env.fds) < srv->accept_limit) {
		srv->accept_full = false;
		server_note(srv, LOG_NOTICE, "%u connections: accepting again",
		    srv->env.fds.sockets);
		server_accept_update(srv);
	}
}

/* conn_env's gone callback: a connection closed. */
static void
server_conn_gone(void *arg, const struct peer *peer)
{
	struct server *srv = arg;

	peer_counts_del(srv->uids, peer->uid);
	server_fd_room(srv);
	server_maybe_done(srv);
}

/* The closer closed fds it was counting. */
static void
server_closer_freed(void *arg)
{
	struct server *srv = arg;

	fdbudget_freed(&srv->env.fds);
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

/* Raise the soft fd limit to the hard one, then work out how many fds
 * connections may use (the budget of struct fdbudget): their sockets and
 * the device fds of their requests, one each at most (a second fd closes
 * the connection), and the fds queued for the closer.  Kept free beyond
 * that: the fds open now, two per worker (a command whose client left
 * still holds its device fd; the other is room for what a worker opens
 * itself: /dev/mapper/control, libmpathpersist's fds), and a margin,
 * which covers the fds one recvmsg may bring (connections read only while
 * at most the budget is used: conn.c).  So no client can fill the fd
 * table: the kernel never has to drop an fd a client sent, which it would
 * do on the loop thread.
 * Accepting stops earlier, at *accept: the rest of the budget is room for
 * the device fds of requests on the connections there are (one per
 * command that can be queued or running, but at most half), so idle
 * connections never keep the others from sending requests. */
static unsigned
server_fd_budget(const struct prh_config *cfg, unsigned *accept)
{
	unsigned long long cur, reserve, room;
	struct rlimit rl;

	*accept = UINT_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return UINT_MAX;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { .rlim_cur = rl.rlim_max,
			.rlim_max = rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	cur = rl.rlim_cur == RLIM_INFINITY ? 1ull << 30 : rl.rlim_cur;
	reserve = server_count_fds() + 2ull * cfg->threads + FD_MARGIN;
	if (cur < reserve + 4) {
		*accept = 1;
		return 2;
	}
	cur -= reserve;
	if (cur > UINT_MAX)
		cur = UINT_MAX;
	room = (unsigned long long)cfg->threads + cfg->queue_max;
	if (room > cur / 2)
		room = cur / 2;
	*accept = (unsigned)(cur - room);
	return (unsigned)cur;
}

/* New connection from the listener: admit the peer, then serve it. */
static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct server *srv = arg;
	struct peer peer;
	int r;

	(void)l;
	(void)sa;
	(void)socklen;
	if (srv->draining) {
		peer_of_socket(fd, &peer);
		closer_close_socket(srv->closer, fd, peer_client_key(&peer));
		return;
	}
	if (srv->accept_pauses > 0) {
		server_note(srv, LOG_NOTICE,
		    "accepting again after %u pause(s)", srv->accept_pauses);
		srv->accept_pauses = 0;
	}
	peer_of_socket(fd, &peer);
	if (!peer_allowed(srv->cfg, fd, &peer)) {
		peerlog_warn(srv->peerlog, NULL, &peer, PEERLOG_REFUSED,
		    "gid %d: not in --allow-uid or --allow-gid; closing "
		    "connection",
		    (int)peer.gid);
		STATS_INC(srv->stats.refused_peers);
		closer_close_socket(srv->closer, fd, peer_client_key(&peer));
		return;
	}
	r = peer_counts_add(srv->uids, peer.uid, srv->cfg->max_clients_per_uid);
	if (r < 0) {
		if (r == -EUSERS)
			peerlog_warn(srv->peerlog, NULL, &peer, PEERLOG_REFUSED,
			    "uid %d has %u connections "
			    "(--max-clients-per-uid): closing connection "
			    "(%llu refused so far)",
			    (int)peer.uid, srv->cfg->max_clients_per_uid,
			    (unsigned long long)++srv->uid_refusals);
		STATS_INC(srv->stats.refused_uid_limit);
		closer_close_socket(srv->closer, fd, peer_client_key(&peer));
		return;
	}
	if (conn_new(&srv->env, fd, &peer) < 0) {
		peer_counts_del(srv->uids, peer.uid);
		return;
	}
	if (!srv->accept_full &&
	    fdbudget_used(&srv->env.fds) >= srv->accept_limit) {
		srv->accept_full = true;
		server_note(srv, LOG_WARNING,
		    "%u connections: the fd limit allows no more (%u fds of "
		    "requests held); accepting paused until one closes or a "
		    "request's fd is freed",
		    srv->env.fds.sockets, atomic_load(&srv->env.fds.held));
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

	(void)l;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		if (srv->accept_pauses++ == 0)
			server_note(srv, LOG_WARNING,
			    "accept: %s; pausing accept, retrying every %d ms",
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

	(void)fd;
	(void)what;
	srv->accept_paused = false;
	server_accept_update(srv);
}

/* One signal: SIGUSR1 logs the summary, the others drain. */
static void
server_on_signal(struct server *srv, int sig)
{
	TRACE(TP_SIGNAL, "signo=%d", sig);
	if (sig == SIGUSR1) {
		if (srv->metrics != NULL)
			(void)metrics_write(srv->metrics);
		status_log_summary();
		return;
	}
	if (srv->draining) {
		log_info("signal %d during shutdown: answering the commands "
			 "still out, exiting now",
		    sig);
		server_stop_now(srv);
		return;
	}
	log_info("signal %d: shutting down", sig);
	server_shutdown(srv);
}

/* The signalfd is readable: handle every queued signal. */
static void
server_signal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct signalfd_siginfo si[8];
	ssize_t n;

	(void)what;
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
	int fd, r;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(server_signals) / sizeof(int); i++)
		sigaddset(&set, server_signals[i]);
	if ((r = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0)
		return -r;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The drain took too long (a device never answered): stop anyway. */
static void
server_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct dispatch_stats ds;

	(void)fd;
	(void)what;
	dispatch_get_stats(srv->dispatch, &ds);
	log_warn("shutdown: %u command(s) still running; answering them "
		 "ABORTED COMMAND and exiting anyway",
	    ds.outstanding);
	server_stop_now(srv);
}

/* Close the listening socket and remove the path we created.  The
 * closer closes it: connections not accepted yet are queued in it with
 * what their clients sent, fds too, and its close frees them. */
static void
server_stop_listening(struct server *srv)
{
	if (srv->listener != NULL) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	if (srv->listen_fd >= 0) {
		if (srv->closer != NULL)
			closer_close(srv->closer, srv->listen_fd,
			    CLOSER_NEUTRAL);
		else
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
	/* The drain hears when the last command outstanding is back. */
	dispatch_drain(srv->dispatch, server_idle_cb, srv);
	server_stop_listening(srv);
	evtimer_add(srv->drain_timer, &tv);
	/* Each connection's client can send nothing more; what it sent is
	 * answered, then the connection closes. */
	conn_drain_all(&srv->env);
	server_maybe_done(srv);
}

/* Fill a status view. */
void
server_view(void *arg, struct status_view *v)
{
	struct server *srv = arg;
	struct pool_dev_stats ds[POOL_BUSIEST_MAX];
	const struct device *d;
	unsigned n;

	memset(v, 0, sizeof(*v));
	v->draining = srv->draining;
	v->stats = &srv->stats;
	v->threads_max = srv->cfg->threads;
	dispatch_get_stats(srv->dispatch, &v->ds);
	n = dispatch_busiest(srv->dispatch, ds, POOL_BUSIEST_MAX);
	for (unsigned i = 0; i < n; i++) {
		struct status_device *sd = &v->devices[v->ndevices++];

		d = devreg_by_key(srv->devices, ds[i].devkey);
		snprintf(sd->name, sizeof(sd->name), "%s",
		    d != NULL ? d->name : "?");
		sd->major = d != NULL ? d->node.major : 0;
		sd->minor = d != NULL ? d->node.minor : 0;
		sd->running = ds[i].running;
		sd->queued = ds[i].queued;
	}
}

/* The registry freed a device: its histogram goes too. */
static void
server_device_dropped(const struct device *d, void *arg)
{
	latency_forget(arg, d);
}

/* Set up listener, signals, timers, the devices and the pool. */
int
server_new(struct event_base *base, const struct prh_config *cfg, int listen_fd,
    const char *unlink_path, struct server **out)
{
	struct pool_limits lim = {
		.threads = cfg->threads,
		.max_per_device = cfg->max_per_device,
		.queue_max = cfg->queue_max,
		.dev_queue_max = cfg->queue_max / 4 ? cfg->queue_max / 4 : 1,
		.defer_wake = true,
		.min_threads = cfg->threads < POOL_MIN_THREADS
		    ? cfg->threads
		    : POOL_MIN_THREADS,
		.idle_ms = POOL_IDLE_MS,
	};
	struct server *srv;
	int r = -ENOMEM;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->base = base;
	srv->cfg = cfg;
	srv->listen_fd = listen_fd;
	srv->sig_fd = -1;
	srv->unlink_path = unlink_path;
	if (devreg_new(&srv->devices) < 0 ||
	    (cfg->metrics_file != NULL &&
		latency_table_new(&srv->latency) < 0) ||
	    peer_counts_new(&srv->uids) < 0 ||
	    peerlog_new(base, &srv->stats, &srv->peerlog) < 0 ||
	    audit_new(srv->devices, srv->peerlog, &srv->stats, &srv->audit) <
		0 ||
	    (cfg->protect_keys && (srv->keyguard = keyguard_new()) == NULL))
		goto fail;
	srv->accept_retry = evtimer_new(base, server_accept_retry_cb, srv);
	srv->drain_timer = evtimer_new(base, server_drain_timeout_cb, srv);
	if (srv->accept_retry == NULL || srv->drain_timer == NULL)
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
	if (closer_new(base, &srv->env.fds.held, server_closer_freed, srv,
		&srv->closer) < 0)
		goto fail;
	r = dispatch_new(base, &lim, srv->devices, srv->closer, &srv->dispatch);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	srv->env.base = base;
	srv->env.cfg = cfg;
	srv->env.dispatch = srv->dispatch;
	srv->env.devices = srv->devices;
	srv->env.latency = srv->latency;
	srv->env.stats = &srv->stats;
	srv->env.audit = srv->audit;
	srv->env.peerlog = srv->peerlog;
	srv->env.keyguard = srv->keyguard;
	srv->env.closer = srv->closer;
	srv->env.gone = server_conn_gone;
	srv->env.fds.room = server_fd_room;
	srv->env.fds.arg = srv;
	srv->env.arg = srv;
	if (conn_env_init(&srv->env) < 0)
		goto fail;
	devreg_on_drop(srv->devices, server_device_dropped, srv->latency);
	if (cfg->metrics_file != NULL &&
	    (r = metrics_new(base, cfg->metrics_file, server_view, srv,
		 &(struct metrics_devices){ srv->devices, srv->dispatch,
		     srv->latency },
		 &srv->metrics)) < 0)
		goto fail;
	r = -ENOMEM;
	/* Backlog 0: the socket is already listening (SOMAXCONN). */
	srv->listener = evconnlistener_new(base, server_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd);
	/* evconnlistener_new() does not say if arming the event failed. */
	if (srv->listener == NULL || evconnlistener_enable(srv->listener) < 0)
		goto fail;
	evconnlistener_set_error_cb(srv->listener, server_accept_error_cb);
	srv->env.fds.budget = server_fd_budget(cfg, &srv->accept_limit);
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
	if (srv == NULL)
		return;
	srv->draining = true; /* no loop-break bookkeeping from here on */
	metrics_free(srv->metrics);
	if (srv->env.fds.held_timer != NULL)
		conn_env_fini(&srv->env);
	/* These hand client fds to the closer, freed last. */
	server_stop_listening(srv);
	dispatch_free(srv->dispatch);
	keyguard_free(srv->keyguard); /* orphans settled in dispatch_free */
	closer_free(srv->closer);
	if (srv->sig_ev != NULL)
		event_free(srv->sig_ev);
	if (srv->sig_fd >= 0)
		close(srv->sig_fd);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	if (srv->drain_timer != NULL)
		event_free(srv->drain_timer);
	peer_counts_free(srv->uids);
	peerlog_free(srv->peerlog); /* its last counts go to the audit */
	audit_free(srv->audit);
	devreg_free(srv->devices);
	latency_table_free(srv->latency);
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
