/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The lunsim device model called directly (no preload): commands a host
 * needs to see a disk, allocation lengths, unit attention rules, data
 * access under each reservation type, and the fault syntax.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lunsim.h"

static struct lunsim_hdr mh;
static uint8_t mbuf[8192];

/* A fresh 1 MiB LUN header. */
static void
m_setup(void)
{
	lunsim_hdr_init(&mh, 1 << 20);
}

TestSuite(lunsim_model, .init = m_setup);

/* Run cdb from initiator with data-in capacity inlen (or data-out). */
static struct lunsim_cmd
m_run(const char *who, const uint8_t *cdb, unsigned cdb_len, uint32_t inlen,
    const uint8_t *out, uint32_t outlen)
{
	struct lunsim_cmd c;

	memset(&c, 0, sizeof(c));
	memset(mbuf, 0xee, sizeof(mbuf));
	c.cdb = cdb;
	c.cdb_len = cdb_len;
	c.dir = out != NULL ? LUNSIM_DIR_OUT
	    : inlen	    ? LUNSIM_DIR_IN
			    : LUNSIM_DIR_NONE;
	c.in = mbuf;
	c.in_len = inlen;
	c.out = out;
	c.out_len = outlen;
	lunsim_execute(&mh, -1, who, &c);
	return c;
}

/* PR OUT from who: sa, type, key, sakey; returns the status. */
static uint8_t
m_prout(const char *who, uint8_t sa, uint8_t type, uint64_t key, uint64_t sakey)
{
	uint8_t cdb[10] = { 0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t p[24];
	struct lunsim_cmd c;
	int i;

	memset(p, 0, sizeof(p));
	for (i = 0; i < 8; i++) {
		p[i] = (uint8_t)(key >> (56 - 8 * i));
		p[8 + i] = (uint8_t)(sakey >> (56 - 8 * i));
	}
	c = m_run(who, cdb, 10, 0, p, 24);
	return c.status;
}

Test(lunsim_model, header_fits_and_validates)
{
	struct lunsim_hdr h2;

	cr_assert_leq(sizeof(struct lunsim_hdr), LUNSIM_HDR_SIZE);
	cr_assert(lunsim_hdr_valid(&mh));
	cr_assert_eq(mh.size, 1 << 20);
	h2 = mh;
	h2.magic[0] = 'X';
	cr_assert_not(lunsim_hdr_valid(&h2));
}

Test(lunsim_model, inquiry_standard_and_alloc_len)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 96, 0 };
	struct lunsim_cmd c = m_run("A", cdb, 6, 255, NULL, 0);

	cr_assert_eq(c.status, 0);
	cr_assert_eq(c.in_done, 36);
	cr_assert_eq(mbuf[0], 0x00);
	cr_assert_eq(mbuf[2], 0x06);
	cr_assert_eq(memcmp(mbuf + 8, "LUNSIM  ", 8), 0);
	cdb[4] = 5;
	c = m_run("A", cdb, 6, 255, NULL, 0);
	cr_assert_eq(c.in_done, 5);
	cr_assert_eq(mbuf[5], 0xee, "nothing beyond the allocation length");
	cdb[2] = 0x80; /* page code without EVPD */
	c = m_run("A", cdb, 6, 255, NULL, 0);
	cr_assert_eq(c.status, 2);
	cr_assert_eq(c.sense[12], 0x24);
}

Test(lunsim_model, vpd_pages)
{
	static const uint8_t want[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };
	uint8_t cdb[6] = { 0x12, 1, 0, 0, 255, 0 };
	struct lunsim_cmd c;
	size_t i;

	c = m_run("A", cdb, 6, 255, NULL, 0);
	cr_assert_eq(c.status, 0);
	cr_assert_eq(mbuf[3], sizeof(want));
	cr_assert_eq(memcmp(mbuf + 4, want, sizeof(want)), 0);
	for (i = 1; i < sizeof(want); i++) {
		cdb[2] = want[i];
		c = m_run("A", cdb, 6, 255, NULL, 0);
		cr_assert_eq(c.status, 0, "page %02x", want[i]);
		cr_assert_eq(mbuf[1], want[i]);
		cr_assert_eq(c.in_done, 4u + (mbuf[2] << 8 | mbuf[3]),
		    "page %02x length", want[i]);
		if (want[i] == 0x83)
			cr_assert_eq(mbuf[8] >> 4, 6, "NAA 6 designator");
	}
	cdb[2] = 0x99;
	c = m_run("A", cdb, 6, 255, NULL, 0);
	cr_assert_eq(c.status, 2);
}

Test(lunsim_model, read_capacity_and_report_luns)
{
	uint8_t rc10[10] = { 0x25 };
	uint8_t rc16[16] = { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32 };
	uint8_t rl[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16 };
	struct lunsim_cmd c;

	c = m_run("A", rc10, 10, 8, NULL, 0);
	cr_assert_eq(c.in_done, 8);
	cr_assert_eq(mbuf[2] << 8 | mbuf[3], 2047);
	cr_assert_eq(mbuf[6] << 8 | mbuf[7], 512);
	c = m_run("A", rc16, 16, 64, NULL, 0);
	cr_assert_eq(c.in_done, 32);
	cr_assert_eq(mbuf[6] << 8 | mbuf[7], 2047);
	c = m_run("A", rl, 12, 64, NULL, 0);
	cr_assert_eq(c.in_done, 16);
	cr_assert_eq(mbuf[3], 8);
}

