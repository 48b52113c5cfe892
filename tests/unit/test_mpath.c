/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the multipath backend: the translation both ways
 * (mpath_xlate.c: every service action, every library result), the
 * device-mapper probe, multipathd detection, and mpath_execute() against
 * a fake libmpathpersist.so.0 (tests/mpath), which main() below puts on
 * LD_LIBRARY_PATH by running the binary again.
 *
 * ioctl() and open() are replaced for this process, through the
 * interposition every SG_IO fake shares (src/lunsim/sgfake.h):
 * DM_TABLE_STATUS and the TEST UNIT READY answer as scripted in fake,
 * /dev/mapper/control opens /dev/null, /proc/devices lists device-mapper.
 * Unlike lunsim and the shim it runs in this process, so that a test
 * scripts device-mapper's answer and reads back what mpath.c asked.
 * Tests that need multipathd listen on its abstract socket in a network
 * namespace of their own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dm-ioctl.h>
#include <scsi/sg.h>

#include <criterion/criterion.h>

#include "prh/log.h"
#include "prh/mpath.h"
#include "prh/mpath_xlate.h"
#include "sgfake.h"

#define MULTIPATHD "@/org/kernel/linux/storage/multipathd"

/* device-mapper's major as the fake /proc/devices (below) lists it: that
 * of a block device this machine has (so that sysfs knows one device of
 * it, returned in *minor), else 4000; and a device number of it that sysfs
 * does not know, so that device-mapper's answer is all there is. */
#define DM_MAJOR dm_major(NULL)
#define DMDEV	 makedev(DM_MAJOR, 1048575)

/* See DM_MAJOR. */
static unsigned
dm_major(unsigned *minor)
{
	unsigned ma = 4000, mi = 0;
	DIR *d = opendir("/sys/dev/block");
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (sscanf(e->d_name, "%u:%u", &ma, &mi) == 2)
			break;
	if (d != NULL)
		closedir(d);
	if (minor != NULL)
		*minor = mi;
	return ma;
}

static const char *fake_devices(void);

/* Remove the fake /proc/devices at exit. */
static void
fake_devices_remove(void)
{
	const char *p = fake_devices();

	if (p != NULL)
		unlink(p);
}

/* ---- the fake's ioctl() and open() (sgfake.c) --------------------------- */

static struct {
	int dm_errno; /* DM_TABLE_STATUS fails with this, if set */
	unsigned targets;
	const char *type;
	const char *uuid;
	uint32_t data_start; /* 0: right after struct dm_ioctl */
	int dm_calls;
	struct dm_ioctl dm_in; /* as received */
	int tur_calls;
	struct sg_io_hdr tur_hdr;
	uint8_t tur_cdb[PRH_CDB_LEN];
	unsigned tur_status; /* the TUR's answer */
	uint8_t tur_sense[18];
	int control_opens;
} fake;

/* Answer DM_TABLE_STATUS as scripted. */
static int
fake_dm(struct dm_ioctl *io)
{
	struct dm_target_spec *spec;

	fake.dm_calls++;
	fake.dm_in = *io;
	if (fake.dm_errno != 0) {
		errno = fake.dm_errno;
		return -1;
	}
	io->target_count = fake.targets;
	io->data_start = fake.data_start != 0 ? fake.data_start : sizeof(*io);
	snprintf(io->uuid, sizeof(io->uuid), "%s", fake.uuid ? fake.uuid : "");
	if (io->data_start + sizeof(*spec) <= io->data_size) {
		spec = (struct dm_target_spec *)((char *)io + io->data_start);
		snprintf(spec->target_type, sizeof(spec->target_type), "%s",
		    fake.type ? fake.type : "");
	}
	return 0;
}

/* Answer SG_IO (the TEST UNIT READY) as scripted. */
static int
fake_tur(struct sg_io_hdr *h)
{
	struct sgfake_answer a = { .status = fake.tur_status };

	fake.tur_calls++;
	fake.tur_hdr = *h;
	sgfake_cdb(h, fake.tur_cdb);
	if (fake.tur_status == PRH_STATUS_CHECK_CONDITION) {
		a.sense = fake.tur_sense;
		a.sense_len = sizeof(fake.tur_sense);
	}
	sgfake_reply(h, &a);
	return 0;
}

/* The ioctl() every caller in this process sees (sgfake.c). */
int
sgfake_ioctl(int fd, unsigned long request, void *arg)
{
	(void)fd;
	if (request == DM_TABLE_STATUS)
		return fake_dm(arg) < 0 ? -errno : 0;
	if (request == SG_IO)
		return fake_tur(arg);
	return SGFAKE_PASS;
}

/* A /proc/devices that lists device-mapper at major DM_MAJOR (and the
 * block devices this machine has), or NULL if it cannot be written. */
static const char *
fake_devices(void)
{
	static char path[64];
	static int done;
	char line[128];
	FILE *in, *out;

	if (done)
		return path[0] != '\0' ? path : NULL;
	done = 1;
	snprintf(path, sizeof(path), "/tmp/prh-devices.%d", (int)getpid());
	in = fopen("/proc/devices", "re");
	out = fopen(path, "we");
	if (out == NULL) {
		path[0] = '\0';
		if (in != NULL)
			fclose(in);
		return NULL;
	}
	fprintf(out, "Character devices:\n  1 mem\n\nBlock devices:\n");
	fprintf(out, "%3u device-mapper\n", DM_MAJOR);
	while (in != NULL && fgets(line, sizeof(line), in) != NULL)
		if (strstr(line, "device-mapper") == NULL &&
		    strchr(line, ':') == NULL)
			fputs(line, out); /* block and character alike: fine */
	if (in != NULL)
		fclose(in);
	fclose(out);
	atexit(fake_devices_remove);
	return path;
}

