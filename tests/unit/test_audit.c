/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the audit trail and what it is built from: the journal's
 * native encoding, the peer's name from its cgroup, SCSI in words, the
 * latency buckets, and the audit lines themselves with the client's share
 * of the log (an in-process audit trail on an event base, over a registry whose
 * sysfs is a tree of this test's own; the lines are read back from the
 * file stderr is pointed at).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "prh/audit.h"
#include "prh/cmd.h"
#include "prh/device.h"
#include "prh/journal.h"
#include "prh/latency.h"
#include "prh/log.h"
#include "prh/peer.h"
#include "prh/peerlog.h"
#include "prh/proto.h"
#include "prh/scsi_result.h"
#include "prh/scsi_text.h"
#include "prh/stats.h"
#include "prh/trace.h"

/* --- the journal's native encoding ---------------------------------------- */

Test(journal, plain_fields)
{
	struct journal_entry e;

	journal_entry_init(&e);
	cr_assert_eq(journal_add(&e, "MESSAGE", "hello world"), 0);
	cr_assert_eq(journal_addf(&e, "PRIORITY", "%d", 5), 0);
	cr_expect_eq(e.len, strlen("MESSAGE=hello world\nPRIORITY=5\n"));
	cr_expect_eq(memcmp(e.buf, "MESSAGE=hello world\nPRIORITY=5\n", e.len),
	    0);
	cr_expect_not(e.overflow);
}

Test(journal, newline_takes_the_binary_form)
{
	static const uint8_t want[] = { 'X', '\n', 3, 0, 0, 0, 0, 0, 0, 0, 'a',
		'\n', 'b', '\n' };
	struct journal_entry e;

	journal_entry_init(&e);
	cr_assert_eq(journal_add(&e, "X", "a\nb"), 0);
	cr_assert_eq(e.len, sizeof(want));
	cr_expect_eq(memcmp(e.buf, want, sizeof(want)), 0);
}

Test(journal, overflow_refuses_and_is_not_sent)
{
	static char big[1000];
	struct journal_entry e;
	int r = 0, n = 0;

	memset(big, 'v', sizeof(big) - 1);
	journal_entry_init(&e);
	while (r == 0 && n < 100) {
		r = journal_add(&e, "F", big);
		n++;
	}
	cr_expect_eq(r, -ENOSPC);
	cr_expect_eq(n, JOURNAL_ENTRY_MAX / (sizeof(big) + 2) + 1);
	cr_expect(e.overflow);
	cr_expect_eq(journal_add(&e, "SMALL", "x"), -ENOSPC);
	cr_expect_eq(journal_send(-1, &e), -EMSGSIZE);
}

/* --- the peer's name from its cgroup -------------------------------------- */

/* The kind and name peer_name_from_cgroup() gives text. */
static int
cg(const char *text, char *name)
{
	return peer_name_from_cgroup(text, NULL, name, PEER_NAME_MAX);
}

