/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Privilege dropping with libcap (see priv.h): only CAP_SYS_RAWIO (and
 * CAP_SYS_ADMIN for multipath) survive; an unprivileged start goes on
 * with a warning, and -u/-g without the right to change ids is an
 * error. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/priv.h"

/* What the process may do before the drop, and what it asked for. */
struct priv_plan {
	bool rawio;	  /* CAP_SYS_RAWIO permitted: keep it */
	bool admin;	  /* keep CAP_SYS_ADMIN too (multipath) */
	bool setpcap;	  /* may empty the bounding set */
	bool setgid;	  /* may drop supplementary groups */
	bool clear_bound; /* the bounding set is emptied */
	bool drop_groups; /* supplementary groups are dropped */
	bool change_ids;  /* -u/-g differ from the current ids */
	uid_t uid;	  /* target ids */
	gid_t gid;
};

/* Whether cap is in set flag of caps. */
static bool
priv_has(cap_t caps, cap_value_t cap, cap_flag_t flag)
{
	cap_flag_value_t v = CAP_CLEAR;

	return cap_get_flag(caps, cap, flag, &v) == 0 && v == CAP_SET;
}

/* Make the effective set equal the permitted set, and look at it. */
static int
priv_survey(const struct prh_config *cfg, struct priv_plan *p)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	cap_t caps = cap_get_proc();

	if (caps == NULL)
		return -errno;
	for (cap_value_t c = 0; c < cap_max_bits(); c++) {
		cap_value_t one[1] = { c };

		if (priv_has(caps, c, CAP_PERMITTED))
			cap_set_flag(caps, CAP_EFFECTIVE, 1, one, CAP_SET);
	}
	(void)cap_set_proc(caps);
	p->rawio = priv_has(caps, CAP_SYS_RAWIO, CAP_PERMITTED);
	p->setpcap = priv_has(caps, CAP_SETPCAP, CAP_PERMITTED);
	p->setgid = priv_has(caps, CAP_SETGID, CAP_PERMITTED);
	p->admin = priv_has(caps, CAP_SYS_ADMIN, CAP_PERMITTED);
	cap_free(caps);

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	p->uid = cfg->user != NULL ? cfg->uid : eu;
	p->gid = cfg->gid_set ? cfg->gid : eg;
	p->change_ids = ru != p->uid || eu != p->uid || su != p->uid ||
	    rg != p->gid || eg != p->gid || sg != p->gid;
	/* The DM ioctls that tell a multipath map need CAP_SYS_ADMIN; the
	 * library works only as uid 0 (doc/security.md). */
	p->admin = p->admin && p->uid == 0 && mpath_wants_admin(cfg->multipath);
	p->clear_bound = p->setpcap;
	p->drop_groups = p->setgid;
	return 0;
}

/* Empty the bounding set and the ambient set. */
static int
priv_clear_bound(const struct priv_plan *p)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	if (!p->clear_bound)
		return 0;
	for (cap_value_t c = 0; c < cap_max_bits(); c++)
		if (cap_get_bound(c) > 0 && cap_drop_bound(c) < 0)
			return -errno;
	return 0;
}

/* Drop supplementary groups and switch ids, keeping capabilities. */
static int
priv_switch_ids(const struct priv_plan *p)
{
	int r = 0;

	if (p->drop_groups && setgroups(0, NULL) < 0)
		return -errno;
	if (!p->change_ids)
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0)
		r = -errno;
	(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return r;
}

/* Set the final capabilities: CAP_SYS_RAWIO and, for multipath,
 * CAP_SYS_ADMIN, of those the process has; or nothing. */
static cap_t
priv_wanted(const struct priv_plan *p)
{
	cap_value_t keep[2];
	cap_t caps = cap_init();
	int n = 0;

	if (p->rawio)
		keep[n++] = CAP_SYS_RAWIO;
	if (p->admin)
		keep[n++] = CAP_SYS_ADMIN;
	if (caps != NULL && n > 0 &&
	    (cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET) < 0 ||
		cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET) < 0)) {
		cap_free(caps);
		return NULL;
	}
	return caps;
}

/* Read everything back: 0 or -EPERM with what differs logged. */
static int
priv_verify(const struct priv_plan *p, cap_t want)
{
	cap_t have = cap_get_proc();
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int r = 0;

	if (have == NULL || cap_compare(have, want) != 0) {
		log_err("Failed to drop privileges: capabilities are not "
			"what was set");
		r = -EPERM;
	}
	cap_free(have);
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	if (ru != p->uid || eu != p->uid || su != p->uid || rg != p->gid ||
	    eg != p->gid || sg != p->gid) {
		log_err("Failed to drop privileges: ids are %u/%u, wanted "
			"%u/%u",
		    (unsigned)eu, (unsigned)eg, (unsigned)p->uid,
		    (unsigned)p->gid);
		r = -EPERM;
	}
	if (p->drop_groups && getgroups(0, NULL) != 0) {
		log_err("Failed to drop privileges: supplementary groups "
			"remain");
		r = -EPERM;
	}
	for (cap_value_t c = 0; c < cap_max_bits(); c++) {
		if ((p->clear_bound && cap_get_bound(c) > 0) ||
		    cap_get_ambient(c) > 0) {
			log_err("Failed to drop privileges: capability %d "
				"remains in the bounding or ambient set",
			    (int)c);
			r = -EPERM;
			break;
		}
	}
	return r;
}

/* Drop privileges as configured; see priv.h. */
int
priv_drop(const struct prh_config *cfg)
{
	struct priv_plan p = { 0 };
	cap_t want;
	int r;

	r = priv_survey(cfg, &p);
	if (r < 0) {
		log_err("Failed to drop privileges: %s", strerror(-r));
		return r;
	}
	if (!p.rawio)
		log_warn("CAP_SYS_RAWIO is not available: commands the kernel "
			 "filters for unprivileged callers will fail");
	if (!p.setpcap)
		log_info("no CAP_SETPCAP: the capability bounding set is "
			 "left as it is");
	r = priv_clear_bound(&p);
	if (r < 0) {
		log_err("Failed to drop privileges: bounding set: %s",
		    strerror(-r));
		return r;
	}
	r = priv_switch_ids(&p);
	if (r < 0) {
		log_err("Failed to drop privileges: cannot change to uid %u "
			"gid %u: %s",
		    (unsigned)p.uid, (unsigned)p.gid, strerror(-r));
		return r;
	}
	want = priv_wanted(&p);
	if (want == NULL || cap_set_proc(want) < 0) {
		r = -errno;
		log_err("Failed to drop privileges: %s", strerror(-r));
		cap_free(want);
		return r;
	}
	r = priv_verify(&p, want);
	cap_free(want);
	if (r == 0)
		log_info(
		    "privileges dropped: uid %u gid %u, CAP_SYS_RAWIO %s%s",
		    (unsigned)p.uid, (unsigned)p.gid,
		    p.rawio ? "kept" : "absent",
		    p.admin ? ", CAP_SYS_ADMIN kept (multipath)" : "");
	return r;
}
