/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim.so: the LD_PRELOAD half of the LUN simulator.  It interposes
 * ioctl() (through sgfake.c, the part it shares with the tests' SG_IO
 * fakes), the fstat family and sysfs (unless LUNSIM_FAKE_BLK=0).  An fd
 * whose file starts with the LUN magic is answered by the device model;
 * every other fd and request goes to the real ioctl untouched.  Its
 * answers are a device's, kept in the LUN file, so that any number of
 * processes share one LUN: the tests' fakes script theirs instead.
 *
 * The LUN's header is mapped into every process that uses it, with a
 * robust process-shared mutex in it (shm.c): a command costs its caller a
 * lock, the model and, if the state changed, one slot copied and one
 * store; latency and hangs are waited out with nothing held.  lunfd.c
 * keeps the mappings, handles the callers that need care (O_DIRECT,
 * another owner) and names the initiator port of each command.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <scsi/sg.h>

#include "fakesys.h"
#include "lunsim.h"
#include "preload.h"
#include "sgfake.h"

#define LUNSIM_SG_VERSION  30527
#define LUNSIM_MAX_XFER	   (16U << 20)
#define LUNSIM_POLL_NS	   10000000L  /* hang poll: 10 ms at first, */
#define LUNSIM_POLL_MAX_NS 100000000L /* then doubling up to 100 ms */

/* Process-wide settings, fixed at load time (environment). */
static struct {
	char initiator[LUNSIM_NAME_MAX];
	const char *ports; /* LUNSIM_PORTS, or NULL */
	uint32_t latency_ms;
	uint32_t jitter_ms;
	int fake_blk;
	int debug;
	int format_warned; /* the old-format message was printed */
} lunsim_cfg;

/* SG driver knobs a process may set; per process, as the tests need. */
static atomic_int lunsim_reserved_size = 32768;
static atomic_int lunsim_sg_timeout = 60 * 100;

/* Load the configuration from the environment. */
__attribute__((constructor)) static void
lunsim_init(void)
{
	const char *s;

	/* A simulated latency is slept out with nanosleep(), which the
	 * kernel may stretch by the thread's timer slack (50 us unless the
	 * program changed it; QEMU's programs set 1 ns).  A device takes the
	 * time it takes whatever its caller's slack: so the slack is 1 ns in
	 * every process lunsim runs (threads inherit it). */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

	fakesys_set_diskseq(lunsim_diskseq_of_minor);
	s = getenv("LUNSIM_INITIATOR");
	if (s != NULL && *s != '\0')
		snprintf(lunsim_cfg.initiator, LUNSIM_NAME_MAX, "%s", s);
	else if (gethostname(lunsim_cfg.initiator, LUNSIM_NAME_MAX - 1) < 0 ||
	    lunsim_cfg.initiator[0] == '\0')
		strcpy(lunsim_cfg.initiator, "host");
	s = getenv("LUNSIM_LATENCY");
	if (s != NULL && *s != '\0' &&
	    lunsim_parse_latency(s, &lunsim_cfg.latency_ms,
		&lunsim_cfg.jitter_ms) < 0)
		fprintf(stderr, "lunsim: ignoring bad LUNSIM_LATENCY '%s'\n",
		    s);
	s = getenv("LUNSIM_FAKE_BLK");
	lunsim_cfg.fake_blk = s == NULL || strcmp(s, "0") != 0;
	s = getenv("LUNSIM_DEBUG");
	lunsim_cfg.debug = s != NULL && strcmp(s, "1") == 0;
	s = getenv("LUNSIM_PORTS");
	lunsim_cfg.ports = s != NULL && *s != '\0' ? strdup(s) : NULL;
	s = getenv("LUNSIM_TEST_DIE");
	if (s != NULL)
		lunsim_shm_die = strcmp(s, "commit") == 0 ? 1
		    : strcmp(s, "committed") == 0	  ? 2
							  : 0;
}