/* The open() every caller in this process sees (sgfake.c). */
int
sgfake_open(int dfd, const char *path, int flags, mode_t mode)
{
	if (strcmp(path, "/dev/mapper/control") == 0) {
		fake.control_opens++;
		return sgfake_open_next(dfd, "/dev/null", flags, mode);
	}
	if (strcmp(path, "/proc/devices") == 0 && fake_devices() != NULL)
		return sgfake_open_next(dfd, fake_devices(), flags, mode);
	return SGFAKE_PASS;
}

/* ---- the fake library's controls --------------------------------------- */

/* fake_mpath_last()'s record, as in tests/mpath/fake_mpathpersist.c. */
struct fake_mpath_out {
	int sa, scope;
	unsigned type;
	int noisy, verbose;
	uint8_t header[24];
	uint32_t num_tids;
	struct mpath_abi_tid tids[MPATH_ABI_TIDS_MAX];
};

static struct {
	void *h;
	void (*set_rc)(int, int, int);
	void (*set_answer)(const uint8_t *, unsigned);
	void (*hold)(int);
	void (*wait_inside)(unsigned);
	void (*counts)(unsigned *, unsigned *, unsigned *, unsigned *);
	void (*last)(struct fake_mpath_out *, int *);
	unsigned *mx_alloc_len;
} lib;

/* Open the fake library (the one mpath.c will dlopen) and its controls. */
static void
lib_open(void)
{
	if (geteuid() != 0)
		cr_skip_test("multipath mode needs uid 0");
	lib.h = dlopen("libmpathpersist.so.0", RTLD_NOW);
	cr_assert_not_null(lib.h, "fake library: %s", dlerror());
	*(void **)&lib.set_rc = dlsym(lib.h, "fake_mpath_set_rc");
	*(void **)&lib.set_answer = dlsym(lib.h, "fake_mpath_set_answer");
	*(void **)&lib.hold = dlsym(lib.h, "fake_mpath_hold");
	*(void **)&lib.wait_inside = dlsym(lib.h, "fake_mpath_wait_inside");
	*(void **)&lib.counts = dlsym(lib.h, "fake_mpath_counts");
	*(void **)&lib.last = dlsym(lib.h, "fake_mpath_last");
	lib.mx_alloc_len = dlsym(lib.h, "mpath_mx_alloc_len");
	cr_assert(lib.set_rc && lib.set_answer && lib.hold && lib.wait_inside &&
	    lib.counts && lib.last && lib.mx_alloc_len);
}

/* The fake library's call and init counters. */
static unsigned
lib_calls(unsigned *inits, unsigned *exits, unsigned *max_inside)
{
	unsigned c, i, e, m;

	lib.counts(&c, &i, &e, &m);
	if (inits)
		*inits = i;
	if (exits)
		*exits = e;
	if (max_inside)
		*max_inside = m;
	return c;
}

static int listener(const char *name);

/* A private network namespace, with multipathd's abstract socket
 * listening in it if listen_too; skips the test without root. */
static int
netns(bool listen_too)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		cr_skip_test("needs root for a private network namespace");
	return listen_too ? listener(MULTIPATHD) : -1;
}

/* ---- helpers ----------------------------------------------------------- */

/* A CDB: opcode, service action, scope/type byte, length. */
static void
cdb_make(uint8_t cdb[PRH_CDB_LEN], uint8_t op, uint8_t sa, uint8_t st,
    uint32_t len)
{
	memset(cdb, 0, PRH_CDB_LEN);
	cdb[0] = op;
	cdb[1] = sa;
	cdb[2] = st;
	cdb[7] = len >> 8;
	cdb[8] = len;
}

/* Expect CHECK CONDITION key/asc/ascq in fixed format, the rest zero. */
static void
expect_check(const struct scsi_result *r, uint8_t key, uint8_t asc,
    uint8_t ascq)
{
	cr_expect_eq(r->status, PRH_STATUS_CHECK_CONDITION);
	cr_expect_eq(r->size, 0);
	cr_expect_eq(r->sense[0], 0x70);
	cr_expect_eq(r->sense[2], key, "key %x, want %x", r->sense[2], key);
	cr_expect_eq(r->sense[12], asc, "asc %02x, want %02x", r->sense[12],
	    asc);
	cr_expect_eq(r->sense[13], ascq);
	for (int i = 18; i < PRH_SENSE_LEN; i++)
		cr_expect_eq(r->sense[i], 0, "sense byte %d", i);
}

/* Expect a status with 96 zero sense bytes and no payload. */
static void
expect_status(const struct scsi_result *r, uint8_t status)
{
	cr_expect_eq(r->status, status, "status %02x, want %02x", r->status,
	    status);
	cr_expect_eq(r->size, 0);
	for (int i = 0; i < PRH_SENSE_LEN; i++)
		cr_expect_eq(r->sense[i], 0, "sense byte %d", i);
}

/* A PR OUT parameter list: key, SA key, flags, then extra bytes. */
static uint32_t
param_make(uint8_t *p, uint64_t key, uint64_t sakey, uint8_t flags,
    const uint8_t *extra, uint32_t n)
{
	memset(p, 0, PRH_DATA_MAX);
	for (int i = 0; i < 8; i++) {
		p[i] = key >> (56 - 8 * i);
		p[8 + i] = sakey >> (56 - 8 * i);
	}
	p[20] = flags;
	if (n > 0)
		memcpy(p + 24, extra, n);
	return 24 + n;
}

/* Translate a PR OUT; the result of mpath_xlate_out. */
static int
xlate_out(uint8_t sa, uint8_t st, const uint8_t *param, uint32_t len,
    struct mpath_prout *out, struct scsi_result *res)
{
	static uint8_t storage[MPATH_PROUT_PARAM_SIZE]
	    __attribute__((aligned(16)));
	uint8_t cdb[PRH_CDB_LEN];

	cdb_make(cdb, PRH_OP_PR_OUT, sa, st, len);
	memset(out, 0, sizeof(*out));
	out->param = (struct mpath_abi_prout_param *)storage;
	memset(res, 0xee, sizeof(*res));
	return mpath_xlate_out(cdb, param, len, out, res);
}

