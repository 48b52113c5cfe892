/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device policy and the registry (device.c) against sysfs trees the
 * test builds in a temporary directory (device_set_sysfs_root), laid out
 * as the kernel's: /sys/dev/{block,char}/M:m links to the device's
 * directory, a SCSI disk's "device" link to its SCSI unit (H:C:T:L, with
 * scsi_disk and wwid), a partition's "partition" file, an sg node's
 * "subsystem" link to scsi_generic, a device-mapper map's "dm" directory
 * and "slaves", /sys/class/block/NAME.  And device_node_of_fd() on the
 * real kinds of fd a client can send.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "prh/device.h"
#include "harness.h"

#define TD_WHOLE  "device-mapper map that is not one whole SCSI disk"
#define TD_NOT_SG "character device that is not a SCSI generic (sg) device"
#define TD_NOT_SD "block device that is not a SCSI disk"

static char td_root[64];	       /* the sysfs tree */
static struct device_registry *td_reg; /* td_check_seq()'s devices */

/* Format root/rel into out (PATH_MAX bytes). */
static void __attribute__((format(printf, 2, 3)))
td_path(char *out, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	cr_assert_lt(snprintf(out, PATH_MAX, "%s/%s", td_root, rel), PATH_MAX);
}

/* mkdir -p of the absolute path p. */
static void
td_mkdirs(const char *p)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", p);
	for (char *s = buf + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		cr_assert(mkdir(buf, 0755) == 0 || errno == EEXIST, "%s", buf);
		*s = '/';
	}
	cr_assert(mkdir(buf, 0755) == 0 || errno == EEXIST, "%s", buf);
}

/* Make the directory root/rel (and its parents). */
static void
td_dir(const char *rel)
{
	char p[PATH_MAX];

	td_path(p, "%s", rel);
	td_mkdirs(p);
}

/* Write text to the file root/dir/name (dir is made). */
static void
td_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	td_dir(dir);
	td_path(p, "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

/* Make root/link a symbolic link to root/target (link's directory is
 * made); an existing link is replaced. */
static void
td_link(const char *link, const char *target)
{
	char l[PATH_MAX], t[PATH_MAX], dir[PATH_MAX], *slash;

	td_path(l, "%s", link);
	td_path(t, "%s", target);
	snprintf(dir, sizeof(dir), "%s", l);
	slash = strrchr(dir, '/');
	*slash = '\0';
	td_mkdirs(dir);
	(void)unlink(l);
	cr_assert_eq(symlink(t, l), 0, "%s", l);
}

/* The dev, size and uevent files of block or char device dir. */
static void
td_devfiles(const char *dir, const char *name, unsigned major, unsigned minor,
    unsigned long long size, const char *devtype)
{
	char text[256];

	snprintf(text, sizeof(text), "%u:%u\n", major, minor);
	td_file(dir, "dev", text);
	if (size > 0) {
		snprintf(text, sizeof(text), "%llu\n", size);
		td_file(dir, "size", text);
	}
	snprintf(text, sizeof(text), "MAJOR=%u\nMINOR=%u\nDEVNAME=%s\n%s%s%s",
	    major, minor, name, devtype != NULL ? "DEVTYPE=" : "",
	    devtype != NULL ? devtype : "", devtype != NULL ? "\n" : "");
	td_file(dir, "uevent", text);
}

/* Where the block device name lives, and its /sys/dev and /sys/class
 * links to dir. */
static void
td_block_links(const char *dir, const char *name, unsigned major,
    unsigned minor)
{
	char link[PATH_MAX];

	snprintf(link, sizeof(link), "dev/block/%u:%u", major, minor);
	td_link(link, dir);
	snprintf(link, sizeof(link), "class/block/%s", name);
	td_link(link, dir);
}

/* SCSI unit hctl with a whole disk name (block major:minor, size
 * sectors) of the SCSI disk driver, wwid its LUN identity. */
static void
td_scsi_disk(const char *hctl, const char *name, unsigned major, unsigned minor,
    unsigned long long size, const char *wwid)
{
	char unit[256], dir[512], link[1024];

	snprintf(unit, sizeof(unit), "devices/pci0/host1/%s", hctl);
	td_dir(unit);
	snprintf(dir, sizeof(dir), "%s/scsi_disk/%s", unit, hctl);
	td_dir(dir);
	td_file(unit, "wwid", wwid);
	snprintf(dir, sizeof(dir), "%s/block/%s", unit, name);
	td_devfiles(dir, name, major, minor, size, "disk");
	snprintf(link, sizeof(link), "%s/device", dir);
	td_link(link, unit);
	td_block_links(dir, name, major, minor);
}

/* Partition name (major:minor, size) of the disk of unit hctl. */
static void
td_partition(const char *hctl, const char *disk, const char *name,
    unsigned major, unsigned minor, unsigned long long size)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "devices/pci0/host1/%s/block/%s/%s", hctl,
	    disk, name);
	td_devfiles(dir, name, major, minor, size, "partition");
	td_file(dir, "partition", "1\n");
	td_block_links(dir, name, major, minor);
}

