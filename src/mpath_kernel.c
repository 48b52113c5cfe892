/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel multipath mode (see mpath_kernel.h): PR OUT through the
 * block layer's persistent-reservation ioctls on the map (translated in
 * mpath_kernel_xlate.c), PR IN by SG_IO.  A CHECK CONDITION, whose sense
 * the ioctls do not return, is refined by a TEST UNIT READY as the
 * libmpathpersist mode does.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>

#include "prh/device.h"
#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/mpath_kernel.h"

/* The real ioctl. */
static int
mpath_kernel_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

static const struct mpath_kernel_ops mk_real = { mpath_kernel_ioctl,
	mpath_tur };
static struct mpath_kernel_ops mk_ops = { mpath_kernel_ioctl, mpath_tur };
static atomic_bool mk_eperm_logged;

/* Replace the calls (tests). */
void
mpath_kernel_set_ops(const struct mpath_kernel_ops *ops)
{
	mk_ops = ops != NULL ? *ops : mk_real;
}

/* Log once that the kernel refuses the helper the ioctls. */
static void
mpath_kernel_eperm(void)
{
	if (atomic_exchange(&mk_eperm_logged, true))
		return;
	log_warn("multipath (kernel mode): the kernel refuses the "
		 "persistent-reservation ioctls (EPERM): Linux before 6.5 "
		 "needs CAP_SYS_ADMIN; answering ILLEGAL REQUEST 20/00");
}

/* Run one command on a map.  See mpath_kernel.h. */
void
mpath_kernel_execute(int fd, const uint8_t cdb[PRH_CDB_LEN], uint8_t *data,
    uint32_t len, const struct sgio_opts *opts, struct scsi_result *res,
    struct sgio_ua *ua)
{
	struct mpath_kernel_req k;
	int r, err = 0;

	if (cdb[0] == PRH_OP_PR_IN) {
		sgio_execute(fd, cdb, data, len, opts, res, ua);
		return;
	}
	/* The kernel lets a caller without CAP_SYS_ADMIN reserve only
	 * through an fd open for writing (not O_RDONLY, not access mode
	 * 3); the helper may hold CAP_SYS_ADMIN, which must not lift that
	 * for its client. */
	if (!device_fd_writable(fd)) {
		scsi_result_check(res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (mpath_kernel_xlate(cdb, data, len, &k, res) < 0)
		return;
	do {
		r = mk_ops.pr_ioctl(fd, k.ioctl, &k.u);
		err = r < 0 ? errno : 0;
	} while (r < 0 && err == EINTR);
	if (r < 0 && err == EPERM)
		mpath_kernel_eperm();
	log_debug("multipath (kernel mode): ioctl 0x%lx: %d (%s)", k.ioctl, r,
	    r < 0 ? strerror(err) : "status");
	if (mpath_kernel_result(r, err, res))
		mk_ops.tur(fd, opts->timeout_ms, res);
}