/* ---- PR IN translation ------------------------------------------------- */

Test(xlate_in, supported_service_actions)
{
	struct scsi_result res;
	uint8_t cdb[PRH_CDB_LEN];

	for (uint8_t sa = 0; sa < 3; sa++) {
		cdb_make(cdb, PRH_OP_PR_IN, sa, 0, 8192);
		cr_expect_eq(mpath_xlate_in(cdb, &res), sa);
	}
}

Test(xlate_in, read_full_status_and_others_refused)
{
	struct scsi_result res;
	uint8_t cdb[PRH_CDB_LEN];

	for (uint8_t sa = 3; sa < 32; sa++) {
		cdb_make(cdb, PRH_OP_PR_IN, sa, 0, 8192);
		cr_expect_eq(mpath_xlate_in(cdb, &res), -1, "sa %u", sa);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	}
}

Test(xlate_in, read_keys_rebuilt_and_padded_to_allocation_length)
{
	static struct mpath_abi_prin_resp resp;
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result res;

	memset(data, 0xaa, sizeof(data));
	resp.u.keys.generation = 0x01020304;
	resp.u.keys.additional_length = 16;
	memcpy(resp.u.keys.data, "\0\0\0\0\0\0\0\x11\0\0\0\0\0\0\0\x22", 16);
	mpath_xlate_in_data(0, &resp, 100, data, &res);
	cr_expect_eq(res.status, PRH_STATUS_GOOD);
	cr_expect_eq(res.size, 100);
	cr_expect_arr_eq(data, "\x01\x02\x03\x04\0\0\0\x10", 8);
	cr_expect_eq(data[15], 0x11);
	cr_expect_eq(data[23], 0x22);
	for (int i = 24; i < PRH_DATA_MAX; i++)
		cr_expect_eq(data[i], 0, "byte %d", i);
	mpath_xlate_in_data(0, &resp, 4, data, &res);
	cr_expect_eq(res.size, 4);
	mpath_xlate_in_data(0, &resp, 0, data, &res);
	cr_expect_eq(res.size, 0);
}

Test(xlate_in, additional_length_beyond_buffer_is_cut)
{
	static struct mpath_abi_prin_resp resp;
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result res;

	resp.u.keys.additional_length = 0xffffffff;
	memset(resp.u.keys.data, 0x5a, sizeof(resp.u.keys.data));
	mpath_xlate_in_data(1, &resp, 8192, data, &res);
	cr_expect_eq(res.size, 8192);
	cr_expect_arr_eq(data + 4, "\xff\xff\xff\xff", 4);
	cr_expect_eq(data[8191], 0x5a);
}

Test(xlate_in, read_reservation_descriptor_as_the_device_sent_it)
{
	static struct mpath_abi_prin_resp resp;
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result res;
	const uint8_t desc[16] = { 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0,
		0x05 };

	resp.u.keys.generation = 7;
	resp.u.keys.additional_length = 16;
	memcpy(resp.u.keys.data, desc, 16);
	mpath_xlate_in_data(1, &resp, 24, data, &res);
	cr_expect_eq(res.size, 24);
	cr_expect_arr_eq(data, "\0\0\0\x07\0\0\0\x10", 8);
	cr_expect_arr_eq(data + 8, desc, 16);
}

Test(xlate_in, report_capabilities_fields_back_to_big_endian)
{
	static struct mpath_abi_prin_resp resp;
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result res;

	resp.u.caps.length = 8;
	resp.u.caps.flags[0] = 0x1d;
	resp.u.caps.flags[1] = 0x81;
	resp.u.caps.type_mask = 0xea01;
	mpath_xlate_in_data(2, &resp, 8, data, &res);
	cr_expect_eq(res.size, 8);
	cr_expect_arr_eq(data, "\x00\x08\x1d\x81\xea\x01\x00\x00", 8);
}

/* ---- PR OUT translation ------------------------------------------------ */

Test(xlate_out, every_service_action_0_to_6_with_key_flags_scope_type)
{
	static uint8_t p[PRH_DATA_MAX];
	struct mpath_prout out;
	struct scsi_result res;
	uint32_t len;

	for (uint8_t sa = 0; sa <= 6; sa++) {
		len = param_make(p, 0x1122334455667788ull,
		    0xa1a2a3a4a5a6a7a8ull, 0x0d, NULL, 0);
		memset(p + 16, 0xff, 4); /* scope-specific address: ignored */
		p[21] = 0xff;		 /* reserved and obsolete: ignored */
		p[22] = p[23] = 0xff;
		cr_assert_eq(xlate_out(sa, 0x15, p, len, &out, &res), 0);
		cr_expect_eq(out.sa, sa);
		cr_expect_eq(out.scope, 1);
		cr_expect_eq(out.type, 5);
		cr_expect_arr_eq(out.param->key, p, 8);
		cr_expect_arr_eq(out.param->sa_key, p + 8, 8);
		cr_expect_eq(out.param->sa_flags, 0x0d);
		cr_expect_eq(out.param->obsolete0, 0);
		cr_expect_eq(out.param->reserved0, 0);
		cr_expect_eq(out.param->reserved1, 0);
		cr_expect_eq(out.param->num_tids, 0);
	}
}

Test(xlate_out, register_and_move_and_others_refused)
{
	static uint8_t p[PRH_DATA_MAX];
	struct mpath_prout out;
	struct scsi_result res;

	for (uint8_t sa = 7; sa < 32; sa++) {
		cr_expect_eq(xlate_out(sa, 0, p,
				 param_make(p, 1, 2, 0, NULL, 0), &out, &res),
		    -1);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	}
}