/* The process's initiator name (LUNSIM_INITIATOR or the host name). */
const char *
lunsim_initiator(void)
{
	return lunsim_cfg.initiator;
}

/* LUNSIM_PORTS ("PATH=NAME" lines), or NULL when unset. */
const char *
lunsim_ports(void)
{
	return lunsim_cfg.ports;
}

/* The next definition of symbol name (the real libc function). */
void *
lunsim_next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL)
		fprintf(stderr, "lunsim: no next %s\n", name);
	return p;
}

/* Whether fd is a simulated LUN: 1 and its fstat in *st, else 0.  Uses
 * raw syscalls only; a LUN this process has mapped is known by its
 * inode. */
static int
lunsim_is_lun_st(int fd, struct stat *st)
{
	char magic[LUNSIM_MAGIC_LEN];

	if (syscall(SYS_fstat, fd, st) < 0 || !S_ISREG(st->st_mode) ||
	    st->st_size < LUNSIM_HDR_SIZE)
		return 0;
	if (lunsim_lun_known(st))
		return 1;
	if (lunsim_pread0(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic))
		return 0;
	return memcmp(magic, LUNSIM_MAGIC, LUNSIM_MAGIC_LEN) == 0;
}

/* Whether fd is a simulated LUN: 1, else 0. */
int
lunsim_is_lun(int fd)
{
	struct stat st;

	return lunsim_is_lun_st(fd, &st);
}

/* Data area size of the LUN behind fd, or 0. */
uint64_t
lunsim_size(int fd)
{
	struct lunsim_shm *m;
	int w, cw;

	return lunsim_lun_get(fd, NULL, &m, &w, &cw) == 0 ? m->size : 0;
}

/* Whether fd, on the file with device dev and inode ino, is a simulated
 * LUN: 1, else 0.  A LUN this process has mapped costs no system call. */
int
lunsim_is_lun_id(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = dev;
	st.st_ino = ino;
	return lunsim_lun_known(&st) || lunsim_is_lun(fd);
}

/* The disk sequence number of the LUN behind fd (st its fstat, or NULL),
 * or 0. */
uint64_t
lunsim_diskseq(int fd, const struct stat *st)
{
	struct lunsim_shm *m;
	int w, cw;

	return lunsim_lun_get(fd, st, &m, &w, &cw) == 0 ? lunsim_shm_diskseq(m)
							: 0;
}

