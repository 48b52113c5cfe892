/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One command on a worker: device policy, SG_IO (see cmd.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "prh/closer.h"
#include "prh/cmd.h"
#include "prh/escape.h"
#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/mpath_kernel.h"
#include "prh/prpolicy.h"
#include "prh/sgio.h"
#include "prh/trace.h"

/* Close the device fd, if open, here or by the closer, and take it off
 * the count of fds held for requests (any thread: the count is
 * atomic). */
void
cmd_close_devfd(struct cmd *cmd, struct closer *closer)
{
	if (cmd->devfd < 0)
		return;
	if (closer != NULL)
		closer_close(closer, cmd->devfd, cmd->client);
	else
		close(cmd->devfd);
	cmd->devfd = -1;
	if (cmd->fd_count != NULL) {
		atomic_fetch_sub(cmd->fd_count, 1);
		cmd->fd_count = NULL;
	}
}

/* Note which backend serves the map.  See cmd.h. */
void
cmd_note_mpath(struct device *dev, struct prh_stats *stats,
    enum mpath_backend b, const char *why)
{
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)];
	char wwid[ESCAPE_TEXT_SIZE(DEVICE_WWID_MAX)];
	int old = atomic_exchange(&dev->mpath_backend, (int)b);

	STATS_INC(stats->mpath_cmds[b]);
	if (old == (int)b)
		return;
	log_msg(LOG_NOTICE, "multipath: map %s (%s) served through %s%s%s%s",
	    escape_str(esc, sizeof(esc), dev->name, ESCAPE_WORD),
	    escape_str(wwid, sizeof(wwid), dev->wwid, ESCAPE_WORD),
	    b == MPATH_BACKEND_KERNEL ? "the kernel's PR ioctls"
				      : "libmpathpersist",
	    why[0] != '\0' ? " (" : "", why, why[0] != '\0' ? ")" : "");
}

/* Run an allowed command: a device-mapper multipath map through
 * libmpathpersist or the kernel's PR ioctls (every path gets a REGISTER,
 * mpath.c, mpath_kernel.c), unless --multipath=off; a map whose kind
 * device-mapper cannot tell as mpath.c answers it; anything else with
 * SG_IO, sent again after a unit attention (sgio.h; libmpathpersist and
 * the kernel do that themselves, on each path).  REPORT CAPABILITIES
 * comes back without SIP_C and ATP_C under the guest PR policy. */
static void
cmd_execute(struct cmd *cmd)
{
	struct sgio_opts o = { cmd->timeout_ms, cmd->ua_retries };
	enum mpath_backend b = MPATH_BACKEND_NONE;
	char why[MPATH_CHOICE_LEN];
	int mp = 0;

	if (cmd->verdict.kind == DEVICE_DM && mpath_mode() != MPATH_MODE_OFF)
		mp = mpath_probe(
		    makedev(cmd->dev->node.major, cmd->dev->node.minor));
	if (mp != 0)
		b = mpath_choose(mp, why, sizeof(why));
	/* device-mapper cannot be asked (no CAP_SYS_ADMIN): the kernel mode
	 * needs only sysfs to know a multipath map */
	if (mp < 0 && b == MPATH_BACKEND_KERNEL &&
	    mpath_probe_sysfs(
		makedev(cmd->dev->node.major, cmd->dev->node.minor)) == 1)
		mp = 1;
	if (mp <= 0)
		b = MPATH_BACKEND_NONE;
	else if (b != MPATH_BACKEND_NONE)
		cmd_note_mpath(cmd->dev, cmd->stats, b, why);
	if (b == MPATH_BACKEND_LIBRARY)
		mpath_execute(cmd->devfd, cmd->cdb, cmd->data, cmd->req.len,
		    cmd->timeout_ms, &cmd->res);
	else if (b == MPATH_BACKEND_KERNEL)
		mpath_kernel_execute(cmd->devfd, cmd->cdb, cmd->data,
		    cmd->req.len, &o, &cmd->res, &cmd->ua);
	else if (mp < 0)
		mpath_unavailable(mp, &cmd->res);
	else
		sgio_execute(cmd->devfd, cmd->cdb, cmd->data, cmd->req.len, &o,
		    &cmd->res, &cmd->ua);
	/* Whatever the backend, a guest is not told what it may not use. */
	if (!cmd->guest_pr_off)
		(void)prpolicy_mask_caps(&cmd->req, cmd->data, &cmd->res);
}

/* Worker thread: decide whether the device may be sent SG_IO (sysfs,
 * every time a node may name another device than before: a whole disk's
 * verdict is kept with the device for its disk sequence number), run
 * the command or answer it as SG_IO failing with ENOTTY would be, and
 * close the device fd.  The loop thread counts and sends the reply. */
void
cmd_run(struct pool_job *job)
{
	struct cmd *cmd = (struct cmd *)job;
	uint64_t t0 = trace_now_ns();
	char esc[ESCAPE_TEXT_SIZE(DEVICE_NAME_MAX)]; /* the trace's */

	cmd->ua.n = 0;
	device_check_held(cmd->dev,
	    cmd->dev->has_diskseq ? device_diskseq_of_fd(cmd->devfd) : 0,
	    &cmd->verdict);
	if (cmd->verdict.kind == DEVICE_REFUSED) {
		scsi_result_from_errno(&cmd->res, ENOTTY); /* no ioctl */
		STATS_INC(cmd->stats->refused_fds);
	} else {
		/* The registry's name for it may be out of date. */
		if (strcmp(cmd->verdict.unit, cmd->dev->unit) != 0)
			atomic_store(&cmd->dev->stale, true);
		cmd_execute(cmd);
	}
	for (unsigned i = 0; i < cmd->ua.n; i++)
		stats_count_ua(cmd->stats, cmd->ua.code[i]);
	cmd->device_ns = trace_now_ns() - t0;
	atomic_fetch_add_explicit(&cmd->stats->busy_ns, cmd->device_ns,
	    memory_order_relaxed);
	if (cmd->latency != NULL)
		latency_observe(cmd->latency, cmd->device_ns);
	TRACE(TP_SGIO_DONE,
	    "cmd=%p fd=%d device=%s devno=%u:%u opcode=0x%02x sa=%u "
	    "status=0x%02x host=0x%02x driver=0x%02x sense=%02x/%02x/%02x "
	    "size=%u duration_us=%llu ua_retried=%u",
	    (void *)cmd, cmd->devfd,
	    escape_str(esc, sizeof(esc), cmd->dev->name, ESCAPE_WORD),
	    cmd->dev->node.major, cmd->dev->node.minor, cmd->req.opcode,
	    cmd->req.service_action, cmd->res.status, cmd->res.host_status,
	    cmd->res.driver_status, cmd->res.sense[2] & 0x0f,
	    cmd->res.sense[12], cmd->res.sense[13], cmd->res.size,
	    (unsigned long long)(cmd->device_ns / 1000), cmd->ua.n);
	cmd_close_devfd(cmd, NULL);
}
