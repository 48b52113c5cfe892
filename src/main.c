/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-pr-helper: start-up and shutdown.
 *
 * Start-up order:
 *  1. Parse options (config.c, -T in trace.c); errors exit 1 here.
 *  2. Set up logging (stderr, with "<N>" prefixes under journald); route
 *     libevent's messages in; ignore SIGPIPE; open the -T file= output.
 *  3. Get the listening socket: the one the service manager passed
 *     (activation.c; -k is refused then), or bind our own (server_bind
 *     refuses to displace a live helper and replaces a stale socket file).
 *  4. -d: fork (daemonize.c).  The parent waits until the child reports
 *     that it serves, or copies its error and exits 1.  The child runs in
 *     a new session, in "/", stdio on /dev/null, logging to syslog.
 *  5. -d or -f: write and lock the pid file (pidfile.c).
 *  6. Drop privileges (priv.c): keep CAP_SYS_RAWIO only (and CAP_SYS_ADMIN
 *     for multipath), change to -u/-g.  This must come before any thread
 *     exists: capabilities are per thread.  Then set up multipath
 *     (mpath.c): --multipath=on loads libmpathpersist here and fails
 *     start-up without it.
 *  7. evthread_use_pthreads(), then create the event base; set
 *     no_new_privs and enter the seccomp filter (sandbox.c), still with
 *     one thread: threads started later inherit it.
 *  8. Create the server, which starts the worker pool (pool.c is the only
 *     place that creates threads).
 *  9. Start status reporting (STATUS=, watchdog, SIGUSR1), tell the
 *     service manager READY=1, release the -d parent, run the loop.
 * 10. On SIGTERM/SIGINT/SIGHUP the server sends STOPPING=1 and drains: no
 *     new connections, commands in flight are answered, the socket file is
 *     removed (unless it was passed by the service manager); then the pid
 *     file is removed, everything is freed and the process exits 0.
 *     Removal refused after privileges were dropped is logged, not fatal.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "prh/activation.h"
#include "prh/config.h"
#include "prh/daemonize.h"
#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/notify.h"
#include "prh/pidfile.h"
#include "prh/priv.h"
#include "prh/sandbox.h"
#include "prh/server.h"
#include "prh/status.h"
#include "prh/trace.h"

/* Get the listening socket (step 3): fd, and *ours = the path to remove
 * at exit (NULL when activated); a negative errno on error (logged). */
static int
main_listen(const struct prh_config *cfg, const char **ours)
{
	int fd, r;

	*ours = NULL;
	r = activation_listen_fd(&fd);
	if (r < 0)
		return r;
	if (r > 0) {
		if (cfg->socket_given) {
			log_err("Unix socket can't be set when using socket "
				"activation");
			close(fd);
			return -EINVAL;
		}
		return fd;
	}
	fd = server_bind(cfg->socket_path);
	if (fd >= 0)
		*ours = cfg->socket_path;
	return fd;
}

/* Undo what start-up created before the server owned it; returns 1. */
static int
main_fail(int fd, const char *sock)
{
	if (fd >= 0)
		close(fd);
	if (sock != NULL)
		unlink(sock);
	pidfile_remove();
	return 1;
}

/* Steps 4-6: detach, pid file, privileges, multipath: 0 or a negative
 * errno. */
static int
main_process_setup(const struct prh_config *cfg)
{
	struct mpath_opts mo = { cfg->multipath, cfg->max_per_device };
	int r;

	if (cfg->daemonize && (r = daemonize_start()) < 0)
		return r;
	if ((cfg->daemonize || cfg->pidfile_given) &&
	    (r = pidfile_write(cfg->pidfile)) < 0)
		return r;
	if ((r = priv_drop(cfg)) < 0)
		return r;
	return mpath_init(&mo);
}

/* Whether the helper enters the seccomp filter: always, when built with
 * it (configure --without-seccomp, or a sanitizer build, has none). */
#ifdef HAVE_LIBSECCOMP
#define PRH_SECCOMP true
#else
#define PRH_SECCOMP false
#endif

/* Start the helper; only this function exits with a failure status. */
int
main(int argc, char **argv)
{
	struct prh_config cfg;
	struct event_base *base;
	struct server *srv = NULL;
	const char *sock;
	int fd, r;

	switch (config_parse(&cfg, argc, argv)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_EXIT_ERROR:
		return 1;
	case CONFIG_RUN:
		break;
	}
	log_init();
	log_set_verbosity(cfg.verbosity);
	log_route_libevent();
	signal(SIGPIPE, SIG_IGN);
	if ((r = trace_open()) < 0) {
		log_err("cannot open the trace file: %s",
		    r == -ELOOP	       ? "it is a symbolic link"
			: r == -EINVAL ? "not a regular file"
				       : strerror(-r));
		return 1;
	}

	fd = main_listen(&cfg, &sock);
	if (fd < 0)
		return 1;
	if (main_process_setup(&cfg) < 0)
		return main_fail(fd, sock);

	if (evthread_use_pthreads() < 0 || (base = event_base_new()) == NULL) {
		log_err("cannot initialise the event loop");
		return main_fail(fd, sock);
	}
	if (sandbox_enter(PRH_SECCOMP, mpath_wants_admin(cfg.multipath),
		cfg.multipath == MPATH_MODE_AUTO ||
		    cfg.multipath == MPATH_MODE_KERNEL) < 0) {
		event_base_free(base);
		return main_fail(fd, sock);
	}
	r = server_new(base, &cfg, fd, sock, &srv);
	if (r < 0 || (r = status_start(base, server_view, srv)) < 0) {
		log_err("cannot start: %s", strerror(-r));
		if (srv != NULL)
			server_free(srv); /* closes fd, removes sock */
		else
			close(fd);
		event_base_free(base);
		return main_fail(-1, sock);
	}
	log_info("listening on %s (libevent %s, %s; %u workers)",
	    sock != NULL ? sock : "the activated socket", event_get_version(),
	    event_base_get_method(base), cfg.threads);
	notify_send("READY=1");
	status_refresh();
	daemonize_ready();

	event_base_dispatch(base);

	sandbox_report();
	status_stop();
	server_free(srv);
	mpath_shutdown();
	event_base_free(base);
	pidfile_remove();
	trace_close();
	return 0;
}
