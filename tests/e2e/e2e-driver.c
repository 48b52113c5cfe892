/* SPDX-License-Identifier: GPL-2.0-or-later */
/* e2e-driver: runs a persistent-reservation scenario through up to three
 * helper sockets, as QEMU would send the commands, and prints one
 * machine-readable line per step.  Used by the end-to-end tests both inside
 * the test guest (real LIO target) and on the host (simulated LUN).
 *
 *   e2e-driver run [--target NAME] SCENARIO A=SOCKET,DEVICE [B=...] [C=...]
 *   e2e-driver start [--activate S] [--notify] [--netns] [--wait] -- COMMAND...
 *   e2e-driver qmp SOCKET JSON...
 *   e2e-driver waitpid PID SECONDS
 *
 * "run" prints for each step
 *   E2E step=N port=P cmd=VERB expect=E got=G ok|FAIL [why]
 *   E2E-RAW step=N cmd=VERB status=SS size=N sense=HEX data=HEX
 * where sense is the valid part of the sense (8 + additional length bytes,
 * at most 96) and E2E-TAIL step=N nonzero=K counts non-zero sense bytes
 * after that.  Exit status: 0 when every step met its expectation, 1
 * otherwise, 2 on a usage or scenario error.
 *
 * "start" runs COMMAND in the background and prints its pid once it can
 * serve.  --activate binds and listens on SOCKET and hands it over as fd 3
 * with LISTEN_FDS=1 and LISTEN_PID (systemd socket activation), so the
 * socket accepts connections before the helper has even started.
 * --notify waits (at most 20 s) for READY=1 on a NOTIFY_SOCKET of its own.
 * --netns runs COMMAND in a new network namespace of its own (no abstract
 * Unix socket of the caller's reaches it); its NOTIFY_SOCKET is then a
 * file in /tmp.
 * --wait stays in the foreground after printing the pid (closing stdout),
 * waits for COMMAND and exits with its exit status (128 + signal).
 *
 * "qmp" connects to a QEMU QMP socket, negotiates capabilities, sends each
 * JSON command and prints its answer line (and any event lines before it).
 *
 * "waitpid" waits (through a pidfd) until process PID, which need not be
 * a child, has exited: exit status 0, or 1 after SECONDS.
 *
 * Scenario lines: "PORT VERB [ARGS...] -> EXPECT [CHECK...]", '#' starts a
 * comment.  VERB and ARGS as in qemu-pr-client.  EXPECT is GOOD, CONFLICT,
 * CHECK K/AA/QQ (hex sense key, ASC, ASCQ) or NOCONN.  CHECKs for GOOD
 * PR IN answers: keys=none|K1,K2... (any order), gen=N, res=none|KEY/TYPE,
 * fs=none|KEY[*TYPE],... (READ FULL STATUS, any order, *TYPE marks the
 * holders), raw=HEX (the whole payload).  Modifiers among the ARGS:
 * sa=N (raw service action), len=N (allocation or parameter list length),
 * flags=N (parameter byte 20), rk=KEY (REGISTER AND IGNORE's ignored
 * reservation key), sas=ADDR (a TransportID list after the 24 bytes: the
 * SAS initiator port ADDR, for SPEC_I_PT); port letters A to C.  NAME:WORD
 * gives a known deviation of target NAME from SPC-4 (WORD is GOOD,
 * CONFLICT, NOCONN, CHECK=K/AA/QQ or a CHECK); with --target NAME it
 * replaces the SPC-4 expectation and the step line says "quirk".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prh/client.h"
#include "prh/proto.h"
#include "prh/protocol.h"

#define E2E_MAX_ARGS	 8
#define E2E_LINE_MAX	 512
#define E2E_PORTS	 3  /* initiators A, B, C */
#define E2E_STEP_TIMEOUT 45 /* s; the helper's SG_IO timeout is 30 */
#define E2E_PARAM_MAX	 52 /* 24 bytes, one SAS TransportID's list */

/* Where one port's commands go. */
struct e2e_port {
	const char *sock;
	const char *dev;
};

