/*
 * Helper of bench/container-create/run: one timed operation per process, so hyperfine can
 * compare it with cp -a on equal terms.
 *   create-bench copy SRC DST                   kvz's private rootfs copy only
 *   create-bench create SRC STATE NAME DISK     kvz container create (storage, files, define);
 *                                               DISK 0 = rootfs directory, else ext4 image bytes
 *   create-bench remove STATE NAME              remove it again (not timed)
 */
#include "providers/container/container.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(void *data, virErrorPtr e)
{
}

static int host_open(struct kvz_host *h, const char *state)
{
    virSetErrorFunc(NULL, quiet);
    memset(h, 0, sizeof(*h));
    h->uri = "lxc:///system";
    h->conn = virConnectOpen(h->uri);
    h->state_dir = state;
    h->stack = "kvzbench";
    h->source = "bench/container-create";
    return h->conn ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct kvz_error *err = NULL;
    struct kvz_host h;
    int r = -1;
    if (argc == 4 && !strcmp(argv[1], "copy")) {
        r = kvz_rootfs_copy(argv[2], argv[3], &err);
    } else if (argc == 6 && !strcmp(argv[1], "create")) {
        struct kvz_resource want = {
            .kind = KVZ_KIND_CONTAINER,
            .name = argv[4],
            .template_name = "bench",
            .memory = 256u << 20,
            .max_memory = 256u << 20,
            .cpus_milli = 1000,
            .disk = strtoull(argv[5], NULL, 10),
            .hostname = argv[4],
            .state = KVZ_POWER_STOPPED,
            .network = {KVZ_NET_NONE, NULL},
        };
        if (host_open(&h, argv[3]) == 0)
            r = kvz_ct_create_from(&h, &want, argv[2], NULL, &err);
    } else if (argc == 4 && !strcmp(argv[1], "remove")) {
        if (host_open(&h, argv[2]) == 0)
            r = kvz_container_ops.remove(&h, argv[3], &err);
    } else {
        fprintf(
            stderr,
            "usage: create-bench copy SRC DST | create SRC STATE NAME DISK | remove STATE NAME\n");
        return 2;
    }
    if (r < 0)
        fprintf(stderr, "create-bench: %s\n", kvz_error_msg(err));
    return r < 0 ? 1 : 0;
}
