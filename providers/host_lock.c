#include "providers/host_lock.h"

#include "base/buf.h"
#include "base/fs.h"
#include "providers/domain.h"
#include "providers/volume.h"

#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOCK_POOL "kvz-locks"
#define LOCK_VOL  "host.lock"

static int lock_pool(virStoragePoolPtr *out, virConnectPtr conn, struct kvz_error **err)
{
    return kvz_remote_pool_ensure_named(out, conn, LOCK_POOL, KVZ_REMOTE_POOL_ROOT "/locks", err);
}

/* What the lock volume holds, as text; NULL when it cannot be read. */
static int recv_buf(virStreamPtr st, const char *data, size_t n, void *opaque)
{
    struct kvz_buf *b = opaque;
    if (b->len + n > 4096)
        return -1; /* a lock record is a line */
    kvz_buf_add(b, data, n);
    return (int)n;
}

static char *read_record(virStorageVolPtr vol)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    virStreamPtr st = virStreamNew(virStorageVolGetConnect(vol), 0);
    bool ok = st && virStorageVolDownload(vol, st, 0, 0, 0) == 0 &&
              virStreamRecvAll(st, recv_buf, &b) == 0 && virStreamFinish(st) == 0;
    if (st) {
        if (!ok)
            virStreamAbort(st);
        virStreamFree(st);
    }
    if (!ok) {
        kvz_buf_release(&b);
        return NULL;
    }
    return kvz_buf_detach(&b);
}

/* "who@where (pid N) since T for stack S", or what is known of an unreadable record. */
static char *describe(const char *rec)
{
    json_t *j = rec ? json_loads(rec, 0, NULL) : NULL;
    struct kvz_buf b = KVZ_BUF_INIT;
    if (!j) {
        kvz_buf_puts(&b, "an unknown holder (its record is empty or unreadable)");
    } else {
        kvz_buf_printf(&b, "%s@%s (pid %lld) since %s for stack '%s'",
                       json_string_value(json_object_get(j, "who")),
                       json_string_value(json_object_get(j, "where")),
                       (long long)json_integer_value(json_object_get(j, "pid")),
                       json_string_value(json_object_get(j, "since")),
                       json_string_value(json_object_get(j, "stack")));
    }
    json_decref(j);
    return kvz_buf_detach(&b);
}

/* Whether the record names a kvz process of this machine that no longer runs. */
static bool stale(const char *rec)
{
    char here[256] = "";
    json_t *j = rec ? json_loads(rec, 0, NULL) : NULL;
    const char *where = j ? json_string_value(json_object_get(j, "where")) : NULL;
    json_int_t pid = j ? json_integer_value(json_object_get(j, "pid")) : 0;
    bool gone = where && pid > 0 && gethostname(here, sizeof(here) - 1) == 0 &&
                !strcmp(where, here) && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
    json_decref(j);
    return gone;
}

static char *record(const char *stack, const char *state_dir)
{
    char where[256] = "unknown", since[32];
    struct passwd *pw = getpwuid(getuid());
    gethostname(where, sizeof(where) - 1);
    kvz_utc_now(since);
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "who", pw ? pw->pw_name : "unknown",
                          "where", where, "pid", (json_int_t)getpid(), "since", since, "stack",
                          stack, "state_dir", state_dir);
    char *s = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return s;
}

static int send_buf(virStreamPtr st, char *bytes, size_t n, void *opaque)
{
    struct kvz_buf *b = opaque; /* ptr advances as it is sent */
    size_t k = b->len < n ? b->len : n;
    memcpy(bytes, b->ptr, k);
    b->ptr += k;
    b->len -= k;
    return (int)k;
}

/* Creates the lock volume only if there is none (libvirt refuses an existing name), then
 * writes the record into it. 1: made; 0: one exists; -1: error. */
