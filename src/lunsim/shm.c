/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim: the LUN's header shared by every process that uses it.
 *
 * Each process maps the first LUNSIM_HDR_SIZE bytes of the LUN file
 * (MAP_SHARED), so a command neither locks a file nor reads or writes one:
 * it takes the robust, process-shared mutex in the mapping, runs the model
 * on a private copy of the committed slot and, when the state changed,
 * writes the copy into the other slot and commits it by incrementing the
 * commit counter (one aligned store).  A process killed while it holds the
 * mutex therefore leaves either the state before its command (killed
 * before the store: the spare slot is scratch) or the state after it,
 * never a half: the next locker gets EOWNERDEAD, and the committed slot is
 * consistent as it stands.
 *
 * Two whole struct lunsim_hdr do not fit the 4 KiB header, so a slot holds
 * what commands change, and the initiator names are kept once beside the
 * slots.  A name is only written into a slot that is unused or idle (not
 * registered, no unit attention, not the holder) in the committed state,
 * before the commit: if the writer dies first, the committed state has an
 * idle slot under another name, which means the same.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lunsim.h"

_Static_assert(sizeof(struct lunsim_shm) <= LUNSIM_HDR_SIZE,
    "lunsim shared header does not fit its reserved area");

int lunsim_shm_die;

/* Whether the header of a file is a LUN's: 0, -EINVAL, or -EPROTO. */
int
lunsim_shm_check(const struct lunsim_shm *m)
{
	if (memcmp(m->magic, LUNSIM_MAGIC, LUNSIM_MAGIC_LEN) != 0)
		return -EINVAL;
	if (m->version != LUNSIM_VERSION)
		return -EPROTO;
	if (m->hdr_size != LUNSIM_HDR_SIZE ||
	    m->block_size != LUNSIM_BLOCK_SIZE)
		return -EINVAL;
	return 0;
}

/* Map the header of the LUN file fd: 0 and *m, -EINVAL, -EPROTO or
 * -errno.  The size is checked first: a mapping past the end of a file
 * faults when touched. */
int
lunsim_shm_map(int fd, int prot, struct lunsim_shm **m)
{
	struct stat st;
	void *p;
	int rc;

	if (syscall(SYS_fstat, fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < LUNSIM_HDR_SIZE)
		return -EINVAL;
	p = mmap(NULL, LUNSIM_HDR_SIZE, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	rc = lunsim_shm_check(p);
	if (rc < 0) {
		munmap(p, LUNSIM_HDR_SIZE);
		return rc;
	}
	*m = p;
	return 0;
}

/* Unmap what lunsim_shm_map() mapped. */
void
lunsim_shm_unmap(struct lunsim_shm *m)
{
	if (m != NULL)
		munmap(m, LUNSIM_HDR_SIZE);
}

/* Take the LUN's mutex: 0 or -errno.  A dead holder's command either
 * committed or did not: the committed slot is consistent either way. */
int
lunsim_shm_lock(struct lunsim_shm *m)
{
	int rc = pthread_mutex_lock(&m->mu);

	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(&m->mu);
	return -rc;
}

/* Release the LUN's mutex. */
void
lunsim_shm_unlock(struct lunsim_shm *m)
{
	pthread_mutex_unlock(&m->mu);
}

/* The committed slot. */
static const struct lunsim_state *
shm_cur(const struct lunsim_shm *m, uint32_t *n)
{
	*n = __atomic_load_n(&m->commit, __ATOMIC_ACQUIRE);
	return &m->slot[*n & 1];
}

/* Unpack the slot st and the names of m into the model's h. */
static void
shm_unpack(const struct lunsim_shm *m, const struct lunsim_state *st,
    struct lunsim_hdr *h)
{
	int i;

	memcpy(h->magic, m->magic, LUNSIM_MAGIC_LEN);
	h->version = m->version;
	h->hdr_size = m->hdr_size;
	h->size = m->size;
	h->block_size = m->block_size;
	h->pad = 0;
	memcpy(h->id, m->id, sizeof(h->id));
	h->generation = st->generation;
	h->res_type = st->res_type;
	h->res_scope = st->res_scope;
	h->res_holder = st->res_holder;
	h->fault = st->fault;
	/* One memset of the array: one per slot cost a third of a command. */
	memset(h->itn, 0, sizeof(h->itn));
	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		struct lunsim_itn *t = &h->itn[i];
		const struct lunsim_itn_state *s = &st->itn[i];

		if (!s->used)
			continue;
		memcpy(t->name, m->name[i], LUNSIM_NAME_MAX);
		t->name[LUNSIM_NAME_MAX - 1] = '\0';
		t->key = s->key;
		t->used = s->used;
		t->registered = s->registered;
		t->ua_count = s->ua_count;
		memcpy(t->ua, s->ua, sizeof(t->ua));
	}
}

/* The committed state, unpacked into h (mutex held). */
void
lunsim_shm_read(const struct lunsim_shm *m, struct lunsim_hdr *h)
{
	uint32_t n;

	shm_unpack(m, shm_cur(m, &n), h);
}

/* The committed faults (mutex held). */
const struct lunsim_fault *
lunsim_shm_fault(const struct lunsim_shm *m)
{
	uint32_t n;

	return &shm_cur(m, &n)->fault;
}

/* Pack the model's h into the slot st. */
static void
shm_pack(const struct lunsim_hdr *h, struct lunsim_state *st)
{
	int i;

	memset(st, 0, sizeof(*st));
	st->generation = h->generation;
	st->res_type = h->res_type;
	st->res_scope = h->res_scope;
	st->res_holder = h->res_holder;
	st->fault = h->fault;
	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		struct lunsim_itn_state *s = &st->itn[i];
		const struct lunsim_itn *t = &h->itn[i];

		s->key = t->key;
		s->used = t->used;
		s->registered = t->registered;
		s->ua_count = t->ua_count;
		memcpy(s->ua, t->ua, sizeof(s->ua));
	}
}

