/*
 * bench/vm_create: times the VM provider's create (kvz_vm_create_from: base
 * import, qcow2 overlay, seed, definition; the VM is left stopped so the figure
 * is the disk work, not a boot) and its remove, RUNS rounds; each round creates
 * from every IMAGE in turn, so host noise hits them alike.
 *   vm_create STATE_DIR RUNS IMAGE...
 * Prints one line per create: "IMAGE_INDEX create_ms remove_ms". Built and run
 * by bench/vm-create.
 */
#include "providers/vm/vm.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void quiet(void *ctx, virErrorPtr e)
{
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vm_create STATE_DIR RUNS IMAGE...\n");
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen("qemu:///system");
    if (!conn) {
        fprintf(stderr, "vm_create: qemu:///system unreachable\n");
        return 1;
    }
    char stack[64], name[96];
    snprintf(stack, sizeof(stack), "kvzb-%ld", (long)getpid());
    snprintf(name, sizeof(name), "kvzb-%ld-vm", (long)getpid());
    struct kvz_host h = {.uri = "qemu:///system",
                         .conn = conn,
                         .state_dir = argv[1],
                         .stack = stack,
                         .source = "bench/vm_create"};
    struct kvz_resource r = {.kind = KVZ_KIND_VM,
                             .name = name,
                             .hostname = name,
                             .memory = 256u << 20,
                             .max_memory = 256u << 20,
                             .cpus_milli = 1000,
                             .max_cpus = 1,
                             .disk = 4ull << 30,
                             .state = KVZ_POWER_STOPPED,
                             .network = {KVZ_NET_NETWORK, "default"}};
    int runs = atoi(argv[2]), rc = 0;
    for (int i = 0; i < runs * (argc - 3) && rc == 0; i++) {
        int img = i % (argc - 3);
        /* A stand-in for the store's content digest, one per image. */
        char digest[65];
        snprintf(digest, sizeof(digest), "%056x%08x", (unsigned)getpid(), (unsigned)img);
        struct kvz_error *err = NULL;
        double t0 = now_ms();
        if (kvz_vm_create_from(&h, &r, argv[3 + img], digest, NULL, &err) < 0) {
            fprintf(stderr, "vm_create: %s\n", kvz_error_msg(err));
            rc = 1;
            break;
        }
        double t1 = now_ms();
        if (kvz_vm_ops.remove(&h, name, &err) < 0) {
            fprintf(stderr, "vm_create: %s\n", kvz_error_msg(err));
            rc = 1;
        }
        printf("%d %.1f %.1f\n", img, t1 - t0, now_ms() - t1);
        fflush(stdout);
    }
    char pool_name[32];
    kvz_vm_pool_name(pool_name, argv[1]);
    virStoragePoolPtr p = virStoragePoolLookupByName(conn, pool_name);
    if (p) {
        virStoragePoolDestroy(p);
        virStoragePoolUndefine(p);
        virStoragePoolFree(p);
    }
    virConnectClose(conn);
    return rc;
}
