/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-pr-client: send one persistent reservation command through a helper
 * socket, as QEMU would, and print the answer in words.  For operators
 * probing a helper, for the demo and for scripts.
 *
 * Exit status: 0 GOOD, 24 RESERVATION CONFLICT (as sg_persist), 1 any
 * other SCSI status, 2 usage error, 3 the helper could not be reached or
 * closed the connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prh/client.h"
#include "prh/proto.h"
#include "prh/protocol.h"
#include "prh/scsi_text.h"

#ifndef PRH_RUNSTATEDIR
#define PRH_RUNSTATEDIR "/run"
#endif

/* A command name and how to build it. */
struct prc_verb {
	const char *name;
	int out;    /* PR OUT */
	uint8_t sa; /* service action */
	int nargs;  /* KEY, [SAKEY], [TYPE] */
	const char *usage;
};

static const struct prc_verb prc_verbs[] = {
	{ "read-keys", 0, 0, 0, "" },
	{ "read-reservation", 0, 1, 0, "" },
	{ "report-capabilities", 0, 2, 0, "" },
	{ "read-full-status", 0, 3, 0, "" },
	{ "register", 1, 0, 2, "OLDKEY NEWKEY" },
	{ "reserve", 1, 1, 2, "KEY TYPE" },
	{ "release", 1, 2, 2, "KEY TYPE" },
	{ "clear", 1, 3, 1, "KEY" },
	{ "preempt", 1, 4, 3, "KEY VICTIMKEY TYPE" },
	{ "preempt-abort", 1, 5, 3, "KEY VICTIMKEY TYPE" },
	{ "register-ignore", 1, 6, 1, "NEWKEY" },
};

/* Print usage to f. */
static void
prc_usage(FILE *f, const char *argv0)
{
	fprintf(f,
	    "Usage: %s [-k SOCKET] [-r] DEVICE COMMAND [ARGS]\n"
	    "Send one PERSISTENT RESERVE command for DEVICE through a "
	    "qemu-pr-helper socket.\n\n"
	    "  -k, --socket=PATH  helper socket (default %s)\n"
	    "  -r, --read-only    open DEVICE read-only\n"
	    "  -h, --help         this text\n\nCommands:\n",
	    argv0, PRH_RUNSTATEDIR "/qemu-pr-helper.sock");
	for (size_t i = 0; i < sizeof(prc_verbs) / sizeof(prc_verbs[0]); i++)
		fprintf(f, "  %s %s\n", prc_verbs[i].name, prc_verbs[i].usage);
	fprintf(f,
	    "\nKEY: a number (0x... for hex). TYPE: we, ea, we-ro, "
	    "ea-ro, we-ar, ea-ar.\nExit: 0 GOOD, 24 RESERVATION CONFLICT, "
	    "1 other status, 2 usage, 3 helper unreachable.\n");
}

/* Print status (and sense) in words. */
static void
prc_print_status(const struct client_reply *r)
{
	char words[256];

	scsi_status_words(r->status, r->sense, words, sizeof(words));
	printf("%s\n", words);
}

/* Print a PR IN payload in words. */
static void
prc_print_data(uint8_t sa, const uint8_t *d, uint32_t size)
{
	uint32_t gen, len;

	if (size < 8 && sa != 2)
		return;
	gen = proto_get_be32(d);
	len = proto_get_be32(d + 4);
	if (sa == 0) {
		printf("  generation %" PRIu32 ", %" PRIu32 " key(s)", gen,
		    len / 8);
		for (uint32_t o = 8; o + 8 <= size && o < 8 + len; o += 8) {
			uint64_t k = 0;

			for (int i = 0; i < 8; i++)
				k = (k << 8) | d[o + i];
			printf(" 0x%" PRIx64, k);
		}
		printf("\n");
	} else if (sa == 1) {
		if (len == 0 || size < 24) {
			printf("  generation %" PRIu32 ", no reservation\n",
			    gen);
			return;
		}
		uint64_t k = 0;
		uint8_t type = d[21] & 0xf;

		for (int i = 0; i < 8; i++)
			k = (k << 8) | d[8 + i];
		printf("  generation %" PRIu32 ", reserved by key 0x%" PRIx64
		       ", type %s\n",
		    gen, k,
		    scsi_pr_type_name(type) ? scsi_pr_type_name(type) : "?");
	} else {
		printf("  %" PRIu32 " byte(s) of data\n", size);
	}
}

