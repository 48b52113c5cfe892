/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The multipath backend (see mpath.h): device-mapper detection, the
 * library loaded at run time, one library call at a time, and the answers
 * for everything that can stand in the way.
 *
 * Follow one command: mpath_probe_fd() on a worker asks device-mapper
 * (DM_TABLE_STATUS by dev_t) whether the fd's block device is a multipath
 * map; mpath_execute() translates the command (mpath_xlate.c), checks that
 * multipathd listens (PR OUT), waits its turn for the library, loads it on
 * first use, calls it and translates the answer back.
 *
 * libmpathpersist's mpath_persistent_reserve_in/out keep the maps and
 * paths they discover in static variables for the length of a call, and
 * set the library's global verbosity: two calls at once would free each
 * other's state.  So calls run one at a time, under a token (mp_busy),
 * not a mutex: a command waits for it at most its SG_IO timeout, at most
 * max_workers - 1 commands wait at once, and the rest answer BUSY, so a
 * library call that hangs holds at most max_workers workers, as a hung
 * device does.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/dm-ioctl.h>
#include <scsi/sg.h>

#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/mpath_abi.h"
#include "prh/mpath_xlate.h"

#define MPATH_LIBRARY	   "libmpathpersist.so.0"
#define MPATH_CONTROL	   "/dev/mapper/control"
#define MPATH_RETRY_S	   10	/* between attempts to load the library */
#define MPATH_DM_BUF	   4096 /* DM_TABLE_STATUS answer */
#define MPATH_MAX_VERBOSE  3	/* the library's highest verbosity */
#define MPATH_TUR_LEN	   6
#define MPATH_WHY_LEN	   256
#define MPATH_DEFAULT_WORK 16

/* The library, once loaded. */
struct mpath_lib {
	void *handle;
	mpath_abi_init_fn init;
	mpath_abi_exit_fn exit;
	mpath_abi_in_fn in;
	mpath_abi_out_fn out;
	unsigned *mx_alloc_len;
	const char *version; /* symbol version of libmpathpersist_init */
};

/* Where loading stands. */
enum mpath_lib_state {
	MPATH_LIB_NONE,	  /* not tried, or retry after mp_lib_retry */
	MPATH_LIB_READY,  /* loaded and initialised */
	MPATH_LIB_BROKEN, /* initialisation failed: not tried again */
};

/* State shared by all workers, under mp_lock. */
static pthread_mutex_t mp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mp_cond; /* the token is free, or draining */
static pthread_once_t mp_once = PTHREAD_ONCE_INIT;
static bool mp_busy;	    /* a command holds the library token */
static bool mp_draining;    /* shutdown: no new library calls */
static unsigned mp_waiting; /* commands waiting for the token */
static unsigned long mp_calls, mp_busy_answers;
static bool mp_loaded; /* mp_lib_state == MPATH_LIB_READY, for stats */
static struct mpath_opts mp_opts = { MPATH_MODE_AUTO, MPATH_DEFAULT_WORK };
static char mp_reported[MPATH_WHY_LEN]; /* cause last logged */

/* Owned by the holder of the token. */
static struct mpath_lib mp_lib;
static enum mpath_lib_state mp_lib_state;
static time_t mp_lib_retry; /* CLOCK_MONOTONIC seconds */
static char mp_lib_why[MPATH_WHY_LEN];

/* Under mp_ctl_lock: the control node and device-mapper's major. */
static pthread_mutex_t mp_ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static int mp_ctl_fd = -1;
static int mp_ctl_err = -ENOENT; /* why mp_ctl_fd is -1 */
static int mp_dm_major = -1;	 /* or one of: */
#define MPATH_DM_ABSENT	 (-1)	 /* device-mapper is not loaded */
#define MPATH_DM_UNKNOWN (-2)	 /* /proc/devices cannot be read */

/* Set up the condition variable on the monotonic clock, once. */
static void
mpath_once(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&mp_cond, &a);
	pthread_condattr_destroy(&a);
}

/* Seconds on the monotonic clock. */
static time_t
mpath_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Log why multipath cannot serve (why != NULL), once until the cause
 * changes; why == NULL: it works (again). */
