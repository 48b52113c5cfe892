/* qemu-pr-helper: start-up and shutdown.
 *
 * Start-up order:
 *  1. Parse options (config.c); errors exit 1 here and only here.
 *  2. Set up logging; ignore SIGPIPE.
 *  3. Get the listening socket: bind our own (server_bind refuses to
 *     displace a live helper and replaces a stale socket file).
 *  4. evthread_use_pthreads(), then create the event base.
 *  5. Create the server, which starts the worker pool (pool.c is the only
 *     place that creates threads).
 *  6. Tell the service manager READY=1 and run the loop.
 *  7. On SIGTERM/SIGINT/SIGHUP the server drains: no new connections,
 *     commands in flight are answered, the socket file is removed; then
 *     everything is freed and the process exits 0.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "prh/config.h"
#include "prh/log.h"
#include "prh/notify.h"
#include "prh/server.h"

/* Start the helper; only this function exits with a failure status. */
int main(int argc, char **argv)
{
	struct prh_config cfg;
	struct event_base *base;
	struct server *srv = NULL;
	int fd, r;

	switch (config_parse(&cfg, argc, argv)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_EXIT_ERROR:
		return 1;
	case CONFIG_RUN:
		break;
	}
	log_set_verbosity(cfg.verbosity);
	log_route_libevent();
	signal(SIGPIPE, SIG_IGN);

	fd = server_bind(cfg.socket_path);
	if (fd < 0)
		return 1;

	if (evthread_use_pthreads() < 0 || (base = event_base_new()) == NULL) {
		log_err("cannot initialise the event loop");
		close(fd);
		unlink(cfg.socket_path);
		return 1;
	}
	r = server_new(base, &cfg, fd, cfg.socket_path, &srv);
	if (r < 0) {
		log_err("cannot start: %s", strerror(-r));
		close(fd);
		unlink(cfg.socket_path);
		event_base_free(base);
		return 1;
	}
	log_info("listening on %s (libevent %s, %s; %u workers)",
	    cfg.socket_path, event_get_version(),
	    event_base_get_method(base), cfg.threads);
	notify_send("READY=1");

	event_base_dispatch(base);

	notify_send("STOPPING=1");
	server_free(srv);
	event_base_free(base);
	return 0;
}
