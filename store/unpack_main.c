/*
 * kvz-unpack: the confined unpacker kvz starts for every download (store/unpacker.h). It reads
 * its request from descriptor 3, confines itself to the staging directory it names
 * (store/sandbox.h), unpacks the stream on descriptor 4 there and answers on descriptor 3.
 * Not for people: it has no options and prints nothing.
 */
#include "base/error.h"
#include "store/sandbox.h"
#include "store/unpack.h"
#include "store/unpack_wire.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    struct kvz_wire_request q;
    struct kvz_wire_report rep = {.magic = KVZ_WIRE_REPORT, .status = -1};
    struct kvz_error *err = NULL;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (recv(KVZ_WIRE_CTL_FD, &q, sizeof(q), 0) != (ssize_t)sizeof(q) ||
        q.magic != KVZ_WIRE_REQUEST)
        return 2; /* not started by this kvz */
    if (getppid() != (pid_t)q.parent)
        return 3; /* kvz is gone (before the death signal was set) */
    q.dir[sizeof(q.dir) - 1] = '\0';
    struct kvz_unpack_budget b = {.ratio = q.ratio, .slack = q.slack};
    struct kvz_unpack_limits lim = {.max_bytes = q.max_bytes,
                                    .max_entries = q.max_entries,
                                    .budget = &b,
                                    .admin_xattrs = q.admin != 0};
    struct kvz_unpack_result r = {0};
    if (kvz_sandbox_enter(q.dir, q.max_bytes, q.admin != 0, &err) < 0)
        kvz_error_wrap(&err, "unpack: cannot confine the unpacker");
    else if (kvz_unpack_stream(&r, KVZ_WIRE_DATA_FD, (enum kvz_content_kind)q.expect, &lim, &err) ==
             0)
        rep.status = 0;
    rep.code = kvz_error_code(err);
    rep.kind = (uint32_t)r.kind;
    memcpy(rep.format, r.format, sizeof(rep.format));
    rep.use_download = r.use_download;
    rep.over_budget = b.over;
    rep.needs_admin = b.needs_admin;
    rep.content_size = r.content_size;
    rep.bytes_in = atomic_load(&b.in);
    rep.bytes_out = b.out;
    if (err)
        snprintf(rep.msg, sizeof(rep.msg), "%s", kvz_error_msg(err));
    kvz_error_free(err);
    /* _exit: nothing to flush, and no leak check that would need ptrace */
    _exit(send(KVZ_WIRE_CTL_FD, &rep, sizeof(rep), MSG_NOSIGNAL) == (ssize_t)sizeof(rep) ? 0 : 4);
}