/* SCSI generic node name (char 21:minor) of unit hctl. */
static void
td_sg(const char *hctl, const char *name, unsigned minor)
{
	char unit[256], dir[512], link[1024];

	snprintf(unit, sizeof(unit), "devices/pci0/host1/%s", hctl);
	snprintf(dir, sizeof(dir), "%s/scsi_generic/%s", unit, name);
	td_devfiles(dir, name, 21, minor, 0, NULL);
	td_dir("class/scsi_generic");
	snprintf(link, sizeof(link), "%s/subsystem", dir);
	td_link(link, "class/scsi_generic");
	snprintf(link, sizeof(link), "%s/device", dir);
	td_link(link, unit);
	snprintf(link, sizeof(link), "dev/char/21:%u", minor);
	td_link(link, dir);
}

/* Device-mapper map name (block 253:minor, size sectors, uuid) over the
 * block devices named in the NULL-terminated list. */
static void
td_dm(const char *name, unsigned minor, unsigned long long size,
    const char *uuid, ...)
{
	char dir[256], link[512], target[256];
	const char *slave;
	va_list ap;

	snprintf(dir, sizeof(dir), "devices/virtual/block/%s", name);
	td_devfiles(dir, name, 253, minor, size, "disk");
	snprintf(link, sizeof(link), "%s/dm", dir);
	td_file(link, "uuid", uuid);
	td_file(link, "name", name);
	snprintf(link, sizeof(link), "%s/slaves", dir);
	td_dir(link);
	va_start(ap, uuid);
	while ((slave = va_arg(ap, const char *)) != NULL) {
		snprintf(link, sizeof(link), "%s/slaves/%s", dir, slave);
		snprintf(target, sizeof(target), "class/block/%s", slave);
		td_link(link, target);
	}
	va_end(ap);
	td_block_links(dir, name, 253, minor);
}

/* A block device of no SCSI unit (a loop device, a virtio disk). */
static void
td_plain_block(const char *name, unsigned major, unsigned minor,
    unsigned long long size)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "devices/virtual/block/%s", name);
	td_devfiles(dir, name, major, minor, size, "disk");
	td_block_links(dir, name, major, minor);
}

/* A character device name of subsystem sub. */
static void
td_char(const char *name, const char *sub, unsigned major, unsigned minor)
{
	char dir[256], link[512], target[256];

	snprintf(dir, sizeof(dir), "devices/virtual/%s/%s", sub, name);
	td_devfiles(dir, name, major, minor, 0, NULL);
	snprintf(target, sizeof(target), "class/%s", sub);
	td_dir(target);
	snprintf(link, sizeof(link), "%s/subsystem", dir);
	td_link(link, target);
	snprintf(link, sizeof(link), "dev/char/%u:%u", major, minor);
	td_link(link, dir);
}

/* Fixture: an empty tree, the policy pointed at it. */
static void
td_setup(void)
{
	snprintf(td_root, sizeof(td_root), "/tmp/prh-tdev.XXXXXX");
	cr_assert_not_null(mkdtemp(td_root));
	td_dir("dev/block");
	td_dir("dev/char");
	td_dir("class/block");
	device_set_sysfs_root(td_root);
}

/* Fixture end: /sys again, the tree removed. */
static void
td_teardown(void)
{
	if (td_reg != NULL)
		devreg_free(td_reg);
	td_reg = NULL;
	device_set_sysfs_root(NULL);
	th_rmtree(td_root);
}

TestSuite(policy, .init = td_setup, .fini = td_teardown);
TestSuite(registry, .init = td_setup, .fini = td_teardown);
TestSuite(node);

/* The verdict for node type major:minor. */
static struct device_verdict
td_check(enum device_type type, unsigned major, unsigned minor)
{
	struct device_node n = { .type = type,
		.mode_fmt = type == DEVICE_BLOCK ? S_IFBLK : S_IFCHR,
		.major = major,
		.minor = minor };
	struct device_verdict v;

	memset(&v, 0x5a, sizeof(v));
	device_check(&n, &v);
	return v;
}

/* Assert a refusal saying why. */
static void
td_expect_refused(struct device_verdict v, const char *why)
{
	cr_expect_eq(v.kind, DEVICE_REFUSED, "kind %d, expected a refusal",
	    (int)v.kind);
	cr_expect_not_null(v.why);
	if (v.why != NULL)
		cr_expect_str_eq(v.why, why);
	cr_expect_str_eq(v.unit, "");
}