/* One parsed scenario step. */
struct e2e_step {
	char port;
	char *verb;
	char *args[E2E_MAX_ARGS];
	int nargs;
	char *mods[E2E_MAX_ARGS]; /* flags=, len=, sa=, rk=, sas= */
	int nmods;
	char *expect; /* GOOD, CONFLICT, CHECK, NOCONN */
	char *sense;  /* K/AA/QQ for CHECK */
	char *checks[E2E_MAX_ARGS];
	int nchecks;
	char *alts[E2E_MAX_ARGS]; /* TARGET:EXPECT or TARGET:CHECK */
	int nalts;
	char spc[128]; /* the SPC-4 expectation an alt replaced */
};

/* A command name and how to build it (mirrors qemu-pr-client). */
struct e2e_verb {
	const char *name;
	int out;
	uint8_t sa;
	int nargs;
};

static const struct e2e_verb e2e_verbs[] = {
	{ "read-keys", 0, 0, 0 },
	{ "read-reservation", 0, 1, 0 },
	{ "report-capabilities", 0, 2, 0 },
	{ "read-full-status", 0, 3, 0 },
	{ "register", 1, 0, 2 },
	{ "reserve", 1, 1, 2 },
	{ "release", 1, 2, 2 },
	{ "clear", 1, 3, 1 },
	{ "preempt", 1, 4, 3 },
	{ "preempt-abort", 1, 5, 3 },
	{ "register-ignore", 1, 6, 1 },
};

/* Read a big-endian integer of n bytes. */
static uint64_t
e2e_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Split one scenario line into st: 1 parsed, 0 blank, -EINVAL bad. */
static int
e2e_parse_line(char *line, struct e2e_step *st)
{
	char *tok, *save = NULL;
	int after = 0;

	memset(st, 0, sizeof(*st));
	if ((tok = strchr(line, '#')) != NULL)
		*tok = '\0';
	for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (st->port == 0) {
			if (strlen(tok) != 1)
				return -EINVAL;
			st->port = tok[0];
		} else if (st->verb == NULL) {
			st->verb = tok;
		} else if (!after && strcmp(tok, "->") == 0) {
			after = 1;
		} else if (!after && strchr(tok, '=') != NULL) {
			if (st->nmods == E2E_MAX_ARGS)
				return -EINVAL;
			st->mods[st->nmods++] = tok;
		} else if (!after) {
			if (st->nargs == E2E_MAX_ARGS)
				return -EINVAL;
			st->args[st->nargs++] = tok;
		} else if (strchr(tok, ':') != NULL) {
			if (st->nalts == E2E_MAX_ARGS)
				return -EINVAL;
			st->alts[st->nalts++] = tok;
		} else if (st->expect == NULL) {
			st->expect = tok;
		} else if (strcmp(st->expect, "CHECK") == 0 &&
		    st->sense == NULL) {
			st->sense = tok;
		} else {
			if (st->nchecks == E2E_MAX_ARGS)
				return -EINVAL;
			st->checks[st->nchecks++] = tok;
		}
	}
	if (st->port == 0)
		return 0;
	if (st->verb == NULL || st->expect == NULL ||
	    (strcmp(st->expect, "CHECK") == 0 && st->sense == NULL))
		return -EINVAL;
	return 1;
}

/* Replace st's expectations by those its alternates give for target
 * (TARGET:GOOD|CONFLICT|NOCONN|CHECK=K/AA/QQ|keys=..|gen=..|res=..),
 * remembering the replaced SPC-4 ones in st->spc. */
