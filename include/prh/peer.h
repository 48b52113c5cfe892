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
#include <stdint.h>
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

/* The client of peer p, as the log's shares count them (peerlog.h): a
 * hash of its uid and, when its cgroup names one, its VM; never 0
 * (closer.h's CLOSER_NEUTRAL).  Describes p first (peer_describe()).
 * Nothing in it is the client's to choose: the uid is the kernel's, a
 * VM's name root's. */
uint64_t peer_client_key(struct peer *p);

/*
 * What /proc/PID/cgroup's text says, into name (cut as above): the
 * enum peer_kind, and PEER_PROCESS with "" when nothing is named.  hier
 * is the helper's own /proc/self/cgroup, or NULL: text must then have
 * one line for each of its hierarchies, in the same order, or it names
 * nothing: a kernel that lets a newline into a cgroup's name shows it
 * as it is, and the rest of the name would pass for a line of its own.
 * (peer_describe() passes its own; a /proc/PID/cgroup or
 * /proc/self/cgroup over 8 KiB names nothing.)
 *
 * A name is taken only from where the host's root puts it, judged by the
 * position of a path's components from the top of the hierarchy:
 *
 * - a VM (PEER_VM, the VM's name), on any line (cgroup v2's first, then
 *   v1's name=systemd, then the v1 controllers), from
 *   - systemd-machined's scope: machine-NAME.scope whose every ancestor
 *     is a slice, the first one machine.slice
 *     (/machine.slice/machine-qemu\x2d1\x2dvm.scope[/libvirt/emulator],
 *     or in an admin's sub-slice, machine.slice/machine-prod.slice/...);
 *   - libvirt's own layout without systemd: "machine" at the top, zero or
 *     more NAME.partition, then qemu-ID-NAME.libvirt-qemu (or -lxc);
 * - else a unit (PEER_UNIT, the unit's name), of the v2 line, else of
 *   name=systemd: the first component below the top slices when it is a
 *   .service or .scope (system.slice/sshd.service, init.scope,
 *   user.slice/user-1000.slice/user@1000.service).
 *
 * Why position: only root can put a process there.  The top of every
 * hierarchy, machine.slice and libvirt's "machine" are root's, and a
 * slice is never delegated: systemd delegates (Delegate=) a service or a
 * scope, the subtree below the first component that is no slice, and on
 * cgroup v2 a process leaves a delegated subtree only by a write to
 * cgroup.procs of the common ancestor, outside the subtree.  Below a
 * delegated unit (a user's own service manager below user@UID.service, a
 * container below its scope) its owner may make any directory, with any
 * name, "machine.slice/machine-qemu\x2d1\x2dprod.scope" included: no
 * component there is believed, so such a process is named by the unit
 * (user@UID.service) or by nothing.  A path outside the helper's cgroup
 * namespace ("/../...") names nothing either: its top is not known.  The
 * owners of the cgroup directories are not asked: root in a container
 * makes root-owned ones below the container's scope, and the directory
 * of a path is wherever its hierarchy is mounted, as seen from whichever
 * cgroup namespace mounted it.
 */
int peer_name_from_cgroup(const char *text, const char *hier, char *name,
    size_t len);

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