/* Assert kind, with unit behind it. */
static void
td_expect_allowed(struct device_verdict v, enum device_kind kind,
    const char *unit)
{
	cr_expect_eq(v.kind, kind, "kind %d, expected %d (why: %s)",
	    (int)v.kind, (int)kind,
	    v.kind == DEVICE_REFUSED && v.why ? v.why : "-");
	cr_expect_null(v.why);
	cr_expect_str_eq(v.unit, unit);
}

/* --- the policy ----------------------------------------------------------- */

Test(policy, whole_scsi_disk_is_allowed_with_its_unit)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.6001405a\n");
	td_expect_allowed(td_check(DEVICE_BLOCK, 8, 16), DEVICE_SCSI_DISK,
	    "1:0:0:0");
}

Test(policy, partition_of_a_scsi_disk_is_refused)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.6001405a\n");
	td_partition("1:0:0:0", "sdb", "sdb1", 8, 17, 1024);
	td_expect_refused(td_check(DEVICE_BLOCK, 8, 17), "partition");
	/* The disk itself stays allowed. */
	td_expect_allowed(td_check(DEVICE_BLOCK, 8, 16), DEVICE_SCSI_DISK,
	    "1:0:0:0");
}

Test(policy, sg_node_is_allowed_with_its_unit)
{
	td_sg("1:0:0:0", "sg1", 1);
	td_expect_allowed(td_check(DEVICE_CHAR, 21, 1), DEVICE_SG, "1:0:0:0");
}

Test(policy, other_character_devices_are_refused)
{
	td_char("null", "mem", 1, 3);
	td_char("ttyS0", "tty", 4, 64);
	td_expect_refused(td_check(DEVICE_CHAR, 1, 3), TD_NOT_SG);
	td_expect_refused(td_check(DEVICE_CHAR, 4, 64), TD_NOT_SG);
	/* Not in sysfs at all (a pty slave, 136:N). */
	td_expect_refused(td_check(DEVICE_CHAR, 136, 2), TD_NOT_SG);
	/* An sg node's numbers as a block device are no sg node. */
	td_sg("1:0:0:0", "sg1", 1);
	td_expect_refused(td_check(DEVICE_BLOCK, 21, 1), TD_NOT_SD);
}

Test(policy, loop_like_block_devices_are_refused)
{
	td_plain_block("loop0", 7, 0, 16384);
	td_expect_refused(td_check(DEVICE_BLOCK, 7, 0), TD_NOT_SD);
	/* A disk with a device link but no scsi_disk (virtio). */
	td_plain_block("vda", 254, 0, 16384);
	td_dir("devices/pci0/virtio1");
	td_link("devices/virtual/block/vda/device", "devices/pci0/virtio1");
	td_expect_refused(td_check(DEVICE_BLOCK, 254, 0), TD_NOT_SD);
	/* Not in sysfs. */
	td_expect_refused(td_check(DEVICE_BLOCK, 250, 9), TD_NOT_SD);
	/* A block node whose numbers belong to an sg node's char entry. */
	td_link("dev/char/7:0", "devices/virtual/block/loop0");
	td_expect_refused(td_check(DEVICE_CHAR, 7, 0), TD_NOT_SG);
}

Test(policy, dm_over_one_whole_disk_of_its_size_is_allowed)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_dm("dm-0", 0, 2048, "LVM-x\n", "sdb", NULL);
	td_expect_allowed(td_check(DEVICE_BLOCK, 253, 0), DEVICE_DM, "dm-0");
}

Test(policy, dm_over_two_paths_of_one_size_is_allowed)
{
	/* A multipath map: two paths (nexuses) of one LU, each as large. */
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_scsi_disk("2:0:0:0", "sdc", 8, 32, 2048, "naa.a\n");
	td_dm("dm-0", 0, 2048, "mpath-naa.a\n", "sdb", "sdc", NULL);
	td_expect_allowed(td_check(DEVICE_BLOCK, 253, 0), DEVICE_DM, "dm-0");
}

Test(policy, dm_over_a_partition_is_refused)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_partition("1:0:0:0", "sdb", "sdb1", 8, 17, 1024);
	td_dm("dm-1", 1, 1024, "LVM-p\n", "sdb1", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 1), TD_WHOLE);
}

Test(policy, dm_smaller_or_larger_than_its_slave_is_refused)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_dm("dm-2", 2, 1024, "LVM-part\n", "sdb", NULL);
	td_dm("dm-3", 3, 4096, "LVM-big\n", "sdb", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 2), TD_WHOLE);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 3), TD_WHOLE);
}