static void
mpath_report(const char *why)
{
	bool changed;

	pthread_mutex_lock(&mp_lock);
	changed = why != NULL ? strcmp(mp_reported, why) != 0
			      : mp_reported[0] != '\0';
	if (changed)
		snprintf(mp_reported, sizeof(mp_reported), "%s",
		    why != NULL ? why : "");
	pthread_mutex_unlock(&mp_lock);
	if (!changed)
		return;
	if (why != NULL)
		log_warn("multipath: %s; commands to multipath maps are "
			 "answered NOT READY 04/03",
		    why);
	else
		log_info("multipath: working again");
}

/* Answer "multipath cannot be served" and log why. */
static void
mpath_refuse(const char *why, struct scsi_result *res)
{
	mpath_report(why);
	scsi_result_check(res, MPATH_UNAVAILABLE_KEY, MPATH_UNAVAILABLE_ASC,
	    MPATH_UNAVAILABLE_ASCQ);
}

/* ---- device-mapper ---------------------------------------------------- */

/* Open /dev/mapper/control if it is not open.  Under mp_ctl_lock. */
static void
mpath_ctl_open_locked(void)
{
	if (mp_ctl_fd >= 0)
		return;
	mp_ctl_fd = open(MPATH_CONTROL, O_RDWR | O_CLOEXEC);
	mp_ctl_err = mp_ctl_fd < 0 ? -errno : 0;
}

/* device-mapper's block major from /proc/devices; MPATH_DM_ABSENT when it
 * is not loaded (asked again at most every MPATH_RETRY_S), or
 * MPATH_DM_UNKNOWN without /proc.  Under mp_ctl_lock. */
static int
mpath_dm_major_locked(void)
{
	static time_t next;
	static char buf[8192];
	char *line, *save = NULL;
	bool block = false;
	ssize_t n;
	int fd, major;

	if (mp_dm_major >= 0 || mpath_now() < next)
		return mp_dm_major;
	next = mpath_now() + MPATH_RETRY_S;
	if ((fd = open("/proc/devices", O_RDONLY | O_CLOEXEC)) < 0)
		return mp_dm_major = MPATH_DM_UNKNOWN;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return mp_dm_major = MPATH_DM_UNKNOWN;
	buf[n] = '\0';
	mp_dm_major = MPATH_DM_ABSENT;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "Block devices:", 14) == 0)
			block = true;
		else if (block && strstr(line, " device-mapper") != NULL &&
		    sscanf(line, "%d", &major) == 1 && major >= 0)
			mp_dm_major = major;
	}
	return mp_dm_major;
}

/*
 * When device-mapper cannot be asked (no control node, no CAP_SYS_ADMIN):
 * whether sysfs names rdev a multipath map, by its uuid, which anyone may
 * read.  1 a multipath map, 0 another device-mapper map or no map at
 * all, -1 unknown (sysfs does not know the device).
 */
int
mpath_probe_sysfs(dev_t rdev)
{
	char path[96], uuid[8] = "";
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(rdev),
	    minor(rdev));
	if (stat(path, &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/uuid",
	    major(rdev), minor(rdev));
	if ((f = fopen(path, "re")) == NULL)
		return 0; /* not a device-mapper device */
	if (fgets(uuid, sizeof(uuid), f) == NULL)
		uuid[0] = '\0';
	fclose(f);
	return strncmp(uuid, "mpath-", 6) == 0;
}

/* The answer when device-mapper itself cannot be asked (err < 0): sysfs
 * may still tell that rdev is not a multipath map. */
static int
mpath_probe_without_dm(dev_t rdev, int err)
{
	return mpath_probe_sysfs(rdev) == 0 ? 0 : err;
}

