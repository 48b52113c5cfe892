/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim-drive: issues SG_IO commands on one device for the lunsim tests.
 *
 *   lunsim-drive [--direct] [--setuid UID] DEVICE
 *   lunsim-drive --stat [--direct] DEVICE
 *   lunsim-drive --policy DEVICE
 *   lunsim-drive --diskseq DEVICE
 *
 * Reads one command per line from stdin, "CDBHEX PARAMHEX|- [DXFER [iov]]",
 * and answers each with one line:
 *   "STATUS HOST DRIVER SB_LEN_WR RESID INFO DURATION SENSEHEX|- DATAHEX|-"
 * (numbers in hex), or "ERR ERRNO" if the ioctl failed.  A command
 * without parameter list is sent FROM_DEV with DXFER bytes (default
 * 8192, as QEMU's helper does for PR IN); one with a list is sent TO_DEV.
 * "iov" splits the data buffer into three pieces of an sg_iovec list.
 * --stat prints what fstat, lseek and the block/sg ioctls say about the
 * device, one "name=value" per word ("-" where the call failed); --policy
 * what the helper's device policy and registry (device.c) make of it;
 * --diskseq the disk sequence number BLKGETDISKSEQ and sysfs give,
 * "ioctl=N sysfs=N" ("-" where it failed).
 * --direct opens DEVICE O_DIRECT (as QEMU with cache='none' does);
 * --setuid switches to UID (its gid the same) after opening DEVICE, as a
 * helper holds a descriptor its owner (QEMU) opened.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <grp.h>
#include <linux/fs.h>
#include <unistd.h>
#include <scsi/sg.h>

#include "prh/device.h"
#include "hex.h"

#define DRIVE_MAX 8192

/* Print len bytes as hex, or "-" if none. */
static void
puthex(const uint8_t *b, size_t len)
{
	size_t i;

	if (len == 0)
		fputs("-", stdout);
	for (i = 0; i < len; i++)
		printf("%02x", b[i]);
}

/* Run one command line on fd and print its result line. */
static void
drive_one(int fd, char *line)
{
	static uint8_t data[DRIVE_MAX], param[DRIVE_MAX];
	char *tok[4] = { NULL, NULL, NULL, NULL };
	uint8_t cdb[16], sense[96];
	struct sg_io_hdr h;
	sg_iovec_t iov[3];
	int ncdb, nparam, i;
	unsigned dxfer = DRIVE_MAX;

	for (i = 0; i < 4; i++)
		tok[i] = strtok(i == 0 ? line : NULL, " \t\n");
	if (tok[0] == NULL || tok[1] == NULL ||
	    (ncdb = th_unhex(tok[0], cdb, sizeof(cdb))) < 6 ||
	    (nparam = th_unhex(tok[1], param, sizeof(param))) < 0) {
		printf("ERR %x\n", EINVAL);
		return;
	}
	if (tok[2] != NULL)
		dxfer = (unsigned)strtoul(tok[2], NULL, 0);
	if (dxfer > DRIVE_MAX)
		dxfer = DRIVE_MAX;
	memset(&h, 0, sizeof(h));
	memset(sense, 0, sizeof(sense));
	memset(data, 0, sizeof(data));
	h.interface_id = 'S';
	h.cmd_len = (unsigned char)ncdb;
	h.cmdp = cdb;
	h.mx_sb_len = sizeof(sense);
	h.sbp = sense;
	h.timeout = 30000;
	if (nparam > 0) {
		h.dxfer_direction = SG_DXFER_TO_DEV;
		h.dxfer_len = (unsigned)nparam;
		h.dxferp = param;
	} else if (dxfer > 0) {
		h.dxfer_direction = SG_DXFER_FROM_DEV;
		h.dxfer_len = dxfer;
		h.dxferp = data;
	} else {
		h.dxfer_direction = SG_DXFER_NONE;
	}
	if (tok[2] != NULL && tok[3] != NULL && strcmp(tok[3], "iov") == 0 &&
	    h.dxfer_len >= 3) {
		iov[0].iov_base = h.dxferp;
		iov[0].iov_len = 1;
		iov[1].iov_base = (uint8_t *)h.dxferp + 1;
		iov[1].iov_len = h.dxfer_len / 2;
		iov[2].iov_base = (uint8_t *)h.dxferp + 1 + h.dxfer_len / 2;
		iov[2].iov_len = h.dxfer_len - 1 - h.dxfer_len / 2;
		h.iovec_count = 3;
		h.dxferp = iov;
	}
	if (ioctl(fd, SG_IO, &h) < 0) {
		printf("ERR %x\n", errno);
		return;
	}
	printf("%x %x %x %x %x %x %x ", h.status, h.host_status,
	    h.driver_status, h.sb_len_wr, (unsigned)h.resid, h.info,
	    h.duration);
	puthex(sense, h.sb_len_wr);
	putchar(' ');
	puthex(data,
	    h.dxfer_direction == SG_DXFER_FROM_DEV && h.resid >= 0 &&
		    (unsigned)h.resid <= h.dxfer_len
		? h.dxfer_len - (unsigned)h.resid
		: 0);
	putchar('\n');
}

/* Print the result of an int-returning ioctl into an int. */
static void
stat_ioctl(int fd, const char *name, unsigned long req)
{
	int v = 0;

	if (ioctl(fd, req, &v) < 0)
		printf(" %s=-", name);
	else
		printf(" %s=%d", name, v);
}

/* --stat: what the device looks like to fstat, lseek and ioctls. */
static int
drive_stat(const char *dev, int oflags)
{
	struct stat st;
	uint64_t size = 0;
	int fd = open(dev, O_RDWR | O_CLOEXEC | oflags);

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(dev);
		return 1;
	}
	printf("type=%s rdev=%u:%u",
	    S_ISBLK(st.st_mode)	      ? "blk"
		: S_ISREG(st.st_mode) ? "reg"
				      : "other",
	    major(st.st_rdev), minor(st.st_rdev));
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		printf(" size64=-");
	else
		printf(" size64=%llu", (unsigned long long)size);
	printf(" seekend=%lld", (long long)lseek(fd, 0, SEEK_END));
	stat_ioctl(fd, "ssz", BLKSSZGET);
	stat_ioctl(fd, "pbsz", BLKPBSZGET);
	stat_ioctl(fd, "ro", BLKROGET);
	stat_ioctl(fd, "sgver", SG_GET_VERSION_NUM);
	stat_ioctl(fd, "rsv", SG_GET_RESERVED_SIZE);
	printf("\n");
	close(fd);
	return 0;
}