Test(policy, dm_over_two_disks_is_refused)
{
	/* A linear map joining two disks is as large as both together. */
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_scsi_disk("1:0:0:1", "sdc", 8, 32, 2048, "naa.b\n");
	td_dm("dm-4", 4, 4096, "LVM-two\n", "sdb", "sdc", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 4), TD_WHOLE);
	/* One allowed path and one that is not (a loop device). */
	td_plain_block("loop0", 7, 0, 2048);
	td_dm("dm-5", 5, 2048, "mpath-mixed\n", "sdb", "loop0", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 5), TD_WHOLE);
}

Test(policy, nested_dm_over_a_whole_disk_is_allowed)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_dm("dm-0", 0, 2048, "mpath-a\n", "sdb", NULL);
	td_dm("dm-1", 1, 2048, "LVM-over-mpath\n", "dm-0", NULL);
	td_expect_allowed(td_check(DEVICE_BLOCK, 253, 1), DEVICE_DM, "dm-1");
	/* Over a map that is refused: refused. */
	td_dm("dm-2", 2, 1024, "LVM-part\n", "sdb", NULL);
	td_dm("dm-3", 3, 1024, "LVM-over-part\n", "dm-2", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 3), TD_WHOLE);
}

Test(policy, empty_dm_maps_are_refused)
{
	char path[PATH_MAX];

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	/* Size 0 (a map with no table). */
	td_dm("dm-0", 0, 0, "LVM-empty\n", "sdb", NULL);
	td_file("devices/virtual/block/dm-0", "size", "0\n");
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 0),
	    "empty device-mapper map");
	/* A size but no device under it. */
	td_dm("dm-1", 1, 2048, "LVM-none\n", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 1), TD_WHOLE);
	/* No slaves directory. */
	td_dm("dm-2", 2, 2048, "LVM-noslaves\n", NULL);
	td_path(path, "devices/virtual/block/dm-2/slaves");
	cr_assert_eq(rmdir(path), 0);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 2),
	    "device-mapper map without devices");
	/* No size file. */
	td_dm("dm-3", 3, 2048, "LVM-nosize\n", "sdb", NULL);
	td_path(path, "devices/virtual/block/dm-3/size");
	cr_assert_eq(unlink(path), 0);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 3),
	    "empty device-mapper map");
}

Test(policy, deep_nesting_is_refused_and_a_cycle_ends)
{
	char name[16], slave[16];

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	/* dm-10 over sdb, dm-11 over dm-10, ... dm-14 over dm-13. */
	for (unsigned i = 10; i <= 14; i++) {
		snprintf(name, sizeof(name), "dm-%u", i);
		snprintf(slave, sizeof(slave), "dm-%u", i - 1);
		td_dm(name, i, 2048, "LVM-deep\n", i == 10 ? "sdb" : slave,
		    NULL);
	}
	/* Four maps deep is followed to the disk; five is too deep. */
	td_expect_allowed(td_check(DEVICE_BLOCK, 253, 13), DEVICE_DM, "dm-13");
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 14), TD_WHOLE);
	/* Two maps over each other (sysfs cannot say so, a test tree can):
	 * the walk ends, refused. */
	td_dm("dm-20", 20, 2048, "LVM-cycle\n", "dm-21", NULL);
	td_dm("dm-21", 21, 2048, "LVM-cycle\n", "dm-20", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 20), TD_WHOLE);
}

Test(policy, garbage_in_sysfs_is_refused)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_dm("dm-0", 0, 2048, "LVM-g\n", "sdb", NULL);
	/* A size that is no number. */
	td_file("devices/virtual/block/dm-0", "size", "2048x\n");
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 0),
	    "empty device-mapper map");
	/* A slave whose dev file is no "M:m". */
	td_file("devices/virtual/block/dm-0", "size", "2048\n");
	td_file("devices/pci0/host1/1:0:0:0/block/sdb", "dev", "eight\n");
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 0), TD_WHOLE);
	/* A slave that is not in class/block. */
	td_dm("dm-1", 1, 2048, "LVM-h\n", "sdq", NULL);
	td_expect_refused(td_check(DEVICE_BLOCK, 253, 1), TD_WHOLE);
}