/* Is rdev a multipath map?  See mpath.h. */
int
mpath_probe(dev_t rdev)
{
	union {
		struct dm_ioctl io;
		uint8_t raw[MPATH_DM_BUF];
	} buf;
	const struct dm_target_spec *spec;
	int fd, err, dm_major;

	pthread_mutex_lock(&mp_ctl_lock);
	dm_major = mpath_dm_major_locked();
	mpath_ctl_open_locked();
	fd = mp_ctl_fd;
	err = mp_ctl_err;
	pthread_mutex_unlock(&mp_ctl_lock);
	/* Without device-mapper there is no map; every device of another
	 * major is plainly not one: no ioctl, no privilege needed
	 * (device-mapper refuses every ioctl without CAP_SYS_ADMIN, even
	 * about devices that are not its own). */
	if (dm_major == MPATH_DM_ABSENT ||
	    (dm_major >= 0 && (int)major(rdev) != dm_major))
		return 0;
	if (fd < 0)
		return mpath_probe_without_dm(rdev, err);

	memset(&buf, 0, sizeof(buf));
	buf.io.version[0] = DM_VERSION_MAJOR;
	buf.io.data_size = sizeof(buf);
	buf.io.data_start = sizeof(buf.io);
	buf.io.dev = rdev;
	buf.io.flags = DM_STATUS_TABLE_FLAG;
	if (ioctl(fd, DM_TABLE_STATUS, &buf) < 0) {
		err = -errno;
		if (err == -ENXIO)
			return 0;
		if (err == -EACCES || err == -EPERM)
			return mpath_probe_without_dm(rdev, err);
		return err;
	}
	if (buf.io.target_count != 1 ||
	    buf.io.data_start > sizeof(buf) - sizeof(*spec))
		return 0;
	spec = (const struct dm_target_spec *)(buf.raw + buf.io.data_start);
	if (strncmp(spec->target_type, "multipath",
		sizeof(spec->target_type)) != 0)
		return 0;
	return strncmp(buf.io.uuid, "mpath-", 6) == 0;
}

/* mpath_probe() for fd's device. */
int
mpath_probe_fd(int fd)
{
	struct stat st;

	if (mpath_mode() == MPATH_MODE_OFF || fstat(fd, &st) < 0 ||
	    !S_ISBLK(st.st_mode))
		return 0;
	return mpath_probe(st.st_rdev);
}

/* Answer a command whose device could not be told apart. */
void
mpath_unavailable(int err, struct scsi_result *res)
{
	char why[MPATH_WHY_LEN];

	if (err == -EACCES || err == -EPERM)
		snprintf(why, sizeof(why),
		    "device-mapper refuses DM_TABLE_STATUS (%s): the helper "
		    "needs CAP_SYS_ADMIN and uid 0 for multipath",
		    strerror(-err));
	else
		snprintf(why, sizeof(why),
		    "cannot tell whether a device-mapper device is a "
		    "multipath map (" MPATH_CONTROL ": %s)",
		    strerror(-err));
	mpath_refuse(why, res);
}

/* ---- multipathd ------------------------------------------------------- */

/* Whether one of the sockets accepts connections.  See mpath.h. */
int
mpath_multipathd_reachable(const char *const names[], size_t n)
{
	struct sockaddr_un sun;
	socklen_t len;
	size_t i, l;
	int s, r;

	for (i = 0; i < n; i++) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		l = strlen(names[i]);
		if (l == 0 || l >= sizeof(sun.sun_path))
			continue;
		memcpy(sun.sun_path, names[i], l);
		len = offsetof(struct sockaddr_un, sun_path) + l;
		if (names[i][0] == '@')
			sun.sun_path[0] = '\0'; /* abstract: no NUL at end */
		else
			len++;
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
		if (s < 0)
			return 0;
		r = connect(s, (struct sockaddr *)&sun, len);
		/* EAGAIN: listening, with a full backlog */
		if (r == 0 || errno == EAGAIN || errno == EINPROGRESS) {
			close(s);
			return 1;
		}
		close(s);
	}
	return 0;
}

/* ---- the library ------------------------------------------------------ */

/* Look up sym under one of the known versions; NULL if none has it. */
static void *
mpath_sym(void *h, const char *sym, const char **version)
{
	static const char *const versions[] = { MPATH_ABI_VERSIONS };
	void *p;

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		if ((p = dlvsym(h, sym, versions[i])) != NULL) {
			if (version != NULL)
				*version = versions[i];
			return p;
		}
	}
	return NULL;
}

