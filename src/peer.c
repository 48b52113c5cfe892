/* Peers: credentials, the allow-list, connections per uid (see peer.h). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "prh/peer.h"

#define PEER_BUCKETS 256 /* a power of two */

/* Read the peer's credentials once, for messages, traces and limits. */
void
peer_of_socket(int fd, struct peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	p->pid = -1;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		p->pid = uc.pid;
		p->uid = uc.uid;
		p->gid = uc.gid;
	}
}

/* Whether gid is one of the peer's supplementary groups (SO_PEERGROUPS,
 * as they were at connect time). */
static bool
peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *gids = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gids, &len) < 0) {
		if (errno != ERANGE || (gids = malloc(len)) == NULL)
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gids, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (gids[i] == gid)
			found = true;
	if (gids != small)
		free(gids);
	return found;
}

/* Whether --allow-uid / --allow-gid admit the peer. */
bool
peer_allowed(const struct prh_config *cfg, int fd, const struct peer *p)
{
	if (cfg->n_allow_uid == 0 && cfg->n_allow_gid == 0)
		return true;
	if (p->pid == -1)
		return false; /* no credentials: cannot tell */
	for (unsigned i = 0; i < cfg->n_allow_uid; i++)
		if (cfg->allow_uid[i] == p->uid)
			return true;
	for (unsigned i = 0; i < cfg->n_allow_gid; i++)
		if (cfg->allow_gid[i] == p->gid ||
		    peer_in_group(fd, cfg->allow_gid[i]))
			return true;
	return false;
}

/* Connections of one uid. */
struct peer_count {
	uid_t uid;
	unsigned n;
	struct peer_count *next;
};

/* Connections per uid: a small hash table of the uids connected now. */
struct peer_counts {
	struct peer_count *buckets[PEER_BUCKETS];
};

/* Bucket of a uid. */
static unsigned
peer_bucket(uid_t uid)
{
	return (unsigned)(((uint64_t)uid * 0x9e3779b97f4a7c15ull) >> 56) &
	    (PEER_BUCKETS - 1);
}

/* Create an empty table. */
int
peer_counts_new(struct peer_counts **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : -ENOMEM;
}

/* Free the table. */
void
peer_counts_free(struct peer_counts *t)
{
	struct peer_count *c;

	if (t == NULL)
		return;
	for (unsigned i = 0; i < PEER_BUCKETS; i++)
		while ((c = t->buckets[i]) != NULL) {
			t->buckets[i] = c->next;
			free(c);
		}
	free(t);
}

/* Count one more connection of uid, within max. */
int
peer_counts_add(struct peer_counts *t, uid_t uid, unsigned max)
{
	struct peer_count **cp = &t->buckets[peer_bucket(uid)], *c;

	for (c = *cp; c != NULL && c->uid != uid; c = c->next)
		;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -ENOMEM;
		c->uid = uid;
		c->next = *cp;
		*cp = c;
	}
	if (max > 0 && c->n >= max)
		return -EUSERS;
	c->n++;
	return 0;
}

/* Count one connection of uid less; forget a uid with none. */
void
peer_counts_del(struct peer_counts *t, uid_t uid)
{
	struct peer_count **cp = &t->buckets[peer_bucket(uid)], *c;

	for (; (c = *cp) != NULL; cp = &c->next) {
		if (c->uid == uid) {
			if (c->n > 0 && --c->n == 0) {
				*cp = c->next;
				free(c);
			}
			return;
		}
	}
}