Test(policy, other_file_types_are_refused_by_what_they_are)
{
	static const struct {
		unsigned fmt;
		const char *what;
	} kinds[] = {
		{ S_IFREG, "regular file" },
		{ S_IFDIR, "directory" },
		{ S_IFIFO, "pipe" },
		{ S_IFSOCK, "socket" },
		{ S_IFLNK, "symbolic link" },
		{ 0, "file of unknown type" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct device_node n = { .type = DEVICE_OTHER,
			.mode_fmt = kinds[i].fmt };
		struct device_verdict v;

		device_check(&n, &v);
		td_expect_refused(v, kinds[i].what);
		cr_expect_str_eq(device_node_what(&n), kinds[i].what);
	}
}

/* --- verdicts kept for a disk sequence number ---------------------------- */

/* The verdict for block node major:minor, held in td_reg, for an fd on
 * the disk with sequence number seq (what BLKGETDISKSEQ said of it). */
static struct device_verdict
td_check_seq(unsigned major, unsigned minor, uint64_t seq)
{
	struct device_node n = { .type = DEVICE_BLOCK,
		.mode_fmt = S_IFBLK,
		.major = major,
		.minor = minor };
	struct device_verdict v;
	struct device *d;

	if (td_reg == NULL)
		cr_assert_eq(devreg_new(&td_reg), 0);
	d = devreg_get(td_reg, &n);
	cr_assert_not_null(d);
	memset(&v, 0x5a, sizeof(v));
	device_check_held(d, seq, &v);
	devreg_put(td_reg, d);
	return v;
}

/* Give block device major:minor the sysfs diskseq seq. */
static void
td_diskseq(unsigned major, unsigned minor, unsigned long long seq)
{
	char dir[64], text[32];

	snprintf(dir, sizeof(dir), "dev/block/%u:%u", major, minor);
	snprintf(text, sizeof(text), "%llu\n", seq);
	td_file(dir, "diskseq", text);
}

Test(policy, a_whole_disk_is_answered_from_memory_for_its_sequence_number)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_diskseq(8, 16, 5);
	td_expect_allowed(td_check_seq(8, 16, 5), DEVICE_SCSI_DISK, "1:0:0:0");
	/* sysfs no longer shows that disk at 8:16, but an fd on disk 5 is
	 * still on that disk: its verdict stands, without sysfs. */
	td_plain_block("loop9", 8, 16, 2048);
	td_diskseq(8, 16, 9);
	td_expect_allowed(td_check_seq(8, 16, 5), DEVICE_SCSI_DISK, "1:0:0:0");
	/* An fd on the device now at 8:16 is read from sysfs. */
	td_expect_refused(td_check_seq(8, 16, 9), TD_NOT_SD);
}

Test(policy, a_number_that_names_another_device_is_read_again)
{
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_diskseq(8, 16, 5);
	td_expect_allowed(td_check_seq(8, 16, 5), DEVICE_SCSI_DISK, "1:0:0:0");
	/* 8:16 is now a partition of disk 6 (a partition has no diskseq of
	 * its own; BLKGETDISKSEQ on it answers its disk's). */
	td_scsi_disk("1:0:0:1", "sdc", 8, 32, 4096, "naa.b\n");
	td_partition("1:0:0:1", "sdc", "sdc1", 8, 16, 2048);
	td_expect_refused(td_check_seq(8, 16, 6), "partition");
	/* Neither is the partition's verdict kept. */
	td_expect_refused(td_check_seq(8, 16, 6), "partition");
}

/* Assert that block node minor (major 8), a whole disk of unit hctl in
 * sysfs, is allowed for an fd on disk seq but not remembered: once loop
 * device loop takes the number, the same fd's next command is refused. */
static void
td_expect_not_kept(unsigned minor, uint64_t seq, const char *hctl,
    const char *loop)
{
	td_expect_allowed(td_check_seq(8, minor, seq), DEVICE_SCSI_DISK, hctl);
	td_plain_block(loop, 8, minor, 2048);
	td_expect_refused(td_check_seq(8, minor, seq), TD_NOT_SD);
}

Test(policy, nothing_is_kept_that_sysfs_does_not_confirm)
{
	/* sysfs names another disk at 8:16 than the fd's (it was replaced
	 * while the command waited). */
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_diskseq(8, 16, 7);
	td_expect_not_kept(16, 5, "1:0:0:0", "loop9");
	/* No diskseq in sysfs (a kernel before 5.15). */
	td_scsi_disk("1:0:0:2", "sdd", 8, 48, 2048, "naa.d\n");
	td_expect_not_kept(48, 5, "1:0:0:2", "loop10");
	/* No sequence number from the fd. */
	td_scsi_disk("1:0:0:3", "sde", 8, 64, 2048, "naa.e\n");
	td_diskseq(8, 64, 5);
	td_expect_not_kept(64, 0, "1:0:0:3", "loop11");
}

Test(policy, a_unit_other_than_the_registrys_is_not_kept)
{
	/* The registry read 8:16 as unit 1:0:0:0; sysfs now shows another
	 * unit there (the registry rereads it once no command holds it, as
	 * the worker's stale flag asks): a hit would name the old unit. */
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_expect_allowed(td_check_seq(8, 16, 0), DEVICE_SCSI_DISK, "1:0:0:0");
	td_scsi_disk("1:0:0:7", "sdh", 8, 16, 2048, "naa.h\n");
	td_diskseq(8, 16, 5);
	td_expect_not_kept(16, 5, "1:0:0:7", "loop9");
}

