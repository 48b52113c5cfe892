/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A make-believe sysfs for the preload libraries (lunsim.so and the tests'
 * SG_IO shim): the files they present as block devices look, to a program
 * reading /sys/dev/block/M:m, like whole disks of the SCSI disk driver.
 *
 * A faked file gets block device number FAKESYS_MAJOR:minor, where minor
 * is a hash of the file's device and inode (fakesys_minor()).  Once a
 * preload has reported a file so (fakesys_note()), the interposed
 * access(), open()/openat() (through sgfake.c) and readlink() answer for
 * "/sys/dev/block/FAKESYS_MAJOR:minor/..." as a SCSI disk would:
 *
 *	partition, dm		missing
 *	device/scsi_disk	present
 *	device			-> .../FAKESYS_MAJOR:0:0:minor (the unit)
 *	uevent			MAJOR, MINOR, DEVNAME=<file name>, DEVTYPE=disk
 *	device/wwid		fakesys.<minor in hex>
 *	diskseq			what fakesys_set_diskseq()'s function says
 *				(lunsim.so: the LUN's), else missing
 *
 * Every other path goes to libc untouched.  Thread-safe.
 */
#ifndef FAKESYS_H
#define FAKESYS_H

#include <stdint.h>
#include <sys/types.h>

#define FAKESYS_MAJOR 240 /* local/experimental range */

/* The minor a file with st_dev dev (as makedev() encodes it) and inode
 * ino is given. */
unsigned fakesys_minor(uint64_t dev, uint64_t ino);

/* Remember that minor stands for the file at path (its last component
 * becomes the device's name). */
void fakesys_note(unsigned minor, const char *path);

/* Whether a name was noted for minor (then fakesys_note() may be
 * skipped). */
int fakesys_known(unsigned minor);

/* Answer sysfs "diskseq" of minor with fn(minor) (0: no such file). */
void fakesys_set_diskseq(uint64_t (*fn)(unsigned minor));

/* Fill the block-device fields of a statx of a faked file. */
struct statx;
void fakesys_statx(struct statx *stx);

#endif
