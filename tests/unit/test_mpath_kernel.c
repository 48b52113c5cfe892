/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the kernel multipath mode (mpath_kernel.c): every PR OUT
 * service action into its ioctl and structure, every refusal made without
 * the device, every kernel outcome into status and sense (all 96 bytes),
 * and mpath_kernel_execute() with the ioctl and the TEST UNIT READY
 * replaced, so that no device is needed.  Also the backend that each
 * --multipath mode chooses, with multipathd's abstract socket listening
 * or not in a network namespace of the test's own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "prh/client.h"
#include "prh/cmd.h"
#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/mpath_kernel.h"

#define MULTIPATHD "@/org/kernel/linux/storage/multipathd"

#define KEY    0x0123456789abcdefull
#define SA_KEY 0xfedcba9876543210ull

/* ---- helpers ----------------------------------------------------------- */

/* A parameter list of PRH_DATA_MAX bytes: KEY and SA_KEY, flags byte 20
 * (client.h's basic list), zeros beyond. */
static void
param_out(uint8_t p[PRH_DATA_MAX], uint8_t flags)
{
	memset(p, 0, PRH_DATA_MAX);
	client_param_basic(p, KEY, SA_KEY, flags);
}

/* Expect exactly CHECK CONDITION with fixed sense key/asc/ascq: byte 0
 * 70h, byte 2 the key, byte 7 additional length 10, bytes 12-13 the
 * codes, every other of the 96 bytes zero. */
static void
expect_check(const struct scsi_result *r, uint8_t key, uint8_t asc,
    uint8_t ascq)
{
	uint8_t want[PRH_SENSE_LEN] = { 0 };

	want[0] = 0x70;
	want[2] = key;
	want[7] = 10;
	want[12] = asc;
	want[13] = ascq;
	cr_expect_eq(r->status, PRH_STATUS_CHECK_CONDITION, "status %02x",
	    r->status);
	cr_expect_eq(r->size, 0);
	cr_expect_arr_eq(r->sense, want, sizeof(want),
	    "sense %02x/%02x/%02x, want %02x/%02x/%02x", r->sense[2],
	    r->sense[12], r->sense[13], key, asc, ascq);
}

/* Expect a bare status: 96 zero sense bytes, no payload. */
static void
expect_status(const struct scsi_result *r, uint8_t status)
{
	uint8_t zero[PRH_SENSE_LEN] = { 0 };

	cr_expect_eq(r->status, status, "status %02x, want %02x", r->status,
	    status);
	cr_expect_eq(r->size, 0);
	cr_expect_arr_eq(r->sense, zero, sizeof(zero));
}

/* Translate sa/st with a 24-byte list of flags; the result. */
static int
xlate(uint8_t sa, uint8_t st, uint8_t flags, uint32_t len,
    struct mpath_kernel_req *k, struct scsi_result *res)
{
	uint8_t cdb[PRH_CDB_LEN], p[PRH_DATA_MAX];

	client_cdb_pr_out(cdb, sa, st, (uint16_t)len);
	param_out(p, flags);
	memset(res, 0xee, sizeof(*res));
	return mpath_kernel_xlate(cdb, p, len, k, res);
}

/* ---- translation ------------------------------------------------------- */