Test(policy, a_reload_of_the_device_forgets_the_verdict)
{
	struct device_node n = { .type = DEVICE_BLOCK,
		.mode_fmt = S_IFBLK,
		.major = 8,
		.minor = 16 };
	struct device *d;

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_diskseq(8, 16, 5);
	td_expect_allowed(td_check_seq(8, 16, 5), DEVICE_SCSI_DISK, "1:0:0:0");
	d = devreg_get(td_reg, &n);
	cr_assert_eq(atomic_load(&d->disk_seq), 5);
	atomic_store(&d->stale, true); /* reread on its next get */
	devreg_put(td_reg, d);
	td_plain_block("loop9", 8, 16, 2048);
	td_expect_refused(td_check_seq(8, 16, 5), TD_NOT_SD);
}

Test(policy, maps_are_read_every_time)
{
	/* A table reload makes the map cover part of its disk: its numbers
	 * and its sequence number stay. */
	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_dm("dm-0", 0, 2048, "mpath-a\n", "sdb", NULL);
	td_diskseq(253, 0, 3);
	td_expect_allowed(td_check_seq(253, 0, 3), DEVICE_DM, "dm-0");
	td_file("dev/block/253:0", "size", "1024\n");
	td_expect_refused(td_check_seq(253, 0, 3), TD_WHOLE);
}

/* Thread body: the verdict for 8:16 on disk 5 into *arg. */
static void *
td_check_thread(void *arg)
{
	*(struct device_verdict *)arg = td_check_seq(8, 16, 5);
	return NULL;
}

Test(policy, every_worker_uses_what_one_kept)
{
	pthread_t t;
	struct device_verdict v;

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_diskseq(8, 16, 5);
	td_expect_allowed(td_check_seq(8, 16, 5), DEVICE_SCSI_DISK, "1:0:0:0");
	td_plain_block("loop9", 8, 16, 2048);
	cr_assert_eq(pthread_create(&t, NULL, td_check_thread, &v), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	td_expect_allowed(v, DEVICE_SCSI_DISK, "1:0:0:0");
}

/* --- device_node_of_fd -------------------------------------------------- */

/* The node of fd, asserting that it could be read. */
static struct device_node
td_node(int fd)
{
	struct device_node n;
	int r;

	memset(&n, 0x5a, sizeof(n));
	r = device_node_of_fd(fd, &n);
	cr_assert_eq(r, 0, "device_node_of_fd: %s", strerror(-r));
	return n;
}

/* Assert that fd is a DEVICE_OTHER of type fmt, numbered by the file
 * system it is on and its inode. */
static void
td_expect_other(int fd, unsigned fmt, const char *what)
{
	struct device_node n = td_node(fd);
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(n.type, DEVICE_OTHER, "%s", what);
	cr_expect_eq(n.mode_fmt, fmt, "%s", what);
	cr_expect_eq(n.major, major(st.st_dev), "%s", what);
	cr_expect_eq(n.minor, minor(st.st_dev), "%s", what);
	cr_expect_eq(n.ino, (uint64_t)st.st_ino, "%s", what);
	cr_expect_str_eq(device_node_what(&n), what);
}

Test(node, regular_file_directory_pipe_socket)
{
	char path[] = "/tmp/prh-tdev-file.XXXXXX";
	int fd = mkstemp(path), p[2], sv[2], dir;

	cr_assert_geq(fd, 0);
	unlink(path);
	td_expect_other(fd, S_IFREG, "regular file");
	dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dir, 0);
	td_expect_other(dir, S_IFDIR, "directory");
	cr_assert_eq(pipe(p), 0);
	td_expect_other(p[0], S_IFIFO, "pipe");
	td_expect_other(p[1], S_IFIFO, "pipe");
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	td_expect_other(sv[0], S_IFSOCK, "socket");
	close(fd);
	close(dir);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(node, dev_null_is_a_character_device_by_its_numbers)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct device_node n;
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	n = td_node(fd);
	cr_expect_eq(n.type, DEVICE_CHAR);
	cr_expect_eq(n.mode_fmt, S_IFCHR);
	cr_expect_eq(n.major, major(st.st_rdev));
	cr_expect_eq(n.minor, minor(st.st_rdev));
	cr_expect_eq(n.ino, 0, "no inode kept for a device node");
	close(fd);
}

Test(node, a_closed_fd_is_an_error)
{
	struct device_node n;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	close(fd);
	cr_expect_eq(device_node_of_fd(fd, &n), -EBADF);
	cr_expect_eq(device_node_of_fd(-1, &n), -EBADF);
}