/* --policy: what the helper's device policy and registry make of the
 * device (statx, sysfs), as the helper would see it. */
static int
drive_policy(const char *dev)
{
	static const char *const kinds[] = { "refused", "scsi-disk", "sg",
		"dm" };
	struct device_registry *reg;
	struct device_verdict v;
	struct device_node n;
	struct device *d;
	int fd = open(dev, O_RDWR | O_CLOEXEC);

	if (fd < 0 || device_node_of_fd(fd, &n) < 0 || devreg_new(&reg) < 0) {
		perror(dev);
		return 1;
	}
	device_check(&n, &v);
	printf("node=%s %u:%u kind=%s", device_node_what(&n), n.major, n.minor,
	    kinds[v.kind]);
	if (v.kind == DEVICE_REFUSED)
		printf(" why=%s", v.why);
	if (n.type != DEVICE_OTHER && (d = devreg_get(reg, &n)) != NULL) {
		printf(" name=%s unit=%s wwid=%s diskseq=%s", d->name, d->unit,
		    d->wwid, d->has_diskseq ? "yes" : "no");
		devreg_put(reg, d);
	}
	printf("\n");
	devreg_free(reg);
	close(fd);
	return 0;
}

/* --diskseq: the disk sequence number of the device, from the ioctl on
 * an fd and from sysfs. */
static int
drive_diskseq(const char *dev)
{
	char path[128], text[64] = "-";
	struct device_node n;
	uint64_t seq = 0;
	ssize_t len;
	int sfd, fd = open(dev, O_RDWR | O_CLOEXEC);

	if (fd < 0 || device_node_of_fd(fd, &n) < 0) {
		perror(dev);
		return 1;
	}
	if (ioctl(fd, BLKGETDISKSEQ, &seq) < 0)
		printf("ioctl=-");
	else
		printf("ioctl=%llu", (unsigned long long)seq);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/diskseq", n.major,
	    n.minor);
	/* open(), not fopen(): glibc's fopen() opens past the preload. */
	sfd = open(path, O_RDONLY | O_CLOEXEC);
	if (sfd >= 0) {
		len = read(sfd, text, sizeof(text) - 1);
		text[len > 0 ? len : 0] = '\0';
		text[strcspn(text, "\n")] = '\0';
		if (text[0] == '\0')
			strcpy(text, "-");
		close(sfd);
	}
	printf(" sysfs=%s\n", text);
	close(fd);
	return 0;
}

/* Open the device and serve command lines until EOF. */
int
main(int argc, char **argv)
{
	static char line[3 * DRIVE_MAX];
	int fd, i = 1, stat = 0, oflags = 0;
	long uid = -1;

	if (argc == 3 && strcmp(argv[1], "--policy") == 0)
		return drive_policy(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--diskseq") == 0)
		return drive_diskseq(argv[2]);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--stat") == 0)
			stat = 1;
		else if (strcmp(argv[i], "--direct") == 0)
			oflags |= O_DIRECT;
		else if (strcmp(argv[i], "--setuid") == 0 && i + 1 < argc)
			uid = strtol(argv[++i], NULL, 10);
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr,
		    "usage: lunsim-drive [--stat] [--direct] "
		    "[--setuid UID] DEVICE\n"
		    "       lunsim-drive --policy DEVICE\n"
		    "       lunsim-drive --diskseq DEVICE\n");
		return 2;
	}
	if (stat)
		return drive_stat(argv[i], oflags);
	fd = open(argv[i], O_RDWR | O_CLOEXEC | oflags);
	if (fd < 0) {
		perror(argv[i]);
		return 1;
	}
	if (uid >= 0 &&
	    (setgroups(0, NULL) < 0 ||
		setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0 ||
		setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)) {
		perror("setuid");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL)
		drive_one(fd, line);
	close(fd);
	return 0;
}