/* Write h into the spare slot (and new names beside it), then commit it
 * with one store. */
void
lunsim_shm_commit(struct lunsim_shm *m, const struct lunsim_hdr *h)
{
	uint32_t n;
	const struct lunsim_state *cur = shm_cur(m, &n);
	struct lunsim_state *spare = &m->slot[(n + 1) & 1];
	int i;

	for (i = 0; i < LUNSIM_MAX_ITN; i++)
		if (h->itn[i].used &&
		    (!cur->itn[i].used ||
			strncmp(m->name[i], h->itn[i].name, LUNSIM_NAME_MAX) !=
			    0))
			memcpy(m->name[i], h->itn[i].name, LUNSIM_NAME_MAX);
	shm_pack(h, spare);
	if (lunsim_shm_die == 1) {
		/* The test hook: die with the spare slot half rewritten. */
		memset(spare, 0xa5, sizeof(*spare) / 2);
		kill(getpid(), SIGKILL);
	}
	__atomic_store_n(&m->commit, n + 1, __ATOMIC_RELEASE);
	if (lunsim_shm_die == 2)
		kill(getpid(), SIGKILL);
}

/* Copy the committed state into h, retried until no commit ran while it
 * was copied (a commit only writes the slot that is not current). */
void
lunsim_shm_snapshot(const struct lunsim_shm *m, struct lunsim_hdr *h)
{
	const struct lunsim_state *st;
	uint32_t n;

	do {
		st = shm_cur(m, &n);
		shm_unpack(m, st, h);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (__atomic_load_n(&m->commit, __ATOMIC_RELAXED) != n);
}

/* Copy the committed faults into f without the mutex, retried until no
 * commit ran while they were copied. */
void
lunsim_shm_fault_snapshot(const struct lunsim_shm *m, struct lunsim_fault *f)
{
	uint32_t n;

	do {
		*f = shm_cur(m, &n)->fault;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (__atomic_load_n(&m->commit, __ATOMIC_RELAXED) != n);
}

/* Whether the committed state has a hang fault. */
int
lunsim_shm_hung(const struct lunsim_shm *m)
{
	uint32_t n;

	return __atomic_load_n(&shm_cur(m, &n)->fault.hang, __ATOMIC_RELAXED) !=
	    0;
}

/* How many commands wait out a hang now. */
uint32_t
lunsim_shm_waiting(const struct lunsim_shm *m)
{
	return __atomic_load_n(&m->hung, __ATOMIC_RELAXED);
}

/* Initialise the mapped header m of a fresh LUN of size data bytes. */
static int
lunsim_shm_init(struct lunsim_shm *m, uint64_t size)
{
	static struct lunsim_hdr h;
	pthread_mutexattr_t a;
	int rc;

	memset(m, 0, LUNSIM_HDR_SIZE);
	lunsim_hdr_init(&h, size);
	memcpy(m->magic, LUNSIM_MAGIC, LUNSIM_MAGIC_LEN);
	m->version = LUNSIM_VERSION;
	m->hdr_size = LUNSIM_HDR_SIZE;
	m->size = h.size;
	m->block_size = LUNSIM_BLOCK_SIZE;
	memcpy(m->id, h.id, sizeof(m->id));
	shm_pack(&h, &m->slot[0]);
	if ((rc = pthread_mutexattr_init(&a)) != 0)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutex_init(&m->mu, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}
/* Write a fresh header of a LUN of size data bytes into fd, sized to
 * hold it and the data: 0 or -errno. */
int
lunsim_shm_format(int fd, uint64_t size)
{
	struct lunsim_shm *m;
	void *p;
	int rc;

	size -= size % LUNSIM_BLOCK_SIZE;
	/* Emptied down to the header, not to nothing: a process that has the
	 * header mapped (create --force on a LUN in use) keeps a valid
	 * mapping instead of taking SIGBUS. */
	if (ftruncate(fd, LUNSIM_HDR_SIZE) < 0 ||
	    ftruncate(fd, (off_t)(LUNSIM_HDR_SIZE + size)) < 0)
		return -errno;
	p = mmap(NULL, LUNSIM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (p == MAP_FAILED)
		return -errno;
	m = p;
	rc = lunsim_shm_init(m, size);
	if (rc == 0 && msync(m, LUNSIM_HDR_SIZE, MS_SYNC) < 0)
		rc = -errno;
	munmap(m, LUNSIM_HDR_SIZE);
	return rc;
}

/* A LUN's disk sequence number.  See lunsim.h. */
uint64_t
lunsim_shm_diskseq(const struct lunsim_shm *m)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | m->id[i];
	return v != 0 ? v : 1;
}
