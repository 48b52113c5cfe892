/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command line: option table, defaults, validation into struct prh_config.
 * The configuration is filled once at start-up and read-only afterwards.
 */
#ifndef PRH_CONFIG_H
#define PRH_CONFIG_H

#include <stdbool.h>
#include <sys/types.h>

#define PRH_ALLOW_MAX 32 /* --allow-uid / --allow-gid entries each */

/* Everything the command line decides. */
struct prh_config {
	const char *socket_path;  /* -k; absolute */
	bool socket_given;	  /* -k was on the command line */
	bool daemonize;		  /* -d: detach after the socket exists */
	const char *pidfile;	  /* -f; written only if pidfile_given or -d */
	bool pidfile_given;	  /* -f was on the command line */
	const char *user;	  /* -u as given, or NULL */
	uid_t uid;		  /* -u resolved */
	bool user_has_group;	  /* -u's user has a primary group: */
	gid_t user_gid;		  /* that group */
	const char *group;	  /* -g as given, or NULL */
	gid_t gid;		  /* -g resolved, else -u's primary group */
	bool gid_set;		  /* gid was given or derived from -u */
	int verbosity;		  /* 1 default, -v adds, -q sets 0 */
	unsigned threads;	  /* --threads: SG_IO workers */
	unsigned max_per_device;  /* --max-per-device */
	unsigned queue_max;	  /* --queue-max: waiting commands */
	unsigned sg_timeout;	  /* --sg-timeout: seconds */
	unsigned pr_ua_retries;	  /* --pr-ua-retries: resends after UA */
	unsigned write_timeout;	  /* --write-timeout: seconds, 0 = none */
	unsigned idle_timeout;	  /* --idle-timeout: seconds, 0 = none */
	unsigned request_timeout; /* --request-timeout: seconds, 0 = none */
	unsigned max_clients_per_uid;	/* --max-clients-per-uid, 0 = any */
	int multipath;			/* --multipath: enum mpath_mode */
	bool protect_keys;		/* --protect-keys: keyguard.h */
	bool guest_pr_off;		/* --guest-pr-policy=off (prpolicy.h) */
	const char *metrics_file;	/* --metrics-file, or NULL */
	unsigned n_allow_uid;		/* entries in allow_uid */
	unsigned n_allow_gid;		/* entries in allow_gid */
	uid_t allow_uid[PRH_ALLOW_MAX]; /* --allow-uid */
	gid_t allow_gid[PRH_ALLOW_MAX]; /* --allow-gid */
};

/* Outcome of config_parse() other than "run". */
enum config_action {
	CONFIG_RUN = 0,	   /* start the helper */
	CONFIG_EXIT_OK,	   /* --help or --version printed: exit 0 */
	CONFIG_EXIT_ERROR, /* error printed to stderr: exit 1 */
};

/* Fill cfg with defaults, then apply argv. Prints help, version and errors
 * itself; the caller exits as the return value says. */
enum config_action config_parse(struct prh_config *cfg, int argc, char **argv);

#endif
