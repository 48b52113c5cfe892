/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim: the launcher and LUN tool of the simulator.
 *
 *   lunsim [--initiator NAME] [--port PATH=NAME]... [--latency MS[:JITTER]]
 *          [--block-device|--regular-file] [--debug] -- COMMAND ARGS...
 *   lunsim create FILE [--size BYTES] [--force]
 *   lunsim fault FILE [WORD...]
 *   lunsim show FILE
 *
 * The first form runs COMMAND with lunsim.so preloaded; the others make,
 * inspect and steer simulated LUN files.  See doc/lunsim.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lunsim.h"

#ifndef PRH_PKGLIBDIR
#define PRH_PKGLIBDIR "/usr/local/lib/qemu-pr-helper"
#endif

static const char *const lunsim_types[] = {
	[LUNSIM_PR_WE] = "WE",
	[LUNSIM_PR_EA] = "EA",
	[LUNSIM_PR_WE_RO] = "WE-RO",
	[LUNSIM_PR_EA_RO] = "EA-RO",
	[LUNSIM_PR_WE_AR] = "WE-AR",
	[LUNSIM_PR_EA_AR] = "EA-AR",
};

/* Print the usage text to f. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lunsim [--initiator NAME] [--port PATH=NAME]... "
	    "[--latency MS[:JITTER]]\n"
	    "              [--block-device|--regular-file] [--debug] -- "
	    "COMMAND [ARGS...]\n"
	    "       lunsim create FILE [--size BYTES[K|M|G|T]] [--force]\n"
	    "       lunsim fault FILE [clear] [latency=MS[:JITTER]] [hang] "
	    "[hang=0] [errno=NAME|N]\n"
	    "                         [host=N] [driver=N] [status=N] "
	    "[sense=HEX] [count=N]\n"
	    "       lunsim show FILE\n");
}

/* Print the usage text and what each option and subcommand does. */
static void
help(void)
{
	usage(stdout);
	printf(
	    "\nRun COMMAND with ioctl(SG_IO) on simulated LUN files answered "
	    "by lunsim.so\n"
	    "(SPC-4 persistent reservations), or make, steer and show "
	    "such files.\n\n"
	    "  --initiator NAME       initiator port name of COMMAND "
	    "(default: the host name)\n"
	    "  --latency MS[:JITTER]  add MS ms, plus up to JITTER ms, to "
	    "every command\n"
	    "  --block-device         a LUN is a whole SCSI disk to fstat, "
	    "statx, lseek and sysfs\n"
	    "                         (the default)\n"
	    "  --regular-file         a LUN is the regular file it is\n"
	    "  --debug                one line on stderr per command\n"
	    "  -h, --help             display this help and exit\n\n"
	    "create FILE: a new LUN\n"
	    "  --size BYTES[K|M|G|T]  size of the data area (default "
	    "%lluM)\n"
	    "  --force                replace an existing non-empty file\n"
	    "fault FILE [WORD...]: change the LUN's faults, then print "
	    "them\n"
	    "show FILE: print the reservation, the initiators, the "
	    "faults and how many\n"
	    "  commands wait out a hang (\"hung N commands waiting\", when "
	    "any)\n\n"
	    "Exit status: 0, 1 on an error, 2 on a usage error; the run "
	    "form exits 127\n"
	    "when lunsim.so or COMMAND cannot be found.\n",
	    (unsigned long long)(LUNSIM_DEFAULT_SIZE >> 20));
}

/* Parse a size with an optional K/M/G/T suffix: 0 or -EINVAL. */
static int
parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'T':
	case 't':
		shift += 10; /* FALLTHROUGH */
	case 'G':
	case 'g':
		shift += 10; /* FALLTHROUGH */
	case 'M':
	case 'm':
		shift += 10; /* FALLTHROUGH */
	case 'K':
	case 'k':
		shift += 10;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || (shift > 0 && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* lunsim create FILE [--size BYTES] [--force]. */
static int
subcmd_create(int argc, char **argv)
{
	uint64_t size = LUNSIM_DEFAULT_SIZE;
	const char *file = NULL;
	int i, force = 0, rc;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
			if (parse_size(argv[++i], &size) < 0) {
				fprintf(stderr, "lunsim: bad size '%s'\n",
				    argv[i]);
				return 2;
			}
		} else if (strncmp(argv[i], "--size=", 7) == 0) {
			if (parse_size(argv[i] + 7, &size) < 0) {
				fprintf(stderr, "lunsim: bad size '%s'\n",
				    argv[i] + 7);
				return 2;
			}
		} else if (file == NULL && argv[i][0] != '-')
			file = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (file == NULL) {
		usage(stderr);
		return 2;
	}
	rc = lunsim_create(file, size, force);
	if (rc < 0) {
		fprintf(stderr, "lunsim: create %s: %s%s\n", file,
		    strerror(-rc), rc == -EEXIST ? " (use --force)" : "");
		return 1;
	}
	return 0;
}

