/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A fake libmpathpersist.so.0 for the tests: the calls the helper uses,
 * under the real library's symbol version (fake.version), answering what
 * the test scripted through the fake_mpath_* controls and recording what
 * it was given.  Found by the helper's dlopen() through LD_LIBRARY_PATH.
 *
 * Like the real library it copies a PR IN answer into struct prin_resp
 * as the device sent it and converts the header fields to host order.
 * It also notices calls that overlap, which the real library does not
 * survive, and can hold calls until the test lets them go.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include "prh/mpath_abi.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

/* What the last PR OUT call was given. */
struct fake_mpath_out {
	int sa, scope;
	unsigned type;
	int noisy, verbose;
	uint8_t header[24]; /* key .. reserved1 as the library sends them */
	uint32_t num_tids;
	struct mpath_abi_tid tids[MPATH_ABI_TIDS_MAX];
};

FAKE_EXPORT unsigned int mpath_mx_alloc_len;

/* The exported calls: the library's, then the test's controls. */
int libmpathpersist_init(void);
int libmpathpersist_exit(void);
int mpath_persistent_reserve_in(int fd, int sa,
    struct mpath_abi_prin_resp *resp, int noisy, int verbose);
int mpath_persistent_reserve_out(int fd, int sa, int scope, unsigned type,
    struct mpath_abi_prout_param *p, int noisy, int verbose);
void fake_mpath_set_rc(int init_rc, int in_rc, int out_rc);
void fake_mpath_set_answer(const uint8_t *p, unsigned n);
void fake_mpath_hold(int on);
void fake_mpath_wait_inside(unsigned n);
void fake_mpath_counts(unsigned *calls, unsigned *inits, unsigned *exits,
    unsigned *max_inside);
void fake_mpath_last(struct fake_mpath_out *out, int *in_sa);

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cond = PTHREAD_COND_INITIALIZER;
static int fake_rc_in, fake_rc_out, fake_rc_init;
static uint8_t fake_answer[MPATH_ABI_PARAM_MAX];
static unsigned fake_answer_len;
static int fake_last_in_sa = -1;
static struct fake_mpath_out fake_out;
static unsigned fake_calls, fake_inits, fake_exits;
static unsigned fake_inside, fake_max_inside;
static int fake_holding; /* calls wait while set */

/* Script the result codes of the next calls. */
FAKE_EXPORT void
fake_mpath_set_rc(int init_rc, int in_rc, int out_rc)
{
	pthread_mutex_lock(&fake_lock);
	fake_rc_init = init_rc;
	fake_rc_in = in_rc;
	fake_rc_out = out_rc;
	pthread_mutex_unlock(&fake_lock);
}

/* Script the device's PR IN parameter data (raw SCSI bytes). */
FAKE_EXPORT void
fake_mpath_set_answer(const uint8_t *p, unsigned n)
{
	pthread_mutex_lock(&fake_lock);
	if (n > sizeof(fake_answer))
		n = sizeof(fake_answer);
	memcpy(fake_answer, p, n);
	fake_answer_len = n;
	pthread_mutex_unlock(&fake_lock);
}

/* Hold calls inside the library (1) or let them go (0). */
FAKE_EXPORT void
fake_mpath_hold(int on)
{
	pthread_mutex_lock(&fake_lock);
	fake_holding = on;
	pthread_cond_broadcast(&fake_cond);
	pthread_mutex_unlock(&fake_lock);
}

/* Wait until n calls are inside the library. */
FAKE_EXPORT void
fake_mpath_wait_inside(unsigned n)
{
	pthread_mutex_lock(&fake_lock);
	while (fake_inside < n)
		pthread_cond_wait(&fake_cond, &fake_lock);
	pthread_mutex_unlock(&fake_lock);
}