/* --- the registry --------------------------------------------------------- */

/* A node of type major:minor. */
static struct device_node
td_dev(enum device_type type, unsigned major, unsigned minor)
{
	struct device_node n = { .type = type,
		.mode_fmt = type == DEVICE_BLOCK ? S_IFBLK : S_IFCHR,
		.major = major,
		.minor = minor };

	return n;
}

Test(registry, sd_and_sg_of_one_unit_share_a_key)
{
	struct device_registry *r;
	struct device_node sdb = td_dev(DEVICE_BLOCK, 8, 16);
	struct device_node sg1 = td_dev(DEVICE_CHAR, 21, 1);
	struct device_node sdc = td_dev(DEVICE_BLOCK, 8, 32);
	struct device_node sg2 = td_dev(DEVICE_CHAR, 21, 2);
	struct device *a, *b, *c, *d;

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.6001405aaaa\n");
	td_sg("1:0:0:0", "sg1", 1);
	td_scsi_disk("1:0:0:1", "sdc", 8, 32, 2048, "naa.6001405bbbb\n");
	td_sg("1:0:0:1", "sg2", 2);
	cr_assert_eq(devreg_new(&r), 0);
	a = devreg_get(r, &sdb);
	b = devreg_get(r, &sg1);
	c = devreg_get(r, &sdc);
	d = devreg_get(r, &sg2);
	cr_assert(a != NULL && b != NULL && c != NULL && d != NULL);
	cr_expect_neq(a, b, "two nodes, two entries");
	cr_expect_eq(a->key, b->key, "sdb and sg1: one SCSI unit, one key");
	cr_expect_eq(c->key, d->key, "sdc and sg2: one SCSI unit, one key");
	cr_expect_neq(a->key, c->key, "two units, two keys");
	cr_expect_str_eq(a->name, "sdb");
	cr_expect_str_eq(b->name, "sg1");
	cr_expect_str_eq(a->unit, "1:0:0:0");
	cr_expect_str_eq(b->unit, "1:0:0:0");
	cr_expect_str_eq(d->unit, "1:0:0:1");
	cr_expect_str_eq(a->wwid, "naa.6001405aaaa");
	cr_expect_str_eq(b->wwid, "naa.6001405aaaa");
	cr_expect_str_eq(c->wwid, "naa.6001405bbbb");
	/* The same node again: the same entry, another reference. */
	cr_expect_eq(devreg_get(r, &sdb), a);
	cr_expect_eq(a->refs, 2);
	devreg_put(r, a);
	cr_expect_eq(devreg_by_key(r, a->key)->key, a->key);
	devreg_put(r, a);
	devreg_put(r, b);
	devreg_put(r, c);
	devreg_put(r, d);
	devreg_free(r);
}

Test(registry, dm_map_names_and_identity)
{
	struct device_registry *r;
	struct device_node dm = td_dev(DEVICE_BLOCK, 253, 0);
	struct device_node sdb = td_dev(DEVICE_BLOCK, 8, 16);
	struct device *a, *b;

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_dm("dm-0", 0, 2048, "mpath-3600140500000000a\n", "sdb", NULL);
	cr_assert_eq(devreg_new(&r), 0);
	a = devreg_get(r, &dm);
	b = devreg_get(r, &sdb);
	cr_assert(a != NULL && b != NULL);
	cr_expect_str_eq(a->name, "dm-0");
	cr_expect_str_eq(a->unit, "dm-0");
	cr_expect_str_eq(a->wwid, "mpath-3600140500000000a");
	cr_expect_neq(a->key, b->key, "the map and its path: two keys");
	devreg_put(r, a);
	devreg_put(r, b);
	devreg_free(r);
}

Test(registry, names_and_wwids_are_kept_as_sysfs_gives_them)
{
	struct device_registry *r;
	struct device_node sdb = td_dev(DEVICE_BLOCK, 8, 16);
	struct device *a;

	/* Control characters and bytes that are no UTF-8 stay: they are
	 * escaped where they are printed (escape.h). */
	td_scsi_disk("1:0:0:0", "sd\x1b[1m\xff", 8, 16, 2048,
	    "t10.ATA  \x01\xc0\xaf\"\\\n");
	cr_assert_eq(devreg_new(&r), 0);
	a = devreg_get(r, &sdb);
	cr_assert_not_null(a);
	cr_expect_str_eq(a->name, "sd\x1b[1m\xff");
	cr_expect_str_eq(a->wwid, "t10.ATA  \x01\xc0\xaf\"\\");
	devreg_put(r, a);
	devreg_free(r);
}