/* Map the header of the LUN FILE (writable if write): 0 and *m, or -1
 * (message printed). */
static int
map_lun(const char *file, int write, struct lunsim_shm **m)
{
	int fd, rc;

	fd = open(file, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "lunsim: %s: %s\n", file, strerror(errno));
		return -1;
	}
	rc = lunsim_shm_map(fd, PROT_READ | (write ? PROT_WRITE : 0), m);
	close(fd);
	if (rc == -EPROTO)
		fprintf(stderr,
		    "lunsim: %s: a LUN file of another format version (this "
		    "lunsim reads version %d); recreate it with 'lunsim create "
		    "--force %s' (its reservations are lost)\n",
		    file, LUNSIM_VERSION, file);
	else if (rc < 0)
		fprintf(stderr, "lunsim: %s: %s\n", file,
		    rc == -EINVAL ? "not a simulated LUN (no lunsim header)"
				  : strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* lunsim fault FILE [WORD...]: change the faults, then print them. */
static int
subcmd_fault(int argc, char **argv)
{
	static struct lunsim_hdr h;
	struct lunsim_shm *m;
	struct lunsim_fault f;
	char buf[512];
	int i, rc;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (map_lun(argv[0], argc > 1, &m) < 0)
		return 1;
	if (argc == 1) {
		lunsim_shm_snapshot(m, &h);
		f = h.fault;
	} else if ((rc = lunsim_shm_lock(m)) < 0) {
		fprintf(stderr, "lunsim: %s: %s\n", argv[0], strerror(-rc));
		lunsim_shm_unmap(m);
		return 1;
	} else {
		lunsim_shm_read(m, &h);
		for (i = 1; i < argc; i++)
			if (lunsim_fault_parse(&h.fault, argv[i]) < 0)
				break;
		if (i == argc)
			lunsim_shm_commit(m, &h);
		lunsim_shm_unlock(m);
		if (i < argc) {
			fprintf(stderr, "lunsim: bad fault word '%s'\n",
			    argv[i]);
			lunsim_shm_unmap(m);
			return 2;
		}
		f = h.fault;
	}
	lunsim_shm_unmap(m);
	lunsim_fault_format(&f, buf, sizeof(buf));
	printf("%s\n", buf);
	return 0;
}

/* lunsim show FILE: print the reservation state. */
static int
subcmd_show(int argc, char **argv)
{
	static struct lunsim_hdr h;
	struct lunsim_shm *m;
	char buf[512];
	uint32_t hung;
	unsigned j;
	int i;

	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if (map_lun(argv[0], 0, &m) < 0)
		return 1;
	lunsim_shm_snapshot(m, &h);
	hung = lunsim_shm_waiting(m);
	lunsim_shm_unmap(m);
	printf("size %" PRIu64 " bytes (%" PRIu64 " blocks of %" PRIu32
	       ")\ngeneration %" PRIu32 "\n",
	    h.size, h.size / h.block_size, h.block_size, h.generation);
	if (h.res_type == 0 || h.res_type > LUNSIM_PR_EA_AR)
		printf("reservation none\n");
	else
		printf("reservation %s (%u) holder %s\n",
		    lunsim_types[h.res_type] ? lunsim_types[h.res_type] : "?",
		    h.res_type,
		    h.res_holder < 0 ? "(all registrants)"
				     : h.itn[h.res_holder].name);
	for (i = 0; i < LUNSIM_MAX_ITN; i++) {
		if (!h.itn[i].used)
			continue;
		printf("initiator %s", h.itn[i].name);
		if (h.itn[i].registered)
			printf(" key 0x%" PRIx64, h.itn[i].key);
		for (j = 0; j < h.itn[i].ua_count; j++)
			printf(" ua %02X/%02X", h.itn[i].ua[j] >> 8,
			    h.itn[i].ua[j] & 0xff);
		printf("\n");
	}
	lunsim_fault_format(&h.fault, buf, sizeof(buf));
	printf("fault %s\n", buf);
	if (hung > 0)
		printf("hung %" PRIu32 " commands waiting\n", hung);
	return 0;
}

/* Find lunsim.so: LUNSIM_PRELOAD, beside the build tree, or pkglibdir. */
static int
find_preload(char *out, size_t len)
{
	static const char *const rel[] = { ".libs/lunsim.so", "lunsim.so" };
	char exe[PATH_MAX], *slash;
	const char *env = getenv("LUNSIM_PRELOAD");
	ssize_t n;
	size_t i;

	if (env != NULL && *env != '\0') {
		snprintf(out, len, "%s", env);
		return access(out, R_OK) == 0 ? 0 : -errno;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL)
			slash[1] = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			if ((size_t)snprintf(out, len, "%s%s", exe, rel[i]) >=
			    len)
				continue;
			if (access(out, R_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "%s/lunsim.so", PRH_PKGLIBDIR);
	return access(out, R_OK) == 0 ? 0 : -errno;
}

/* Prepend value to the list variable name with separator sep. */
static int
env_prepend(const char *name, const char *value, const char *sep)
{
	const char *old = getenv(name);
	char *v;
	int rc;

	if (old == NULL || *old == '\0')
		return setenv(name, value, 1);
	if (asprintf(&v, "%s%s%s", value, sep, old) < 0)
		return -1;
	rc = setenv(name, v, 1);
	free(v);
	return rc;
}

/* Add "PATH=NAME" (--port) to LUNSIM_PORTS, one per line: 0, or 2 on a
 * usage error (message printed). */
static int
add_port(const char *spec)
{
	const char *eq = strchr(spec, '=');
	const char *old = getenv("LUNSIM_PORTS");
	char *v;
	int rc;

	if (eq == NULL || eq == spec || spec[0] != '/' || eq[1] == '\0' ||
	    strlen(eq + 1) >= LUNSIM_NAME_MAX || strchr(spec, '\n') != NULL) {
		fprintf(stderr,
		    "lunsim: --port wants /PATH=NAME, NAME of 1..%d "
		    "characters\n",
		    LUNSIM_NAME_MAX - 1);
		return 2;
	}
	if (asprintf(&v, "%s%s%s", old != NULL ? old : "",
		old != NULL && *old != '\0' ? "\n" : "", spec) < 0)
		return 2;
	rc = setenv("LUNSIM_PORTS", v, 1);
	free(v);
	return rc < 0 ? 2 : 0;
}

/* Set the environment of the preloaded command and exec it. */
static int
subcmd_run(int argc, char **argv)
{
	char so[PATH_MAX];
	uint32_t ms, jit;
	int i, rc;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-')
			break;
		if (strcmp(argv[i], "--initiator") == 0 && i + 1 < argc) {
			if (argv[++i][0] == '\0' ||
			    strlen(argv[i]) >= LUNSIM_NAME_MAX) {
				fprintf(stderr,
				    "lunsim: initiator name must "
				    "have 1..%d characters\n",
				    LUNSIM_NAME_MAX - 1);
				return 2;
			}
			setenv("LUNSIM_INITIATOR", argv[i], 1);
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if (add_port(argv[++i]) != 0)
				return 2;
		} else if (strcmp(argv[i], "--latency") == 0 && i + 1 < argc) {
			if (lunsim_parse_latency(argv[++i], &ms, &jit) < 0) {
				fprintf(stderr, "lunsim: bad latency '%s'\n",
				    argv[i]);
				return 2;
			}
			setenv("LUNSIM_LATENCY", argv[i], 1);
		} else if (strcmp(argv[i], "--block-device") == 0) {
			setenv("LUNSIM_FAKE_BLK", "1", 1); /* the default */
		} else if (strcmp(argv[i], "--regular-file") == 0) {
			setenv("LUNSIM_FAKE_BLK", "0", 1);
		} else if (strcmp(argv[i], "--debug") == 0) {
			setenv("LUNSIM_DEBUG", "1", 1);
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			help();
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	rc = find_preload(so, sizeof(so));
	if (rc < 0) {
		fprintf(stderr, "lunsim: cannot find lunsim.so (%s): %s\n", so,
		    strerror(-rc));
		return 127;
	}
	if (env_prepend("LD_PRELOAD", so, " ") < 0 ||
	    env_prepend("ASAN_OPTIONS", "verify_asan_link_order=0", ":") < 0) {
		perror("lunsim: setenv");
		return 127;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "lunsim: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

/* Dispatch on the subcommand. */
int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "create") == 0)
		return subcmd_create(argc - 2, argv + 2);
	if (strcmp(argv[1], "fault") == 0)
		return subcmd_fault(argc - 2, argv + 2);
	if (strcmp(argv[1], "show") == 0)
		return subcmd_show(argc - 2, argv + 2);
	return subcmd_run(argc - 1, argv + 1);
}