Test(xlate_out, short_list_refused_before_service_action)
{
	static uint8_t p[PRH_DATA_MAX];
	struct mpath_prout out;
	struct scsi_result res;

	for (uint32_t len = 0; len < 24; len++) {
		cr_expect_eq(xlate_out(7, 0, p, len, &out, &res), -1);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	}
	for (uint32_t len = 25; len < 28; len++) {
		cr_expect_eq(xlate_out(0, 0, p, len, &out, &res), -1);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	}
}

Test(xlate_out, transport_id_list_longer_than_the_parameters_refused)
{
	static uint8_t p[PRH_DATA_MAX];
	uint8_t ext[28] = { 0, 0, 0, 25 }; /* 25 > the 24 that follow */
	struct mpath_prout out;
	struct scsi_result res;

	cr_expect_eq(xlate_out(0, 0, p, param_make(p, 0, 1, 8, ext, 28), &out,
			 &res),
	    -1);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	ext[3] = 0xff;
	ext[0] = 0xff; /* BE32 near 2^32: no overflow */
	cr_expect_eq(xlate_out(0, 0, p, param_make(p, 0, 1, 8, ext, 28), &out,
			 &res),
	    -1);
}

Test(xlate_out, fc_sas_and_iscsi_transport_ids_decoded)
{
	static uint8_t p[PRH_DATA_MAX];
	uint8_t ext[4 + 24 + 24 + 16 + 8] = { 0 };
	struct mpath_prout out;
	struct scsi_result res;
	uint8_t *t = ext + 4;

	ext[3] = 24 + 24 + 16;
	t[0] = 0x00; /* FC */
	memcpy(t + 8, "FCNAME88", 8);
	t += 24;
	t[0] = 0x06; /* SAS */
	memcpy(t + 4, "SASADDR8", 8);
	t += 24;
	t[0] = 0x45; /* iSCSI, name and ISID */
	t[3] = 12;
	memcpy(t + 4, "iqn.x\0\0\0\0\0\0\0", 12);
	memset(t + 16, 0x77, 8); /* past the list: ignored */
	cr_assert_eq(xlate_out(0, 0, p,
			 param_make(p, 0, 1, 8, ext, sizeof(ext)), &out, &res),
	    0);
	cr_assert_eq(out.param->num_tids, 3);
	cr_expect_eq(out.param->tids[0], &out.tid[0]);
	cr_expect_eq(out.tid[0].protocol_id, MPATH_ABI_PROTO_FC);
	cr_expect_eq(out.tid[0].format_code, 0);
	cr_expect_arr_eq(out.tid[0].u.n_port_name, "FCNAME88", 8);
	cr_expect_eq(out.tid[1].protocol_id, MPATH_ABI_PROTO_SAS);
	cr_expect_arr_eq(out.tid[1].u.sas_address, "SASADDR8", 8);
	cr_expect_eq(out.tid[2].protocol_id, MPATH_ABI_PROTO_ISCSI);
	cr_expect_eq(out.tid[2].format_code, 0x40);
	/* the length field, then the name: what the library re-encodes */
	cr_expect_arr_eq(out.tid[2].u.iscsi_name, "\0\x0ciqn.x", 7);
}

Test(xlate_out, iscsi_names_the_library_cannot_encode_refused)
{
	static uint8_t p[PRH_DATA_MAX];
	struct mpath_prout out;
	struct scsi_result res;
	uint8_t ext[4 + 4 + 256];
	struct {
		uint16_t n;    /* the ID's name length */
		uint32_t list; /* the list length */
		bool nul;      /* a NUL in the name */
	} bad[] = {
		{ 10, 14, true },   /* not a multiple of 4 */
		{ 256, 260, true }, /* above 252 */
		{ 12, 16, false },  /* no NUL */
		{ 16, 16, true },   /* runs past the list */
		{ 1, 3, true },	    /* shorter than its header */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(ext, 'a', sizeof(ext));
		memset(ext, 0, 8);
		ext[3] = bad[i].list & 0xff;
		ext[2] = bad[i].list >> 8;
		ext[4] = 0x05;
		ext[6] = bad[i].n >> 8;
		ext[7] = bad[i].n & 0xff;
		if (bad[i].nul)
			ext[8 + 4] = '\0';
		cr_expect_eq(xlate_out(0, 0, p,
				 param_make(p, 0, 1, 8, ext, sizeof(ext)), &out,
				 &res),
		    -1, "case %zu", i);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	}
	/* 252 is the longest that is taken */
	memset(ext, 0, sizeof(ext));
	ext[3] = 0;
	ext[2] = 1; /* 256 */
	ext[4] = 0x05;
	ext[7] = 252;
	cr_expect_eq(xlate_out(0, 0, p, param_make(p, 0, 1, 8, ext, 260), &out,
			 &res),
	    0);
}

Test(xlate_out, other_protocols_and_formats_refused)
{
	static uint8_t p[PRH_DATA_MAX];
	uint8_t ext[28] = { 0, 0, 0, 24 };
	const uint8_t ids[] = { 0x01, 0x02, 0x03, 0x04, 0x07, 0x08, 0x09, 0x0a,
		0x40, 0x46, 0x85, 0xc0 };
	struct mpath_prout out;
	struct scsi_result res;

	for (size_t i = 0; i < sizeof(ids); i++) {
		ext[4] = ids[i];
		cr_expect_eq(xlate_out(0, 0, p, param_make(p, 0, 1, 8, ext, 28),
				 &out, &res),
		    -1, "byte 0 = %02x", ids[i]);
		expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	}
}

/* QEMU aborts the whole helper on the 33rd ID. */
Test(xlate_out, transport_id_33_answered_26_00_not_abort)
{
	static uint8_t p[PRH_DATA_MAX], ext[4 + 33 * 24];
	struct mpath_prout out;
	struct scsi_result res;

	memset(ext, 0, sizeof(ext));
	ext[2] = (32 * 24) >> 8;
	ext[3] = (32 * 24) & 0xff;
	cr_assert_eq(xlate_out(0, 0, p,
			 param_make(p, 0, 1, 8, ext, 4 + 32 * 24), &out, &res),
	    0);
	cr_expect_eq(out.param->num_tids, 32);
	ext[2] = (33 * 24) >> 8;
	ext[3] = (33 * 24) & 0xff;
	cr_expect_eq(xlate_out(0, 0, p,
			 param_make(p, 0, 1, 8, ext, sizeof(ext)), &out, &res),
	    -1);
	expect_check(&res, PRH_SK_ILLEGAL_REQUEST, 0x26, 0x00);
}

