/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lunsim: a simulated SCSI logical unit with SPC-4 persistent reservations,
 * answered through ioctl(SG_IO) by an LD_PRELOAD library.
 *
 * A simulated LUN is a regular file (or memfd) whose first
 * LUNSIM_HDR_SIZE bytes are struct lunsim_shm: the magic, the geometry, a
 * process-shared robust mutex, the initiator names and two slots of
 * struct lunsim_state, the persistent-reservation state, the pending unit
 * attentions and the injected faults.  The data area (what READ/WRITE address) follows it.
 * Integers in the header are in the host's byte order: the file is a
 * local test fixture, not an interchange format.
 *
 * Every process maps the header (MAP_SHARED).  A command takes the mutex,
 * runs the model on a struct lunsim_hdr unpacked from the current slot
 * and, if the state changed, writes it into the other slot and commits it
 * with one store of the commit counter (see doc/lunsim.md).  The model
 * functions below work on that copy and never lock themselves.
 */
#ifndef LUNSIM_H
#define LUNSIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define LUNSIM_MAGIC	 "LUNSIM\001\n" /* 8 bytes at offset 0 */
#define LUNSIM_MAGIC_LEN 8
#define LUNSIM_VERSION \
	3 /* 1: the flock()ed struct lunsim_hdr, 2: no hung count */
#define LUNSIM_HDR_SIZE	       4096 /* data area starts here */
#define LUNSIM_BLOCK_SIZE      512
#define LUNSIM_MAX_ITN	       32 /* initiators a LUN remembers */
#define LUNSIM_NAME_MAX	       64 /* initiator name, NUL included */
#define LUNSIM_UA_MAX	       4  /* pending unit attentions each */
#define LUNSIM_FAULT_SENSE_MAX 64
#define LUNSIM_DEFAULT_SIZE    (64ULL << 20)
#define LUNSIM_SENSE_LEN       18 /* fixed-format sense we build */

