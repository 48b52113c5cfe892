/* SPDX-License-Identifier: GPL-2.0-or-later */
/* no_new_privs and the seccomp filter (see sandbox.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include <sys/ioctl.h>

#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <linux/pr.h>
#include <scsi/sg.h>

#ifdef HAVE_LIBSECCOMP
#include <seccomp.h>
#endif

#include "prh/log.h"
#include "prh/sandbox.h"

#define SANDBOX_NR_MAX 1024 /* system call numbers tracked */

/* Calls refused: set by the SIGSYS handler, cleared when logged. */
static atomic_bool sandbox_denied[SANDBOX_NR_MAX];
static atomic_bool sandbox_pending;

#ifdef HAVE_LIBSECCOMP

/* The system calls the helper makes after start-up: the event loop,
 * sockets and notifications (the journal's too), the workers (threads
 * started on demand; glibc installs its own signal handlers lazily), sysfs
 * reads of the device policy, /proc reads naming peers, the metrics file,
 * and exit. */
/* clang-format off */
static const char *const sandbox_calls[] = {
	/* memory, threads, signals, time */
	"brk", "mmap", "munmap", "mprotect", "madvise", "mremap", "futex",
	"set_robust_list", "rseq", "clone", "clone3", "exit", "exit_group",
	"gettid", "getpid", "sched_yield", "sched_getaffinity", "nanosleep",
	"clock_nanosleep", "clock_gettime", "gettimeofday", "getrandom",
	"rt_sigprocmask", "rt_sigreturn", "rt_sigaction", "sigaltstack",
	"restart_syscall", "prlimit64", "getrlimit", "uname",
	/* the event loop and the signalfd */
	"epoll_wait", "epoll_pwait", "epoll_ctl", "epoll_create1", "eventfd2",
	"signalfd4", "timerfd_create", "timerfd_settime", "poll", "ppoll",
	/* sockets: clients, sd_notify, syslog */
	"accept", "accept4", "recvmsg", "sendmsg", "recvfrom", "sendto",
	"getsockopt", "setsockopt", "socket", "connect", "shutdown",
	/* files: fds, sysfs, the trace file, clean-up at exit */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close",
	"fcntl", "statx", "fstat", "newfstatat", "lseek", "openat", "open",
	"readlink", "readlinkat", "access", "faccessat", "faccessat2",
	"getdents64", "unlink", "unlinkat", "dup", "dup3",
	/* the metrics file: written afresh, then renamed over the old one */
	"fchmod", "rename", "renameat", "renameat2",
	/* file locks: the LUN simulator's SG_IO runs in the helper's own
	 * process (LD_PRELOAD) and locks the simulated LUN */
	"flock",
	/* ids, for messages */
	"getuid", "geteuid", "getgid", "getegid",
	NULL,
};

/* The calls made for every command, put first in the filter. */
static const char *const sandbox_hot[] = {
	"recvmsg", "sendmsg", "statx", "close", "epoll_wait", "fcntl",
	"futex", "ioctl", "read", "write",
	NULL,
};

/* What libmpathpersist adds, when multipath mode may be used: file
 * system checks and its configuration directory, the alarm() around its
 * prkeys lock, liburcu's membarrier, libdevmapper's semaphores. */
static const char *const sandbox_mpath_calls[] = {
	"fstatfs", "statfs", "mkdir", "alarm", "membarrier", "semget",
	"semctl", "semop", "semtimedop",
	NULL,
};

/* The device-mapper ioctls the multipath mode sends, on
 * /dev/mapper/control: queries only, nothing that changes a map. */
static const unsigned long sandbox_dm_ioctls[] = {
	DM_VERSION, DM_LIST_DEVICES, DM_DEV_STATUS, DM_TABLE_STATUS,
	DM_LIST_VERSIONS,
};

/* The persistent-reservation ioctls the kernel multipath mode sends on a
 * client's map (mpath_kernel.c): nothing else of linux/pr.h. */
static const unsigned long sandbox_pr_ioctls[] = {
	IOC_PR_REGISTER, IOC_PR_RESERVE, IOC_PR_RELEASE, IOC_PR_PREEMPT,
	IOC_PR_PREEMPT_ABORT, IOC_PR_CLEAR,
};
/* clang-format on */