/* ---- library results --------------------------------------------------- */

Test(xlate_result, every_code)
{
	static const struct {
		int code;
		uint8_t status, key, asc, ascq;
		int tur;
	} want[] = {
		{ 0, PRH_STATUS_GOOD, 0, 0, 0, 0 },
		{ 1, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ 2, PRH_STATUS_CHECK_CONDITION, 0x2, 0x04, 0x00, 1 },
		{ 3, PRH_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00, 1 },
		{ 4, PRH_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00, 1 },
		{ 5, PRH_STATUS_CHECK_CONDITION, 0x5, 0x26, 0x00, 0 },
		{ 6, PRH_STATUS_CHECK_CONDITION, 0x6, 0x29, 0x02, 0 },
		{ 7, PRH_STATUS_CHECK_CONDITION, 0x5, 0x20, 0x00, 0 },
		{ 8, PRH_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, 1 },
		{ 9, PRH_STATUS_CHECK_CONDITION, 0x0, 0x00, 0x00, 0 },
		{ 10, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ 11, PRH_STATUS_RESERVATION_CONFLICT, 0, 0, 0, 0 },
		{ 12, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ 13, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ 14, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ 15, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ -1, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ 16, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
		{ INT_MIN, PRH_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, 0 },
	};
	struct scsi_result res;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&res, 0xee, sizeof(res));
		cr_expect_eq(mpath_xlate_result(want[i].code, &res),
		    want[i].tur, "code %d", want[i].code);
		if (want[i].status == PRH_STATUS_CHECK_CONDITION)
			expect_check(&res, want[i].key, want[i].asc,
			    want[i].ascq);
		else
			expect_status(&res, want[i].status);
		cr_expect_neq(mpath_xlate_result_name(want[i].code), NULL);
	}
}

/* ---- device-mapper probe ----------------------------------------------- */

Test(probe, multipath_map_is_one_multipath_target_with_mpath_uuid)
{
	fake.targets = 1;
	fake.type = "multipath";
	fake.uuid = "mpath-3600140512345";
	cr_expect_eq(mpath_probe(DMDEV), 1);
	cr_expect_eq(fake.dm_in.dev, DMDEV);
	cr_expect_eq(fake.dm_in.version[0], DM_VERSION_MAJOR);
	cr_expect(fake.dm_in.flags & DM_STATUS_TABLE_FLAG);
	fake.uuid = "LVM-abc";
	cr_expect_eq(mpath_probe(DMDEV), 0);
	fake.uuid = "mpath-x";
	fake.type = "linear";
	cr_expect_eq(mpath_probe(DMDEV), 0);
	fake.type = "multipath";
	fake.targets = 2;
	cr_expect_eq(mpath_probe(DMDEV), 0);
	fake.targets = 1;
	fake.data_start = 8000; /* past the answer: not trusted */
	cr_expect_eq(mpath_probe(DMDEV), 0);
	cr_expect_eq(fake.control_opens, 1, "the control node stays open");
}

Test(probe, not_device_mapper_and_dm_errors)
{
	fake.dm_errno = ENXIO;
	cr_expect_eq(mpath_probe(DMDEV), 0);
	cr_expect_eq(fake.dm_calls, 1);
	fake.dm_errno = EACCES;
	cr_expect_eq(mpath_probe(DMDEV), -EACCES);
	fake.dm_errno = EIO;
	cr_expect_eq(mpath_probe(DMDEV), -EIO);
}

/* Without CAP_SYS_ADMIN device-mapper refuses every ioctl; sysfs still
 * tells a device that is no multipath map (here any block device of this
 * machine's, none of which is one). */
Test(probe, dm_refusal_falls_back_to_sysfs)
{
	unsigned mi, ma = dm_major(&mi);
	char path[64];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", ma, mi);
	if (access(path, F_OK) != 0)
		cr_skip_test("no block device in /sys/dev/block");
	fake.dm_errno = EACCES;
	cr_expect_eq(mpath_probe(makedev(ma, mi)), 0, "%u:%u", ma, mi);
	cr_expect_eq(fake.dm_calls, 1);
	cr_expect_eq(mpath_probe(DMDEV), -EACCES);
}

Test(probe, other_majors_are_not_asked_about)
{
	fake.targets = 1;
	fake.type = "multipath";
	fake.uuid = "mpath-1";
	cr_expect_eq(mpath_probe(makedev(DM_MAJOR + 1, 0)), 0);
	cr_expect_eq(fake.dm_calls, 0);
}

Test(probe, only_block_devices_and_not_when_off)
{
	struct mpath_opts off = { MPATH_MODE_OFF, 4 };
	int fd = open("/dev/null", O_RDONLY);

	fake.targets = 1;
	fake.type = "multipath";
	fake.uuid = "mpath-1";
	cr_expect_eq(mpath_probe_fd(fd), 0); /* a character device */
	cr_expect_eq(mpath_probe_fd(-1), 0);
	cr_expect_eq(fake.dm_calls, 0);
	cr_expect_eq(mpath_init(&off), 0);
	cr_expect_eq(mpath_mode(), MPATH_MODE_OFF);
	cr_expect_eq(fake.control_opens, 0);
	close(fd);
}

/* QEMU's multipath build exits on a DM error. */
Test(probe, dm_error_answered_02_04_03_not_exit)
{
	struct scsi_result res;

	mpath_unavailable(-EACCES, &res);
	expect_check(&res, PRH_SK_NOT_READY, 0x04, 0x03);
	mpath_unavailable(-ENOENT, &res);
	expect_check(&res, PRH_SK_NOT_READY, 0x04, 0x03);
}

