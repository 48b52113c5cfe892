/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peers: credentials, the allow-list, connections per uid (see peer.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prh/escape.h"
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
	p->described = false;
	p->kind = PEER_PROCESS;
	p->name[0] = p->comm[0] = '\0';
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		p->pid = uc.pid;
		p->uid = uc.uid;
		p->gid = uc.gid;
	}
}

/* --- who the peer is ------------------------------------------------------ */

/* Longest cgroup path component looked at. */
#define PEER_COMPONENT_MAX 256

/* Copy n bytes of s into out (len bytes, NUL-terminated), cut to fit
 * between two characters.  The bytes are kept as they are: whoever
 * prints the name escapes it (escape.h). */
static void
peer_clean(const char *s, size_t n, char *out, size_t len)
{
	if (len == 0)
		return;
	n = escape_cut(s, n, len - 1);
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Value of hex digit c, or -1. */
static int
peer_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copy the n bytes of a cgroup path component into out (NUL-terminated,
 * cut to len), undoing systemd's unit-name escapes ("\x2d" is '-'). */
static void
peer_unescape(const char *s, size_t n, char *out, size_t len)
{
	size_t i = 0, o = 0;
	int hi, lo;

	while (i < n && o + 1 < len) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' &&
		    (hi = peer_hex(s[i + 2])) >= 0 &&
		    (lo = peer_hex(s[i + 3])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 4;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
}

/* Whether s (n bytes) ends with suffix and has more before it. */
static bool
peer_ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/* Whether s (n bytes) is exactly word. */
static bool
peer_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* The VM's name in a libvirt machine name of n bytes ("qemu-1-vm",
 * "lxc-2-ct", or "qemu-vm" from libvirt before 2.x): where it starts. */
static const char *
peer_vm_name(const char *m, size_t n, size_t *out_n)
{
	static const char *const drivers[] = { "qemu-", "lxc-", NULL };
	size_t k, d;

	for (int i = 0; drivers[i] != NULL; i++) {
		k = strlen(drivers[i]);
		if (n <= k || memcmp(m, drivers[i], k) != 0)
			continue;
		for (d = k; d < n && m[d] >= '0' && m[d] <= '9'; d++)
			;
		if (d > k && d + 1 < n && m[d] == '-')
			k = d + 1; /* the domain id */
		*out_n = n - k;
		return m + k;
	}
	*out_n = n;
	return m;
}

/* The VM's name of a machine name m (n bytes) into name: PEER_VM. */
static int
peer_vm(const char *m, size_t n, char *name, size_t len)
{
	const char *vm = peer_vm_name(m, n, &n);

	peer_clean(vm, n, name, len);
	return PEER_VM;
}

/* The next component of the cgroup path at *p (up to end): its first
 * byte and its length in *n, *p moved past it; NULL after the last. */
static const char *
peer_next(const char **p, const char *end, size_t *n)
{
	const char *c, *slash;

	while (*p < end && **p == '/')
		(*p)++;
	if (*p >= end)
		return NULL;
	c = *p;
	slash = memchr(c, '/', (size_t)(end - c));
	*p = slash != NULL ? slash : end;
	*n = (size_t)(*p - c);
	return c;
}

/* Below libvirt's top-level "machine" cgroup (its layout without
 * systemd): zero or more partitions (NAME.partition) and then a VM's
 * own cgroup (qemu-ID-NAME.libvirt-qemu, lxc-ID-NAME.libvirt-lxc) name
 * the VM; anything else names nothing. */
static int
peer_libvirt_machine(const char *p, const char *end, char *name, size_t len)
{
	const char *c;
	size_t n;

	do
		c = peer_next(&p, end, &n);
	while (c != NULL && peer_ends_with(c, n, ".partition"));
	if (c != NULL && peer_ends_with(c, n, ".libvirt-qemu"))
		return peer_vm(c, n - strlen(".libvirt-qemu"), name, len);
	if (c != NULL && peer_ends_with(c, n, ".libvirt-lxc"))
		return peer_vm(c, n - strlen(".libvirt-lxc"), name, len);
	return PEER_PROCESS;
}

/* The name a cgroup path (plen bytes) gives its process, by position
 * alone (see peer.h): a VM from libvirt's "machine" at the top, or from
 * a machine-NAME.scope whose every ancestor is a slice, the first one
 * machine.slice; else that first unit below the top slices when it is a
 * .service or .scope; else nothing.  Components are judged as the
 * kernel shows them; systemd's escapes ("\x2d" for '-') are undone only
 * in the name kept. */
static int
peer_name_from_path(const char *path, size_t plen, char *name, size_t len)
{
	char comp[PEER_COMPONENT_MAX];
	const char *p = path, *end = path + plen, *c;
	bool machines;
	size_t n;

	name[0] = '\0';
	if (plen == 0 || path[0] != '/')
		return PEER_PROCESS;
	c = peer_next(&p, end, &n);
	if (c == NULL)
		return PEER_PROCESS;
	if (peer_is(c, n, "machine"))
		return peer_libvirt_machine(p, end, name, len);
	machines = peer_is(c, n, "machine.slice");
	while (c != NULL && peer_ends_with(c, n, ".slice"))
		c = peer_next(&p, end, &n);
	if (c == NULL)
		return PEER_PROCESS;
	if (machines && n > 14 && memcmp(c, "machine-", 8) == 0 &&
	    peer_ends_with(c, n, ".scope")) {
		peer_unescape(c + 8, n - 14, comp, sizeof(comp));
		return peer_vm(comp, strlen(comp), name, len);
	}
	if (!peer_ends_with(c, n, ".service") &&
	    !peer_ends_with(c, n, ".scope"))
		return PEER_PROCESS;
	peer_unescape(c, n, comp, sizeof(comp));
	peer_clean(comp, strlen(comp), name, len);
	return PEER_UNIT;
}

/* Which hierarchy a /proc/PID/cgroup line is of: 0 the v2 one ("0::"),
 * 1 v1's name=systemd, 2 another v1 one, -1 not a line of the format;
 * the path (plen bytes) in *path. */
static int
peer_cgroup_line(const char *line, const char *nl, const char **path,
    size_t *plen)
{
	const char *c1 = memchr(line, ':', (size_t)(nl - line)), *c2;

	if (c1 == NULL ||
	    (c2 = memchr(c1 + 1, ':', (size_t)(nl - c1 - 1))) == NULL)
		return -1;
	*path = c2 + 1;
	*plen = (size_t)(nl - c2 - 1);
	if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
		return 0;
	if (c2 - c1 - 1 == 12 && memcmp(c1 + 1, "name=systemd", 12) == 0)
		return 1;
	return 2;
}

/* The end of the line at line: its newline, or its NUL. */
static const char *
peer_eol(const char *line)
{
	const char *nl = strchr(line, '\n');

	return nl != NULL ? nl : line + strlen(line);
}

/* Whether text has one line for each line of hier, in the same order and
 * with the same "ID:controllers:" start.  hier is the helper's own
 * /proc/self/cgroup: the kernel shows every process one line for each
 * hierarchy, so a line more is one a cgroup's name made (a kernel that
 * takes a newline in a cgroup's name shows it as it is). */
static bool
peer_cgroup_same_lines(const char *text, const char *hier)
{
	const char *a = text, *b = hier, *ea, *eb, *pa, *pb;
	size_t la, lb;

	while (*a != '\0' && *b != '\0') {
		ea = peer_eol(a);
		eb = peer_eol(b);
		if (peer_cgroup_line(a, ea, &pa, &la) < 0 ||
		    peer_cgroup_line(b, eb, &pb, &lb) < 0 || pa - a != pb - b ||
		    memcmp(a, b, (size_t)(pa - a)) != 0)
			return false;
		a = *ea != '\0' ? ea + 1 : ea;
		b = *eb != '\0' ? eb + 1 : eb;
	}
	return *a == '\0' && *b == '\0';
}

/* The name /proc/PID/cgroup's text gives (see peer.h): a VM on any line
 * (the v2 one first, then name=systemd, then the v1 controllers: libvirt
 * without systemd puts a VM's processes in its own cgroups of each v1
 * controller and may leave the v2 one at "/"), else the unit of the v2
 * line, else of the name=systemd line; nothing when the lines are not
 * those of hier's hierarchies. */
int
peer_name_from_cgroup(const char *text, const char *hier, char *name,
    size_t len)
{
	char tmp[PEER_COMPONENT_MAX];
	const char *line, *nl, *path;
	size_t plen;
	bool unit = false;
	int kind;

	name[0] = '\0';
	if (hier != NULL && !peer_cgroup_same_lines(text, hier))
		return PEER_PROCESS;
	for (int rank = 0; rank < 3; rank++) {
		for (line = text; *line != '\0'; line = nl + 1) {
			nl = peer_eol(line);
			if (peer_cgroup_line(line, nl, &path, &plen) == rank) {
				kind = peer_name_from_path(path, plen, tmp,
				    len < sizeof(tmp) ? len : sizeof(tmp));
				if (kind == PEER_VM) {
					snprintf(name, len, "%s", tmp);
					return PEER_VM;
				}
				if (kind == PEER_UNIT && rank < 2 && !unit) {
					snprintf(name, len, "%s", tmp);
					unit = true;
				}
			}
			if (*nl == '\0')
				break;
		}
	}
	return unit ? PEER_UNIT : PEER_PROCESS;
}

/* Read the whole (small) /proc file path into buf, NUL-terminated: 0, or
 * -EFBIG when it does not fit, or a negative errno. */
static int
peer_read_proc(const char *path, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += (size_t)n;
	close(fd);
	buf[off] = '\0';
	return off + 1 < len ? 0 : -EFBIG;
}

/* Find out once what the peer belongs to, and its process name. */
void
peer_describe(struct peer *p)
{
	char path[64], buf[8192], hier[8192];
	size_t n;

	if (p->described)
		return;
	p->described = true;
	p->kind = PEER_PROCESS;
	p->name[0] = p->comm[0] = '\0';
	if (p->pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)p->pid);
	if (peer_read_proc(path, buf, sizeof(buf)) == 0 &&
	    peer_read_proc("/proc/self/cgroup", hier, sizeof(hier)) == 0)
		p->kind = (unsigned char)peer_name_from_cgroup(buf, hier,
		    p->name, sizeof(p->name));
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	if (peer_read_proc(path, buf, sizeof(buf)) == 0) {
		n = strlen(buf); /* the name may hold newlines itself */
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		peer_clean(buf, n, p->comm, sizeof(p->comm));
	}
}

/* --- the allow-list ------------------------------------------------------- */

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

/* The client of peer p: FNV-1a over its uid, a separator and its VM's
 * name. */
uint64_t
peer_client_key(struct peer *p)
{
	uint64_t h = 14695981039346656037ull;
	uint32_t uid;
	const char *vm;

	peer_describe(p);
	uid = (uint32_t)p->uid;
	vm = p->kind == PEER_VM ? p->name : "";
	for (int i = 0; i < 4; i++)
		h = (h ^ (uid >> (8 * i) & 0xff)) * 1099511628211ull;
	h = (h ^ 0x100) * 1099511628211ull; /* no byte: the separator */
	for (; *vm != '\0'; vm++)
		h = (h ^ (unsigned char)*vm) * 1099511628211ull;
	return h != 0 ? h : 1;
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