/* Log, at -v, which library was loaded. */
static void
mpath_lib_log(const struct mpath_lib *l)
{
	int (*get_version)(int, unsigned[3]);
	unsigned v[3] = { 0, 0, 0 };
	char tools[48] = "";
	Dl_info info;

	if (log_get_verbosity() < 2)
		return;
	/* libmultipath's own version call (3: multipath-tools itself),
	 * present since 0.8.4; only for this message. */
	*(void **)&get_version = dlsym(l->handle, "libmp_get_version");
	if (get_version != NULL && get_version(3, v) == 0)
		snprintf(tools, sizeof(tools), ", multipath-tools %u.%u.%u",
		    v[0], v[1], v[2]);
	if (dladdr(*(void **)&l->in, &info) == 0 || info.dli_fname == NULL)
		info.dli_fname = MPATH_LIBRARY;
	log_info("multipath: loaded %s (%s%s)", info.dli_fname, l->version,
	    tools);
}

/* Load and initialise the library into mp_lib: 0 or a negative errno
 * with mp_lib_why set.  Holder of the token only. */
static int
mpath_lib_load(void)
{
	struct mpath_lib l = { 0 };
	const char *missing = NULL;

	l.handle = dlopen(MPATH_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (l.handle == NULL) {
		snprintf(mp_lib_why, sizeof(mp_lib_why),
		    "cannot load " MPATH_LIBRARY
		    " (%s): is multipath-tools installed?",
		    dlerror());
		return -ENOENT;
	}
	*(void **)&l.init = mpath_sym(l.handle, "libmpathpersist_init",
	    &l.version);
	*(void **)&l.exit = mpath_sym(l.handle, "libmpathpersist_exit", NULL);
	*(void **)&l.in = mpath_sym(l.handle, "mpath_persistent_reserve_in",
	    NULL);
	*(void **)&l.out = mpath_sym(l.handle, "mpath_persistent_reserve_out",
	    NULL);
	l.mx_alloc_len = mpath_sym(l.handle, "mpath_mx_alloc_len", NULL);
	if (l.init == NULL)
		missing = "libmpathpersist_init";
	else if (l.exit == NULL)
		missing = "libmpathpersist_exit";
	else if (l.in == NULL)
		missing = "mpath_persistent_reserve_in";
	else if (l.out == NULL)
		missing = "mpath_persistent_reserve_out";
	else if (l.mx_alloc_len == NULL)
		missing = "mpath_mx_alloc_len";
	if (missing != NULL) {
		snprintf(mp_lib_why, sizeof(mp_lib_why),
		    MPATH_LIBRARY
		    " has no %s of a known version (%s ...): "
		    "a symbol-versioned libmpathpersist is needed",
		    missing, "LIBMPATHPERSIST_2.1.0");
		dlclose(l.handle);
		return -ENOSYS;
	}
	if (l.init() != 0) {
		snprintf(mp_lib_why, sizeof(mp_lib_why),
		    "libmpathpersist_init() failed (is /etc/multipath.conf "
		    "valid?)");
		return -EIO;
	}
	*l.mx_alloc_len = PRH_DATA_MAX; /* whole key lists, as QEMU */
	mp_lib = l;
	mpath_lib_log(&l);
	return 0;
}

/* Make sure the library is loaded: 0, or a negative errno with
 * mp_lib_why set.  Holder of the token only. */
static int
mpath_lib_ready(void)
{
	int r;

	switch (mp_lib_state) {
	case MPATH_LIB_READY:
		return 0;
	case MPATH_LIB_BROKEN:
		return -EIO;
	case MPATH_LIB_NONE:
		break;
	}
	if (mp_lib_retry != 0 && mpath_now() < mp_lib_retry)
		return -ENOENT;
	r = mpath_lib_load();
	if (r == 0)
		mp_lib_state = MPATH_LIB_READY;
	else if (r == -EIO)
		mp_lib_state = MPATH_LIB_BROKEN; /* init is not repeatable */
	else
		mp_lib_retry = mpath_now() + MPATH_RETRY_S;
	return r;
}

/* Wait for the library token at most timeout_ms: 0, -EBUSY (too many
 * waiting), -ETIMEDOUT or -ECANCELED (draining). */
static int
mpath_acquire(unsigned timeout_ms)
{
	struct timespec dl;
	unsigned max_wait;
	int r = 0;

	pthread_once(&mp_once, mpath_once);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mp_lock);
	max_wait = mp_opts.max_workers > 0 ? mp_opts.max_workers - 1 : 0;
	if (mp_draining)
		r = -ECANCELED;
	else if (mp_busy && mp_waiting >= max_wait)
		r = -EBUSY;
	if (r == 0) {
		mp_waiting++;
		while (mp_busy && !mp_draining && r == 0)
			r = -pthread_cond_timedwait(&mp_cond, &mp_lock, &dl);
		mp_waiting--;
		if (mp_draining)
			r = -ECANCELED;
		else if (!mp_busy)
			r = 0; /* got it at the deadline after all */
		if (r == 0)
			mp_busy = true;
	}
	if (r < 0)
		mp_busy_answers++;
	pthread_mutex_unlock(&mp_lock);
	return r;
}

