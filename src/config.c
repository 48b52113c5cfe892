/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command line parsing into struct prh_config. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "prh/config.h"
#include "prh/mpath.h"
#include "prh/sgio.h"
#include "prh/trace.h"

#ifndef PRH_RUNSTATEDIR
#define PRH_RUNSTATEDIR "/run"
#endif

#define DEFAULT_SOCKET		PRH_RUNSTATEDIR "/qemu-pr-helper.sock"
#define DEFAULT_PIDFILE		PRH_RUNSTATEDIR "/qemu-pr-helper.pid"
#define DEFAULT_THREADS		256
#define DEFAULT_PER_DEVICE	128
#define DEFAULT_QUEUE_MAX	4096
#define DEFAULT_SG_TIMEOUT	30
#define DEFAULT_WRITE_TIMEOUT	30
#define DEFAULT_REQUEST_TIMEOUT 5
#define DEFAULT_PER_UID		0
#define MAX_CONN_TIMEOUT	(7 * 24 * 3600)
#define MAX_THREADS		1024
#define MAX_SG_TIMEOUT		(UINT_MAX / 1000)

/* Long-only options. */
enum {
	OPT_THREADS = 0x100,
	OPT_MAX_PER_DEVICE,
	OPT_QUEUE_MAX,
	OPT_SG_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_ALLOW_UID,
	OPT_ALLOW_GID,
	OPT_REQUEST_TIMEOUT,
	OPT_MAX_PER_UID,
	OPT_MULTIPATH,
	OPT_METRICS_FILE,
	OPT_PR_UA_RETRIES,
	OPT_PROTECT_KEYS,
	OPT_GUEST_PR_POLICY,
};