Test(lunsim_model, unit_attention_skips_inquiry_once_delivered)
{
	uint8_t tur[6] = { 0 }, inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	struct lunsim_cmd c;

	cr_assert_eq(m_prout("A", 0, 0, 0, 0xa), 0);
	cr_assert_eq(m_prout("B", 0, 0, 0, 0xb), 0);
	cr_assert_eq(m_prout("B", 3, 0, 0xb, 0), 0); /* CLEAR */
	c = m_run("A", inq, 6, 36, NULL, 0);
	cr_assert_eq(c.status, 0, "INQUIRY is not held up by a UA");
	c = m_run("A", tur, 6, 0, NULL, 0);
	cr_assert_eq(c.status, 2);
	cr_assert_eq(c.sense[2], 6);
	cr_assert_eq(c.sense[12], 0x2a);
	cr_assert_eq(c.sense[13], 0x03);
	cr_assert(c.dirty);
	c = m_run("A", tur, 6, 0, NULL, 0);
	cr_assert_eq(c.status, 0, "delivered once");
	c = m_run("B", tur, 6, 0, NULL, 0);
	cr_assert_eq(c.status, 0, "the issuer gets none");
}

/* Expected READ/WRITE access of holder, registrant, stranger per type. */
static const struct {
	uint8_t type;
	int reg_read, reg_write, other_read, other_write;
} m_access[] = {
	{ LUNSIM_PR_WE, 1, 0, 1, 0 },
	{ LUNSIM_PR_EA, 0, 0, 0, 0 },
	{ LUNSIM_PR_WE_RO, 1, 1, 1, 0 },
	{ LUNSIM_PR_EA_RO, 1, 1, 0, 0 },
	{ LUNSIM_PR_WE_AR, 1, 1, 1, 0 },
	{ LUNSIM_PR_EA_AR, 1, 1, 0, 0 },
};

Test(lunsim_model, data_access_per_type)
{
	size_t i;

	for (i = 0; i < sizeof(m_access) / sizeof(m_access[0]); i++) {
		m_setup();
		cr_assert_eq(m_prout("A", 0, 0, 0, 0xa), 0);
		cr_assert_eq(m_prout("B", 0, 0, 0, 0xb), 0);
		cr_assert_eq(m_prout("A", 1, m_access[i].type, 0xa, 0), 0);
		cr_expect(lunsim_pr_access_ok(&mh, "A", 0));
		cr_expect(lunsim_pr_access_ok(&mh, "A", 1));
		cr_expect_eq(lunsim_pr_access_ok(&mh, "B", 0),
		    m_access[i].reg_read, "type %u", m_access[i].type);
		cr_expect_eq(lunsim_pr_access_ok(&mh, "B", 1),
		    m_access[i].reg_write, "type %u", m_access[i].type);
		cr_expect_eq(lunsim_pr_access_ok(&mh, "C", 0),
		    m_access[i].other_read, "type %u", m_access[i].type);
		cr_expect_eq(lunsim_pr_access_ok(&mh, "C", 1),
		    m_access[i].other_write, "type %u", m_access[i].type);
	}
}

Test(lunsim_model, write_conflict_is_status_0x18)
{
	uint8_t w10[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	uint8_t data[512];
	struct lunsim_cmd c;

	memset(data, 0, sizeof(data));
	cr_assert_eq(m_prout("A", 0, 0, 0, 0xa), 0);
	cr_assert_eq(m_prout("A", 1, LUNSIM_PR_WE, 0xa, 0), 0);
	c = m_run("B", w10, 10, 0, data, sizeof(data));
	cr_assert_eq(c.status, 0x18);
	w10[2] = 0xff; /* beyond the end */
	c = m_run("A", w10, 10, 0, data, sizeof(data));
	cr_assert_eq(c.status, 2);
	cr_assert_eq(c.sense[12], 0x21);
}

Test(lunsim_model, registration_table_full)
{
	char name[16];
	int i;

	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		snprintf(name, sizeof(name), "i%d", i);
		cr_assert_eq(m_prout(name, 0, 0, 0, 1 + (uint64_t)i), 0);
	}
	cr_assert_eq(m_prout("late", 0, 0, 0, 0x99), 2);
}

Test(lunsim_model, fault_syntax)
{
	struct lunsim_fault f;
	char buf[256];

	memset(&f, 0, sizeof(f));
	cr_assert_eq(lunsim_fault_parse(&f, "latency=5:2"), 0);
	cr_assert_eq(f.latency_ms, 5);
	cr_assert_eq(f.jitter_ms, 2);
	cr_assert_eq(lunsim_fault_parse(&f, "errno=EIO"), 0);
	cr_assert_eq(f.err, 5);
	cr_assert_eq(lunsim_fault_parse(&f, "host=0x07"), 0);
	cr_assert_eq(lunsim_fault_parse(&f, "driver=0x06"), 0);
	cr_assert_eq(lunsim_fault_parse(&f, "status=0x02"), 0);
	cr_assert_eq(lunsim_fault_parse(&f, "sense=70000b00"), 0);
	cr_assert_eq(f.sense_len, 4);
	cr_assert_eq(lunsim_fault_parse(&f, "hang"), 0);
	cr_assert_eq(lunsim_fault_parse(&f, "count=3"), 0);
	lunsim_fault_format(&f, buf, sizeof(buf));
	cr_assert_str_eq(buf,
	    "latency=5:2 hang errno=5 host=0x07 driver=0x06 "
	    "status=0x02 sense=70000b00 count=3");
	cr_assert_eq(lunsim_fault_parse(&f, "clear"), 0);
	lunsim_fault_format(&f, buf, sizeof(buf));
	cr_assert_str_eq(buf, "none");
	cr_assert_lt(lunsim_fault_parse(&f, "bogus=1"), 0);
	cr_assert_lt(lunsim_fault_parse(&f, "sense=7"), 0);
	cr_assert_lt(lunsim_fault_parse(&f, "latency=x"), 0);
	cr_assert_lt(lunsim_fault_parse(&f, "errno=ENOPE"), 0);
}