/* ---- multipathd -------------------------------------------------------- */

/* A listening socket at path (NULL: abstract name "@name"). */
static int
listener(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(name);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sun.sun_path, name, strlen(name));
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	cr_assert_eq(bind(s, (struct sockaddr *)&sun, len), 0, "%s", name);
	cr_assert_eq(listen(s, 4), 0);
	return s;
}

Test(multipathd, pathname_socket_through_a_symlink_as_kubevirt_links_it)
{
	char dir[] = "/tmp/mpathd.XXXXXX", sock[64], link[64];
	const char *names[] = { link, "@prh-test-none" };
	int s;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/multipathd.socket", dir);
	snprintf(link, sizeof(link), "%s/run-multipathd.socket", dir);
	cr_assert_eq(symlink(sock, link), 0);
	cr_expect_eq(mpath_multipathd_reachable(names, 2), 0, "dangling");
	s = listener(sock);
	cr_expect_eq(mpath_multipathd_reachable(names, 2), 1);
	close(s);
	cr_expect_eq(mpath_multipathd_reachable(names, 2), 0, "closed");
	unlink(link);
	unlink(sock);
	rmdir(dir);
}

Test(multipathd, abstract_socket)
{
	char name[64];
	const char *names[] = { "/nonexistent/multipathd.socket", name };
	int s;

	snprintf(name, sizeof(name), "@prh-test-multipathd-%d", (int)getpid());
	cr_expect_eq(mpath_multipathd_reachable(names, 2), 0);
	s = listener(name);
	cr_expect_eq(mpath_multipathd_reachable(names, 2), 1);
	close(s);
}

/* ---- mpath_execute through the fake library ---------------------------- */

/* Run one command on fd 0 (the library gets it; it is not used). */
static void
run(const uint8_t *cdb, uint8_t *data, uint32_t len, struct scsi_result *r)
{
	memset(r, 0xee, sizeof(*r));
	mpath_execute(0, cdb, data, len, 1000, r);
}

/* Run PR IN with service action sa and allocation length len. */
static void
run_pr_in(uint8_t sa, uint8_t *data, uint32_t len, struct scsi_result *r)
{
	uint8_t cdb[PRH_CDB_LEN];

	cdb_make(cdb, PRH_OP_PR_IN, sa, 0, len);
	run(cdb, data, len, r);
}

Test(execute, read_keys_through_the_library)
{
	static uint8_t data[PRH_DATA_MAX];
	const uint8_t answer[24] = { 0, 0, 0, 9, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0,
		0, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0xb2 };
	struct scsi_result r;
	uint8_t cdb[PRH_CDB_LEN];
	unsigned inits;
	int sa;
	struct fake_mpath_out o;

	lib_open();
	lib.set_answer(answer, sizeof(answer));
	cdb_make(cdb, PRH_OP_PR_IN, 0, 0, 512);
	memset(data, 0xcc, sizeof(data));
	run(cdb, data, 512, &r);
	cr_expect_eq(r.status, PRH_STATUS_GOOD);
	cr_expect_eq(r.size, 512, "the allocation length, as QEMU");
	cr_expect_arr_eq(data, answer, sizeof(answer));
	for (int i = 24; i < 512; i++)
		cr_expect_eq(data[i], 0);
	cr_expect_eq(*lib.mx_alloc_len, 8192);
	run(cdb, data, 512, &r);
	cr_expect_eq(lib_calls(&inits, NULL, NULL), 2);
	cr_expect_eq(inits, 1, "initialised once");
	lib.last(&o, &sa);
	cr_expect_eq(sa, 0);
}

Test(execute, read_full_status_refused_without_loading_the_library)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;
	unsigned inits;

	lib_open();
	run_pr_in(3, data, 8192, &r);
	expect_check(&r, PRH_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	cr_expect_eq(lib_calls(&inits, NULL, NULL), 0);
	cr_expect_eq(inits, 0);
}

/* A REGISTER (0 -> sakey, flags) through mpath_execute; what the fake
 * library was given goes to o. */
static void
run_register(uint64_t sakey, uint8_t flags, struct scsi_result *r,
    struct fake_mpath_out *o)
{
	static uint8_t p[PRH_DATA_MAX];
	uint8_t cdb[PRH_CDB_LEN];
	uint32_t len = param_make(p, 0, sakey, flags, NULL, 0);
	int sa;

	cdb_make(cdb, PRH_OP_PR_OUT, 0, 0x05, len);
	run(cdb, p, len, r);
	lib.last(o, &sa);
}

Test(execute, register_reaches_the_library_with_multipathd_listening)
{
	struct fake_mpath_out o;
	struct scsi_result r;

	netns(true);
	lib_open();
	run_register(0x123abc, MPATH_ABI_F_ALL_TG_PT, &r, &o);
	expect_status(&r, PRH_STATUS_GOOD);
	cr_expect_eq(o.sa, 0);
	cr_expect_eq(o.type, 5);
	cr_expect_arr_eq(o.header + 8, "\0\0\0\0\0\x12\x3a\xbc", 8);
	cr_expect_eq(o.header[20], MPATH_ABI_F_ALL_TG_PT);
	cr_expect_eq(o.verbose, 1, "default verbosity");
	cr_expect_eq(o.noisy, 0);
}

Test(execute, verbosity_follows_v_and_q)
{
	struct fake_mpath_out o;
	struct scsi_result r;

	netns(true);
	lib_open();
	log_set_verbosity(4);
	run_register(1, 0, &r, &o);
	cr_expect_eq(o.verbose, 3);
	cr_expect_eq(o.noisy, 1);
	log_set_verbosity(0);
	run_register(1, 0, &r, &o);
	cr_expect_eq(o.verbose, 0);
	cr_expect_eq(o.noisy, 0);
}