static const struct option config_long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "daemon", no_argument, NULL, 'd' },
	{ "pidfile", required_argument, NULL, 'f' },
	{ "socket", required_argument, NULL, 'k' },
	{ "trace", required_argument, NULL, 'T' },
	{ "user", required_argument, NULL, 'u' },
	{ "group", required_argument, NULL, 'g' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "max-per-device", required_argument, NULL, OPT_MAX_PER_DEVICE },
	{ "queue-max", required_argument, NULL, OPT_QUEUE_MAX },
	{ "sg-timeout", required_argument, NULL, OPT_SG_TIMEOUT },
	{ "write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
	{ "allow-gid", required_argument, NULL, OPT_ALLOW_GID },
	{ "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
	{ "max-clients-per-uid", required_argument, NULL, OPT_MAX_PER_UID },
	{ "multipath", required_argument, NULL, OPT_MULTIPATH },
	{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
	{ "pr-ua-retries", required_argument, NULL, OPT_PR_UA_RETRIES },
	{ "protect-keys", required_argument, NULL, OPT_PROTECT_KEYS },
	{ "guest-pr-policy", required_argument, NULL, OPT_GUEST_PR_POLICY },
	{ NULL, 0, NULL, 0 },
};

/* Print the usage text to stdout. */
static void
config_usage(const char *argv0)
{
	printf(
	    "Usage: %s [OPTIONS]\n"
	    "Persistent Reservation helper for QEMU: runs PERSISTENT RESERVE IN/OUT\n"
	    "commands that unprivileged QEMU processes forward over a Unix socket.\n"
	    "\n"
	    "  -h, --help                display this help and exit\n"
	    "  -V, --version             output version information and exit\n"
	    "  -d, --daemon              run in the background once the socket exists\n"
	    "  -f, --pidfile=PATH        PID file, written with -d or -f and locked\n"
	    "                            (default '%s')\n"
	    "  -k, --socket=PATH         path to the Unix socket (absolute)\n"
	    "                            (default '%s')\n"
	    "  -T, --trace=[[enable=]PATTERN][,events=FILE][,file=FILE]\n"
	    "                            enable trace points; -T help lists them\n"
	    "  -u, --user=USER           user to drop privileges to (name or uid)\n"
	    "  -g, --group=GROUP         group to drop privileges to (name or gid)\n"
	    "  -v, --verbose             log more (repeatable)\n"
	    "  -q, --quiet               log only errors\n"
	    "      --threads=N           most SG_IO worker threads, started as\n"
	    "                            needed (default %u)\n"
	    "      --max-per-device=N    commands one SCSI device may run at once\n"
	    "                            (default %u)\n"
	    "      --queue-max=N         commands waiting for a worker before\n"
	    "                            connections stop being read (default %u)\n"
	    "      --sg-timeout=SECONDS  SG_IO timeout (default %u)\n"
	    "      --pr-ua-retries=N     send a command the device answers with\n"
	    "                            UNIT ATTENTION again, up to N times\n"
	    "                            (default %u, at most %u, 0 = never)\n"
	    "      --write-timeout=SECONDS\n"
	    "                            drop a client that takes none of its pending\n"
	    "                            replies for this long (default %u, 0 = never)\n"
	    "      --idle-timeout=SECONDS\n"
	    "                            drop a client that stops in the middle of the\n"
	    "                            handshake or of a request (default 0 = never)\n"
	    "      --request-timeout=SECONDS\n"
	    "                            drop a client that holds a file descriptor\n"
	    "                            without completing its request for this\n"
	    "                            long (default %u, 0 = never)\n"
	    "      --max-clients-per-uid=N\n"
	    "                            connections one user may have open at once\n"
	    "                            (default %u, 0 = no limit)\n"
	    "      --allow-uid=USER[,USER...]\n"
	    "                            serve only these users (names or numbers,\n"
	    "                            repeatable) and the groups of --allow-gid;\n"
	    "                            default: anyone who can connect\n"
	    "      --allow-gid=GROUP[,GROUP...]\n"
	    "                            serve only peers with one of these primary or\n"
	    "                            supplementary groups, and --allow-uid users\n"
	    "      --multipath=auto|on|kernel|off\n"
	    "                            device-mapper multipath maps through\n"
	    "                            libmpathpersist where multipathd answers,\n"
	    "                            else the kernel's PR ioctls (auto, the\n"
	    "                            default); libmpathpersist, checked at\n"
	    "                            start-up (on); the kernel's PR ioctls\n"
	    "                            (kernel); or never: plain SG_IO (off)\n"
	    "      --protect-keys=on|off refuse a registration change that would replace\n"
	    "                            or remove the key another VM registered on\n"
	    "                            the same device (default on)\n"
	    "      --guest-pr-policy=on|off\n"
	    "                            refuse REGISTER with SPEC_I_PT or ALL_TG_PT\n"
	    "                            and REGISTER AND MOVE, and hide SIP_C and\n"
	    "                            ATP_C (on, the default), or pass them to\n"
	    "                            the device (off: trusted clients only)\n"
	    "      --metrics-file=PATH   write the counters in Prometheus's text\n"
	    "                            format to PATH (absolute) every 5 s and on\n"
	    "                            SIGUSR1, e.g. for node_exporter's textfile\n"
	    "                            collector (NAME.prom in its directory)\n"
	    "\n"
	    "Signals: SIGTERM, SIGINT and SIGHUP stop accepting connections, finish the\n"
	    "commands in flight, remove the socket and exit 0.  SIGUSR1 logs a summary\n"
	    "of the counters (and rewrites --metrics-file).\n",
	    argv0, DEFAULT_PIDFILE, DEFAULT_SOCKET, DEFAULT_THREADS,
	    DEFAULT_PER_DEVICE, DEFAULT_QUEUE_MAX, DEFAULT_SG_TIMEOUT,
	    SGIO_UA_RETRIES_DEFAULT, SGIO_UA_RETRIES_MAX, DEFAULT_WRITE_TIMEOUT,
	    DEFAULT_REQUEST_TIMEOUT, DEFAULT_PER_UID);
}

/* Print the version text to stdout. */
static void
config_version(const char *argv0)
{
	printf("%s %s\n", argv0, PACKAGE_VERSION);
#ifdef HAVE_LIBSECCOMP
	printf("seccomp filter: yes\n");
#else
	printf("seccomp filter: no\n");
#endif
}

/* Parse an unsigned decimal in [min, max] for option name: 0 or -EINVAL. */
static int
config_uint(const char *name, const char *arg, unsigned min, unsigned max,
    unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (arg[0] == '\0' || arg[0] == '-' || *end != '\0' || errno != 0 ||
	    v < min || v > max) {
		fprintf(stderr,
		    "qemu-pr-helper: invalid value '%s' for --%s "
		    "(expected %u to %u)\n",
		    arg, name, min, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* Resolve a user name or decimal uid: 0 or -EINVAL. */
static int
config_resolve_uid(const char *s, uid_t *out)
{
	struct passwd *pw = getpwnam(s);
	char *end;
	unsigned long v;

	if (pw != NULL) {
		*out = pw->pw_uid;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v >= (uid_t)-1)
		return -EINVAL;
	*out = (uid_t)v;
	return 0;
}

/* Resolve a group name or decimal gid: 0 or -EINVAL. */
static int
config_resolve_gid(const char *s, gid_t *out)
{
	struct group *gr = getgrnam(s);
	char *end;
	unsigned long v;

	if (gr != NULL) {
		*out = gr->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v >= (gid_t)-1)
		return -EINVAL;
	*out = (gid_t)v;
	return 0;
}

/* Resolve -u: a user name, or else a decimal uid; remember the user's
 * primary group, which -u alone switches to. */
static int
config_user(struct prh_config *cfg, const char *arg)
{
	struct passwd *pw;

	cfg->user = arg;
	if (config_resolve_uid(arg, &cfg->uid) < 0) {
		fprintf(stderr, "qemu-pr-helper: invalid user '%s'\n", arg);
		return -EINVAL;
	}
	pw = getpwuid(cfg->uid);
	cfg->user_has_group = pw != NULL;
	if (pw != NULL)
		cfg->user_gid = pw->pw_gid;
	return 0;
}

/* Resolve -g: a group name, or else a decimal gid. */
static int
config_group(struct prh_config *cfg, const char *arg)
{
	cfg->group = arg;
	if (config_resolve_gid(arg, &cfg->gid) < 0) {
		fprintf(stderr, "qemu-pr-helper: invalid group '%s'\n", arg);
		return -EINVAL;
	}
	cfg->gid_set = true;
	return 0;
}

/* Add the comma-separated users (gids == false) or groups of one
 * --allow-uid / --allow-gid to the allow-list: 0 or -EINVAL. */
static int
config_allow(struct prh_config *cfg, const char *arg, bool gids)
{
	const char *name = gids ? "allow-gid" : "allow-uid";
	char item[256];
	const char *p = arg, *comma;
	size_t len;
	int r;

	do {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(item)) {
			fprintf(stderr,
			    "qemu-pr-helper: invalid value '%s' "
			    "for --%s\n",
			    arg, name);
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if ((gids ? cfg->n_allow_gid : cfg->n_allow_uid) >=
		    PRH_ALLOW_MAX) {
			fprintf(stderr,
			    "qemu-pr-helper: more than %d entries "
			    "for --%s\n",
			    PRH_ALLOW_MAX, name);
			return -EINVAL;
		}
		if (gids)
			r = config_resolve_gid(item,
			    &cfg->allow_gid[cfg->n_allow_gid++]);
		else
			r = config_resolve_uid(item,
			    &cfg->allow_uid[cfg->n_allow_uid++]);
		if (r < 0) {
			fprintf(stderr,
			    "qemu-pr-helper: invalid %s '%s' for "
			    "--%s\n",
			    gids ? "group" : "user", item, name);
			return r;
		}
		p = comma != NULL ? comma + 1 : NULL;
	} while (p != NULL);
	return 0;
}

/* Parse --multipath=auto|on|kernel|off: 0 or -EINVAL. */
static int
config_multipath(struct prh_config *cfg, const char *arg)
{
	static const struct {
		const char *name;
		enum mpath_mode mode;
	} modes[] = {
		{ "auto", MPATH_MODE_AUTO },
		{ "on", MPATH_MODE_ON },
		{ "off", MPATH_MODE_OFF },
		{ "kernel", MPATH_MODE_KERNEL },
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(arg, modes[i].name) == 0) {
			cfg->multipath = modes[i].mode;
			return 0;
		}
	}
	fprintf(stderr,
	    "qemu-pr-helper: invalid value '%s' for --multipath "
	    "(expected auto, on, kernel or off)\n",
	    arg);
	return -EINVAL;
}

/* Parse the on|off value of option name into *out: 0 or -EINVAL. */
static int
config_on_off(const char *name, const char *arg, bool *out)
{
	if (strcmp(arg, "on") == 0 || strcmp(arg, "off") == 0) {
		*out = arg[1] == 'n';
		return 0;
	}
	fprintf(stderr,
	    "qemu-pr-helper: invalid value '%s' for --%s (expected on or off)\n",
	    arg, name);
	return -EINVAL;
}

/* Apply -T: help lists the trace points and exits. */
static enum config_action
config_trace(const char *arg)
{
	int r = trace_parse_opt(arg);

	if (r < 0)
		return CONFIG_EXIT_ERROR;
	if (r > 0) {
		trace_list(stdout);
		return CONFIG_EXIT_OK;
	}
	return CONFIG_RUN;
}

/* Apply one option; returns CONFIG_RUN to go on. */
static enum config_action
config_apply(struct prh_config *cfg, int c, const char *argv0)
{
	bool on = true;
	int r = 0;

	switch (c) {
	case 'h':
		config_usage(argv0);
		return CONFIG_EXIT_OK;
	case 'V':
		config_version(argv0);
		return CONFIG_EXIT_OK;
	case 'd':
		cfg->daemonize = true;
		break;
	case 'f':
		cfg->pidfile = optarg;
		cfg->pidfile_given = true;
		break;
	case 'k':
		cfg->socket_path = optarg;
		cfg->socket_given = true;
		break;
	case 'T':
		return config_trace(optarg);
	case 'u':
		r = config_user(cfg, optarg);
		break;
	case 'g':
		r = config_group(cfg, optarg);
		break;
	case 'v':
		if (cfg->verbosity > 0)
			cfg->verbosity++;
		break;
	case 'q':
		cfg->verbosity = 0;
		break;
	case OPT_THREADS:
		r = config_uint("threads", optarg, 1, MAX_THREADS,
		    &cfg->threads);
		break;
	case OPT_MAX_PER_DEVICE:
		r = config_uint("max-per-device", optarg, 1, MAX_THREADS,
		    &cfg->max_per_device);
		break;
	case OPT_QUEUE_MAX:
		r = config_uint("queue-max", optarg, 1, 1u << 20,
		    &cfg->queue_max);
		break;
	case OPT_SG_TIMEOUT:
		r = config_uint("sg-timeout", optarg, 1, MAX_SG_TIMEOUT,
		    &cfg->sg_timeout);
		break;
	case OPT_PR_UA_RETRIES:
		r = config_uint("pr-ua-retries", optarg, 0, SGIO_UA_RETRIES_MAX,
		    &cfg->pr_ua_retries);
		break;
	case OPT_WRITE_TIMEOUT:
		r = config_uint("write-timeout", optarg, 0, MAX_CONN_TIMEOUT,
		    &cfg->write_timeout);
		break;
	case OPT_IDLE_TIMEOUT:
		r = config_uint("idle-timeout", optarg, 0, MAX_CONN_TIMEOUT,
		    &cfg->idle_timeout);
		break;
	case OPT_ALLOW_UID:
		r = config_allow(cfg, optarg, false);
		break;
	case OPT_ALLOW_GID:
		r = config_allow(cfg, optarg, true);
		break;
	case OPT_REQUEST_TIMEOUT:
		r = config_uint("request-timeout", optarg, 0, MAX_CONN_TIMEOUT,
		    &cfg->request_timeout);
		break;
	case OPT_MAX_PER_UID:
		r = config_uint("max-clients-per-uid", optarg, 0, UINT_MAX,
		    &cfg->max_clients_per_uid);
		break;
	case OPT_MULTIPATH:
		r = config_multipath(cfg, optarg);
		break;
	case OPT_GUEST_PR_POLICY:
		r = config_on_off("guest-pr-policy", optarg, &on);
		cfg->guest_pr_off = !on;
		break;
	case OPT_METRICS_FILE:
		cfg->metrics_file = optarg;
		break;
	case OPT_PROTECT_KEYS:
		r = config_on_off("protect-keys", optarg, &cfg->protect_keys);
		break;
	default:
		fprintf(stderr, "Try `%s --help' for more information.\n",
		    argv0);
		return CONFIG_EXIT_ERROR;
	}
	return r < 0 ? CONFIG_EXIT_ERROR : CONFIG_RUN;
}

/* Check the options that depend on each other. */
static enum config_action
config_validate(struct prh_config *cfg)
{
	struct sockaddr_un sun;

	if (cfg->socket_path[0] != '/') {
		fprintf(stderr,
		    "qemu-pr-helper: socket path must be "
		    "absolute\n");
		return CONFIG_EXIT_ERROR;
	}
	if (strlen(cfg->socket_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "qemu-pr-helper: socket path too long: %s\n",
		    cfg->socket_path);
		return CONFIG_EXIT_ERROR;
	}
	if (cfg->metrics_file != NULL && cfg->metrics_file[0] != '/') {
		fprintf(stderr,
		    "qemu-pr-helper: --metrics-file must be an absolute "
		    "path\n");
		return CONFIG_EXIT_ERROR;
	}
	if (cfg->pidfile[0] == '\0') {
		fprintf(stderr, "qemu-pr-helper: empty pid file path\n");
		return CONFIG_EXIT_ERROR;
	}
	if (cfg->multipath == MPATH_MODE_ON && cfg->user != NULL &&
	    cfg->uid != 0) {
		fprintf(stderr,
		    "qemu-pr-helper: --multipath=on needs uid 0, not "
		    "-u %s\n",
		    cfg->user);
		return CONFIG_EXIT_ERROR;
	}
	if (cfg->max_per_device > cfg->threads)
		cfg->max_per_device = cfg->threads;
	/* -u alone: the user's primary group, never the group we run as. */
	if (cfg->user != NULL && !cfg->gid_set) {
		if (!cfg->user_has_group) {
			fprintf(stderr,
			    "qemu-pr-helper: user '%s' has no entry in the "
			    "user database, so no primary group: give -g\n",
			    cfg->user);
			return CONFIG_EXIT_ERROR;
		}
		cfg->gid = cfg->user_gid;
		cfg->gid_set = true;
	}
	return CONFIG_RUN;
}

/* Fill defaults, then apply the command line. */
enum config_action
config_parse(struct prh_config *cfg, int argc, char **argv)
{
	const char *argv0 = argc > 0 ? argv[0] : "qemu-pr-helper";
	enum config_action act;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_path = DEFAULT_SOCKET;
	cfg->pidfile = DEFAULT_PIDFILE;
	cfg->verbosity = 1;
	cfg->threads = DEFAULT_THREADS;
	cfg->max_per_device = DEFAULT_PER_DEVICE;
	cfg->queue_max = DEFAULT_QUEUE_MAX;
	cfg->sg_timeout = DEFAULT_SG_TIMEOUT;
	cfg->pr_ua_retries = SGIO_UA_RETRIES_DEFAULT;
	cfg->protect_keys = true;
	cfg->write_timeout = DEFAULT_WRITE_TIMEOUT;
	cfg->request_timeout = DEFAULT_REQUEST_TIMEOUT;
	cfg->max_clients_per_uid = DEFAULT_PER_UID;
	cfg->multipath = MPATH_MODE_AUTO;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hVdf:k:T:u:g:vq", config_long_opts,
		    NULL)) != -1) {
		act = config_apply(cfg, c, argv0);
		if (act != CONFIG_RUN)
			return act;
	}
	return config_validate(cfg);
}