static void
e2e_apply_alts(struct e2e_step *st, const char *target)
{
	size_t tl = strlen(target), used;
	char *v;

	for (int i = 0; i < st->nalts; i++) {
		if (strncmp(st->alts[i], target, tl) != 0 ||
		    st->alts[i][tl] != ':')
			continue;
		v = st->alts[i] + tl + 1;
		used = strlen(st->spc);
		if (strncmp(v, "keys=", 5) == 0 || strncmp(v, "gen=", 4) == 0 ||
		    strncmp(v, "res=", 4) == 0 || strncmp(v, "fs=", 3) == 0 ||
		    strncmp(v, "raw=", 4) == 0) {
			size_t nl = (size_t)(strchr(v, '=') - v) + 1;
			int j;

			for (j = 0; j < st->nchecks; j++)
				if (strncmp(st->checks[j], v, nl) == 0)
					break;
			if (j < st->nchecks)
				snprintf(st->spc + used, sizeof(st->spc) - used,
				    "%s%s", used ? "," : "", st->checks[j]);
			else if (st->nchecks < E2E_MAX_ARGS)
				st->nchecks++;
			else
				continue;
			st->checks[j] = v;
			continue;
		}
		snprintf(st->spc + used, sizeof(st->spc) - used, "%s%s%s%s",
		    used ? "," : "", st->expect, st->sense ? " " : "",
		    st->sense ? st->sense : "");
		if (strncmp(v, "CHECK=", 6) == 0) {
			st->expect = "CHECK";
			st->sense = v + 6;
		} else {
			st->expect = v;
			st->sense = NULL;
		}
	}
}

/* The value of st's modifier name= (e.g. "len="), or -1 if absent. */
static long long
e2e_mod(const struct e2e_step *st, const char *name)
{
	size_t nl = strlen(name);

	for (int i = 0; i < st->nmods; i++)
		if (strncmp(st->mods[i], name, nl) == 0)
			return strtoll(st->mods[i] + nl, NULL, 0);
	return -1;
}

/* Append to the 24-byte list param a TransportID list naming SAS
 * initiator port addr (SPC-4 7.6.4.7: protocol identifier 6, the address
 * in bytes 4-11): the list's length. */
static size_t
e2e_sas_tid(uint8_t param[E2E_PARAM_MAX], uint64_t addr)
{
	memset(param + 24, 0, E2E_PARAM_MAX - 24);
	proto_put_be32(param + 24, 24);
	param[28] = 0x06;
	proto_put_be32(param + 32, (uint32_t)(addr >> 32));
	proto_put_be32(param + 36, (uint32_t)addr);
	return E2E_PARAM_MAX;
}

/* Build the CDB and parameter list of st: 0, or -EINVAL.  *plen gets the
 * parameter list length (0 for PR IN).  Modifiers: sa= raw service
 * action, len= allocation / parameter list length, flags= parameter
 * byte 20, rk= reservation key of REGISTER AND IGNORE, sas= a SAS
 * TransportID after the 24 bytes. */
static int
e2e_build(const struct e2e_step *st, uint8_t cdb[PRH_CDB_LEN],
    uint8_t param[E2E_PARAM_MAX], size_t *plen)
{
	const struct e2e_verb *v = NULL;
	uint64_t key = 0, sakey = 0;
	uint8_t type = 0, sa;
	const char *tstr = NULL;
	long long len = e2e_mod(st, "len="), flags = e2e_mod(st, "flags=");
	long long sas = e2e_mod(st, "sas=");
	size_t full = 24;

	for (size_t i = 0; i < sizeof(e2e_verbs) / sizeof(e2e_verbs[0]); i++)
		if (strcmp(st->verb, e2e_verbs[i].name) == 0)
			v = &e2e_verbs[i];
	if (v == NULL || st->nargs != v->nargs || len > E2E_PARAM_MAX)
		return -EINVAL;
	sa = e2e_mod(st, "sa=") >= 0 ? (uint8_t)e2e_mod(st, "sa=") : v->sa;
	*plen = 0;
	if (!v->out) {
		client_cdb_pr_in(cdb, sa,
		    len >= 0 ? (uint16_t)len : PRH_DATA_MAX);
		return 0;
	}
	if (v->sa == 6) {
		if (client_parse_key(st->args[0], &sakey))
			return -EINVAL;
		if (e2e_mod(st, "rk=") >= 0)
			key = (uint64_t)e2e_mod(st, "rk=");
	} else if (client_parse_key(st->args[0], &key)) {
		return -EINVAL;
	}
	if (v->sa == 0 || v->sa >= 4) {
		if (v->nargs > 1 && client_parse_key(st->args[1], &sakey))
			return -EINVAL;
		if (v->nargs == 3)
			tstr = st->args[2];
	} else if (v->nargs == 2) {
		tstr = st->args[1];
	}
	if (tstr != NULL && client_parse_pr_type(tstr, &type))
		return -EINVAL;
	client_param_basic(param, key, sakey, flags >= 0 ? (uint8_t)flags : 0);
	if (sas >= 0)
		full = e2e_sas_tid(param, (uint64_t)sas);
	*plen = len >= 0 ? (size_t)len : full;
	client_cdb_pr_out(cdb, sa, type, (uint16_t)*plen);
	return 0;
}

