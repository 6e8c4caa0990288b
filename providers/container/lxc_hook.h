#ifndef KVZ_PROVIDERS_CONTAINER_LXC_HOOK_H
#define KVZ_PROVIDERS_CONTAINER_LXC_HOOK_H

/*
 * What kvz and its libvirt hook (providers/container/lxc_hook.c, kvz-lxc-hook) agree on.
 * KVZ_LXC_HOOK_ID is in the hook's binary and printed by `kvz-lxc-hook --version`: kvz installs
 * the hook again when the installed one does not carry it (a new protocol bumps the number).
 */

#include <stdbool.h>
#include <string.h>

#define KVZ_LXC_HOOK_ID   "kvz-lxc-hook protocol 1"
#define KVZ_LXC_HOOKS_DIR "/etc/libvirt/hooks/lxc.d"
#define KVZ_LXC_HOOK_NAME "kvz"

/* An absolute path an overlay mount option can carry as it is: overlayfs splits its options at
 * ',' and lower dirs at ':', and takes '\\' as an escape. */
static inline bool kvz_lxc_hook_path_ok(const char *p)
{
    return p && p[0] == '/' && !strpbrk(p, ",:\\\n");
}

#endif