Test(kxlate, register_and_register_ignore)
{
	struct mpath_kernel_req k;
	struct scsi_result res;

	/* Scope and type are ignored; keys arrive in host order. */
	cr_assert_eq(xlate(0x00, 0x15, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_REGISTER);
	cr_expect_eq(k.u.reg.old_key, KEY);
	cr_expect_eq(k.u.reg.new_key, SA_KEY);
	cr_expect_eq(k.u.reg.flags, 0);
	cr_expect_eq(k.u.reg.__pad, 0);
	cr_assert_eq(xlate(0x06, 0x00, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_REGISTER);
	cr_expect_eq(k.u.reg.old_key, KEY);
	cr_expect_eq(k.u.reg.new_key, SA_KEY);
	cr_expect_eq(k.u.reg.flags, PR_FL_IGNORE_KEY);
	/* APTPL: the kernel sets it on every REGISTER; accepted. */
	cr_expect_eq(xlate(0x00, 0x00, 0x01, 24, &k, &res), 0);
	cr_expect_eq(xlate(0x06, 0x00, 0x01, 24, &k, &res), 0);
}

Test(kxlate, reserve_and_release_map_every_type)
{
	static const struct {
		uint8_t scsi;
		uint32_t kernel;
	} types[] = {
		{ 0x1, PR_WRITE_EXCLUSIVE },
		{ 0x3, PR_EXCLUSIVE_ACCESS },
		{ 0x5, PR_WRITE_EXCLUSIVE_REG_ONLY },
		{ 0x6, PR_EXCLUSIVE_ACCESS_REG_ONLY },
		{ 0x7, PR_WRITE_EXCLUSIVE_ALL_REGS },
		{ 0x8, PR_EXCLUSIVE_ACCESS_ALL_REGS },
	};
	struct mpath_kernel_req k;
	struct scsi_result res;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		cr_assert_eq(xlate(0x01, types[i].scsi, 0, 24, &k, &res), 0);
		cr_expect_eq(k.ioctl, IOC_PR_RESERVE);
		cr_expect_eq(k.u.rsv.key, KEY);
		cr_expect_eq(k.u.rsv.type, types[i].kernel, "type %u",
		    types[i].scsi);
		cr_expect_eq(k.u.rsv.flags, 0);
		cr_assert_eq(xlate(0x02, types[i].scsi, 0, 24, &k, &res), 0);
		cr_expect_eq(k.ioctl, IOC_PR_RELEASE);
		cr_expect_eq(k.u.rsv.key, KEY);
		cr_expect_eq(k.u.rsv.type, types[i].kernel);
	}
}

Test(kxlate, clear_preempt_and_preempt_abort)
{
	struct mpath_kernel_req k;
	struct scsi_result res;

	cr_assert_eq(xlate(0x03, 0x00, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_CLEAR);
	cr_expect_eq(k.u.clr.key, KEY);
	cr_expect_eq(k.u.clr.flags, 0);
	cr_assert_eq(xlate(0x04, 0x05, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_PREEMPT);
	cr_expect_eq(k.u.pre.old_key, KEY);
	cr_expect_eq(k.u.pre.new_key, SA_KEY);
	cr_expect_eq(k.u.pre.type, PR_WRITE_EXCLUSIVE_REG_ONLY);
	cr_expect_eq(k.u.pre.flags, 0);
	cr_assert_eq(xlate(0x05, 0x08, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_PREEMPT_ABORT);
	cr_expect_eq(k.u.pre.old_key, KEY);
	cr_expect_eq(k.u.pre.new_key, SA_KEY);
	cr_expect_eq(k.u.pre.type, PR_EXCLUSIVE_ACCESS_ALL_REGS);
	/* TYPE 0 (sg_persist's default; ignored unless the key preempted
	 * holds the reservation) goes as pr_type 0, which the kernel sends
	 * as TYPE 0. */
	cr_assert_eq(xlate(0x04, 0x00, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_PREEMPT);
	cr_expect_eq(k.u.pre.new_key, SA_KEY);
	cr_expect_eq(k.u.pre.type, 0);
	cr_assert_eq(xlate(0x05, 0x00, 0, 24, &k, &res), 0);
	cr_expect_eq(k.ioctl, IOC_PR_PREEMPT_ABORT);
	cr_expect_eq(k.u.pre.type, 0);
}

Test(kxlate, what_the_ioctls_cannot_express_is_illegal_request)
{
	static const uint8_t bad_types[] = { 0x2, 0x4, 0x9, 0xa, 0xb, 0xc, 0xd,
		0xe, 0xf };
	static const uint8_t typed[] = { 0x01, 0x02, 0x04, 0x05 };
	struct mpath_kernel_req k;
	struct scsi_result res;

	/* service action, scope/type, flags, length: the ASC refused */
	static const struct {
		uint8_t sa, st, flags;
		uint32_t len;
		uint8_t asc;
	} bad[] = {
		/* a short list, a longer one without SPEC_I_PT: 1A/00 */
		{ 0x00, 0, 0, 23, 0x1a },
		{ 0x00, 0, 0, 0, 0x1a },
		{ 0x00, 0, 0, 28, 0x1a },
		/* SPEC_I_PT, ALL_TG_PT: 26/00, on REGISTER (AND IGNORE) */
		{ 0x00, 0, 0x08, 24, 0x26 },
		{ 0x00, 0, 0x08, 48, 0x26 },
		{ 0x06, 0, 0x04, 24, 0x26 },
		{ 0x06, 0, 0x0c, 48, 0x26 },
		/* ... ignored by the others, whose list is 24 bytes */
		{ 0x01, 0x01, 0x08, 48, 0x1a },
		{ 0x04, 0x01, 0x0c, 28, 0x1a },
	};

	/* REGISTER AND MOVE and the reserved service actions: 24/00. */
	for (uint8_t sa = 0x07; sa < 0x20; sa++) {
		cr_expect_eq(xlate(sa, 0x01, 0, 24, &k, &res), -1, "sa %u", sa);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(xlate(bad[i].sa, bad[i].st, bad[i].flags,
				 bad[i].len, &k, &res),
		    -1, "case %zu", i);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, bad[i].asc, 0x00);
	}
	/* A scope other than LU_SCOPE, a type without a kernel name: 24/00,
	 * for the service actions that carry them; TYPE 0 for RESERVE and
	 * RELEASE, which do not ignore it. */
	for (uint8_t sa = 0x01; sa <= 0x02; sa++) {
		cr_expect_eq(xlate(sa, 0x00, 0, 24, &k, &res), -1, "sa %u", sa);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	}
	cr_expect_eq(xlate(0x04, 0x10, 0, 24, &k, &res), -1);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	for (size_t i = 0; i < sizeof(typed); i++) {
		cr_expect_eq(xlate(typed[i], 0x11, 0, 24, &k, &res), -1);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
		for (size_t j = 0; j < sizeof(bad_types); j++) {
			cr_expect_eq(xlate(typed[i], bad_types[j], 0, 24, &k,
					 &res),
			    -1, "sa %u type %u", typed[i], bad_types[j]);
			expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
		}
	}
	/* SPC-4 has the service actions other than REGISTER (AND IGNORE)
	 * ignore SPEC_I_PT and ALL_TG_PT. */
	for (uint8_t sa = 0x01; sa <= 0x05; sa++) {
		cr_expect_eq(xlate(sa, 0x01, 0x0d, 24, &k, &res), 0, "sa %u",
		    sa);
	}
	/* CLEAR and REGISTER ignore scope and type. */
	cr_expect_eq(xlate(0x03, 0xff, 0, 24, &k, &res), 0);
	cr_expect_eq(xlate(0x00, 0xff, 0, 24, &k, &res), 0);
}

/* ---- the kernel's answers ---------------------------------------------- */

/* The result of r (errno err) in res, and mpath_kernel_result()'s. */
static int
result(int r, int err, struct scsi_result *res)
{
	memset(res, 0xee, sizeof(*res));
	return mpath_kernel_result(r, err, res);
}

Test(kresult, errnos)
{
	static const int illegal_op[] = { EPERM, EACCES, EOPNOTSUPP, ENOTTY };
	struct scsi_result res;

	cr_expect_eq(result(0, 0, &res), 0);
	expect_status(&res, PRH_STATUS_GOOD);
	for (size_t i = 0; i < sizeof(illegal_op) / sizeof(int); i++) {
		cr_expect_eq(result(-1, illegal_op[i], &res), 0);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	}
	cr_expect_eq(result(-1, EAGAIN, &res), 0);
	expect_status(&res, PRH_STATUS_BUSY);
	cr_expect_eq(result(-1, EBUSY, &res), 0);
	expect_status(&res, PRH_STATUS_BUSY);
	/* The rest as SG_IO's errno table. */
	cr_expect_eq(result(-1, EINVAL, &res), 0);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	cr_expect_eq(result(-1, EBADE, &res), 0);
	expect_status(&res, PRH_STATUS_RESERVATION_CONFLICT);
	cr_expect_eq(result(-1, ENODEV, &res), 0);
	expect_check(&res, PRH_SK_HARDWARE_ERROR, 0x44, 0x00);
	cr_expect_eq(result(-1, ENOMEM, &res), 0);
	expect_check(&res, PRH_SK_HARDWARE_ERROR, 0x44, 0x00);
	cr_expect_eq(result(-1, EIO, &res), 0);
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	cr_expect_eq(result(-1, ENOLINK, &res), 0);
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
}

Test(kresult, statuses_and_path_failures)
{
	struct scsi_result res;

	/* PR_STS_RESERVATION_CONFLICT, and the other plain statuses. */
	cr_expect_eq(result(0x18, 0, &res), 0);
	expect_status(&res, PRH_STATUS_RESERVATION_CONFLICT);
	cr_expect_eq(result(0x08, 0, &res), 0);
	expect_status(&res, PRH_STATUS_BUSY);
	cr_expect_eq(result(0x28, 0, &res), 0);
	expect_status(&res, PRH_STATUS_TASK_SET_FULL);
	/* PR_STS_IOERR, CHECK CONDITION without its sense: a TUR may
	 * refine it. */
	cr_expect_eq(result(0x02, 0, &res), 1);
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	/* Path failures: the host byte, as SG_IO's. */
	cr_expect_eq(result(0x10000, 0, &res), 0); /* PR_STS_PATH_FAILED */
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x05, 0x00);
	cr_expect_eq(result(0xe0000, 0, &res), 0); /* RETRY_PATH_FAILURE */
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x29, 0x07);
	cr_expect_eq(result(0xf0000, 0, &res), 0); /* PATH_FAST_FAILED */
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	cr_expect_eq(result(0x20000, 0, &res), 0); /* DID_BUS_BUSY */
	expect_status(&res, PRH_STATUS_BUSY);
	cr_expect_eq(result(0x30002, 0, &res), 0); /* Linux 6.1: timeout */
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x2e, 0x02);
	/* A positive value that says GOOD is never answered GOOD. */
	cr_expect_eq(result(0x100, 0, &res), 0);
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
}

/* ---- mpath_kernel_execute ---------------------------------------------- */

/* What the fake ioctl saw and answers. */
static struct {
	int calls, tur_calls;
	int fd;
	unsigned long req;
	struct mpath_kernel_req got;
	int rc[4], err[4]; /* answers, call by call */
	struct scsi_result tur;
} fk;

/* The fake ioctl: records, answers fk.rc/err in turn. */
static int
fake_ioctl(int fd, unsigned long req, void *arg)
{
	int i = fk.calls < 4 ? fk.calls : 3;

	fk.calls++;
	fk.fd = fd;
	fk.req = req;
	memcpy(&fk.got.u, arg, sizeof(fk.got.u));
	errno = fk.err[i];
	return fk.rc[i];
}

/* The fake TEST UNIT READY: answers fk.tur when it is not GOOD. */
static void
fake_tur(int fd, unsigned timeout_ms, struct scsi_result *res)
{
	(void)fd;
	cr_expect_eq(timeout_ms, 5000);
	fk.tur_calls++;
	if (fk.tur.status != PRH_STATUS_GOOD)
		*res = fk.tur;
}

/* Replace the calls; a pipe's write end stands for the map. */
static int pipe_fds[2];

static void
exec_init(void)
{
	static const struct mpath_kernel_ops ops = { fake_ioctl, fake_tur };

	memset(&fk, 0, sizeof(fk));
	scsi_result_status(&fk.tur, PRH_STATUS_GOOD);
	mpath_kernel_set_ops(&ops);
	cr_assert_eq(pipe2(pipe_fds, O_CLOEXEC), 0);
}

static void
exec_fini(void)
{
	mpath_kernel_set_ops(NULL);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

/* Run one PR OUT sa/st with flags on fd. */
static void
exec_out(int fd, uint8_t sa, uint8_t st, uint8_t flags, uint32_t len,
    struct scsi_result *res)
{
	static uint8_t data[PRH_DATA_MAX];
	struct sgio_opts o = { 5000, 5 };
	struct sgio_ua ua = { 0 };
	uint8_t cdb[PRH_CDB_LEN];

	client_cdb_pr_out(cdb, sa, st, (uint16_t)len);
	param_out(data, flags);
	memset(res, 0xee, sizeof(*res));
	mpath_kernel_execute(fd, cdb, data, len, &o, res, &ua);
}

Test(kexec, register_reaches_the_ioctl_on_the_clients_fd, .init = exec_init,
    .fini = exec_fini)
{
	struct scsi_result res;

	exec_out(pipe_fds[1], 0x00, 0, 0, 24, &res);
	expect_status(&res, PRH_STATUS_GOOD);
	cr_expect_eq(fk.calls, 1);
	cr_expect_eq(fk.fd, pipe_fds[1]);
	cr_expect_eq(fk.req, IOC_PR_REGISTER);
	cr_expect_eq(fk.got.u.reg.old_key, KEY);
	cr_expect_eq(fk.got.u.reg.new_key, SA_KEY);
	cr_expect_eq(fk.tur_calls, 0);
}

Test(kexec, read_only_fd_and_refusals_never_reach_the_device, .init = exec_init,
    .fini = exec_fini)
{
	struct scsi_result res;

	/* The helper's CAP_SYS_ADMIN would let the kernel take a read-only
	 * fd: refused as the kernel refuses an unprivileged caller. */
	exec_out(pipe_fds[0], 0x00, 0, 0, 24, &res);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	exec_out(-1, 0x00, 0, 0, 24, &res);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	exec_out(pipe_fds[1], 0x07, 0, 0, 24, &res);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	exec_out(pipe_fds[1], 0x00, 0, 0x08, 24, &res);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	cr_expect_eq(fk.calls, 0);
	cr_expect_eq(fk.tur_calls, 0);
}

Test(kexec, ioctl_only_fd_never_reaches_the_device, .init = exec_init,
    .fini = exec_fini)
{
	struct scsi_result res;
	int fd;

	/* Access mode 3 reads and writes nothing: the kernel would refuse
	 * an unprivileged caller's reservation through it too. */
	fd = open("/dev/null", O_ACCMODE | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open(/dev/null, 3): %s", strerror(errno));
	exec_out(fd, 0x00, 0, 0, 24, &res);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	exec_out(fd, 0x01, 0x01, 0, 24, &res);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	cr_expect_eq(fk.calls, 0);
	cr_expect_eq(fk.tur_calls, 0);
	close(fd);
}

Test(kexec, check_condition_takes_the_test_unit_readys_sense, .init = exec_init,
    .fini = exec_fini)
{
	struct scsi_result res;

	fk.rc[0] = fk.rc[1] = 0x02; /* PR_STS_IOERR */
	scsi_result_check(&fk.tur, PRH_SK_NOT_READY, 0x04, 0x01);
	exec_out(pipe_fds[1], 0x01, 0x05, 0, 24, &res);
	expect_check(&res, PRH_SK_NOT_READY, 0x04, 0x01);
	cr_expect_eq(fk.tur_calls, 1);
	/* The TUR passes: ABORTED COMMAND 00/06 stays. */
	scsi_result_status(&fk.tur, PRH_STATUS_GOOD);
	exec_out(pipe_fds[1], 0x01, 0x05, 0, 24, &res);
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	cr_expect_eq(fk.tur_calls, 2);
	cr_expect_eq(fk.req, IOC_PR_RESERVE);
}

Test(kexec, eintr_is_retried_and_conflict_answered, .init = exec_init,
    .fini = exec_fini)
{
	struct scsi_result res;

	fk.rc[0] = -1;
	fk.err[0] = EINTR;
	fk.rc[1] = 0x18; /* PR_STS_RESERVATION_CONFLICT */
	exec_out(pipe_fds[1], 0x04, 0x01, 0, 24, &res);
	expect_status(&res, PRH_STATUS_RESERVATION_CONFLICT);
	cr_expect_eq(fk.calls, 2);
	cr_expect_eq(fk.req, IOC_PR_PREEMPT);
	cr_expect_eq(fk.tur_calls, 0);
}

Test(kexec, pr_in_goes_to_sg_io_not_to_the_pr_ioctls, .init = exec_init,
    .fini = exec_fini)
{
	static uint8_t data[PRH_DATA_MAX];
	struct sgio_opts o = { 5000, 0 };
	uint8_t cdb[PRH_CDB_LEN] = { PRH_OP_PR_IN, 0x00 };
	struct scsi_result res;

	cdb[8] = 8;
	/* SG_IO on a pipe: ENOTTY, as the SG_IO backend maps it. */
	mpath_kernel_execute(pipe_fds[1], cdb, data, 8, &o, &res, NULL);
	expect_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	cr_expect_eq(fk.calls, 0);
}

/* ---- the backend each mode chooses ------------------------------------- */

/* Set the mode (mpath_init() stores it first, whatever else fails). */
static void
mode_set(enum mpath_mode m)
{
	struct mpath_opts o = { m, 4 };

	(void)mpath_init(&o);
}

/* Listen on an abstract socket name ("@..."): the fd. */
static int
listen_abstract(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t l = strlen(name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	memcpy(sun.sun_path, name, l);
	sun.sun_path[0] = '\0';
	cr_assert_eq(bind(s, (struct sockaddr *)&sun,
			 offsetof(struct sockaddr_un, sun_path) + l),
	    0);
	cr_assert_eq(listen(s, 4), 0);
	return s;
}

/* mpath_choose() for a map probed as probe, its reason in why. */
static char why[MPATH_CHOICE_LEN];

static enum mpath_backend
choose(int probe)
{
	memset(why, 'x', sizeof(why));
	return mpath_choose(probe, why, sizeof(why));
}

Test(kchoose, fixed_modes)
{
	mode_set(MPATH_MODE_KERNEL);
	cr_expect_eq(choose(1), MPATH_BACKEND_KERNEL);
	cr_expect_str_eq(why, "");
	cr_expect_eq(choose(-EACCES), MPATH_BACKEND_KERNEL);
	mode_set(MPATH_MODE_OFF);
	cr_expect_eq(choose(1), MPATH_BACKEND_NONE);
	cr_expect_str_eq(why, "");
	/* on keeps the library whatever device-mapper says (the command
	 * is then answered NOT READY 04/03). */
	mode_set(MPATH_MODE_ON);
	cr_expect_eq(choose(-EACCES), MPATH_BACKEND_LIBRARY);
	cr_expect_str_eq(why, "");
	cr_expect_str_eq(mpath_backend_name(MPATH_BACKEND_KERNEL), "kernel");
	cr_expect_str_eq(mpath_backend_name(MPATH_BACKEND_LIBRARY),
	    "libmpathpersist");
}

/* Enter a private network namespace where only this test's abstract
 * socket can be multipathd's (skips without root). */
static void
private_multipathd(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		cr_skip_test("needs root for a private network namespace");
	/* /run/multipathd.socket may exist on this machine: only the
	 * abstract socket, in this namespace, is tested. */
	if (access("/run/multipathd.socket", F_OK) == 0)
		cr_skip_test("/run/multipathd.socket exists here");
}

/* Skip unless the library cannot be loaded on this machine. */
static void
no_library(void)
{
	void *h = dlopen("libmpathpersist.so.0", RTLD_NOW | RTLD_LOCAL);

	if (h != NULL) {
		dlclose(h);
		cr_skip_test("libmpathpersist is installed here");
	}
}

Test(kchoose, auto_follows_multipathd)
{
	int s;

	private_multipathd();
	mode_set(MPATH_MODE_AUTO);
	cr_expect_eq(choose(1), MPATH_BACKEND_KERNEL);
	cr_expect_str_eq(why, "multipathd does not answer");
	s = listen_abstract(MULTIPATHD);
	/* multipathd answers: the library, if it loads. */
	cr_expect_neq(choose(1), MPATH_BACKEND_NONE);
	cr_expect(strcmp(why, "multipathd answers") == 0 ||
		strncmp(why, "libmpathpersist cannot be used: ", 32) == 0,
	    "%s", why);
	close(s);
	cr_expect_eq(choose(1), MPATH_BACKEND_KERNEL);
	cr_expect_str_eq(why, "multipathd does not answer");
	mpath_shutdown();
}

Test(kchoose, auto_falls_back_to_the_kernel_without_the_library)
{
	int s;

	private_multipathd();
	no_library();
	mode_set(MPATH_MODE_AUTO);
	s = listen_abstract(MULTIPATHD);
	/* The first command tries to load it, the next ones know. */
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(choose(1), MPATH_BACKEND_KERNEL);
		cr_expect(strncmp(why,
			      "libmpathpersist cannot be used: cannot load "
			      "libmpathpersist.so.0",
			      64) == 0,
		    "%s", why);
	}
	close(s);
	mpath_shutdown();
}

Test(kchoose, auto_falls_back_to_the_kernel_when_dm_cannot_be_asked)
{
	int s;

	private_multipathd();
	mode_set(MPATH_MODE_AUTO);
	s = listen_abstract(MULTIPATHD);
	cr_expect_eq(choose(-EACCES), MPATH_BACKEND_KERNEL);
	cr_expect_str_eq(why,
	    "device-mapper cannot be asked about the map (Permission "
	    "denied)");
	close(s);
	mpath_shutdown();
}

/* ---- one line per map, and the counts ---------------------------------- */

static void
redirect(void)
{
	cr_redirect_stderr();
}

Test(knote, one_notice_per_map_and_change_and_every_command_counted,
    .init = redirect)
{
	static struct device a, b;
	static struct prh_stats st;

	log_set_verbosity(1);
	mode_set(MPATH_MODE_KERNEL);
	snprintf(a.name, sizeof(a.name), "dm-3");
	snprintf(a.wwid, sizeof(a.wwid), "mpath-3600140");
	snprintf(b.name, sizeof(b.name), "dm 4");
	cmd_note_mpath(&a, &st, MPATH_BACKEND_KERNEL, "");
	cmd_note_mpath(&a, &st, MPATH_BACKEND_KERNEL, "");
	cmd_note_mpath(&b, &st, MPATH_BACKEND_KERNEL, "");
	cmd_note_mpath(&a, &st, MPATH_BACKEND_LIBRARY, "");
	cr_expect_eq(atomic_load(&a.mpath_backend), MPATH_BACKEND_LIBRARY);
	cr_expect_eq(atomic_load(&b.mpath_backend), MPATH_BACKEND_KERNEL);
	cr_expect_eq(atomic_load(&st.mpath_cmds[MPATH_BACKEND_KERNEL]), 3);
	cr_expect_eq(atomic_load(&st.mpath_cmds[MPATH_BACKEND_LIBRARY]), 1);
	fflush(stderr);
	cr_expect_stderr_eq_str(
	    "qemu-pr-helper: multipath: map dm-3 (mpath-3600140) served "
	    "through the kernel's PR ioctls\n"
	    "qemu-pr-helper: multipath: map dm\\x204 () served through the "
	    "kernel's PR ioctls\n"
	    "qemu-pr-helper: multipath: map dm-3 (mpath-3600140) served "
	    "through libmpathpersist\n");
}

Test(knote, auto_says_why, .init = redirect)
{
	static struct device a;
	static struct prh_stats st;

	log_set_verbosity(1);
	mode_set(MPATH_MODE_AUTO);
	snprintf(a.name, sizeof(a.name), "dm-0");
	cmd_note_mpath(&a, &st, MPATH_BACKEND_KERNEL,
	    "libmpathpersist cannot be used: no");
	cmd_note_mpath(&a, &st, MPATH_BACKEND_LIBRARY, "multipathd answers");
	mpath_shutdown();
	fflush(stderr);
	cr_expect_stderr_eq_str(
	    "qemu-pr-helper: multipath: map dm-0 () served through the "
	    "kernel's PR ioctls (libmpathpersist cannot be used: no)\n"
	    "qemu-pr-helper: multipath: map dm-0 () served through "
	    "libmpathpersist (multipathd answers)\n");
}