Test(execute, pr_out_without_multipathd_answered_02_04_03)
{
	static uint8_t p[PRH_DATA_MAX];
	struct scsi_result r;
	uint8_t cdb[PRH_CDB_LEN];
	uint32_t len;

	netns(false);
	lib_open();
	len = param_make(p, 0, 1, 0, NULL, 0);
	cdb_make(cdb, PRH_OP_PR_OUT, 0, 0, len);
	run(cdb, p, len, &r);
	expect_check(&r, PRH_SK_NOT_READY, 0x04, 0x03);
	cr_expect_eq(lib_calls(NULL, NULL, NULL), 0, "nothing was sent");
}

Test(execute, reservation_conflict_has_zero_sense)
{
	static uint8_t p[PRH_DATA_MAX];
	struct scsi_result r;
	uint8_t cdb[PRH_CDB_LEN];
	uint32_t len;

	netns(true);
	lib_open();
	lib.set_rc(0, 0, MPATH_ABI_RESERV_CONFLICT);
	len = param_make(p, 5, 0, 0, NULL, 0);
	cdb_make(cdb, PRH_OP_PR_OUT, 1, 0x01, len);
	run(cdb, p, len, &r);
	expect_status(&r, PRH_STATUS_RESERVATION_CONFLICT);
	cr_expect_eq(fake.tur_calls, 0);
}

Test(execute, sense_class_result_takes_a_failing_test_unit_ready)
{
	static uint8_t data[PRH_DATA_MAX];
	const uint8_t sense[18] = { 0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0,
		0x3a, 0x00 };
	struct scsi_result r;

	lib_open();
	lib.set_rc(0, MPATH_ABI_SENSE_NOT_READY, 0);
	fake.tur_status = PRH_STATUS_CHECK_CONDITION;
	memcpy(fake.tur_sense, sense, sizeof(sense));
	run_pr_in(0, data, 8192, &r);
	expect_check(&r, PRH_SK_NOT_READY, 0x3a, 0x00);
	cr_expect_eq(fake.tur_calls, 1);
	cr_expect_eq(fake.tur_hdr.cmd_len, 6);
	cr_expect_eq(fake.tur_hdr.dxfer_direction, SG_DXFER_NONE);
	cr_expect_eq(fake.tur_hdr.timeout, 1000);
	for (int i = 0; i < 6; i++)
		cr_expect_eq(fake.tur_cdb[i], 0);
}

Test(execute, sense_class_result_with_good_tur_gets_generic_sense)
{
	static uint8_t data[PRH_DATA_MAX];
	static const struct {
		int code;
		uint8_t key, asc, ascq;
	} c[] = { { 2, 2, 0x04, 0 }, { 3, 3, 0x11, 0 }, { 4, 4, 0x44, 0 },
		{ 8, 0xb, 0x00, 0x06 } };
	struct scsi_result r;
	uint8_t cdb[PRH_CDB_LEN];

	lib_open();
	cdb_make(cdb, PRH_OP_PR_IN, 1, 0, 8192);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		lib.set_rc(0, c[i].code, 0);
		run(cdb, data, 8192, &r);
		expect_check(&r, c[i].key, c[i].asc, c[i].ascq);
	}
	cr_expect_eq(fake.tur_calls, 4);
}

Test(execute, library_init_failure_answered_and_not_retried)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;
	unsigned inits;

	lib_open();
	lib.set_rc(1, 0, 0);
	run_pr_in(0, data, 8192, &r);
	expect_check(&r, PRH_SK_NOT_READY, 0x04, 0x03);
	run_pr_in(0, data, 8192, &r);
	expect_check(&r, PRH_SK_NOT_READY, 0x04, 0x03);
	cr_expect_eq(lib_calls(&inits, NULL, NULL), 0);
	cr_expect_eq(inits, 1);
}

/* Many threads at once: the library never sees two calls overlap. */
static void *
hammer(void *arg)
{
	uint8_t cdb[PRH_CDB_LEN], *data = malloc(PRH_DATA_MAX);
	struct scsi_result r;
	int *bad = arg;

	cdb_make(cdb, PRH_OP_PR_IN, 0, 0, 64);
	for (int i = 0; i < 25; i++) {
		mpath_execute(0, cdb, data, 64, 10000, &r);
		if (r.status != PRH_STATUS_GOOD)
			(*bad)++;
	}
	free(data);
	return NULL;
}

Test(execute, calls_run_one_at_a_time)
{
	struct mpath_opts o = { MPATH_MODE_AUTO, 8 };
	pthread_t t[6];
	int bad[6] = { 0 };
	unsigned max_inside;

	lib_open();
	cr_assert_eq(mpath_init(&o), 0);
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, hammer, &bad[i]);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(bad[i], 0);
	}
	cr_expect_eq(lib_calls(NULL, NULL, &max_inside), 150);
	cr_expect_eq(max_inside, 1);
}

/* One command on its own thread, its result kept. */
struct bg {
	pthread_t t;
	unsigned timeout_ms;
	struct scsi_result r;
};

/* Thread body: a READ KEYS with bg->timeout_ms. */
static void *
bg_run(void *arg)
{
	struct bg *b = arg;
	uint8_t cdb[PRH_CDB_LEN], *data = malloc(PRH_DATA_MAX);

	cdb_make(cdb, PRH_OP_PR_IN, 0, 0, 64);
	mpath_execute(0, cdb, data, 64, b->timeout_ms, &b->r);
	free(data);
	return NULL;
}

/* Wait until n commands wait for the library. */
static void
wait_waiting(unsigned n)
{
	struct mpath_stats st;

	for (;;) {
		mpath_get_stats(&st);
		if (st.waiting >= n)
			return;
		sched_yield();
	}
}

/* Start the backend with options o and hold command a inside the
 * library until lib.hold(0). */
static void
hold_one(const struct mpath_opts *o, struct bg *a)
{
	lib_open();
	cr_assert_eq(mpath_init(o), 0);
	lib.hold(1);
	pthread_create(&a->t, NULL, bg_run, a);
	lib.wait_inside(1);
}

