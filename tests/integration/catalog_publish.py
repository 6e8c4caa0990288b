#!/usr/bin/env python3
"""Publishes test catalogs in the real formats, for templates_catalogs.sh and the lock tests.

  catalog_publish.py aplinfo DIR FILE [PACKAGE VERSION ARCH LOCATION]...
      DIR/FILE: Proxmox's aplinfo.dat (the record layout of download.proxmox.com's
      aplinfo-pve-8.dat), one record per entry, sha512sum and md5sum of DIR/LOCATION, led by
      the pve-web-news record Proxmox publishes.
  catalog_publish.py simplestreams DIR [PRODUCT VERSION FTYPE PATH]...
      DIR/streams/v1/index.json and images.json as images.linuxcontainers.org publishes them
      (products:1.0, items with ftype, path, size, sha256).
Signing is the caller's (gpg --detach-sign: FILE.asc for aplinfo, *.json.gpg for simplestreams).
"""
import hashlib
import json
import os
import sys


def digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def aplinfo(d, name, rest):
    recs = ["Package: pve-web-news\nVersion: 1.0\nType: lxc\nOS: none\nSection: none\n"
            "Maintainer: Proxmox Support Team <support@proxmox.com>\n"
            "Description: Proxmox News\n Some news.\n"]
    for i in range(0, len(rest), 4):
        pkg, ver, arch, loc = rest[i:i + 4]
        f = os.path.join(d, loc)
        os_ = pkg.split("-standard")[0]
        recs.append(
            "Package: %s\nVersion: %s\nType: lxc\nOS: %s\nSection: system\n"
            "Maintainer: Proxmox Support Team <support@proxmox.com>\nArchitecture: %s\n"
            "Location: %s\nmd5sum: %s\nsha512sum: %s\n"
            "Infopage: https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions\n"
            "Description: %s (standard)\n A small system including all standard packages.\n"
            % (pkg, ver, os_, arch, loc, digest(f, "md5"), digest(f, "sha512"), os_))
    with open(os.path.join(d, name), "w") as out:
        out.write("\n".join(recs))


def simplestreams(d, rest):
    products = {}
    for i in range(0, len(rest), 4):
        prod, ver, ftype, path = rest[i:i + 4]
        osname, release, arch, variant = prod.split(":")
        f = os.path.join(d, path)
        p = products.setdefault(prod, {
            "aliases": "%s/%s/%s,%s/%s" % (osname, release, variant, osname, release),
            "arch": arch, "os": osname.capitalize(), "release": release,
            "release_title": release, "variant": variant, "versions": {}})
        items = p["versions"].setdefault(ver, {"items": {}})["items"]
        items[os.path.basename(path)] = {"ftype": ftype, "path": path,
                                         "size": os.path.getsize(f),
                                         "sha256": digest(f, "sha256")}
        # the metadata tarball every version has, which kvz does not use
        items["incus.tar.xz"] = {"ftype": "incus.tar.xz", "path": path + ".meta",
                                 "size": 1, "sha256": "0" * 64}
    os.makedirs(os.path.join(d, "streams/v1"), exist_ok=True)
    images = {"content_id": "images", "datatype": "image-downloads", "format": "products:1.0",
              "products": products}
    with open(os.path.join(d, "streams/v1/images.json"), "w") as out:
        json.dump(images, out)
    index = {"format": "index:1.0", "index": {"images": {
        "datatype": "image-downloads", "path": "streams/v1/images.json",
        "format": "products:1.0", "products": sorted(products)}}}
    with open(os.path.join(d, "streams/v1/index.json"), "w") as out:
        json.dump(index, out)


if __name__ == "__main__":
    if sys.argv[1] == "aplinfo":
        aplinfo(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        simplestreams(sys.argv[2], sys.argv[3:])
