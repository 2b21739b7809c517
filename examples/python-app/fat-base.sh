#!/bin/sh
# A distro-style base image, for the size comparison: the files of this host's
# Debian packages of priority "required" plus python3's dependencies (what a
# "python:3.x-slim" image holds), imported gzip-compressed as python-fat (so that
# `images` compares compressed sizes, as it does for built layers). Offline; run as root.
set -eu
minictr=${MINICTR:-minictr}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{ dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}'
  apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances python3 | grep -v "^[ <]"
} | sort -u > "$work/packages"
for p in $(cat "$work/packages"); do dpkg -L "$p" 2>/dev/null || true; done | grep '^/' | sort -u \
    | sed 's|^/||' > "$work/files"
printf 'tmp\nroot\nvar/tmp\n' >> "$work/files"
tar -C / --no-recursion -T "$work/files" -cf - 2>/dev/null | gzip -n > "$work/rootfs.tar.gz" || true
"$minictr" import "$work/rootfs.tar.gz" python-fat