/* Store v big-endian in the n bytes at p (SCSI fields). */
static inline void
lunsim_put_be(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

/* Read the n-byte big-endian value at p. */
static inline uint64_t
lunsim_get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Persistent reservation types (SPC-4 table 169). */
#define LUNSIM_PR_WE	1
#define LUNSIM_PR_EA	3
#define LUNSIM_PR_WE_RO 5
#define LUNSIM_PR_EA_RO 6
#define LUNSIM_PR_WE_AR 7
#define LUNSIM_PR_EA_AR 8

/* Data transfer direction of one command. */
#define LUNSIM_DIR_NONE 0
#define LUNSIM_DIR_IN	1 /* device to host */
#define LUNSIM_DIR_OUT	2 /* host to device */

/* One I_T nexus the LUN knows: a registrant, or an initiator with unit
 * attentions pending.  Slot is free when used == 0. */
struct lunsim_itn {
	char name[LUNSIM_NAME_MAX]; /* initiator port name */
	uint64_t key;		    /* reservation key if registered */
	uint8_t used;
	uint8_t registered;
	uint8_t ua_count; /* entries of ua[] pending */
	uint8_t pad;
	uint16_t ua[LUNSIM_UA_MAX]; /* ASC << 8 | ASCQ, oldest first */
	uint8_t pad2[12];
};

/* Faults injected by "lunsim fault", applied to every SG_IO on the LUN. */
struct lunsim_fault {
	uint32_t latency_ms; /* added before each command */
	uint32_t jitter_ms;  /* plus uniform 0..jitter */
	uint32_t count;	     /* commands left, 0 = unlimited */
	int32_t err;	     /* ioctl fails with this errno */
	uint16_t host_status;
	uint16_t driver_status;
	uint8_t hang;	    /* commands wait until cleared */
	uint8_t has_status; /* answer status + sense */
	uint8_t status;
	uint8_t sense_len;
	uint8_t sense[LUNSIM_FAULT_SENSE_MAX];
};

/* A LUN as the SPC-4 model sees it: unpacked from the shared header
 * (struct lunsim_shm below, the file's first LUNSIM_HDR_SIZE bytes) for
 * one command, and packed back into its spare slot on commit (shm.c). */
struct lunsim_hdr {
	char magic[LUNSIM_MAGIC_LEN];
	uint32_t version;
	uint32_t hdr_size; /* LUNSIM_HDR_SIZE */
	uint64_t size;	   /* data area bytes */
	uint32_t block_size;
	uint32_t generation; /* PRgeneration */
	uint8_t res_type;    /* 0: no reservation */
	uint8_t res_scope;
	int16_t res_holder; /* itn index; -1: all registrants */
	uint32_t pad;
	uint8_t id[16]; /* identity: serial and NAA */
	struct lunsim_fault fault;
	struct lunsim_itn itn[LUNSIM_MAX_ITN];
};

/* The part of an initiator's slot that commands change. */
struct lunsim_itn_state {
	uint64_t key;
	uint8_t used;
	uint8_t registered;
	uint8_t ua_count;
	uint8_t pad;
	uint16_t ua[LUNSIM_UA_MAX];
};

/* The PR state and faults one commit replaces as a whole. */
struct lunsim_state {
	uint32_t generation;
	uint8_t res_type;
	uint8_t res_scope;
	int16_t res_holder;
	struct lunsim_fault fault;
	struct lunsim_itn_state itn[LUNSIM_MAX_ITN];
};

/* The first LUNSIM_HDR_SIZE bytes of the LUN file, which every process
 * maps and shares.  A slot's name is written once, while the slot is
 * unused in the committed state, and never changes after. */
struct lunsim_shm {
	char magic[LUNSIM_MAGIC_LEN];
	uint32_t version;
	uint32_t hdr_size; /* LUNSIM_HDR_SIZE */
	uint64_t size;	   /* data area bytes */
	uint32_t block_size;
	uint32_t commit; /* commits made: the state is slot[commit & 1] */
	uint8_t id[16];
	/* commands waiting out a hang now (atomic, outside the commits; a
	 * process killed while one of its commands waits stays counted) */
	uint32_t hung;
	uint32_t pad;
	pthread_mutex_t mu; /* robust, process-shared: held by a command */
	struct lunsim_state slot[2];
	char name[LUNSIM_MAX_ITN][LUNSIM_NAME_MAX];
};

/*
 * One SCSI command as lunsim_execute() sees it.  The caller fills the
 * inputs; lunsim_execute() fills the results.  in_len is the data-in
 * capacity (SG_IO dxfer_len); the command never writes more.
 */
struct lunsim_cmd {
	const uint8_t *cdb;
	unsigned cdb_len;
	int dir;	    /* LUNSIM_DIR_* */
	const uint8_t *out; /* data-out bytes */
	uint32_t out_len;
	uint8_t *in; /* data-in buffer */
	uint32_t in_len;
	/* results */
	uint8_t status;
	uint8_t sense[LUNSIM_SENSE_LEN];
	unsigned sense_len; /* 0 or LUNSIM_SENSE_LEN */
	uint32_t in_done;   /* data-in bytes produced */
	uint32_t out_done;  /* data-out bytes consumed */
	int dirty;	    /* header changed: write it back */
};

/* --- format.c: the file format, faults ------------------------------- */

/* Whether the first bytes of a file are a LUN header. */
int lunsim_hdr_valid(const struct lunsim_hdr *h);

/* Initialise h for a fresh LUN of size data bytes. */
void lunsim_hdr_init(struct lunsim_hdr *h, uint64_t size);

/* Create (or with force, reinitialise) a LUN file: 0 or -errno. */
int lunsim_create(const char *path, uint64_t size, int force);

/* --- shm.c: the shared header --------------------------------------- */

/* LUNSIM_TEST_DIE, for the tests: 1 dies (SIGKILL) halfway through
 * writing a commit's slot, 2 right after the commit store (the mutex
 * still held); 0 (default) never. */
extern int lunsim_shm_die;

/* Whether the header of a file is a LUN's: 0, -EINVAL if not a LUN,
 * -EPROTO if a LUN of another format version. */
int lunsim_shm_check(const struct lunsim_shm *m);

/* Map the header of the LUN file fd (prot PROT_READ, or with PROT_WRITE
 * for commands that lock): 0 and *m, -EINVAL if fd is no LUN, -EPROTO if
 * one of another version, or -errno. */
int lunsim_shm_map(int fd, int prot, struct lunsim_shm **m);

/* Unmap what lunsim_shm_map() mapped. */
void lunsim_shm_unmap(struct lunsim_shm *m);

/* Take the LUN's mutex (a writable mapping): 0 or -errno.  If its holder
 * died, the state is the last commit: the mutex is made consistent. */
int lunsim_shm_lock(struct lunsim_shm *m);

/* Release the LUN's mutex. */
void lunsim_shm_unlock(struct lunsim_shm *m);

/* The committed state, unpacked into h (mutex held). */
void lunsim_shm_read(const struct lunsim_shm *m, struct lunsim_hdr *h);

/* The committed faults (mutex held). */
const struct lunsim_fault *lunsim_shm_fault(const struct lunsim_shm *m);

/* Make h the LUN's state (mutex held): written into the spare slot, then
 * committed with one store. */
void lunsim_shm_commit(struct lunsim_shm *m, const struct lunsim_hdr *h);

/* Copy the committed state into h without the mutex (a read-only
 * mapping, lunsim show): retried until no commit ran meanwhile. */
void lunsim_shm_snapshot(const struct lunsim_shm *m, struct lunsim_hdr *h);

/* Copy the committed faults into f without the mutex: retried until no
 * commit ran meanwhile. */
void
lunsim_shm_fault_snapshot(const struct lunsim_shm *m, struct lunsim_fault *f);

/* Whether the committed state has a hang fault (no mutex needed). */
int lunsim_shm_hung(const struct lunsim_shm *m);

/* How many commands wait out a hang on the LUN now (no mutex needed). */
uint32_t lunsim_shm_waiting(const struct lunsim_shm *m);

/* Write a fresh header of a LUN of size data bytes into the file fd and
 * size the file to hold it and the data: 0 or -errno. */
int lunsim_shm_format(int fd, uint64_t size);

/* Apply one "key=value" fault word to f: 0 or -EINVAL. */
int lunsim_fault_parse(struct lunsim_fault *f, const char *word);

/* Describe f in the fault syntax into buf: 0. */
int lunsim_fault_format(const struct lunsim_fault *f, char *buf, size_t len);

/* Parse "MS[:JITTER]": 0 or -EINVAL. */
int lunsim_parse_latency(const char *s, uint32_t *ms, uint32_t *jitter);

/* --- spc.c and cmd.c: the device model --------------------------------- */

/*
 * Execute one command from initiator on the LUN described by h.  datafd is
 * the file for the data area (-1: READ/WRITE fail with a hardware error).
 * Never fails: every outcome is status + sense in c.
 */
void lunsim_execute(struct lunsim_hdr *h, int datafd, const char *initiator,
    struct lunsim_cmd *c);

/* PERSISTENT RESERVE IN; the command has passed the unit attention check. */
void
lunsim_pr_in(struct lunsim_hdr *h, const char *initiator, struct lunsim_cmd *c);

/* PERSISTENT RESERVE OUT; the command has passed the unit attention check. */
void lunsim_pr_out(struct lunsim_hdr *h, const char *initiator,
    struct lunsim_cmd *c);

/* Whether initiator may READ (write == 0) or WRITE under the reservation. */
int lunsim_pr_access_ok(const struct lunsim_hdr *h, const char *initiator,
    int write);

/* Set c to CHECK CONDITION with fixed-format sense key/asc/ascq. */
void lunsim_sense(struct lunsim_cmd *c, uint8_t key, uint8_t asc, uint8_t ascq);

/* Index of initiator's slot, or -1. */
int lunsim_itn_find(const struct lunsim_hdr *h, const char *initiator);

/* Queue unit attention asc/ascq for slot i (duplicates are merged). */
void lunsim_ua_queue(struct lunsim_hdr *h, int i, uint8_t asc, uint8_t ascq);

/* A LUN's disk sequence number: the first eight bytes of its identity,
 * which `lunsim create` draws anew, so a LUN file formatted again (the
 * same inode, the same fake device number) is another disk, as a number
 * the kernel reuses comes with another sequence number. */
uint64_t lunsim_shm_diskseq(const struct lunsim_shm *m);

#endif