Test(execute, hung_library_holds_at_most_max_workers_then_busy, .timeout = 30)
{
	struct mpath_opts o = { MPATH_MODE_AUTO, 2 };
	struct bg a = { .timeout_ms = 60000 }, b = { .timeout_ms = 60000 };
	struct bg c = { .timeout_ms = 60000 };
	struct mpath_stats st;

	hold_one(&o, &a);
	/* one more may wait; the third answers BUSY at once */
	pthread_create(&b.t, NULL, bg_run, &b);
	wait_waiting(1);
	pthread_create(&c.t, NULL, bg_run, &c);
	pthread_join(c.t, NULL);
	expect_status(&c.r, PRH_STATUS_BUSY);
	mpath_get_stats(&st);
	cr_expect_eq(st.busy_answers, 1);
	cr_expect(st.in_library);
	/* shutdown: the waiting one gives up, the running one finishes */
	mpath_drain();
	pthread_join(b.t, NULL);
	expect_status(&b.r, PRH_STATUS_BUSY);
	lib.hold(0);
	pthread_join(a.t, NULL);
	cr_expect_eq(a.r.status, PRH_STATUS_GOOD);
	cr_expect_eq(lib_calls(NULL, NULL, NULL), 1);
}

Test(execute, waiting_is_bounded_by_the_sg_timeout, .timeout = 30)
{
	struct mpath_opts o = { MPATH_MODE_AUTO, 4 };
	struct bg a = { .timeout_ms = 60000 }, b = { .timeout_ms = 50 };

	hold_one(&o, &a);
	pthread_create(&b.t, NULL, bg_run, &b);
	pthread_join(b.t, NULL); /* returns while a is still held */
	expect_status(&b.r, PRH_STATUS_BUSY);
	lib.hold(0);
	pthread_join(a.t, NULL);
	cr_expect_eq(a.r.status, PRH_STATUS_GOOD);
}

Test(execute, shutdown_releases_the_library_once)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r;
	unsigned exits;

	lib_open();
	run_pr_in(2, data, 8, &r);
	mpath_shutdown();
	mpath_shutdown();
	lib_calls(NULL, &exits, NULL);
	cr_expect_eq(exits, 1);
	run_pr_in(2, data, 8, &r); /* after shutdown: not sent */
	expect_status(&r, PRH_STATUS_BUSY);
}

/* Occurrences of needle in s. */
static int
count(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* No library: one clear answer, the process goes on (QEMU's multipath
 * build exits).  The binary runs itself without the fake on
 * LD_LIBRARY_PATH. */
Test(execute, no_library_answered_02_04_03)
{
	char exe[PATH_MAX], out[512] = "";
	ssize_t n;
	int p[2], st;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("multipath mode needs uid 0");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		/* a clean environment: no fake library, and none of
		 * Criterion's own variables (they would make the new
		 * process one of its test workers) */
		char *const env[] = { "PRH_TEST_MPATH_FAKE=none", NULL };

		execle(exe, exe, "--no-library", (char *)NULL, env);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	while (n > 0 && (size_t)n < sizeof(out) - 1) {
		ssize_t m = read(p[0], out + n, sizeof(out) - 1 - n);
		if (m <= 0)
			break;
		n += m;
	}
	close(p[0]);
	waitpid(pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x: %s", st,
	    out);
	if (strstr(out, "a real libmpathpersist is installed") != NULL)
		cr_skip_test("a real libmpathpersist is installed");
	cr_expect_not_null(strstr(out, "answer 02/02/04/03 twice"), "%s", out);
	cr_expect_not_null(strstr(out, "cannot load libmpathpersist.so.0"),
	    "%s", out);
	/* one warning, not one per command */
	cr_expect_eq(count(out, "cannot load"), 1, "%s", out);
}

/* --no-library: two READ KEYS without the library; print the answers. */
static int
no_library(void)
{
	static uint8_t data[PRH_DATA_MAX];
	struct scsi_result r1, r2;
	uint8_t cdb[PRH_CDB_LEN];

	if (dlopen("libmpathpersist.so.0", RTLD_NOW) != NULL) {
		printf("a real libmpathpersist is installed\n");
		return 0;
	}
	log_init();
	cdb_make(cdb, PRH_OP_PR_IN, 0, 0, 8192);
	mpath_execute(0, cdb, data, 8192, 1000, &r1);
	mpath_execute(0, cdb, data, 8192, 1000, &r2);
	if (r1.status == r2.status && memcmp(r1.sense, r2.sense, 96) == 0)
		printf("answer %02x/%02x/%02x/%02x twice\n", r1.status,
		    r1.sense[2], r1.sense[12], r1.sense[13]);
	fflush(stdout);
	return 0;
}

/* Put the fake library on LD_LIBRARY_PATH (running this binary again),
 * then run the tests. */
int
main(int argc, char **argv)
{
	struct criterion_test_set *tests;
	char exe[PATH_MAX], dir[PATH_MAX + 32], *slash;
	const char *cur = getenv("LD_LIBRARY_PATH");
	ssize_t n;
	int r = 0;

	if (argc == 2 && strcmp(argv[1], "--no-library") == 0)
		return no_library();
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0 && getenv("PRH_TEST_MPATH_FAKE") == NULL) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		snprintf(dir, sizeof(dir), "%s/../mpath/.libs", exe);
		setenv("PRH_TEST_MPATH_FAKE", dir, 1);
		if (cur != NULL && cur[0] != '\0') {
			char *v = malloc(strlen(dir) + strlen(cur) + 2);

			sprintf(v, "%s:%s", dir, cur);
			setenv("LD_LIBRARY_PATH", v, 1);
		} else {
			setenv("LD_LIBRARY_PATH", dir, 1);
		}
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	}
	tests = criterion_initialize();
	if (criterion_handle_args(argc, argv, true))
		r = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return r;
}