/* SIGSYS from the filter: make the call return EPERM and note it. */
static void
sandbox_sigsys(int sig, siginfo_t *si, void *uc_arg)
{
	ucontext_t *uc = uc_arg;
	int nr = si->si_syscall;

	(void)sig;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#else
	(void)uc;
#endif
	if (nr >= 0 && nr < SANDBOX_NR_MAX)
		atomic_store(&sandbox_denied[nr], true);
	atomic_store(&sandbox_pending, true);
}

/* The action for calls outside the filter. */
static uint32_t
sandbox_default_action(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
	return SCMP_ACT_TRAP;
#else
	return SCMP_ACT_ERRNO(EPERM);
#endif
}

/* Allow the named system calls: 0 or a negative errno. */
static int
sandbox_allow(scmp_filter_ctx ctx, const char *const *names)
{
	int r = 0, nr;

	for (int i = 0; names[i] != NULL && r == 0; i++) {
		nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	return r;
}

/* Allow ioctl with request req: 0 or a negative errno. */
static int
sandbox_allow_ioctl(scmp_filter_ctx ctx, unsigned long req)
{
	struct scmp_arg_cmp cmp = { .arg = 1,
		.op = SCMP_CMP_EQ,
		.datum_a = req,
		.datum_b = 0 };

	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    &cmp);
}

/* Allow ioctl with each of the n requests in reqs: 0 or a negative
 * errno. */
static int
sandbox_allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = sandbox_allow_ioctl(ctx, reqs[i]);
	return r;
}

/* Build and load the filter: 0 or a negative errno. */
static int
sandbox_load(bool mpath, bool pr_ioctls)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	ctx = seccomp_init(sandbox_default_action());
	if (ctx == NULL)
		return -ENOMEM;
	/* A binary tree of the allowed calls, the hot ones weighted first:
	 * every system call the helper makes runs through the filter. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (int i = 0; sandbox_hot[i] != NULL; i++) {
		int nr = seccomp_syscall_resolve_name(sandbox_hot[i]);

		if (nr != __NR_SCMP_ERROR)
			(void)seccomp_syscall_priority(ctx, nr, 255);
	}
	r = sandbox_allow(ctx, sandbox_calls);
	if (r == 0 && mpath)
		r = sandbox_allow(ctx, sandbox_mpath_calls);
	/* ioctl: SG_IO on any fd (the device policy decided where), and
	 * the disk sequence number the policy remembers verdicts by. */
	if (r == 0)
		r = sandbox_allow_ioctl(ctx, SG_IO);
	if (r == 0)
		r = sandbox_allow_ioctl(ctx, BLKGETDISKSEQ);
	if (r == 0 && mpath)
		r = sandbox_allow_ioctls(ctx, sandbox_dm_ioctls,
		    sizeof(sandbox_dm_ioctls) / sizeof(sandbox_dm_ioctls[0]));
	if (r == 0 && pr_ioctls)
		r = sandbox_allow_ioctls(ctx, sandbox_pr_ioctls,
		    sizeof(sandbox_pr_ioctls) / sizeof(sandbox_pr_ioctls[0]));
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

/* Log newly refused calls by name. */
void
sandbox_report(void)
{
	char *name;

	if (!atomic_exchange(&sandbox_pending, false))
		return;
	for (int nr = 0; nr < SANDBOX_NR_MAX; nr++) {
		if (!atomic_exchange(&sandbox_denied[nr], false))
			continue;
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		log_warn("seccomp: refused system call %s (%d) with EPERM",
		    name != NULL ? name : "?", nr);
		free(name);
	}
}

#else /* !HAVE_LIBSECCOMP */

/* Without libseccomp there is no filter to load. */
static int
sandbox_load(bool mpath, bool pr_ioctls)
{
	(void)mpath;
	(void)pr_ioctls;
	return -ENOSYS;
}

/* Nothing is ever refused. */
void
sandbox_report(void)
{
	(void)sandbox_denied;
	(void)sandbox_pending;
}

#endif

/* Set no_new_privs, then load the filter if asked to. */
int
sandbox_enter(bool enforce, bool mpath, bool pr_ioctls)
{
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		log_err("cannot set no_new_privs: %s", strerror(-r));
		return r;
	}
	if (!enforce)
		return 0;
	r = sandbox_load(mpath, pr_ioctls);
	if (r < 0) {
		log_err("cannot install the seccomp filter: %s", strerror(-r));
		return r;
	}
	return 0;
}
