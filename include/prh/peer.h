/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peers: who is at the other end of a connection, whether the allow-list
 * lets it in, and how many connections each uid holds.
 *
 * The credentials are the kernel's (SO_PEERCRED, SO_PEERGROUPS) as they
 * were when the client called connect(); a client cannot forge them.
 * Loop thread only.
 */
#ifndef PRH_PEER_H
#define PRH_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "prh/config.h"

/* What a peer's name says it is. */
enum peer_kind {
	PEER_PROCESS = 0, /* neither: only the process name is known */
	PEER_VM,	  /* a libvirt machine: name is the VM's */
	PEER_UNIT,	  /* a systemd unit: name is the unit's */
};

#define PEER_NAME_MAX 64 /* VM or unit name kept, with its NUL */
#define PEER_COMM_MAX 16 /* process name, as the kernel keeps it */

/* A connection's peer. */
struct peer {
	pid_t pid; /* -1 when the credentials could not be read */
	uid_t uid;
	gid_t gid;
	/* Who it is, as peer_describe() found it (filled once). */
	bool described;
	unsigned char kind;	  /* enum peer_kind */
	char name[PEER_NAME_MAX]; /* VM or unit, "" for PEER_PROCESS (raw) */
	char comm[PEER_COMM_MAX]; /* /proc/PID/comm, or "" (raw) */
};

/* Read the peer of a connected socket (pid -1 if unknown); not yet
 * described. */
void peer_of_socket(int fd, struct peer *p);

/* Find out, once, what the peer belongs to: the libvirt machine or
 * systemd unit its /proc/PID/cgroup names, and its process name.  Reads
 * /proc (never blocks); what cannot be read stays "".  Names are cut to
 * the sizes above (between two characters) and otherwise kept as the
 * bytes they are: the peer chooses them, so whoever prints one escapes it
 * (escape.h). */
void peer_describe(struct peer *p);

/* What /proc/PID/cgroup's text says: the libvirt machine (the VM's name)
 * of any of its lines (cgroup v2's first), else the deepest systemd unit
 * of the v2 line ("0::"), else of the v1 "name=systemd" line, into name
 * (cut as above): the enum peer_kind (PEER_PROCESS and "" when
 * neither is named). */
int peer_name_from_cgroup(const char *text, char *name, size_t len);

/* Whether --allow-uid / --allow-gid admit the peer of socket fd (true
 * when neither is given; false when the credentials are unknown). */
bool peer_allowed(const struct prh_config *cfg, int fd, const struct peer *p);

struct peer_counts;

/* Create an empty table of connections per uid: 0 and *out, or -ENOMEM. */
int peer_counts_new(struct peer_counts **out);

/* Free the table. */
void peer_counts_free(struct peer_counts *t);

/* Count one more connection of uid unless it has max already (max 0: no
 * limit): 0, -EUSERS over the limit, or -ENOMEM. */
int peer_counts_add(struct peer_counts *t, uid_t uid, unsigned max);

/* Count one connection of uid less. */
void peer_counts_del(struct peer_counts *t, uid_t uid);

#endif
