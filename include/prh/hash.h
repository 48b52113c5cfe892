/* SPDX-License-Identifier: GPL-2.0-or-later */
/* 64-bit FNV-1a over strings: the device registry's isolation keys and
 * the key guard's table of VMs.  Pure; any thread. */
#ifndef PRH_HASH_H
#define PRH_HASH_H

#include <stdint.h>

#define PRH_FNV_OFFSET 0xcbf29ce484222325ull /* FNV-1a's start */

/* 64-bit FNV-1a of the string s, continuing from h (PRH_FNV_OFFSET to
 * start). */
static inline uint64_t
prh_fnv1a(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

#endif
