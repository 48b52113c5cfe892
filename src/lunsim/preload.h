/* lunsim.so internals shared by its two files (preload.c, fakeblk.c).
 * The library is built with hidden visibility; only the interposed libc
 * functions are exported.
 */
#ifndef LUNSIM_PRELOAD_H
#define LUNSIM_PRELOAD_H

#include <stdint.h>

#define LUNSIM_EXPORT __attribute__((visibility("default")))

/* The next definition of symbol name (the real libc function). */
void *lunsim_next(const char *name);

/* Whether fd is a simulated LUN: 1, else 0. */
int lunsim_is_lun(int fd);

/* Data area size of the LUN behind fd, or 0. */
uint64_t lunsim_size(int fd);

/* Whether fstat on a LUN reports a block device (not LUNSIM_FAKE_BLK=0). */
int lunsim_fake_blk(void);

#endif
