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
#include <sys/types.h>

#include "prh/config.h"

/* A connection's peer. */
struct peer {
	pid_t pid; /* -1 when the credentials could not be read */
	uid_t uid;
	gid_t gid;
};

/* Read the peer of a connected socket (pid -1 if unknown). */
void peer_of_socket(int fd, struct peer *p);

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
