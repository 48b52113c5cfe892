/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal's native protocol, spoken without libsystemd: one datagram
 * per entry to /run/systemd/journal/socket, each field "NAME=value\n",
 * or, for a value with a newline, "NAME\n", its length as a 64-bit
 * little-endian number, the value and "\n" (systemd's Native Journal
 * Protocol).  An entry is built in a fixed buffer and sent without
 * blocking: one that does not fit is refused, one the journal cannot
 * take now is dropped (the caller counts it).  Any thread, one entry per
 * thread at a time.
 */
#ifndef PRH_JOURNAL_H
#define PRH_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#define JOURNAL_SOCKET	  "/run/systemd/journal/socket"
#define JOURNAL_ENTRY_MAX 8192 /* bytes of one entry */

/* One entry being built. */
struct journal_entry {
	size_t len;    /* bytes used in buf */
	bool overflow; /* a field did not fit: the entry is incomplete */
	char buf[JOURNAL_ENTRY_MAX];
};

/* Start an empty entry. */
void journal_entry_init(struct journal_entry *e);

/* Add field name (upper case letters, digits and '_', not starting with
 * '_') with value: 0, or -ENOSPC (the entry is marked overflow). */
int journal_add(struct journal_entry *e, const char *name, const char *value);

/* journal_add() of a printf-formatted value. */
int journal_addf(struct journal_entry *e, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* A datagram socket for sending entries: fd or a negative errno. */
int journal_open(void);

/* Send the entry on fd without blocking: 0, -EMSGSIZE for an entry that
 * overflowed, or the negative errno of sendto (-EAGAIN: the journal is
 * behind; -ENOENT or -ECONNREFUSED: no journal listens). */
int journal_send(int fd, const struct journal_entry *e);

#endif
