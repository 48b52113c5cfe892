/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The part of libmpathpersist's binary interface the multipath backend
 * uses, declared here because the library is loaded at run time (dlopen)
 * and most distributions ship it without a header.
 *
 * The layouts are those of multipath-tools' public header from its first
 * release on (checked against 0.9.4): the structures are passed by
 * pointer and the library fills or reads them in place, so every size and
 * offset below is part of the contract and is asserted at compile time.
 * The entry points are looked up with dlvsym() under the symbol versions
 * listed in MPATH_ABI_VERSIONS; a library exporting them under any other
 * version is refused.
 */
#ifndef PRH_MPATH_ABI_H
#define PRH_MPATH_ABI_H

#include <stddef.h>
#include <stdint.h>

/* Symbol versions with the calls and layouts declared here, newest first:
 * the calls date from 1.0.0 (the first versioned release),
 * libmpathpersist_init() from 1.1.0.  Unversioned builds are not loaded. */
#define MPATH_ABI_VERSIONS                                \
	"LIBMPATHPERSIST_2.1.0", "LIBMPATHPERSIST_2.0.0", \
	    "LIBMPATHPERSIST_1.1.0", "LIBMPATHPERSIST_1.0.0"

#define MPATH_ABI_PARAM_MAX 8192 /* the library's parameter buffers */
#define MPATH_ABI_TIDS_MAX  32	 /* transport IDs the library takes */

/* Result codes of mpath_persistent_reserve_in/out. */
enum mpath_abi_result {
	MPATH_ABI_SKIP = -1, /* internal: a path was skipped */
	MPATH_ABI_SUCCESS = 0,
	MPATH_ABI_SYNTAX_ERROR = 1,
	MPATH_ABI_SENSE_NOT_READY = 2,
	MPATH_ABI_SENSE_MEDIUM_ERROR = 3,
	MPATH_ABI_SENSE_HARDWARE_ERROR = 4,
	MPATH_ABI_ILLEGAL_REQ = 5,
	MPATH_ABI_SENSE_UNIT_ATTENTION = 6,
	MPATH_ABI_SENSE_INVALID_OP = 7,
	MPATH_ABI_SENSE_ABORTED_COMMAND = 8,
	MPATH_ABI_NO_SENSE = 9,
	MPATH_ABI_SENSE_MALFORMED = 10,
	MPATH_ABI_RESERV_CONFLICT = 11,
	MPATH_ABI_FILE_ERROR = 12,
	MPATH_ABI_DMMP_ERROR = 13,
	MPATH_ABI_THREAD_ERROR = 14,
	MPATH_ABI_OTHER = 15,
};

/* Flags of prout_param.sa_flags (PR OUT parameter list byte 20). */
#define MPATH_ABI_F_APTPL     0x01
#define MPATH_ABI_F_ALL_TG_PT 0x04
#define MPATH_ABI_F_SPEC_I_PT 0x08

/* Protocol identifiers of a transport ID. */
#define MPATH_ABI_PROTO_FC    0x00
#define MPATH_ABI_PROTO_ISCSI 0x05
#define MPATH_ABI_PROTO_SAS   0x06

/*
 * PR IN answer.  The library copies the device's parameter data in as it
 * came and converts the fields named here to host byte order:
 * READ KEYS and READ RESERVATION: generation and additional_length, the
 * rest (keys, or the reservation descriptor) left as the device sent it;
 * REPORT CAPABILITIES: length and type_mask.  (READ FULL STATUS is
 * rewritten into a list of pointers, and is never asked for.)
 */
struct mpath_abi_prin_keys {
	uint32_t generation;
	uint32_t additional_length;
	uint8_t data[MPATH_ABI_PARAM_MAX];
};

struct mpath_abi_prin_caps {
	uint16_t length;
	uint8_t flags[2];
	uint16_t type_mask;
	uint16_t reserved;
};

struct mpath_abi_prin_resp {
	union {
		struct mpath_abi_prin_keys keys; /* READ KEYS, RESERVATION */
		struct mpath_abi_prin_caps caps; /* REPORT CAPABILITIES */
		uint64_t align; /* the library's union holds pointers */
	} u;
};

/* One transport ID, decoded: the library encodes it again (FC and SAS:
 * 24 bytes; iSCSI: 2 + name[1] bytes of name, which starts with the
 * ID's own BE16 length). */
struct mpath_abi_tid {
	uint8_t format_code; /* ID byte 0, bits 7-6 */
	uint8_t protocol_id; /* ID byte 0, bits 3-0 */
	union {
		uint8_t n_port_name[8];	 /* FC: ID bytes 8-15 */
		uint8_t sas_address[8];	 /* SAS: ID bytes 4-11 */
		uint8_t iscsi_name[256]; /* iSCSI: ID bytes 2.. */
	} u;
};

/* PR OUT parameters.  The library sends key .. reserved1 (24 bytes) as
 * the parameter list, followed, when SPEC_I_PT is set, by the transport
 * IDs it encodes into buffer. */
struct mpath_abi_prout_param {
	uint8_t key[8];
	uint8_t sa_key[8];
	uint32_t obsolete0;
	uint8_t sa_flags;
	uint8_t reserved0;
	uint16_t reserved1;
	uint8_t buffer[MPATH_ABI_PARAM_MAX];
	uint32_t num_tids;
	struct mpath_abi_tid *tids[]; /* num_tids pointers */
};

_Static_assert(sizeof(struct mpath_abi_prin_resp) == 8200,
    "struct prin_resp is 8200 bytes");
_Static_assert(sizeof(struct mpath_abi_prin_caps) == 8,
    "struct prin_capdescr is 8 bytes");
_Static_assert(offsetof(struct mpath_abi_prin_caps, type_mask) == 4,
    "pr_type_mask at offset 4");
_Static_assert(sizeof(struct mpath_abi_tid) == 258,
    "struct transportid is 258 bytes");
_Static_assert(offsetof(struct mpath_abi_prout_param, sa_flags) == 20,
    "sa_flags at offset 20");
_Static_assert(offsetof(struct mpath_abi_prout_param, buffer) == 24,
    "private_buffer at offset 24");
_Static_assert(offsetof(struct mpath_abi_prout_param, num_tids) == 8216,
    "num_transportid at offset 8216");
_Static_assert(sizeof(struct mpath_abi_prout_param) == 8224,
    "struct prout_param_descriptor is 8224 bytes");

/* The entry points, as looked up. */
typedef int (*mpath_abi_init_fn)(void);
typedef int (*mpath_abi_exit_fn)(void);
typedef int (*mpath_abi_in_fn)(int fd, int sa, struct mpath_abi_prin_resp *,
    int noisy, int verbose);
typedef int (*mpath_abi_out_fn)(int fd, int sa, int scope, unsigned type,
    struct mpath_abi_prout_param *, int noisy, int verbose);

#endif