/* Words for the outcome of a reply, into buf. */
static void
e2e_outcome(int rc, const struct client_reply *r, char *buf, size_t len)
{
	const uint8_t *s = r->sense;

	if (rc < 0)
		snprintf(buf, len, "NOCONN");
	else if (r->status == PRH_STATUS_GOOD)
		snprintf(buf, len, "GOOD");
	else if (r->status == PRH_STATUS_RESERVATION_CONFLICT)
		snprintf(buf, len, "CONFLICT");
	else if (r->status == PRH_STATUS_CHECK_CONDITION &&
	    (s[0] & 0x7f) >= 0x72)
		snprintf(buf, len, "CHECK %X/%02X/%02X", s[1] & 0xf, s[2],
		    s[3]);
	else if (r->status == PRH_STATUS_CHECK_CONDITION)
		snprintf(buf, len, "CHECK %X/%02X/%02X", s[2] & 0xf, s[12],
		    s[13]);
	else
		snprintf(buf, len, "STATUS 0x%02" PRIx32, r->status);
}

/* Compare a keys=... check with a READ KEYS answer, in any order (SPC-4
 * does not order the list): 0 or -1. */
static int
e2e_check_keys(const char *want, const struct client_reply *r)
{
	uint32_t len = (uint32_t)e2e_be(r->data + 4, 4), n = 0, o;
	char copy[E2E_LINE_MAX], *tok, *save = NULL;
	uint64_t k;

	if (strcmp(want, "none") == 0)
		return len == 0 ? 0 : -1;
	if (8 + len > r->size)
		return -1;
	snprintf(copy, sizeof(copy), "%s", want);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save), n++) {
		if (client_parse_key(tok, &k))
			return -1;
		for (o = 8; o + 8 <= 8 + len; o += 8)
			if (e2e_be(r->data + o, 8) == k)
				break;
		if (o + 8 > 8 + len)
			return -1;
	}
	return len == 8 * n ? 0 : -1;
}

/* Compare a res=... check with a READ RESERVATION answer: 0 or -1. */
static int
e2e_check_res(const char *want, const struct client_reply *r)
{
	uint32_t len = (uint32_t)e2e_be(r->data + 4, 4);
	char copy[64], *slash;
	uint64_t k;
	uint8_t t;

	if (strcmp(want, "none") == 0)
		return len == 0 ? 0 : -1;
	snprintf(copy, sizeof(copy), "%s", want);
	slash = strchr(copy, '/');
	if (slash == NULL || len < 16 || r->size < 24)
		return -1;
	*slash = '\0';
	if (client_parse_key(copy, &k) || client_parse_pr_type(slash + 1, &t))
		return -1;
	return e2e_be(r->data + 8, 8) == k && (r->data[21] & 0xf) == t ? 0 : -1;
}

/* Compare an fs=KEY[*TYPE],... check with a READ FULL STATUS answer, in
 * any order: each key with its R_HOLDER bit (and type when holder). */
