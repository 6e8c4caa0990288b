#include "cmd/cli.h"

#include <archive.h>
#include <curl/curl.h>
#include <git2.h>
#include <libvirt/libvirt.h>
#include <stdio.h>

/* kvz --version: kvz's own, then the libraries' it runs with (the shared objects loaded now,
 * not the headers it was built against), for bug reports. */
int cmd_version(struct kvz_cli *cli)
{
    unsigned long lv = 0;
    int major = 0, minor = 0, rev = 0;
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    printf("kvz %s\n", KVZ_VERSION);
    if (virGetVersion(&lv, NULL, NULL) == 0)
        printf("libvirt %lu.%lu.%lu\n", lv / 1000000, lv / 1000 % 1000, lv % 1000);
    int av = archive_version_number();
    printf("libarchive %d.%d.%d\n", av / 1000000, av / 1000 % 1000, av % 1000);
    printf("libcurl %s\n", curl ? curl->version : "unknown");
    if (git_libgit2_version(&major, &minor, &rev) == 0)
        printf("libgit2 %d.%d.%d\n", major, minor, rev);
    return KVZ_EXIT_OK;
}