/* Sleep ms milliseconds (restarted on signals); no system call for 0. */
static void
lunsim_sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A uniform random number in 0..max (thread-local xorshift). */
static uint32_t
lunsim_rand(uint32_t max)
{
	static __thread uint64_t s;
	struct timespec ts;

	if (max == 0)
		return 0;
	if (s == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = ((uint64_t)ts.tv_nsec << 20) ^
		    (uint64_t)syscall(SYS_gettid) ^ 0x9e3779b97f4a7c15ULL;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (uint32_t)(s % ((uint64_t)max + 1));
}

/* Milliseconds on the monotonic clock. */
static uint64_t
lunsim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether f injects nothing. */
static int
lunsim_fault_none(const struct lunsim_fault *f)
{
	static const struct lunsim_fault none;

	return memcmp(f, &none, sizeof(none)) == 0;
}

/* Whether a command with the fault f runs at once: nothing injected and
 * no latency. */
static int
lunsim_runs_now(const struct lunsim_fault *f)
{
	return lunsim_fault_none(f) && lunsim_cfg.latency_ms == 0 &&
	    lunsim_cfg.jitter_ms == 0;
}

/* Take this command's fault from the LUN m under its mutex (a writable
 * mapping).  With no fault or latency the mutex stays held (*locked = 1),
 * so that the command runs in the same critical section; otherwise one
 * use of a counted fault is consumed (if the command may write) and the
 * mutex is released.  0 and *f, or -errno. */
static int
lunsim_fault_locked(struct lunsim_shm *m, int can_write, struct lunsim_fault *f,
    int *locked)
{
	struct lunsim_hdr h;
	int rc;

	if ((rc = lunsim_shm_lock(m)) < 0)
		return rc;
	*f = *lunsim_shm_fault(m);
	if (lunsim_runs_now(f)) {
		*locked = 1;
		return 0;
	}
	if (f->count > 0 && can_write) {
		lunsim_shm_read(m, &h);
		if (--h.fault.count == 0)
			memset(&h.fault, 0, sizeof(h.fault));
		lunsim_shm_commit(m, &h);
	}
	lunsim_shm_unlock(m);
	return 0;
}

/* Wait out the hang (polled with backoff) and the latency of the fault f
 * on the LUN m, with nothing held; counted in the LUN's hung count while
 * the hang holds it, when the mapping is writable. */
static void
lunsim_wait(struct lunsim_shm *m, int writable, struct lunsim_fault *f)
{
	struct timespec ts = { 0, LUNSIM_POLL_NS };
	int counted = f->hang && writable;

	if (counted)
		__atomic_add_fetch(&m->hung, 1, __ATOMIC_RELAXED);
	/* A hung device costs its caller nothing but a blocked thread: the
	 * poll backs off, so that many commands stuck on a hung LUN do not
	 * eat the CPU of the process they run in (the helper's, measured). */
	while (f->hang) {
		nanosleep(&ts, NULL);
		if (ts.tv_nsec < LUNSIM_POLL_MAX_NS / 2)
			ts.tv_nsec *= 2;
		else
			ts.tv_nsec = LUNSIM_POLL_MAX_NS;
		f->hang = (uint8_t)lunsim_shm_hung(m);
	}
	if (counted)
		__atomic_sub_fetch(&m->hung, 1, __ATOMIC_RELAXED);
	lunsim_sleep_ms((uint64_t)f->latency_ms + lunsim_rand(f->jitter_ms) +
	    lunsim_cfg.latency_ms + lunsim_rand(lunsim_cfg.jitter_ms));
}

/* Whether the fault f answers the command instead of executing it: an
 * errno, a host or driver status, a SCSI status. */
static int
lunsim_fault_stops(const struct lunsim_fault *f)
{
	return f->err != 0 || f->has_status || f->host_status ||
	    f->driver_status;
}

/* Fill the reply fields of hp from a finished command. */
static void
lunsim_reply(struct sg_io_hdr *hp, uint8_t status, const uint8_t *sense,
    unsigned sense_len, unsigned host, unsigned driver, uint32_t done,
    uint64_t start_ms)
{
	struct sgfake_answer a = {
		.status = status,
		.host = host,
		.driver = driver,
		.sense = sense,
		.sense_len = sense_len,
		.driver_sense = 1,
		.resid = (int)(hp->dxfer_len - done),
		.duration_ms = (unsigned)(lunsim_now_ms() - start_ms),
	};

	sgfake_reply(hp, &a);
}

/* The data direction of hp as the model sees it. */
static int
lunsim_dir(const struct sg_io_hdr *hp)
{
	return hp->dxfer_direction == SG_DXFER_TO_DEV ? LUNSIM_DIR_OUT
	    : hp->dxfer_direction == SG_DXFER_NONE    ? LUNSIM_DIR_NONE
						      : LUNSIM_DIR_IN;
}

/* Run the model on the LUN m for command c: on a copy of the committed
 * state, committed if it changed and the command may write (else 04/44/00,
 * as a failed write of the state would).  Takes the mutex unless locked;
 * it is released on return.  0 or -errno. */
static int
lunsim_exec(struct lunsim_shm *m, int writable, int can_write, int locked,
    const struct lunsim_path *p, struct lunsim_cmd *c)
{
	struct lunsim_hdr h;
	int rc;

	if (!writable) {
		lunsim_shm_snapshot(m, &h);
		lunsim_execute(&h, p->data, p->initiator, c);
		if (c->dirty)
			lunsim_sense(c, 0x4, 0x44, 0x00);
		return 0;
	}
	if (!locked && (rc = lunsim_shm_lock(m)) < 0)
		return rc;
	lunsim_shm_read(m, &h);
	lunsim_execute(&h, p->data, p->initiator, c);
	if (c->dirty && can_write)
		lunsim_shm_commit(m, &h);
	else if (c->dirty)
		lunsim_sense(c, 0x4, 0x44, 0x00);
	lunsim_shm_unlock(m);
	return 0;
}

/* Run the command in hp on the LUN m (mutex held if locked; released on
 * return) and answer it. */
static int
lunsim_run(struct lunsim_shm *m, int writable, int can_write, int locked,
    const struct lunsim_path *p, struct sg_io_hdr *hp, uint8_t *buf,
    uint64_t start_ms)
{
	struct lunsim_cmd c;
	int rc, dir = lunsim_dir(hp);

	if (dir == LUNSIM_DIR_OUT &&
	    sgfake_xfer(hp, buf, hp->dxfer_len, 0) < 0) {
		if (locked)
			lunsim_shm_unlock(m);
		return -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	c.cdb = hp->cmdp;
	c.cdb_len = hp->cmd_len;
	c.dir = dir;
	c.out = dir == LUNSIM_DIR_OUT ? buf : NULL;
	c.out_len = dir == LUNSIM_DIR_OUT ? hp->dxfer_len : 0;
	c.in = dir == LUNSIM_DIR_IN ? buf : NULL;
	c.in_len = dir == LUNSIM_DIR_IN ? hp->dxfer_len : 0;
	rc = lunsim_exec(m, writable, can_write, locked, p, &c);
	if (rc < 0)
		return rc;
	if (dir == LUNSIM_DIR_IN && sgfake_xfer(hp, buf, c.in_done, 1) < 0)
		return -EINVAL;
	lunsim_reply(hp, c.status, c.sense, c.sense_len, 0, 0,
	    dir == LUNSIM_DIR_IN	? c.in_done
		: dir == LUNSIM_DIR_OUT ? c.out_done
					: hp->dxfer_len,
	    start_ms);
	if (lunsim_cfg.debug)
		fprintf(stderr,
		    "lunsim[%d] %s: cdb %02x/%02x -> status 0x%02x "
		    "sense %x/%02x/%02x\n",
		    getpid(), p->initiator, hp->cmdp[0], hp->cmdp[1], c.status,
		    c.sense[2] & 0xf, c.sense[12], c.sense[13]);
	return 0;
}

/* Whether the command with opcode op reads or writes the data area. */
static int
lunsim_is_rw(uint8_t op)
{
	return op == 0x28 || op == 0x2a || op == 0x88 || op == 0x8a;
}

/* The mapping of the LUN behind fd for a command; an old-format LUN file
 * is refused, once with a message.  0 or -errno. */
static int
lunsim_lun(int fd, const struct stat *st, struct lunsim_shm **m, int *writable,
    int *can_write)
{
	int rc = lunsim_lun_get(fd, st, m, writable, can_write);

	if (rc == -EPROTO && !lunsim_cfg.format_warned) {
		lunsim_cfg.format_warned = 1;
		fprintf(stderr,
		    "lunsim: fd %d: a LUN file of another format version "
		    "(this lunsim reads version %d); recreate it with "
		    "'lunsim create --force FILE'\n",
		    fd, LUNSIM_VERSION);
	}
	return rc;
}

/* Answer the fault f, which stops the command (lunsim_fault_stops): 0,
 * or -errno for the ioctl. */
static int
lunsim_fault_answer(struct sg_io_hdr *hp, const struct lunsim_fault *f,
    uint64_t start_ms)
{
	if (f->err != 0)
		return -f->err;
	lunsim_reply(hp, f->has_status ? f->status : 0, f->sense, f->sense_len,
	    f->host_status, f->driver_status, 0, start_ms);
	return 0;
}

/* Run the command hp on the LUN m behind fd.  With recheck (a writable
 * mapping whose faults read none, or a counted one), the faults are read
 * again under the mutex once the command is set up (lunsim_fault_locked):
 * it runs in that critical section, or waits out and answers the fault
 * found.  0, or -errno for the ioctl. */
static int
lunsim_command(int fd, struct lunsim_shm *m, int writable, int can_write,
    int recheck, struct sg_io_hdr *hp, uint64_t start)
{
	struct lunsim_fault f;
	struct lunsim_path p;
	uint8_t *buf;
	size_t cap;
	int rc, locked = 0;

	/* Aligned: READ/WRITE may go through the caller's O_DIRECT fd. */
	cap = ((size_t)hp->dxfer_len + 4095) / 4096 * 4096;
	buf = aligned_alloc(4096, cap > 0 ? cap : 4096);
	if (buf == NULL)
		return -ENOMEM;
	memset(buf, 0, cap > 0 ? cap : 4096);
	rc = lunsim_path_open(fd, lunsim_is_rw(hp->cmdp[0]), &p);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	memset(&f, 0, sizeof(f));
	if (recheck &&
	    (rc = lunsim_fault_locked(m, can_write, &f, &locked)) == 0 &&
	    !locked)
		lunsim_wait(m, writable, &f);
	if (rc == 0 && !locked && lunsim_fault_stops(&f))
		rc = lunsim_fault_answer(hp, &f, start);
	else if (rc == 0)
		rc = lunsim_run(m, writable, can_write, locked, &p, hp, buf,
		    start);
	free(buf);
	lunsim_path_close(&p);
	return rc;
}

/* Answer SG_IO on the simulated LUN fd (st its fstat): 0, or -errno for
 * the ioctl.  The LUN's faults are read without its mutex.  A fault that
 * holds until cleared (a latency, a hang, an error), or any fault of a
 * read-only mapping, is waited out first, nothing held or allocated, so
 * that a command on a slow LUN takes the mutex once, to run.  Otherwise
 * (none, or a counted fault, which a command consumes under the mutex)
 * lunsim_command() reads them again under the mutex. */
static int
lunsim_sg_io(int fd, const struct stat *st, struct sg_io_hdr *hp)
{
	struct lunsim_fault f;
	struct lunsim_shm *m;
	uint64_t start = lunsim_now_ms();
	int rc, recheck, can_write, writable;

	if (hp->interface_id != 'S')
		return -ENOSYS;
	if (hp->cmd_len < 6 || hp->cmd_len > 16 || hp->cmdp == NULL)
		return -EINVAL;
	if (hp->dxfer_len > LUNSIM_MAX_XFER)
		return -ENOMEM;
	if (hp->dxfer_len > 0 && hp->dxferp == NULL)
		return -EFAULT;
	if ((rc = lunsim_lun(fd, st, &m, &writable, &can_write)) < 0)
		return rc;
	lunsim_shm_fault_snapshot(m, &f);
	recheck = writable && (lunsim_runs_now(&f) || f.count > 0);
	if (!recheck) {
		lunsim_wait(m, writable, &f);
		if (lunsim_fault_stops(&f))
			return lunsim_fault_answer(hp, &f, start);
	}
	return lunsim_command(fd, m, writable, can_write, recheck, hp, start);
}

/* Store an int result for an ioctl argument. */
#define PUT(type, v) (*(type *)arg = (type)(v), 0)

/* Block and sg driver ioctls on a simulated LUN: result, or -ENOTTY. */
static int
lunsim_other_ioctl(int fd, const struct stat *st, unsigned long req, void *arg)
{
	struct sg_scsi_id *id;

	switch (req) {
	case BLKROGET:
		return PUT(int, 0);
	case BLKSSZGET:
		return PUT(int, LUNSIM_BLOCK_SIZE);
	case BLKPBSZGET:
		return PUT(unsigned int, LUNSIM_BLOCK_SIZE);
	case BLKIOMIN:
		return PUT(unsigned int, LUNSIM_BLOCK_SIZE);
	case BLKIOOPT:
		return PUT(unsigned int, 0);
	case BLKALIGNOFF:
		return PUT(int, 0);
	case BLKDISCARDZEROES:
		return PUT(unsigned int, 0);
	case BLKSECTGET:
		return PUT(unsigned short, 2048);
	case BLKGETSIZE64:
		return PUT(uint64_t, lunsim_size(fd));
	case BLKGETSIZE:
		return PUT(unsigned long, lunsim_size(fd) >> 9);
	case BLKGETDISKSEQ:
		return PUT(uint64_t, lunsim_diskseq(fd, st));
	case BLKFLSBUF:
		return 0;
	case SG_GET_VERSION_NUM:
		return PUT(int, LUNSIM_SG_VERSION);
	case SG_EMULATED_HOST:
		return PUT(int, 0);
	case SG_GET_SG_TABLESIZE:
		return PUT(int, 256);
	case SG_GET_RESERVED_SIZE:
		return PUT(int, atomic_load(&lunsim_reserved_size));
	case SG_SET_RESERVED_SIZE:
		if (*(int *)arg < 0)
			return -EINVAL;
		atomic_store(&lunsim_reserved_size, *(int *)arg);
		return 0;
	case SG_GET_TIMEOUT:
		return atomic_load(&lunsim_sg_timeout);
	case SG_SET_TIMEOUT:
		if (*(int *)arg < 0)
			return -EIO;
		atomic_store(&lunsim_sg_timeout, *(int *)arg);
		return 0;
	case SG_GET_SCSI_ID:
		id = arg;
		memset(id, 0, sizeof(*id));
		id->scsi_type = 0;
		id->h_cmd_per_lun = 1;
		id->d_queue_depth = 1;
		return 0;
	default:
		return -ENOTTY;
	}
}
#undef PUT

/* Whether req is one of the requests answered on a LUN. */
static int
lunsim_handles(unsigned long req)
{
	switch (req) {
	case SG_IO:
	case BLKROGET:
	case BLKSSZGET:
	case BLKPBSZGET:
	case BLKIOMIN:
	case BLKIOOPT:
	case BLKALIGNOFF:
	case BLKDISCARDZEROES:
	case BLKSECTGET:
	case BLKGETSIZE64:
	case BLKGETSIZE:
	case BLKGETDISKSEQ:
	case BLKFLSBUF:
	case SG_GET_VERSION_NUM:
	case SG_EMULATED_HOST:
	case SG_GET_SG_TABLESIZE:
	case SG_GET_RESERVED_SIZE:
	case SG_SET_RESERVED_SIZE:
	case SG_GET_TIMEOUT:
	case SG_SET_TIMEOUT:
	case SG_GET_SCSI_ID:
		return 1;
	default:
		return 0;
	}
}

/* Whether fstat on a LUN reports a block device (not LUNSIM_FAKE_BLK=0). */
int
lunsim_fake_blk(void)
{
	return lunsim_cfg.fake_blk;
}

/* The fake's ioctl (sgfake.c): LUN requests are answered, the rest
 * pass. */
int
sgfake_ioctl(int fd, unsigned long req, void *arg)
{
	struct stat st;

	if (!lunsim_handles(req) || !lunsim_is_lun_st(fd, &st))
		return SGFAKE_PASS;
	if (req != SG_GET_TIMEOUT && arg == NULL)
		return -EFAULT;
	return req == SG_IO ? lunsim_sg_io(fd, &st, arg)
			    : lunsim_other_ioctl(fd, &st, req, arg);
}