static int
e2e_check_fs(const char *want, const struct client_reply *r)
{
	uint32_t len = (uint32_t)e2e_be(r->data + 4, 4), n = 0, o, dl;
	char copy[E2E_LINE_MAX], *tok, *save = NULL, *star;
	uint32_t found = 0;
	uint64_t k;
	uint8_t t;

	if (8 + len > r->size)
		return -1;
	for (o = 8; o + 24 <= 8 + len; o += 24 + dl, found++)
		dl = (uint32_t)e2e_be(r->data + o + 20, 4);
	if (strcmp(want, "none") == 0)
		return found == 0 ? 0 : -1;
	snprintf(copy, sizeof(copy), "%s", want);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save), n++) {
		if ((star = strchr(tok, '*')) != NULL) {
			*star = '\0';
			if (client_parse_pr_type(star + 1, &t))
				return -1;
		}
		if (client_parse_key(tok, &k))
			return -1;
		for (o = 8; o + 24 <= 8 + len; o += 24 + dl) {
			dl = (uint32_t)e2e_be(r->data + o + 20, 4);
			if (e2e_be(r->data + o, 8) == k)
				break;
		}
		if (o + 24 > 8 + len ||
		    (r->data[o + 12] & 1) != (star != NULL) ||
		    (star != NULL && (r->data[o + 13] & 0xf) != t))
			return -1;
	}
	return n == found ? 0 : -1;
}

/* Compare a raw=HEX check with the whole payload: 0 or -1. */
static int
e2e_check_raw(const char *hex, const struct client_reply *r)
{
	size_t n = strlen(hex) / 2;
	unsigned b;

	if (strlen(hex) % 2 != 0 || n != r->size)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sscanf(hex + 2 * i, "%2x", &b) != 1 || b != r->data[i])
			return -1;
	return 0;
}

/* Apply st's data checks to r: NULL when all pass, else the failing one. */
static const char *
e2e_checks(const struct e2e_step *st, const struct client_reply *r)
{
	for (int i = 0; i < st->nchecks; i++) {
		const char *c = st->checks[i];
		int bad;

		if (strncmp(c, "raw=", 4) == 0) {
			if (e2e_check_raw(c + 4, r))
				return c;
			continue;
		}
		if (r->size < 8)
			return c;
		if (strncmp(c, "fs=", 3) == 0)
			bad = e2e_check_fs(c + 3, r);
		else if (strncmp(c, "keys=", 5) == 0)
			bad = e2e_check_keys(c + 5, r);
		else if (strncmp(c, "res=", 4) == 0)
			bad = e2e_check_res(c + 4, r);
		else if (strncmp(c, "gen=", 4) == 0)
			bad = e2e_be(r->data, 4) != strtoull(c + 4, NULL, 0);
		else
			bad = 1;
		if (bad)
			return c;
	}
	return NULL;
}

/* Print the raw reply of step n. */
static void
e2e_print_raw(int n, const char *verb, int rc, const struct client_reply *r)
{
	unsigned valid, nz = 0;

	if (rc < 0) {
		printf("E2E-RAW step=%d cmd=%s status=-- size=0 sense= data=\n",
		    n, verb);
		return;
	}
	valid = r->sense[0] == 0 ? 0 : 8u + r->sense[7];
	if (valid > PRH_SENSE_LEN)
		valid = PRH_SENSE_LEN;
	printf("E2E-RAW step=%d cmd=%s status=%02" PRIx32 " size=%" PRIu32
	       " sense=",
	    n, verb, r->status, r->size);
	for (unsigned i = 0; i < valid; i++)
		printf("%02x", r->sense[i]);
	printf(" data=");
	for (uint32_t i = 0; i < r->size && i < PRH_DATA_MAX; i++)
		printf("%02x", r->data[i]);
	for (unsigned i = valid; i < PRH_SENSE_LEN; i++)
		nz += r->sense[i] != 0;
	printf("\nE2E-TAIL step=%d nonzero=%u\n", n, nz);
}

/* Send step st through port p: reply into r, 0 or -errno. */
static int
e2e_send(const struct e2e_port *p, const struct e2e_step *st,
    struct client_reply *r)
{
	struct timeval tmo = { .tv_sec = E2E_STEP_TIMEOUT };
	uint8_t cdb[PRH_CDB_LEN], param[E2E_PARAM_MAX] = { 0 };
	size_t plen = 0;
	int fd, s, rc;