Test(registry, nodes_without_sysfs_are_named_by_number)
{
	struct device_registry *r;
	struct device_node blk = td_dev(DEVICE_BLOCK, 250, 3);
	struct device_node chr = td_dev(DEVICE_CHAR, 250, 3);
	struct device *a, *b;

	cr_assert_eq(devreg_new(&r), 0);
	a = devreg_get(r, &blk);
	b = devreg_get(r, &chr);
	cr_assert(a != NULL && b != NULL);
	cr_expect_str_eq(a->name, "250:3");
	cr_expect_str_eq(b->name, "250:3");
	cr_expect_str_eq(a->unit, "");
	cr_expect_str_eq(a->wwid, "");
	cr_expect_neq(a->key, b->key, "block and char 250:3: two keys");
	devreg_put(r, a);
	devreg_put(r, b);
	devreg_free(r);
}

Test(registry, only_disks_with_a_diskseq_are_asked_for_one)
{
	/* A kernel that shows diskseq answers BLKGETDISKSEQ itself; before
	 * 5.15 the ioctl went to the driver, so no sysfs diskseq, no ioctl.
	 * Maps are read every time and are not asked either. */
	struct device_registry *r;
	struct device_node sdb = td_dev(DEVICE_BLOCK, 8, 16);
	struct device_node sdc = td_dev(DEVICE_BLOCK, 8, 32);
	struct device_node dm = td_dev(DEVICE_BLOCK, 253, 0);
	struct device_node sg1 = td_dev(DEVICE_CHAR, 21, 1);
	struct device *a, *b, *c, *d;

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.a\n");
	td_diskseq(8, 16, 5);
	td_scsi_disk("1:0:0:1", "sdc", 8, 32, 2048, "naa.b\n");
	td_dm("dm-0", 0, 2048, "mpath-a\n", "sdb", NULL);
	td_diskseq(253, 0, 6);
	td_sg("1:0:0:0", "sg1", 1);
	cr_assert_eq(devreg_new(&r), 0);
	a = devreg_get(r, &sdb);
	b = devreg_get(r, &sdc);
	c = devreg_get(r, &dm);
	d = devreg_get(r, &sg1);
	cr_assert(a != NULL && b != NULL && c != NULL && d != NULL);
	cr_expect(a->has_diskseq, "a disk with diskseq");
	cr_expect_not(b->has_diskseq, "no diskseq in sysfs");
	cr_expect_not(c->has_diskseq, "a map");
	cr_expect_not(d->has_diskseq, "an sg node");
	devreg_put(r, a);
	devreg_put(r, b);
	devreg_put(r, c);
	devreg_put(r, d);
	devreg_free(r);
}

Test(registry, a_stale_entry_is_read_again)
{
	struct device_registry *r;
	struct device_node sdb = td_dev(DEVICE_BLOCK, 8, 16);
	struct device *d;
	uint64_t key;

	td_scsi_disk("1:0:0:0", "sdb", 8, 16, 2048, "naa.old\n");
	cr_assert_eq(devreg_new(&r), 0);
	d = devreg_get(r, &sdb);
	cr_assert_not_null(d);
	key = d->key;
	devreg_put(r, d);
	/* Hot-plug: 8:16 is now a disk of another unit. */
	td_scsi_disk("3:0:0:5", "sdb", 8, 16, 2048, "naa.new\n");
	d = devreg_get(r, &sdb);
	cr_expect_str_eq(d->unit, "1:0:0:0", "read again before its time");
	cr_expect_eq(d->key, key);
	/* A worker saw the other unit (cmd.c sets stale): read again when
	 * next used. */
	atomic_store(&d->stale, true);
	devreg_put(r, d);
	d = devreg_get(r, &sdb);
	cr_expect_str_eq(d->unit, "3:0:0:5");
	cr_expect_str_eq(d->wwid, "naa.new");
	cr_expect_neq(d->key, key, "another unit, another key");
	cr_expect_not(atomic_load(&d->stale));
	devreg_put(r, d);
	devreg_free(r);
}

Test(registry, unused_entries_are_bounded)
{
	enum {
		N = 1100 /* more than the registry keeps unused */
	};
	struct device_registry *r;
	static uint64_t keys[N];
	struct device *d;

	cr_assert_eq(devreg_new(&r), 0);
	for (unsigned i = 0; i < N; i++) {
		struct device_node n = td_dev(DEVICE_BLOCK, 250, i);

		d = devreg_get(r, &n);
		cr_assert_not_null(d);
		keys[i] = d->key;
		devreg_put(r, d);
	}
	/* The oldest unused ones are gone, the newest kept. */
	cr_expect_null(devreg_by_key(r, keys[0]));
	cr_expect_not_null(devreg_by_key(r, keys[N - 1]));
	devreg_free(r);
}