/* Give the library token back; called counts a library call made. */
static void
mpath_release(bool called)
{
	pthread_mutex_lock(&mp_lock);
	mp_calls += called;
	mp_loaded = mp_lib_state == MPATH_LIB_READY; /* we hold the token */
	mp_busy = false;
	pthread_cond_signal(&mp_cond);
	pthread_mutex_unlock(&mp_lock);
}

/* Replace res by a TEST UNIT READY's outcome on fd if that fails: the
 * real sense behind a sense-class library result, as QEMU's multipath
 * mode does, or behind the kernel's bare CHECK CONDITION. */
void
mpath_tur(int fd, unsigned timeout_ms, struct scsi_result *res)
{
	uint8_t cdb[PRH_CDB_LEN] = { 0 }; /* TEST UNIT READY */
	struct scsi_result t;
	struct sg_io_hdr hdr;
	int r;

	memset(&t, 0, sizeof(t));
	memset(&hdr, 0, sizeof(hdr));
	hdr.interface_id = 'S';
	hdr.cmd_len = MPATH_TUR_LEN;
	hdr.cmdp = cdb;
	hdr.mx_sb_len = PRH_SENSE_LEN;
	hdr.sbp = t.sense;
	hdr.dxfer_direction = SG_DXFER_NONE;
	hdr.timeout = timeout_ms;
	do {
		r = ioctl(fd, SG_IO, &hdr);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		scsi_result_from_errno(&t, errno);
	else
		scsi_result_from_sgio(&t, hdr.host_status, hdr.driver_status,
		    hdr.status, 0, 0, 0, 0);
	if (t.status != PRH_STATUS_GOOD)
		*res = t;
}

/* Call the library for one translated command (holder of the token). */
static int
mpath_call(int fd, int sa, struct mpath_abi_prin_resp *resp,
    const struct mpath_prout *out)
{
	int level = log_get_verbosity();
	int verbose = level < MPATH_MAX_VERBOSE ? level : MPATH_MAX_VERBOSE;
	int noisy = level >= MPATH_MAX_VERBOSE;

	if (out == NULL)
		return mp_lib.in(fd, sa, resp, noisy, verbose);
	return mp_lib.out(fd, out->sa, out->scope, out->type, out->param, noisy,
	    verbose);
}

/* Whether multipathd listens on one of its sockets. */
static bool
mpath_multipathd_up(void)
{
	static const char *const sockets[] = { MPATH_MULTIPATHD_SOCKETS };

	return mpath_multipathd_reachable(sockets,
	    sizeof(sockets) / sizeof(sockets[0]));
}

/* Take the library token if it is free, without waiting: whether it
 * was taken. */
static bool
mpath_try_acquire(void)
{
	bool got = false;

	pthread_once(&mp_once, mpath_once);
	pthread_mutex_lock(&mp_lock);
	if (!mp_busy && !mp_draining)
		got = mp_busy = true;
	pthread_mutex_unlock(&mp_lock);
	return got;
}

/* Whether the library can serve commands, loading it if it is not yet
 * (blocking): 0, or a negative errno and why.  A token another command
 * holds counts as usable: mpath_execute() waits for it. */
static int
mpath_lib_usable(char *why, size_t n)
{
	bool loaded;
	int r;

	pthread_mutex_lock(&mp_lock);
	loaded = mp_loaded;
	pthread_mutex_unlock(&mp_lock);
	if (loaded || !mpath_try_acquire())
		return 0;
	r = mpath_lib_ready();
	if (r < 0)
		snprintf(why, n, "libmpathpersist cannot be used: %s",
		    mp_lib_why);
	mpath_release(false);
	return r;
}

/* --multipath=auto's backend for a map probed as probe, and why. */
static enum mpath_backend
mpath_choose_auto(int probe, char *why, size_t n)
{
	if (geteuid() != 0) {
		snprintf(why, n, "the helper is not uid 0");
		return MPATH_BACKEND_KERNEL;
	}
	if (!mpath_multipathd_up()) {
		snprintf(why, n, "multipathd does not answer");
		return MPATH_BACKEND_KERNEL;
	}
	if (probe < 0) {
		snprintf(why, n,
		    "device-mapper cannot be asked about the map (%s)",
		    strerror(-probe));
		return MPATH_BACKEND_KERNEL;
	}
	if (mpath_lib_usable(why, n) < 0)
		return MPATH_BACKEND_KERNEL;
	snprintf(why, n, "multipathd answers");
	return MPATH_BACKEND_LIBRARY;
}

/* The backend for a multipath map's command.  See mpath.h. */
enum mpath_backend
mpath_choose(int probe, char *why, size_t n)
{
	if (n > 0)
		why[0] = '\0';
	switch (mpath_mode()) {
	case MPATH_MODE_ON:
		return MPATH_BACKEND_LIBRARY;
	case MPATH_MODE_KERNEL:
		return MPATH_BACKEND_KERNEL;
	case MPATH_MODE_AUTO:
		return mpath_choose_auto(probe, why, n);
	case MPATH_MODE_OFF:
		break;
	}
	return MPATH_BACKEND_NONE;
}

/* Name of a backend. */
const char *
mpath_backend_name(enum mpath_backend b)
{
	switch (b) {
	case MPATH_BACKEND_LIBRARY:
		return "libmpathpersist";
	case MPATH_BACKEND_KERNEL:
		return "kernel";
	default:
		return "none";
	}
}

/* Run one command through the library.  See mpath.h. */
void
mpath_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, unsigned timeout_ms, struct scsi_result *res)
{
	struct mpath_abi_prin_resp *resp = NULL;
	struct mpath_prout *out = NULL;
	int sa = 0, code, r;

	if (cdb[0] == PRH_OP_PR_IN) {
		if ((sa = mpath_xlate_in(cdb, res)) < 0)
			return;
		resp = calloc(1, sizeof(*resp));
	} else {
		out = calloc(1, sizeof(*out));
		if (out != NULL &&
		    (out->param = calloc(1, MPATH_PROUT_PARAM_SIZE)) == NULL) {
			free(out);
			out = NULL;
		}
	}
	if (resp == NULL && out == NULL) {
		scsi_result_check(res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
		return;
	}
	if (out != NULL && mpath_xlate_out(cdb, data, len, out, res) < 0)
		goto done;
	if (geteuid() != 0) {
		mpath_refuse("the helper does not run as uid 0 (-u): "
			     "libmpathpersist opens the path devices and "
			     "multipathd takes keys from root only",
		    res);
		goto done;
	}
	/* Without multipathd, paths that come back or are added would never
	 * get the key: refuse to change reservations at all. */
	if (out != NULL && !mpath_multipathd_up()) {
		mpath_refuse("multipathd is not running (no listener on "
			     "/run/multipathd.socket or "
			     "@/org/kernel/linux/storage/multipathd)",
		    res);
		goto done;
	}
	if ((r = mpath_acquire(timeout_ms)) < 0) {
		/* Not sent anywhere: the client may retry. */
		log_debug("multipath: library busy (%s): answering BUSY",
		    strerror(-r));
		scsi_result_status(res, PRH_STATUS_BUSY);
		goto done;
	}
	if (mpath_lib_ready() < 0) {
		char why[MPATH_WHY_LEN];

		memcpy(why, mp_lib_why, sizeof(why));
		mpath_release(false);
		mpath_refuse(why, res);
		goto done;
	}
	code = mpath_call(fd, sa, resp, out);
	mpath_release(true);
	mpath_report(NULL);
	log_debug("multipath: PR %s service action %d: %s (%d)",
	    out == NULL ? "IN" : "OUT", out == NULL ? sa : out->sa,
	    mpath_xlate_result_name(code), code);
	if (code == MPATH_ABI_SUCCESS && resp != NULL)
		mpath_xlate_in_data(sa, resp, len, data, res);
	else if (mpath_xlate_result(code, res))
		mpath_tur(fd, timeout_ms, res);
done:
	if (out != NULL)
		free(out->param);
	free(out);
	free(resp);
}

/* Start-up: settings, control node, and for --multipath=on the library. */
int
mpath_init(const struct mpath_opts *opts)
{
	int r = 0;

	pthread_once(&mp_once, mpath_once);
	pthread_mutex_lock(&mp_lock);
	mp_opts = *opts;
	pthread_mutex_unlock(&mp_lock);
	if (opts->mode == MPATH_MODE_OFF)
		return 0;
	pthread_mutex_lock(&mp_ctl_lock);
	mpath_ctl_open_locked();
	r = mp_ctl_err;
	pthread_mutex_unlock(&mp_ctl_lock);
	if (opts->mode != MPATH_MODE_ON)
		return 0;
	if (r < 0) {
		log_err("--multipath=on: cannot open " MPATH_CONTROL ": %s",
		    strerror(-r));
		return r;
	}
	if (geteuid() != 0) {
		log_err(
		    "--multipath=on: multipath needs uid 0 (libmpathpersist "
		    "opens the path devices, multipathd takes keys from "
		    "root only)");
		return -EPERM;
	}
	if ((r = mpath_acquire(0)) == 0) {
		r = mpath_lib_ready();
		mpath_release(false);
	}
	if (r < 0)
		log_err("--multipath=on: %s", mp_lib_why);
	return r;
}

/* Whether to keep CAP_SYS_ADMIN for mode. */
bool
mpath_wants_admin(enum mpath_mode mode)
{
	if (mode == MPATH_MODE_ON)
		return true;
	return (mode == MPATH_MODE_AUTO || mode == MPATH_MODE_KERNEL) &&
	    access(MPATH_CONTROL, F_OK) == 0;
}

/* The configured mode. */
enum mpath_mode
mpath_mode(void)
{
	enum mpath_mode m;

	pthread_mutex_lock(&mp_lock);
	m = mp_opts.mode;
	pthread_mutex_unlock(&mp_lock);
	return m;
}

/* Copy the counts. */
void
mpath_get_stats(struct mpath_stats *st)
{
	pthread_mutex_lock(&mp_lock);
	st->in_library = mp_busy;
	st->waiting = mp_waiting;
	st->calls = mp_calls;
	st->busy_answers = mp_busy_answers;
	st->loaded = mp_loaded;
	pthread_mutex_unlock(&mp_lock);
}

/* Shutdown: waiting commands give up. */
void
mpath_drain(void)
{
	pthread_once(&mp_once, mpath_once);
	pthread_mutex_lock(&mp_lock);
	mp_draining = true;
	pthread_cond_broadcast(&mp_cond);
	pthread_mutex_unlock(&mp_lock);
}

/* Exit: release the library if idle, close the control node. */
void
mpath_shutdown(void)
{
	bool idle;

	mpath_drain();
	pthread_mutex_lock(&mp_lock);
	idle = !mp_busy;
	mp_busy = true; /* nobody starts a call from now on */
	pthread_mutex_unlock(&mp_lock);
	if (idle && mp_lib_state == MPATH_LIB_READY) {
		mp_lib.exit();
		mp_lib_state = MPATH_LIB_BROKEN;
	}
	pthread_mutex_lock(&mp_ctl_lock);
	if (mp_ctl_fd >= 0)
		close(mp_ctl_fd);
	mp_ctl_fd = -1;
	mp_ctl_err = -ENOENT;
	pthread_mutex_unlock(&mp_ctl_lock);
}