static int create(virStorageVolPtr *out, virStoragePoolPtr pool, const char *rec,
                  struct kvz_error **err)
{
    struct kvz_buf xml = KVZ_BUF_INIT;
    size_t len = strlen(rec);
    kvz_buf_printf(&xml,
                   "<volume><name>" LOCK_VOL "</name><capacity unit='bytes'>%zu</capacity>"
                   "<target><format type='raw'/><permissions><mode>0600</mode></permissions>"
                   "</target></volume>",
                   len);
    virStorageVolPtr vol = xml.oom ? NULL : virStorageVolCreateXML(pool, kvz_buf_cstr(&xml), 0);
    kvz_buf_release(&xml);
    if (!vol) {
        virStoragePoolRefresh(pool, 0);
        virStorageVolPtr there = virStorageVolLookupByName(pool, LOCK_VOL);
        if (there) {
            virStorageVolFree(there);
            return 0;
        }
        return kvz_error_set(err, "create the host lock: %s", kvz_virt_msg());
    }
    struct kvz_buf cursor = {.ptr = (char *)rec, .len = len};
    virStreamPtr st = virStreamNew(virStorageVolGetConnect(vol), 0);
    bool ok = st && virStorageVolUpload(vol, st, 0, len, 0) == 0 &&
              virStreamSendAll(st, send_buf, &cursor) == 0 && virStreamFinish(st) == 0;
    if (st) {
        if (!ok)
            virStreamAbort(st);
        virStreamFree(st);
    }
    if (!ok) {
        kvz_error_set(err, "write the host lock: %s", kvz_virt_msg());
        virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
        return -1;
    }
    *out = vol;
    return 1;
}

int kvz_host_lock_acquire(struct kvz_host_lock *l, virConnectPtr conn, const char *host,
                          const char *stack, const char *state_dir, struct kvz_error **err)
{
    virStoragePoolPtr pool = NULL;
    char *rec = record(stack, state_dir), *held = NULL, *who = NULL;
    int rc = -1;
    l->vol = NULL;
    if (!rec) {
        kvz_error_set(err, "host lock: out of memory");
        goto cleanup;
    }
    if (lock_pool(&pool, conn, err) < 0)
        goto cleanup;
    for (int attempt = 0; attempt < 2; attempt++) {
        int made = create(&l->vol, pool, rec, err);
        if (made < 0)
            goto cleanup;
        if (made == 1) {
            rc = 0;
            goto cleanup;
        }
        virStorageVolPtr there = virStorageVolLookupByName(pool, LOCK_VOL);
        free(held);
        held = there ? read_record(there) : NULL;
        if (attempt == 0 && there && stale(held)) {
            /* its holder ran here and is gone: taken over */
            virStorageVolDelete(there, 0);
            virStorageVolFree(there);
            continue;
        }
        if (there)
            virStorageVolFree(there);
        break;
    }
    who = describe(held);
    kvz_error_set(
        err,
        "host '%s' is locked by %s; wait for that apply to end, or if it crashed run 'kvz unlock --host %s'",
        host, who ? who : "?", host);
cleanup:
    if (pool)
        virStoragePoolFree(pool);
    free(rec);
    free(held);
    free(who);
    return rc;
}

void kvz_host_lock_release(struct kvz_host_lock *l)
{
    if (!l->vol)
        return;
    virStorageVolDelete(l->vol, 0);
    virStorageVolFree(l->vol);
    l->vol = NULL;
}

int kvz_host_unlock(char **out_holder, virConnectPtr conn, struct kvz_error **err)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(conn, LOCK_POOL);
    *out_holder = NULL;
    if (!pool)
        return 0;
    int rc = 0;
    virStoragePoolRefresh(pool, 0);
    virStorageVolPtr vol = virStorageVolLookupByName(pool, LOCK_VOL);
    if (vol) {
        char *rec = read_record(vol);
        *out_holder = describe(rec);
        free(rec);
        if (virStorageVolDelete(vol, 0) < 0)
            rc = kvz_error_set(err, "remove the host lock: %s", kvz_virt_msg());
        virStorageVolFree(vol);
    }
    virStoragePoolFree(pool);
    return rc;
}