	if (e2e_build(st, cdb, param, &plen) < 0)
		return -EINVAL;
	fd = open(p->dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	s = client_connect(p->sock);
	if (s < 0) {
		close(fd);
		return s;
	}
	/* a command that never completes fails the step, not the run */
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) < 0) {
		close(s);
		close(fd);
		return -errno;
	}
	memset(r, 0, sizeof(*r));
	rc = client_command(s, cdb, fd, cdb[0] == PRH_OP_PR_OUT ? param : NULL,
	    plen, r);
	if (rc == -EAGAIN || rc == -EWOULDBLOCK)
		r->status = UINT32_MAX; /* timed out: stop the run */
	close(s);
	close(fd);
	return rc;
}

/* Run one step and print its lines: 0 met, 1 not met, 2 bad step. */
static int
e2e_run_step(int n, const struct e2e_step *st,
    const struct e2e_port ports[E2E_PORTS], struct client_reply *r)
{
	char got[64], want[64];
	const char *bad = NULL;
	const struct e2e_port *p;
	int rc;

	if (st->port < 'A' || st->port >= 'A' + E2E_PORTS ||
	    ports[st->port - 'A'].sock == NULL)
		return 2;
	p = &ports[st->port - 'A'];
	rc = e2e_send(p, st, r);
	if (rc == -EINVAL)
		return 2;
	e2e_outcome(rc, r, got, sizeof(got));
	if (strcmp(st->expect, "CHECK") == 0)
		snprintf(want, sizeof(want), "CHECK %s", st->sense);
	else
		snprintf(want, sizeof(want), "%s", st->expect);
	if (strcasecmp(got, want) == 0 && rc == 0 &&
	    r->status == PRH_STATUS_GOOD)
		bad = e2e_checks(st, r);
	printf("E2E step=%d port=%c cmd=%s", n, st->port, st->verb);
	for (int i = 0; i < st->nargs; i++)
		printf(",%s", st->args[i]);
	printf(" expect='%s' got='%s'", want, got);
	for (int i = 0; i < st->nchecks; i++)
		printf(" %s", st->checks[i]);
	if (strcasecmp(got, want) != 0)
		printf(" FAIL\n");
	else if (bad != NULL)
		printf(" FAIL check %s", bad);
	else
		printf(" ok");
	if (st->spc[0] != '\0')
		printf(" quirk (SPC-4: %s)", st->spc);
	printf("\n");
	e2e_print_raw(n, st->verb, rc, r);
	fflush(stdout);
	return strcasecmp(got, want) != 0 || bad != NULL;
}

/* Parse "X=SOCKET,DEVICE" into ports: 0 or -EINVAL. */
static int
e2e_parse_port(char *arg, struct e2e_port ports[E2E_PORTS])
{
	char *comma;

	if (arg[0] < 'A' || arg[0] >= 'A' + E2E_PORTS || arg[1] != '=')
		return -EINVAL;
	comma = strchr(arg + 2, ',');
	if (comma == NULL)
		return -EINVAL;
	*comma = '\0';
	ports[arg[0] - 'A'].sock = arg + 2;
	ports[arg[0] - 'A'].dev = comma + 1;
	return 0;
}

