#!/usr/bin/env bash
# The two Debian bookworm base images the Containerfile builds FROM, made here with mmdebstrap and
# imported into podman's local storage: no registry is pulled from (`make image` runs it first).
#   localhost/edge-router-base:bookworm-runtime  the final image's base: python3 (3.11, which the
#       project supports), libstdc++6 (the onnxruntime and usearch wheels link it), ca-certificates
#       (Debian's trust store, for the cloud endpoints' HTTPS), tini (the image's PID 1) and
#       redis-server (the node-local Redis through which `serve --workers N` shares limits and
#       the cache when the node config names no Redis: docs/deploy.md, "Workers")
#   localhost/edge-router-base:bookworm-build    python3, libstdc++6, ca-certificates and
#       python3-venv, whose ensurepip the build stages make their virtualenvs with; never under
#       the final image
# mmdebstrap's `essential` variant: Essential packages and the listed ones, no apt (the image never
# installs anything) and no docs, man pages or translations (copyright files are kept). The
# merged-usr hook lays out merged /usr itself: without it, bookworm's usrmerge package comes in,
# and with it perl (46 MB of the first try's 154 MB).
# An image is made again only when it is missing or this file's commands changed (a label holds
# their hash; comments do not count); FORCE=1 makes both again, e.g. for Debian's security updates.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(grep -v '^ *#' "$here/base.sh" | sha256sum | cut -c1-16)
repo=localhost/edge-router-base
log=$(mktemp)
trap 'rm -f "$log"' EXIT
common_packages=python3,libstdc++6,ca-certificates

build_base() {  # tag, packages
  local image="$repo:$1" found old
  old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  found=$(podman image inspect --format '{{index .Labels "edge-router.base-recipe"}}' "$image" 2>/dev/null || true)
  if [ "$found" = "$recipe" ] && [ -z "${FORCE:-}" ]; then
    echo "base image $image is current"
    return
  fi
  echo "building base image $image with mmdebstrap ($2)"
  # Plain HTTP to deb.debian.org: apt checks every package against Debian's signing keys, and a
  # TLS-intercepting proxy needs no trust for it. mmdebstrap's chatter goes to a log, shown when
  # it fails.
  mmdebstrap --quiet --variant=essential --include="$2" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm - \
    'deb http://deb.debian.org/debian bookworm main' \
    'deb http://deb.debian.org/debian bookworm-updates main' \
    'deb http://deb.debian.org/debian-security bookworm-security main' 2>"$log" |
    podman import --quiet --change "LABEL edge-router.base-recipe=$recipe" \
      --change 'CMD ["/bin/sh"]' - "$image" >/dev/null || { tail -n 30 "$log" >&2; return 1; }
  # The image it replaces, unless a build still uses it as a parent.
  [ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
  echo "base image $image: $(podman image inspect --format '{{.Size}}' "$image" | numfmt --to=si)B"
}

build_base bookworm-runtime "$common_packages,tini,redis-server"
build_base bookworm-build "$common_packages,python3-venv"