/* Counters: calls, initialisations, exits, most calls inside at once. */
FAKE_EXPORT void
fake_mpath_counts(unsigned *calls, unsigned *inits, unsigned *exits,
    unsigned *max_inside)
{
	pthread_mutex_lock(&fake_lock);
	*calls = fake_calls;
	*inits = fake_inits;
	*exits = fake_exits;
	*max_inside = fake_max_inside;
	pthread_mutex_unlock(&fake_lock);
}

/* The last PR OUT call's arguments; the last PR IN service action. */
FAKE_EXPORT void
fake_mpath_last(struct fake_mpath_out *out, int *in_sa)
{
	pthread_mutex_lock(&fake_lock);
	*out = fake_out;
	*in_sa = fake_last_in_sa;
	pthread_mutex_unlock(&fake_lock);
}

/* Enter a call: count it, note overlaps, wait while held; returns with
 * fake_lock held for the call's own bookkeeping. */
static void
fake_enter(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_calls++;
	fake_inside++;
	if (fake_inside > fake_max_inside)
		fake_max_inside = fake_inside;
	pthread_cond_broadcast(&fake_cond);
	while (fake_holding)
		pthread_cond_wait(&fake_cond, &fake_lock);
	/* let an overlapping call in, so that it is seen */
	pthread_mutex_unlock(&fake_lock);
	sched_yield();
	pthread_mutex_lock(&fake_lock);
}

/* Leave a call (fake_lock held since fake_enter). */
static void
fake_leave(void)
{
	fake_inside--;
	pthread_mutex_unlock(&fake_lock);
}

/* libmpathpersist_init(): 0 or the scripted failure. */
FAKE_EXPORT int
libmpathpersist_init(void)
{
	int rc;

	pthread_mutex_lock(&fake_lock);
	fake_inits++;
	rc = fake_rc_init;
	pthread_mutex_unlock(&fake_lock);
	return rc;
}

/* libmpathpersist_exit(). */
FAKE_EXPORT int
libmpathpersist_exit(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_exits++;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

/* Swap a 32-bit field read in device (big-endian) order to host order. */
static uint32_t
fake_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/* PR IN: the scripted device answer, header fields in host order. */
FAKE_EXPORT int
mpath_persistent_reserve_in(int fd, int sa, struct mpath_abi_prin_resp *resp,
    int noisy, int verbose)
{
	int rc;

	(void)fd;
	(void)noisy;
	(void)verbose;
	fake_enter();
	fake_last_in_sa = sa;
	rc = fake_rc_in;
	if (rc == MPATH_ABI_SUCCESS) {
		unsigned n = fake_answer_len < mpath_mx_alloc_len
		    ? fake_answer_len
		    : mpath_mx_alloc_len;

		memcpy(resp, fake_answer, n);
		if (sa == 2) {
			resp->u.caps.length = (uint16_t)(fake_answer[0] << 8 |
			    fake_answer[1]);
			resp->u.caps.type_mask =
			    (uint16_t)(fake_answer[4] << 8 | fake_answer[5]);
		} else {
			resp->u.keys.generation = fake_be32(fake_answer);
			resp->u.keys.additional_length = fake_be32(
			    fake_answer + 4);
		}
	}
	fake_leave();
	return rc;
}

/* PR OUT: record the arguments, answer the scripted code. */
FAKE_EXPORT int
mpath_persistent_reserve_out(int fd, int sa, int scope, unsigned type,
    struct mpath_abi_prout_param *p, int noisy, int verbose)
{
	int rc;

	(void)fd;
	fake_enter();
	memset(&fake_out, 0, sizeof(fake_out));
	fake_out.sa = sa;
	fake_out.scope = scope;
	fake_out.type = type;
	fake_out.noisy = noisy;
	fake_out.verbose = verbose;
	memcpy(fake_out.header, p, sizeof(fake_out.header));
	fake_out.num_tids = p->num_tids;
	for (uint32_t i = 0; i < p->num_tids && i < MPATH_ABI_TIDS_MAX; i++)
		fake_out.tids[i] = *p->tids[i];
	rc = fake_rc_out;
	fake_leave();
	return rc;
}