/* e2e-driver run SCENARIO A=... [B=...]: exit status. */
static int
e2e_cmd_run(int argc, char **argv)
{
	const char *target = NULL;
	struct e2e_port ports[E2E_PORTS];
	struct client_reply *r;
	char line[E2E_LINE_MAX];
	struct e2e_step st;
	int n = 0, failed = 0, rc, lineno = 0;
	FILE *f;

	memset(ports, 0, sizeof(ports));
	if (argc >= 2 && strcmp(argv[0], "--target") == 0) {
		target = argv[1];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		return 2;
	for (int i = 1; i < argc; i++)
		if (e2e_parse_port(argv[i], ports) < 0)
			return fprintf(stderr, "bad port '%s'\n", argv[i]), 2;
	f = fopen(argv[0], "r");
	if (f == NULL)
		return fprintf(stderr, "%s: %s\n", argv[0], strerror(errno)), 2;
	r = malloc(sizeof(*r));
	if (r == NULL) {
		fclose(f);
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		rc = e2e_parse_line(line, &st);
		if (rc == 0)
			continue;
		if (rc > 0 && target != NULL)
			e2e_apply_alts(&st, target);
		if (rc < 0 || (rc = e2e_run_step(++n, &st, ports, r)) == 2) {
			fprintf(stderr, "%s:%d: bad step\n", argv[0], lineno);
			failed = -1;
			break;
		}
		failed += rc;
		if (r->status == UINT32_MAX) {
			printf("E2E-ABORT step=%d the command did not complete "
			       "within %d s\n",
			    n, E2E_STEP_TIMEOUT);
			break;
		}
	}
	fclose(f);
	free(r);
	if (failed >= 0)
		printf("E2E-END steps=%d failed=%d\n", n, failed);
	return failed < 0 ? 2 : failed > 0;
}

/* Bind and listen on path: the socket, or -1 with errno set. */
static int
e2e_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	if ((unlink(path) < 0 && errno != ENOENT) ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 64) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* A datagram socket for READY=1, its name in name (as NOTIFY_SOCKET
 * spells it): at an abstract address, or with file set at a file in /tmp
 * (that a command in another network namespace reaches).  The socket, or
 * -1. */
static int
e2e_notify_socket(char *name, size_t len, int file)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sl;
	int s;

	snprintf(name, len, "%se2e-notify-%ld", file ? "/tmp/" : "@",
	    (long)getpid());
	if (file && unlink(name) < 0 && errno != ENOENT)
		return -1;
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	memcpy(sa.sun_path, name, strlen(name));
	if (!file)
		sa.sun_path[0] = '\0';
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (bind(s, (struct sockaddr *)&sa, sl) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* Wait up to ms for READY=1 on ns while child runs: 0, or -1. */
static int
e2e_wait_ready(int ns, pid_t child, int ms)
{
	struct pollfd pfd = { .fd = ns, .events = POLLIN };
	char buf[512];
	ssize_t n;
	int status;

	for (int left = ms; left > 0; left -= 100) {
		if (waitpid(child, &status, WNOHANG) == child) {
			fprintf(stderr,
			    "e2e-driver: the command exited "
			    "before READY=1 (status 0x%x)\n",
			    status);
			return -1;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(ns, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strncmp(buf, "READY=1", 7) == 0 ||
		    strstr(buf, "\nREADY=1") != NULL)
			return 0;
	}
	fprintf(stderr, "e2e-driver: no READY=1 within %d ms\n", ms);
	return -1;
}

/* The child side of start: set up fd 3 / NOTIFY_SOCKET, a network
 * namespace of its own if netns, and exec. */
static void
e2e_exec_child(int ls, const char *notify, int netns, char **cmd)
{
	char pidbuf[32];

	if (netns && unshare(CLONE_NEWNET) < 0) {
		perror("unshare(CLONE_NEWNET)");
		_exit(127);
	}
	/* stdout is often a $(...) pipe that must see EOF when we exit */
	if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(127);
	if (ls >= 0) {
		if (ls != 3 && (dup2(ls, 3) < 0 || close(ls) < 0))
			_exit(127);
		snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)getpid());
		setenv("LISTEN_PID", pidbuf, 1);
		setenv("LISTEN_FDS", "1", 1);
		unsetenv("LISTEN_FDNAMES");
	}
	if (notify != NULL)
		setenv("NOTIFY_SOCKET", notify, 1);
	else
		unsetenv("NOTIFY_SOCKET");
	execvp(cmd[0], cmd);
	perror(cmd[0]);
	_exit(127);
}

/* e2e-driver start [--activate SOCKET] [--notify] [--netns] [--wait] --
 * COMMAND...: start COMMAND in the background, print its pid once it can
 * serve; with --wait then close stdout, wait for it and exit with its
 * status. */
static int
e2e_cmd_start(int argc, char **argv)
{
	const char *activate = NULL;
	char notify[64];
	int i, ls = -1, ns = -1, want_notify = 0, netns = 0, wait_child = 0;
	int status;
	pid_t pid;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--activate") == 0 && i + 1 < argc)
			activate = argv[++i];
		else if (strcmp(argv[i], "--notify") == 0)
			want_notify = 1;
		else if (strcmp(argv[i], "--netns") == 0)
			netns = 1;
		else if (strcmp(argv[i], "--wait") == 0)
			wait_child = 1;
		else
			return 2;
	}
	if (i + 1 >= argc)
		return 2;
	if (want_notify &&
	    (ns = e2e_notify_socket(notify, sizeof(notify), netns)) < 0)
		return perror("notify socket"), 1;
	if (activate != NULL && (ls = e2e_listen(activate)) < 0)
		return perror(activate), 1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		if (ns >= 0)
			close(ns);
		e2e_exec_child(ls, ns >= 0 ? notify : NULL, netns,
		    argv + i + 1);
	}
	if (ls >= 0)
		close(ls);
	if (ns >= 0) {
		int r = e2e_wait_ready(ns, pid, 20000);

		close(ns);
		if (notify[0] == '/')
			unlink(notify);
		if (r < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
	}
	printf("%ld\n", (long)pid);
	if (!wait_child)
		return 0;
	fclose(stdout);
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Read one line from QMP socket s into buf (at most 10 s): 0 or -1. */
static int
e2e_qmp_line(int s, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = s, .events = POLLIN };
	size_t n = 0;

	while (n + 1 < len) {
		if (poll(&pfd, 1, 10000) <= 0 || read(s, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

/* Send one QMP command and print every line up to its answer: 0 or -1. */
static int
e2e_qmp_exec(int s, const char *cmd, int quiet)
{
	char buf[8192];

	if (client_write_all(s, cmd, strlen(cmd)) < 0 ||
	    client_write_all(s, "\n", 1) < 0)
		return -1;
	for (;;) {
		if (e2e_qmp_line(s, buf, sizeof(buf)) < 0)
			return -1;
		if (strncmp(buf, "{\"event\"", 8) == 0) {
			printf("%s\n", buf);
			continue;
		}
		if (!quiet)
			printf("%s\n", buf);
		return 0;
	}
}

/* e2e-driver qmp SOCKET JSON...: run QMP commands, print the answers. */
static int
e2e_cmd_qmp(int argc, char **argv)
{
	char buf[8192];
	int s, rc = 0;

	if (argc < 1)
		return 2;
	s = client_connect_raw(argv[0]);
	if (s < 0)
		return fprintf(stderr, "%s: %s\n", argv[0], strerror(-s)), 1;
	if (e2e_qmp_line(s, buf, sizeof(buf)) < 0 ||
	    e2e_qmp_exec(s, "{\"execute\": \"qmp_capabilities\"}", 1) < 0)
		rc = 1;
	for (int i = 1; i < argc && rc == 0; i++)
		if (e2e_qmp_exec(s, argv[i], 0) < 0)
			rc = 1;
	close(s);
	fflush(stdout);
	return rc;
}

/* e2e-driver waitpid PID SECONDS: 0 once PID has exited, 1 otherwise. */
static int
e2e_cmd_waitpid(int argc, char **argv)
{
	struct pollfd pfd = { .events = POLLIN };
	long pid, secs;
	int rc;

	if (argc != 2 || (pid = strtol(argv[0], NULL, 10)) <= 0 ||
	    (secs = strtol(argv[1], NULL, 10)) <= 0)
		return 2;
	pfd.fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd.fd < 0)
		return errno == ESRCH ? 0 : 1; /* ESRCH: gone already */
	while ((rc = poll(&pfd, 1, (int)(secs * 1000))) < 0 && errno == EINTR)
		;
	close(pfd.fd);
	return rc == 1 ? 0 : 1;
}

/* Dispatch to a subcommand. */
int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return e2e_cmd_run(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "qmp") == 0)
		return e2e_cmd_qmp(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "start") == 0)
		return e2e_cmd_start(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "waitpid") == 0)
		return e2e_cmd_waitpid(argc - 2, argv + 2);
	fprintf(stderr,
	    "usage: %s run [--target NAME] SCENARIO A=SOCKET,DEVICE "
	    "[B=SOCKET,DEVICE]\n       %s start [--activate SOCKET] "
	    "[--notify] [--netns] [--wait] -- COMMAND [ARGS...]\n       %s qmp SOCKET "
	    "JSON...\n       %s waitpid PID SECONDS\n",
	    argv[0], argv[0], argv[0], argv[0]);
	return 2;
}
