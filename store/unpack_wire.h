#ifndef KVZ_STORE_UNPACK_WIRE_H
#define KVZ_STORE_UNPACK_WIRE_H

#include <limits.h>
#include <stdint.h>

/*
 * What kvz (store/unpacker.c) and kvz-unpack (store/unpack_main.c) say to each other over the
 * control socket (SOCK_SEQPACKET, one message each way); the download comes on the data socket.
 * Both are built from one tree: the magic numbers change with the layout.
 */
#define KVZ_WIRE_CTL_FD  3
#define KVZ_WIRE_DATA_FD 4
#define KVZ_WIRE_REQUEST 0x6b767a01u
#define KVZ_WIRE_REPORT  0x6b767a81u

struct kvz_wire_request {
    uint32_t magic;
    uint32_t expect; /* enum kvz_content_kind */
    uint64_t max_bytes, max_entries, ratio, slack;
    uint32_t admin; /* keep CAP_SYS_ADMIN: verified content with trusted.* or security.* xattrs */
    int32_t parent; /* kvz's pid */
    char dir[PATH_MAX];
};

struct kvz_wire_report {
    uint32_t magic;
    int32_t status; /* 0 or -1 */
    int32_t code;   /* the failure's errno */
    uint32_t kind;
    char format[16];
    uint8_t use_download, over_budget, needs_admin;
    uint64_t content_size, bytes_in, bytes_out;
    char msg[2048];
};

#endif
