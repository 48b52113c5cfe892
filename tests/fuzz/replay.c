/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Replay driver: runs a fuzz target's LLVMFuzzerTestOneInput() once on
 * every file of its corpus and reports one TAP line per file.
 *
 * Without arguments the corpus is $PRH_TOP_SRCDIR/tests/fuzz/corpus/NAME
 * (NAME from FUZZ_TARGET_NAME); arguments name files or directories to
 * replay instead, e.g. a crash reproducer.  A broken invariant aborts the
 * process, which the TAP driver reports as an error.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET_NAME
#error "FUZZ_TARGET_NAME must name the target"
#endif

/* Largest input replayed: the fuzzers run with -max_len at most this. */
#define REPLAY_MAX_LEN (1u << 20)

static unsigned replay_n; /* TAP test points so far */
static unsigned replay_failed;

/* Read a whole file into a malloc'ed buffer: 0 or -errno. */
static int
replay_read(const char *path, uint8_t **out, size_t *len)
{
	uint8_t *buf;
	size_t n = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(REPLAY_MAX_LEN);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (n < REPLAY_MAX_LEN &&
	    (r = read(fd, buf + n, REPLAY_MAX_LEN - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			free(buf);
			close(fd);
			return (int)r;
		}
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
}

/* Replay one file and print its TAP line. */
static void
replay_file(const char *path, const char *name)
{
	uint8_t *buf = NULL, *copy;
	size_t len = 0;
	int r;

	replay_n++;
	r = replay_read(path, &buf, &len);
	if (r < 0) {
		printf("not ok %u - %s: %s\n", replay_n, name, strerror(-r));
		replay_failed++;
		return;
	}
	/* An exact-size copy, so that ASan sees reads past the input. */
	copy = malloc(len ? len : 1);
	if (copy == NULL) {
		printf("not ok %u - %s: out of memory\n", replay_n, name);
		replay_failed++;
		free(buf);
		return;
	}
	memcpy(copy, buf, len);
	free(buf);
	fflush(stdout);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	printf("ok %u - %s (%zu bytes)\n", replay_n, name, len);
	fflush(stdout);
}

/* Compare two names for qsort. */
static int
replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file of dir in name order. */
static void
replay_dir(const char *dir)
{
	char path[PATH_MAX], **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		printf("not ok %u - corpus %s: %s\n", ++replay_n, dir,
		    strerror(errno));
		replay_failed++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n == 0) {
		printf("not ok %u - corpus %s is empty\n", ++replay_n, dir);
		replay_failed++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_cmp);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		replay_file(path, names[i]);
		free(names[i]);
	}
	free(names);
}

/* Replay a file or a directory. */
static void
replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		replay_dir(path);
	else
		replay_file(path, path);
}

/* A target with no set-up defines no LLVMFuzzerInitialize(): this one
 * stands in (libFuzzer calls it only when there is one). */
__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Replay the named paths, or the target's checked-in corpus. */
int
main(int argc, char **argv)
{
	char dir[PATH_MAX];
	const char *src = getenv("PRH_TOP_SRCDIR");

	if (LLVMFuzzerInitialize(&argc, &argv) != 0) {
		printf("Bail out! %s: set-up failed\n", FUZZ_TARGET_NAME);
		return 1;
	}
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay_path(argv[i]);
	} else {
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
		    src != NULL && src[0] != '\0' ? src : ".",
		    FUZZ_TARGET_NAME);
		replay_dir(dir);
	}
	printf("1..%u\n", replay_n);
	return replay_failed ? 1 : 0;
}