/* Send the command and print the answer; returns the exit status. */
static int
prc_run(const char *sock, const char *dev, int rdonly, const struct prc_verb *v,
    char **args)
{
	uint8_t cdb[PRH_CDB_LEN], param[24], type = 0;
	uint64_t key = 0, sakey = 0;
	struct client_reply *r;
	int s, fd, rc, ret;

	if (v->out) {
		const char *tstr = v->nargs == 2 && v->sa != 0 ? args[1]
		    : v->nargs == 3			       ? args[2]
							       : NULL;

		if (v->sa == 6 ? client_parse_key(args[0], &sakey)
			       : client_parse_key(args[0], &key))
			return fprintf(stderr, "invalid key '%s'\n", args[0]),
			       2;
		if (((v->sa == 0 || v->sa >= 4) && v->nargs > 1 &&
			client_parse_key(args[1], &sakey)) ||
		    (tstr != NULL && client_parse_pr_type(tstr, &type)))
			return fprintf(stderr, "invalid argument\n"), 2;
		client_cdb_pr_out(cdb, v->sa, type, sizeof(param));
		client_param_basic(param, key, sakey, 0);
	} else {
		client_cdb_pr_in(cdb, v->sa, PRH_DATA_MAX);
	}
	fd = open(dev, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", dev, strerror(errno));
		return 2;
	}
	s = client_connect(sock);
	if (s < 0) {
		fprintf(stderr, "%s: %s\n", sock, strerror(-s));
		close(fd);
		return 3;
	}
	r = malloc(sizeof(*r));
	if (r == NULL) {
		close(s);
		close(fd);
		return 3;
	}
	rc = client_command(s, cdb, fd, v->out ? param : NULL,
	    v->out ? sizeof(param) : 0, r);
	close(s);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", sock,
		    rc == -ECONNRESET ? "the helper closed the connection"
				      : strerror(-rc));
		free(r);
		return 3;
	}
	prc_print_status(r);
	if (r->status == PRH_STATUS_GOOD && !v->out)
		prc_print_data(v->sa, r->data, r->size);
	ret = r->status == PRH_STATUS_GOOD		   ? 0
	    : r->status == PRH_STATUS_RESERVATION_CONFLICT ? 24
							   : 1;
	free(r);
	return ret;
}

/* Parse the command line and run one command. */
int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'k' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = PRH_RUNSTATEDIR "/qemu-pr-helper.sock";
	int c, rdonly = 0;

	while ((c = getopt_long(argc, argv, "k:rh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			sock = optarg;
			break;
		case 'r':
			rdonly = 1;
			break;
		case 'h':
			prc_usage(stdout, argv[0]);
			return 0;
		default:
			prc_usage(stderr, argv[0]);
			return 2;
		}
	}
	if (argc - optind < 2) {
		prc_usage(stderr, argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(prc_verbs) / sizeof(prc_verbs[0]); i++) {
		const struct prc_verb *v = &prc_verbs[i];

		if (strcmp(argv[optind + 1], v->name) != 0)
			continue;
		if (argc - optind - 2 != v->nargs) {
			fprintf(stderr, "usage: %s DEVICE %s %s\n", argv[0],
			    v->name, v->usage);
			return 2;
		}
		return prc_run(sock, argv[optind], rdonly, v,
		    argv + optind + 2);
	}
	fprintf(stderr, "unknown command '%s'\n", argv[optind + 1]);
	prc_usage(stderr, argv[0]);
	return 2;
}