Test(peer, systemd_machine_scope_is_the_vm)
{
	char name[PEER_NAME_MAX];

	cr_expect_eq(cg("0::/machine.slice/machine-qemu\\x2d1\\x2dguest1.scope"
			"/libvirt/emulator\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "guest1");
	/* libvirt before 2.x: no domain id */
	cr_expect_eq(cg("0::/machine.slice/machine-qemu\\x2dweb.scope\n", name),
	    PEER_VM);
	cr_expect_str_eq(name, "web");
	/* a VM whose name has dashes and dots */
	cr_expect_eq(cg("0::/machine.slice/machine-qemu\\x2d12\\x2dmy\\x2ddb"
			".prod.scope\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "my-db.prod");
	/* libvirt's partition /machine/engineering/testing: sub-slices */
	cr_expect_eq(cg("0::/machine.slice/machine-engineering.slice/"
			"machine-engineering-testing.slice/"
			"machine-lxc\\x2d11111\\x2dcontainer1.scope\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "container1");
	/* cgroup v1 with systemd: name=systemd and the controllers */
	cr_expect_eq(cg("4:memory:/machine.slice/machine-qemu\\x2d2\\x2dv1vm"
			".scope/emulator\n1:name=systemd:/machine.slice/"
			"machine-qemu\\x2d2\\x2dv1vm.scope\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "v1vm");
	/* another machine of machined (systemd-nspawn): its own name */
	cr_expect_eq(cg("0::/machine.slice/machine-ct1.scope/payload\n", name),
	    PEER_VM);
	cr_expect_str_eq(name, "ct1");
}

Test(peer, libvirt_own_cgroup_is_the_vm)
{
	char name[PEER_NAME_MAX];

	cr_expect_eq(cg("0::/machine/qemu-3-db01.libvirt-qemu/emulator\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "db01");
	cr_expect_eq(cg("0::/machine/lxc-4-ct.libvirt-lxc\n", name), PEER_VM);
	cr_expect_str_eq(name, "ct");
	/* partitions, one escaped by libvirt (a controller's name first) */
	cr_expect_eq(cg("0::/machine/engineering.partition/_cpu.partition/"
			"qemu-5-web.libvirt-qemu/vcpu0\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "web");
}

Test(peer, top_unit_otherwise)
{
	char name[PEER_NAME_MAX];

	cr_expect_eq(cg("0::/system.slice/pacemaker.service\n", name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "pacemaker.service");
	cr_expect_eq(cg("0::/system.slice/system-getty.slice/"
			"getty@tty1.service\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "getty@tty1.service");
	cr_expect_eq(cg("0::/init.scope\n", name), PEER_UNIT);
	cr_expect_str_eq(name, "init.scope");
	cr_expect_eq(cg("0::/user.slice/user-1000.slice/session-3.scope\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "session-3.scope");
	/* a user's own units: the user's service manager, not what it
	 * named them */
	cr_expect_eq(cg("0::/user.slice/user-1000.slice/user@1000.service/"
			"app.slice/run-r1.scope\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "user@1000.service");
	cr_expect_eq(cg("0::/kubepods.slice/kubepods-pod1.slice/"
			"cri-containerd-ab12.scope\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "cri-containerd-ab12.scope");
	/* below a delegated container scope: the scope */
	cr_expect_eq(cg("0::/system.slice/docker-ab.scope/init.scope\n", name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "docker-ab.scope");
}

/* A delegated subtree: its owner makes any directory below it. */
Test(peer, delegated_subtree_names_no_vm)
{
	char name[PEER_NAME_MAX];

	/* systemd's delegation to a user: the user's manager */
	cr_expect_eq(cg("0::/user.slice/user-65534.slice/user@65534.service/"
			"machine.slice/machine-qemu\\x2d1\\x2dprod\\x2ddb"
			".scope\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "user@65534.service");
	cr_expect_eq(
	    cg("0::/user.slice/user-65534.slice/user@65534.service/"
	       "app.slice/x.service/machine/qemu-1-prod.libvirt-qemu\n",
		name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "user@65534.service");
	/* a directory delegated by hand, not a unit: nothing */
	cr_expect_eq(cg("0::/deleg/machine.slice/machine-qemu\\x2d1\\x2dprod"
			".scope\n",
			 name),
	    PEER_PROCESS);
	cr_expect_str_eq(name, "");
	cr_expect_eq(cg("0::/deleg/machine/qemu-1-prod.libvirt-qemu\n", name),
	    PEER_PROCESS);
	/* libvirt (without systemd) inside a container: the container */
	cr_expect_eq(cg("0::/kubepods.slice/kubepods-pod1.slice/"
			"cri-containerd-ab12.scope/machine/"
			"qemu-1-vm.libvirt-qemu/emulator\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "cri-containerd-ab12.scope");
	/* inside a machine's own delegated scope: that machine */
	cr_expect_eq(cg("0::/machine.slice/machine-ct1.scope/machine.slice/"
			"machine-qemu\\x2d1\\x2dprod.scope\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "ct1");
	/* on a v1 controller, below a user's delegated unit */
	cr_expect_eq(cg("4:memory:/user.slice/user-65534.slice/"
			"user@65534.service/machine/qemu-1-prod.libvirt-qemu\n"
			"1:name=systemd:/user.slice/user-65534.slice/"
			"user@65534.service/machine.slice/"
			"machine-qemu\\x2d1\\x2dprod.scope\n0::/\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "user@65534.service");
}

Test(peer, only_the_top_positions)
{
	char name[PEER_NAME_MAX];

	/* machine.slice only at the top */
	cr_expect_eq(cg("0::/other.slice/machine.slice/machine-qemu\\x2d1"
			"\\x2dvm.scope\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "machine-qemu-1-vm.scope");
	/* judged as the kernel shows it: an escaped '.' is no slice */
	cr_expect_eq(cg("0::/machine\\x2eslice/machine-qemu\\x2d1\\x2dvm"
			".scope\n",
			 name),
	    PEER_PROCESS);
	/* libvirt's "machine" only at the top, then only partitions */
	cr_expect_eq(cg("0::/x/machine/qemu-1-vm.libvirt-qemu\n", name),
	    PEER_PROCESS);
	cr_expect_eq(cg("0::/machine/other/qemu-1-vm.libvirt-qemu\n", name),
	    PEER_PROCESS);
	cr_expect_eq(cg("0::/machine/qemu-1-vm.scope\n", name), PEER_PROCESS);
	/* outside the helper's cgroup namespace: the top is not known */
	cr_expect_eq(cg("0::/../../machine.slice/machine-qemu\\x2d1\\x2dvm"
			".scope\n",
			 name),
	    PEER_PROCESS);
	cr_expect_eq(cg("0::/../system.slice/sshd.service\n", name),
	    PEER_PROCESS);
	cr_expect_str_eq(name, "");
}

/* The kind and name peer_name_from_cgroup() gives text beside hier. */
static int
cgh(const char *text, const char *hier, char *name)
{
	return peer_name_from_cgroup(text, hier, name, PEER_NAME_MAX);
}

Test(peer, lines_of_the_kernel_hierarchies_only)
{
	static const char hybrid[] =
	    "12:memory:/\n1:name=systemd:/system.slice/"
	    "qemu-pr-helper.service\n0::/system.slice/"
	    "qemu-pr-helper.service\n";
	/* A cgroup named "x\n5:memory:" (a newline in it) in a user's
	 * subtree, with machine/qemu-1-prod.libvirt-qemu inside it. */
	static const char forged[] = "0::/user.slice/user-1000.slice/"
				     "user@1000.service/x\n5:memory:/machine/"
				     "qemu-1-prod.libvirt-qemu\n";
	char name[PEER_NAME_MAX];

	cr_expect_eq(cgh(forged, NULL, name), PEER_VM); /* as it would be */
	cr_expect_eq(cgh(forged, "0::/system.slice/a.service\n", name),
	    PEER_PROCESS);
	cr_expect_str_eq(name, "");
	/* the same hierarchies as the helper's: read as before */
	cr_expect_eq(cgh("12:memory:/machine/qemu-2-vm2.libvirt-qemu\n"
			 "1:name=systemd:/\n0::/\n",
			 hybrid, name),
	    PEER_VM);
	cr_expect_str_eq(name, "vm2");
	cr_expect_eq(cgh("0::/system.slice/b.service", "0::/\n", name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "b.service");
	/* a line more, a line less, another hierarchy */
	cr_expect_eq(cgh("12:memory:/\n1:name=systemd:/\n0::/init.scope\n"
			 "0::/init.scope\n",
			 hybrid, name),
	    PEER_PROCESS);
	cr_expect_eq(cgh("1:name=systemd:/\n0::/init.scope\n", hybrid, name),
	    PEER_PROCESS);
	cr_expect_eq(cgh("12:cpu:/\n1:name=systemd:/\n0::/init.scope\n", hybrid,
			 name),
	    PEER_PROCESS);
	cr_expect_eq(cgh("12:memory:/\n1:name=systemd:/\n0::/init.scope\n",
			 hybrid, name),
	    PEER_UNIT);
}

Test(peer, v2_line_first_then_v1_name_systemd)
{
	char name[PEER_NAME_MAX];

	/* hybrid: the v2 line wins, wherever it is */
	cr_expect_eq(cg("12:name=systemd:/system.slice/a.service\n"
			"4:memory:/x\n0::/system.slice/b.service\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "b.service");
	/* v1 only: name=systemd */
	cr_expect_eq(cg("3:cpu:/c.service\n1:name=systemd:/system.slice/"
			"libvirtd.service\n",
			 name),
	    PEER_UNIT);
	cr_expect_str_eq(name, "libvirtd.service");
}

Test(peer, vm_on_any_line_first)
{
	char name[PEER_NAME_MAX];

	/* libvirt without systemd on a hybrid host: the v1 controllers name
	 * the VM, the v2 line is the root */
	cr_expect_eq(cg("12:memory:/machine/qemu-2-vm2.libvirt-qemu/emulator\n"
			"4:cpu,cpuacct:/machine/qemu-2-vm2.libvirt-qemu/"
			"emulator\n1:name=systemd:/\n0::/\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "vm2");
	/* a VM wins over a unit */
	cr_expect_eq(cg("0::/system.slice/x.service\n"
			"3:pids:/machine/qemu-1-a.libvirt-qemu\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "a");
}

Test(peer, nothing_named)
{
	char name[PEER_NAME_MAX] = "junk";

	cr_expect_eq(cg("0::/\n", name), PEER_PROCESS);
	cr_expect_str_eq(name, "");
	cr_expect_eq(cg("", name), PEER_PROCESS);
	cr_expect_eq(cg("garbage without colons", name), PEER_PROCESS);
	cr_expect_eq(cg("0::/docker/0123abcd\n", name), PEER_PROCESS);
	cr_expect_eq(cg("0::/system.slice\n", name), PEER_PROCESS);
	cr_expect_eq(cg("0::/machine.slice\n", name), PEER_PROCESS);
	cr_expect_eq(cg("0::/machine\n", name), PEER_PROCESS);
	cr_expect_eq(cg("5:cpu:/system.slice/x.service\n", name), PEER_PROCESS);
}

Test(peer, names_are_kept_as_they_are_and_cut_between_characters)
{
	char name[PEER_NAME_MAX], text[512], want[PEER_NAME_MAX];
	size_t n;

	/* An escaped newline, a space, a quote and a bracket: the bytes
	 * stay (whoever prints the name escapes it). */
	cr_expect_eq(cg("0::/machine.slice/machine-qemu\\x2d1\\x2da\\x0ab c\"]"
			"\\xff.scope\n",
			 name),
	    PEER_VM);
	cr_expect_str_eq(name, "a\nb c\"]\xff");
	snprintf(text, sizeof(text), "0::/system.slice/%0200d.service\n", 7);
	cr_expect_eq(cg(text, name), PEER_UNIT);
	cr_expect_eq(strlen(name), PEER_NAME_MAX - 1);
	/* 40 two-byte characters: cut after the 31st, not inside the 32nd. */
	n = (size_t)snprintf(text, sizeof(text), "0::/system.slice/");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "\xc3\xa9");
	snprintf(text + n, sizeof(text) - n, ".service\n");
	cr_expect_eq(cg(text, name), PEER_UNIT);
	for (int i = 0; i < 31; i++)
		memcpy(want + 2 * i, "\xc3\xa9", 2);
	want[62] = '\0';
	cr_expect_str_eq(name, want);
}

Test(peer, describe_reads_this_process)
{
	struct peer p = { .pid = getpid() };

	peer_describe(&p);
	cr_expect(p.described);
	cr_expect_str_eq(p.comm, "test_audit");
	strcpy(p.comm, "changed");
	peer_describe(&p); /* once only */
	cr_expect_str_eq(p.comm, "changed");
}

Test(peer, describe_unknown_pid)
{
	struct peer p = { .pid = -1 };

	peer_describe(&p);
	cr_expect(p.described);
	cr_expect_eq(p.kind, PEER_PROCESS);
	cr_expect_str_eq(p.comm, "");
}

/* --- SCSI in words ---------------------------------------------------------- */

Test(scsi_text, status_words)
{
	uint8_t fixed[PRH_SENSE_LEN] = { 0x70, 0, 0x05, [7] = 10, [12] = 0x24 };
	uint8_t desc[PRH_SENSE_LEN] = { 0x72, 0x02, 0x3a, 0x00 };
	char w[256];

	scsi_status_words(PRH_STATUS_GOOD, fixed, w, sizeof(w));
	cr_expect_str_eq(w, "GOOD");
	scsi_status_words(PRH_STATUS_RESERVATION_CONFLICT, fixed, w, sizeof(w));
	cr_expect_str_eq(w, "RESERVATION CONFLICT");
	scsi_status_words(PRH_STATUS_CHECK_CONDITION, fixed, w, sizeof(w));
	cr_expect_str_eq(w,
	    "CHECK CONDITION: ILLEGAL REQUEST, invalid field in CDB (24/00)");
	scsi_status_words(PRH_STATUS_CHECK_CONDITION, desc, w, sizeof(w));
	cr_expect_str_eq(w,
	    "CHECK CONDITION: NOT READY, medium not present (3A/00)");
	scsi_status_words(0x42, fixed, w, sizeof(w));
	cr_expect_str_eq(w, "status 0x42");
}

Test(scsi_text, action_names)
{
	cr_expect_str_eq(scsi_pr_action_name(false, 0), "READ KEYS");
	cr_expect_str_eq(scsi_pr_action_name(false, 3), "READ FULL STATUS");
	cr_expect_null(scsi_pr_action_name(false, 4));
	cr_expect_str_eq(scsi_pr_action_name(true, 5), "PREEMPT AND ABORT");
	cr_expect_str_eq(scsi_pr_action_name(true, 8),
	    "REPLACE LOST RESERVATION");
	cr_expect_null(scsi_pr_action_name(true, 9));
}

Test(scsi_text, reservation_type_names)
{
	cr_expect_str_eq(scsi_pr_type_name(1), "we");
	cr_expect_str_eq(scsi_pr_type_name(3), "ea");
	cr_expect_str_eq(scsi_pr_type_name(8), "ea-ar");
	cr_expect_null(scsi_pr_type_name(0));
	cr_expect_null(scsi_pr_type_name(2));
	cr_expect_null(scsi_pr_type_name(9));
	cr_expect_null(scsi_pr_type_name(0xf));
}

/* --- latency buckets ------------------------------------------------------ */

Test(latency, bucket_bounds)
{
	struct latency_hist h;
	uint64_t total = 0;

	memset(&h, 0, sizeof(h));
	latency_observe(&h, 0);
	latency_observe(&h, latency_bound_ns[0]);
	latency_observe(&h, latency_bound_ns[0] + 1);
	latency_observe(&h, latency_bound_ns[LATENCY_BOUNDS - 1] + 1);
	cr_expect_eq(atomic_load(&h.count[0]), 2);
	cr_expect_eq(atomic_load(&h.count[1]), 1);
	cr_expect_eq(atomic_load(&h.count[LATENCY_BOUNDS]), 1);
	for (int i = 0; i < LATENCY_BUCKETS; i++)
		total += atomic_load(&h.count[i]);
	cr_expect_eq(total, 4);
	cr_expect_eq(atomic_load(&h.sum_ns),
	    2 * latency_bound_ns[0] + 1 + latency_bound_ns[LATENCY_BOUNDS - 1] +
		1);
	for (int i = 1; i < LATENCY_BOUNDS; i++)
		cr_expect_gt(latency_bound_ns[i], latency_bound_ns[i - 1]);
}

/* --- the audit lines ------------------------------------------------------ */

static struct {
	char dir[64];  /* sysfs tree and the stderr file */
	char err[128]; /* where stderr goes */
	int saved_err; /* the real stderr */
	struct event_base *base;
	struct device_registry *reg;
	struct prh_stats stats;
	struct audit *audit;
	struct peerlog *peerlog;
	struct peerlog_conn lc; /* the connection's share */
	struct device *dev;	/* sdb, 8:16, with a wwid */
	struct peer peer;
	struct cmd *cmd;
} au;

/* Write text to the file dir/rel (directories made as needed). */
static void
au_file(const char *rel, const char *text)
{
	char path[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", au.dir, rel);
	for (p = strchr(path + strlen(au.dir) + 1, '/'); p != NULL;
	     p = strchr(p + 1, '/')) {
		*p = '\0';
		(void)mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* A SCSI disk in the sysfs tree: unit hctl with its wwid (the file's
 * text), and block node 8:minor of kernel name name. */
static void
au_disk(const char *hctl, unsigned minor, const char *name, const char *wwid)
{
	char rel[64], text[256], link[256], target[256];

	snprintf(rel, sizeof(rel), "devices/host1/%s/wwid", hctl);
	au_file(rel, wwid);
	snprintf(rel, sizeof(rel), "dev/block/8:%u/uevent", minor);
	snprintf(text, sizeof(text),
	    "MAJOR=8\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=disk\n", minor, name);
	au_file(rel, text);
	snprintf(link, sizeof(link), "%s/dev/block/8:%u/device", au.dir, minor);
	snprintf(target, sizeof(target), "%s/devices/host1/%s", au.dir, hctl);
	cr_assert_eq(symlink(target, link), 0);
}

/* A sysfs tree with one SCSI disk, sdb at 8:16, a registry over it, the
 * audit trail, and stderr going to a file. */
static void
au_setup(void)
{
	struct device_node n = { .type = DEVICE_BLOCK,
		.major = 8,
		.minor = 16 };
	int fd;

	strcpy(au.dir, "/tmp/prh-audit-XXXXXX");
	cr_assert_not_null(mkdtemp(au.dir));
	au_disk("1:0:0:3", 16, "sdb", "naa.6001405aabbccdd\n");
	device_set_sysfs_root(au.dir);
	snprintf(au.err, sizeof(au.err), "%s/stderr", au.dir);
	fd = open(au.err, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	cr_assert_geq(fd, 0);
	au.saved_err = dup(2);
	dup2(fd, 2);
	close(fd);
	log_init();
	log_set_verbosity(1);
	au.base = event_base_new();
	cr_assert_not_null(au.base);
	cr_assert_eq(devreg_new(&au.reg), 0);
	memset(&au.stats, 0, sizeof(au.stats));
	cr_assert_eq(peerlog_new(au.base, &au.stats, &au.peerlog), 0);
	cr_assert_eq(audit_new(au.reg, au.peerlog, &au.stats, &au.audit), 0);
	peerlog_conn_init(&au.lc);
	au.dev = devreg_get(au.reg, &n);
	cr_assert_not_null(au.dev);
	cr_assert_str_eq(au.dev->name, "sdb");
	memset(&au.peer, 0, sizeof(au.peer));
	au.peer.pid = getpid();
	au.peer.uid = 107;
	au.cmd = calloc(1, sizeof(*au.cmd));
	cr_assert_not_null(au.cmd);
	au.cmd->dev = au.dev;
}

/* Free everything, stderr back. */
static void
au_teardown(void)
{
	char cmd[128];

	free(au.cmd);
	if (au.dev != NULL)
		devreg_put(au.reg, au.dev);
	peerlog_conn_fini(au.peerlog, &au.lc);
	peerlog_free(au.peerlog);
	audit_free(au.audit);
	devreg_free(au.reg);
	event_base_free(au.base);
	device_set_sysfs_root(NULL);
	dup2(au.saved_err, 2);
	close(au.saved_err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", au.dir);
	(void)!system(cmd);
}

TestSuite(audit, .init = au_setup, .fini = au_teardown, .timeout = 30);

/* Set up the command: a PR OUT (out) or PR IN with service action sa and
 * scope/type byte st, keys key/sakey, answered with status (fixed sense
 * key/asc/ascq for CHECK CONDITION) after ns nanoseconds. */
static void
au_cmd(bool out, uint8_t sa, uint8_t st, uint64_t key, uint64_t sakey,
    uint32_t status, uint64_t ns)
{
	struct cmd *c = au.cmd;

	memset(c->cdb, 0, sizeof(c->cdb));
	c->cdb[0] = out ? PRH_OP_PR_OUT : PRH_OP_PR_IN;
	c->cdb[1] = sa;
	c->cdb[2] = st;
	c->cdb[8] = out ? 24 : 0x20;
	cr_assert_eq(proto_parse_cdb(c->cdb, &c->req), 0);
	memset(c->data, 0, 24);
	for (int i = 0; i < 8; i++) {
		c->data[i] = (uint8_t)(key >> (56 - 8 * i));
		c->data[8 + i] = (uint8_t)(sakey >> (56 - 8 * i));
	}
	if (status == PRH_STATUS_CHECK_CONDITION)
		scsi_result_check(&c->res, PRH_SK_NOT_READY, 0x3a, 0x00);
	else
		scsi_result_status(&c->res, (uint8_t)status);
	c->verdict.kind = DEVICE_SCSI_DISK;
	c->device_ns = ns;
}

/* What went to stderr so far (malloc'ed). */
static char *
au_err(void)
{
	FILE *f = fopen(au.err, "r");
	char *buf;
	long n;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	buf[fread(buf, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return buf;
}

/* Occurrences of needle in stderr. */
static int
au_count(const char *needle)
{
	char *text = au_err(), *p = text;
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(text);
	return n;
}

Test(audit, preempt_line_names_everything)
{
	char want[512];

	au_cmd(true, 4, 0x01, 0xb, 0xa, PRH_STATUS_GOOD, 1234567);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	snprintf(want, sizeof(want),
	    "qemu-pr-helper: [pid %d uid 107 comm test_audit] PR OUT PREEMPT "
	    "sdb 8:16 wwid naa.6001405aabbccdd: key 0xb, service action key "
	    "0xa, type we: GOOD, 1234 us\n",
	    (int)getpid());
	cr_expect_eq(au_count(want), 1, "%s", au_err());
	cr_expect_eq(atomic_load(&au.stats.audit_lines), 1);
}

Test(audit, keys_only_where_the_action_uses_them)
{
	au_cmd(true, 1, 0x03, 0xa, 0x77, PRH_STATUS_RESERVATION_CONFLICT, 2000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count(
			 " PR OUT RESERVE sdb 8:16 wwid naa.6001405aabbccdd"
			 ": key 0xa, type ea: RESERVATION CONFLICT, 2 us\n"),
	    1, "%s", au_err());
	au_cmd(true, 6, 0, 0x55, 0xc, PRH_STATUS_GOOD, 0);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count(" PR OUT REGISTER AND IGNORE EXISTING KEY sdb "
			      "8:16 wwid naa.6001405aabbccdd: service action "
			      "key 0xc: GOOD, 0 us\n"),
	    1, "%s", au_err());
	au_cmd(true, 0x1c, 0x29, 1, 2, PRH_STATUS_GOOD, 0);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count(" PR OUT service action 0x1c sdb 8:16 wwid "
			      "naa.6001405aabbccdd: key 0x1, service action "
			      "key 0x2, type 0x9, scope 2: GOOD, 0 us\n"),
	    1, "%s", au_err());
}

Test(audit, pr_in_only_when_it_fails_or_verbose)
{
	au_cmd(false, 0, 0, 0, 0, PRH_STATUS_GOOD, 1000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	au_cmd(false, 0, 0, 0, 0, PRH_STATUS_RESERVATION_CONFLICT, 1000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count(" PR IN "), 0, "%s", au_err());
	au_cmd(false, 1, 0, 0, 0, PRH_STATUS_CHECK_CONDITION, 3000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count(
			 "] PR IN READ RESERVATION sdb 8:16 wwid "
			 "naa.6001405aabbccdd: CHECK CONDITION: NOT READY, "
			 "medium not present (3A/00), 3 us\n"),
	    1, "%s", au_err());
	log_set_verbosity(2); /* -v */
	au_cmd(false, 0, 0, 0, 0, PRH_STATUS_GOOD, 1000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count("] PR IN READ KEYS sdb 8:16 "), 1, "%s",
	    au_err());
}

Test(audit, quiet_logs_no_line)
{
	log_set_verbosity(0); /* -q */
	au_cmd(true, 4, 1, 0xb, 0xa, PRH_STATUS_GOOD, 1000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	au_cmd(true, 4, 1, 0xb, 0xa, PRH_STATUS_CHECK_CONDITION, 1000);
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count("PR OUT"), 0, "%s", au_err());
	cr_expect_not(au.peer.described); /* nothing looked up */
}

Test(audit, policy_refusal_has_no_device_time)
{
	au_cmd(true, 0, 0, 0, 0xa, PRH_STATUS_CHECK_CONDITION, 5000);
	au.cmd->verdict.kind = DEVICE_REFUSED;
	au.cmd->verdict.why = "partition";
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count(": refused (partition): CHECK CONDITION: NOT "
			      "READY, medium not present (3A/00)\n"),
	    1, "%s", au_err());
}

Test(audit, answered_without_a_worker)
{
	struct device_node file = { .type = DEVICE_OTHER,
		.mode_fmt = S_IFREG,
		.major = 0,
		.minor = 45,
		.ino = 1234 };
	struct device_node node = { .type = DEVICE_BLOCK,
		.mode_fmt = S_IFBLK,
		.major = 8,
		.minor = 16 };
	struct scsi_result res;

	au_cmd(true, 1, 1, 0xa, 0, PRH_STATUS_GOOD, 0);
	au.cmd->dev = NULL;
	scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	audit_answered(au.audit, &au.lc, &au.peer, &file, au.cmd, &res,
	    "regular file");
	cr_expect_eq(au_count(" PR OUT RESERVE regular file 0:45 inode 1234: "
			      "key 0xa, type we: refused (regular file): CHECK "
			      "CONDITION: ABORTED COMMAND, I/O process "
			      "terminated (00/06)\n"),
	    1, "%s", au_err());
	/* A device node not looked up yet is named from the registry. */
	scsi_result_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	audit_answered(au.audit, &au.lc, &au.peer, &node, au.cmd, &res,
	    "PR OUT on a read-only descriptor");
	cr_expect_eq(au_count(
			 " PR OUT RESERVE sdb 8:16 wwid naa.6001405aabbccdd"
			 ": key 0xa, type we: refused (PR OUT on a "
			 "read-only descriptor): CHECK CONDITION: ILLEGAL "
			 "REQUEST, invalid command operation code (20/00)"
			 "\n"),
	    1, "%s", au_err());
	cr_expect_eq(au.dev->refs, 1); /* the lookup's reference went back */
}

Test(audit, names_are_escaped)
{
	struct device_node node = { .type = DEVICE_BLOCK,
		.major = 8,
		.minor = 32 };
	char want[512], *err;
	struct device *d;

	/* A device whose name and wwid hold control characters and bytes
	 * that are no UTF-8: sysfs's bytes are kept in the registry. */
	au_disk("1:0:0:4", 32, "sd\x1b[31m\xff", "naa.\x01\xc0\xaf \\x\n");
	d = devreg_get(au.reg, &node);
	cr_assert_not_null(d);
	cr_expect_str_eq(d->name, "sd\x1b[31m\xff");
	cr_expect_str_eq(d->wwid, "naa.\x01\xc0\xaf \\x");
	/* A peer whose VM and process names would end the line, turn it
	 * around or add words to it. */
	au.peer.described = true;
	au.peer.kind = PEER_VM;
	strcpy(au.peer.name, "db 1\n\xe2\x80\xae");
	strcpy(au.peer.comm, "a] b\x7f");
	au_cmd(true, 4, 0x01, 0xb, 0xa, PRH_STATUS_GOOD, 1000);
	au.cmd->dev = d;
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	snprintf(want, sizeof(want),
	    "qemu-pr-helper: [pid %d uid 107 vm db\\x201\\x0a\\xe2\\x80\\xae "
	    "comm a]\\x20b\\x7f] PR OUT PREEMPT sd\\x1b[31m\\xff 8:32 wwid "
	    "naa.\\x01\\xc0\\xaf \\\\x: key 0xb, service action key 0xa, "
	    "type we: GOOD, 1 us\n",
	    (int)getpid());
	cr_expect_eq(au_count(want), 1, "%s", au_err());
	err = au_err();
	cr_expect_null(strchr(err, '\x1b'));
	cr_expect_null(strchr(err, '\xff'));
	free(err);
	au.cmd->dev = au.dev;
	devreg_put(au.reg, d);
}

Test(audit, the_longest_escaped_names_still_end_in_the_status)
{
	struct device_node node = { .type = DEVICE_BLOCK,
		.major = 8,
		.minor = 48 };
	char name[DEVICE_NAME_MAX], wwid[DEVICE_WWID_MAX + 1], *err;
	struct device *d;

	/* Every byte of the longest name, wwid, VM and process name is one
	 * that is shown as four. */
	memset(name, 0xff, sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(wwid, 0xff, sizeof(wwid) - 2);
	wwid[sizeof(wwid) - 2] = '\n';
	wwid[sizeof(wwid) - 1] = '\0';
	au_disk("1:0:0:5", 48, name, wwid);
	d = devreg_get(au.reg, &node);
	cr_assert_not_null(d);
	cr_expect_eq(strlen(d->wwid), DEVICE_WWID_MAX - 1);
	au.peer.described = true;
	au.peer.kind = PEER_VM;
	memset(au.peer.name, 0xff, sizeof(au.peer.name) - 1);
	au.peer.name[sizeof(au.peer.name) - 1] = '\0';
	memset(au.peer.comm, 0xff, sizeof(au.peer.comm) - 1);
	au.peer.comm[sizeof(au.peer.comm) - 1] = '\0';
	au_cmd(true, 5, 0x01, 0xb, 0xa, PRH_STATUS_CHECK_CONDITION, 1000);
	au.cmd->dev = d;
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	/* The whole line, to its status, sense and time. */
	cr_expect_eq(au_count(": key 0xb, service action key 0xa, type we: "
			      "CHECK CONDITION: NOT READY, medium not present "
			      "(3A/00), 1 us\n"),
	    1, "%s", au_err());
	err = au_err();
	cr_expect_null(strchr(err, '\xff'));
	free(err);
	au.cmd->dev = au.dev;
	devreg_put(au.reg, d);
}

/* The N of the line "[pid P uid 107 ...] N line(s) of this client not
 * logged", or -1. */
static long
au_dropped_line(void)
{
	char *text = au_err(), *p;
	long n = -1;

	p = strstr(text, " of this client not logged (rate limit)\n");
	if (p != NULL) {
		while (p > text && p[-1] != ']')
			p--; /* after the peer */
		if (sscanf(p, " %ld line", &n) != 1)
			n = -1;
		cr_expect_not_null(strstr(text, "[pid "), "%s", text);
	}
	free(text);
	return n;
}

/* Whatever came before, a PR OUT that ran is logged in full: a client's
 * share of PR OUT lines is paid for before the command runs
 * (peerlog_command()), not by dropping its line. */
Test(audit, pr_out_lines_are_never_dropped)
{
	struct device_node tty = { .type = DEVICE_OTHER,
		.mode_fmt = S_IFCHR,
		.major = 136,
		.minor = 3 };
	struct scsi_result res;

	/* A flood of refusals first: counted, most not logged. */
	au_cmd(true, 0, 0, 0, 0xa, PRH_STATUS_GOOD, 0);
	au.cmd->dev = NULL;
	scsi_result_check(&res, PRH_SK_ABORTED_COMMAND, 0x00, 0x06);
	for (int i = 0; i < 1000; i++) {
		tty.minor = (unsigned)i;
		audit_answered(au.audit, &au.lc, &au.peer, &tty, au.cmd, &res,
		    "character device");
	}
	cr_expect_gt(atomic_load(&au.stats.audit_dropped), 900);
	/* Then 300 PR OUT: every one logged, with its keys. */
	au.cmd->dev = au.dev;
	au_cmd(true, 5, 1, 0xb, 0xa, PRH_STATUS_GOOD, 100);
	for (int i = 0; i < 300; i++)
		audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_count("] PR OUT PREEMPT AND ABORT sdb 8:16 wwid "
			      "naa.6001405aabbccdd: key 0xb, service action "
			      "key 0xa, type we: GOOD"),
	    300, "%s", au_err());
}

Test(audit, failed_pr_in_lines_are_limited_and_counted)
{
	int logged;
	long dropped = -1;

	au_cmd(false, 0, 0, 0, 0, PRH_STATUS_CHECK_CONDITION, 100);
	for (int i = 0; i < 100; i++)
		audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	/* The connection's share: its burst, the first line among it. */
	logged = au_count("] PR IN READ KEYS sdb ");
	cr_expect_eq(logged, PEERLOG_CONN_BURST, "%s", au_err());
	cr_expect_eq(atomic_load(&au.stats.audit_lines), (uint64_t)logged);
	cr_expect_eq(atomic_load(&au.stats.audit_dropped),
	    (uint64_t)(100 - logged));
	/* The count comes in a line of its own naming the peer once the
	 * client is quiet: the table's timer, on the event loop. */
	while (dropped < 0 && event_base_loop(au.base, EVLOOP_ONCE) == 0)
		dropped = au_dropped_line();
	cr_expect_eq(dropped, 100 - logged, "%s", au_err());
	cr_expect_eq(au_count("[pid "), logged + 1, "%s", au_err());
	cr_expect_eq(au_count(" uid 107 comm test_audit] 80 lines of this "
			      "client not logged (rate limit)\n"),
	    1, "%s", au_err());
	/* That line is a line of the trail too, as it is in the journal. */
	cr_expect_eq(atomic_load(&au.stats.audit_lines), (uint64_t)logged + 1);
}

Test(audit, next_line_carries_the_count)
{
	uint64_t deadline = trace_now_ns() + 10ull * 1000000000ull;
	char *text, *p, want[80];

	au_cmd(false, 1, 0, 0, 0, PRH_STATUS_CHECK_CONDITION, 100);
	/* A storm that goes on: the burst passes, then lines are counted
	 * until the connection may log again; that line carries the
	 * count. */
	while (atomic_load(&au.stats.audit_lines) <= PEERLOG_CONN_BURST &&
	    trace_now_ns() < deadline)
		audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_assert_eq(atomic_load(&au.stats.audit_lines),
	    PEERLOG_CONN_BURST + 1);
	cr_assert_gt(atomic_load(&au.stats.audit_dropped), 0);
	snprintf(want, sizeof(want),
	    ", 0 us (%llu earlier line%s of this client not logged)\n",
	    (unsigned long long)atomic_load(&au.stats.audit_dropped),
	    atomic_load(&au.stats.audit_dropped) == 1 ? "" : "s");
	text = au_err();
	p = strrchr(text, '[');
	cr_assert_not_null(p);
	cr_expect_not_null(strstr(p, want), "want %s in %s", want, p);
	cr_expect_eq(au_count(" not logged)"), 1);
	free(text);
}

Test(audit, final_count_at_free)
{
	au_cmd(false, 0, 0, 0, 0, PRH_STATUS_CHECK_CONDITION, 100);
	for (int i = 0; i < PEERLOG_CONN_BURST + 7; i++)
		audit_command(au.audit, &au.lc, &au.peer, au.cmd);
	cr_expect_eq(au_dropped_line(), -1);
	peerlog_conn_fini(au.peerlog, &au.lc);
	peerlog_free(au.peerlog);
	au.peerlog = NULL;
	cr_expect_eq(au_dropped_line(), 7, "%s", au_err());
	cr_expect_eq(atomic_load(&au.stats.audit_dropped), 7);
}

/* Log the command as if its resends had consumed the unit attentions
 * codes (n of them). */
static void
au_command_ua(const uint16_t *codes, unsigned n)
{
	au.cmd->ua.n = n;
	memcpy(au.cmd->ua.code, codes, n * sizeof(codes[0]));
	audit_command(au.audit, &au.lc, &au.peer, au.cmd);
}

Test(audit, unit_attentions_a_resend_consumed_are_on_the_line)
{
	static const uint16_t one[] = { 0x2a05 }, two[] = { 0x2a03, 0x3f0e };

	/* a PR IN that succeeded after one resend: a notice, logged at the
	 * default verbosity, where a plain GOOD PR IN is not */
	au_cmd(false, 1, 0, 0, 0, PRH_STATUS_GOOD, 2000);
	au_command_ua(one, 1);
	cr_expect_eq(au_count("] PR IN READ RESERVATION sdb 8:16 wwid "
			      "naa.6001405aabbccdd: GOOD, 2 us; sent again "
			      "after UNIT ATTENTION 2A/05 (registrations "
			      "preempted)\n"),
	    1, "%s", au_err());
	/* a PR OUT with two, one the table has no words for */
	au_cmd(true, 0, 0, 0, 0xa, PRH_STATUS_RESERVATION_CONFLICT, 1000);
	au_command_ua(two, 2);
	cr_expect_eq(au_count("] PR OUT REGISTER sdb 8:16 wwid "
			      "naa.6001405aabbccdd: key 0x0, service action "
			      "key 0xa: RESERVATION CONFLICT, 1 us; sent again "
			      "after UNIT ATTENTION 2A/03 (reservations "
			      "preempted), 3F/0E\n"),
	    1, "%s", au_err());
	/* none: the line as before, and none for a PR IN that succeeded */
	au_cmd(false, 1, 0, 0, 0, PRH_STATUS_GOOD, 2000);
	au_command_ua(one, 0);
	cr_expect_eq(au_count("sent again"), 2, "%s", au_err());
	cr_expect_eq(au_count("] PR IN "), 1, "%s", au_err());
}
