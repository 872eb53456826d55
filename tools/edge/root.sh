#!/usr/bin/env bash
# The arm64 Debian root of `make edge-check`: built once with Debian's own tools, cached, run under qemu-user.
#
#   root.sh build              build (or find) the cached root; prints its path on the last line
#   root.sh install SRC CONSTR  copy the runtime package from SRC into the root and `pip install .` it (no extras),
#                               pinned by the constraints file CONSTR (the host's versions)
#   root.sh exec CMD...        run CMD inside the root (a private mount namespace with /proc and /dev)
#
# Needs root. Debian's mmdebstrap, arch-test and qemu-user-static (and util-linux's unshare) are installed with
# apt-get when missing, as `make test` installs its venv; without apt-get they must be installed first.
# Environment: PREFIXDEPLOY_CACHE (default ~/.cache/prefixdeploy), EDGE_MIRROR, EDGE_QEMU_CPU (default cortex-a76).
set -euo pipefail

SUITE=bookworm
MIRROR=${EDGE_MIRROR:-http://deb.debian.org/debian}
# pip comes with the venv (ensurepip); trust anchors are the host's (below): Debian's ca-certificates would spend
# minutes under qemu running openssl once per certificate.
PACKAGES=python3,python3-venv
CACHE=${PREFIXDEPLOY_CACHE:-$HOME/.cache/prefixdeploy}/edge
# The cache key changes when what goes into the root changes.
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "venv=/opt/venv" | sha256sum | cut -c1-12)
ROOT=$CACHE/root-$SUITE-arm64-$KEY
BINFMT=/proc/sys/fs/binfmt_misc
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

die() { echo "edge: $*" >&2; exit 2; }

# The Debian package of each tool the root needs. mmdebstrap only recommends arch-test, but stops without it
# ("install arch-test for foreign architecture support") when the root's architecture is not the host's.
TOOLS=(mmdebstrap:mmdebstrap arch-test:arch-test qemu-aarch64-static:qemu-user-static unshare:util-linux)

need_tools() {
    [ "$(id -u)" = 0 ] || die "building and entering the arm64 root needs root (mmdebstrap, chroot, mount)"
    local entry missing=()
    for entry in "${TOOLS[@]}"; do
        command -v "${entry%%:*}" >/dev/null || missing+=("${entry#*:}")
    done
    [ ${#missing[@]} = 0 ] || install_tools "${missing[@]}"
}

# apt-get's output goes to stderr: `build` prints the root's path as its last stdout line.
install_tools() {
    command -v apt-get >/dev/null || die "$* not installed and no apt-get here: install Debian's $* first"
    echo "edge: installing $* with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; } >&2 ||
        die "apt-get install $* failed (its output is above)"
    local entry
    for entry in "${TOOLS[@]}"; do
        command -v "${entry%%:*}" >/dev/null || die "${entry%%:*} still missing after apt-get install ${entry#*:}"
    done
}

# qemu-user-static ships the binfmt rule (with the F flag: the interpreter is opened now, so it works in chroots);
# a fresh machine may have binfmt_misc unmounted or the rule unregistered.
register_binfmt() {
    [ -e "$BINFMT/status" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" ||
        die "cannot mount binfmt_misc on $BINFMT (a container must be privileged to run the arm64 root)"
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        local rule=/usr/lib/binfmt.d/qemu-aarch64.conf
        [ -f "$rule" ] || die "no $rule to register qemu-aarch64 with: reinstall qemu-user-static"
        cat "$rule" >"$BINFMT/register"
    fi
    grep -qx enabled "$BINFMT/qemu-aarch64" || die "binfmt rule qemu-aarch64 is registered but disabled"
}

# No /sys inside: with the host's /sys and qemu 7.2's (x86) /proc/cpuinfo, ONNX Runtime's cpuinfo crashes; without
# it, cpuinfo warns and ONNX Runtime reads the CPU features from the auxiliary vector (qemu's CPU model, QEMU_CPU).
# A clean environment inside: nothing of the host's pip configuration (its local wheel dirs are x86 and absent).
in_root() {
    local env=(PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
        QEMU_CPU="${EDGE_QEMU_CPU:-cortex-a76}" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180)
    if [ -f "$ROOT$CA_BUNDLE" ]; then env+=(PIP_CERT="$CA_BUNDLE"); fi  # else pip's own certifi bundle
    unshare --mount --fork sh -c 'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$@"' \
        "$ROOT" "$ROOT" env -i "${env[@]}" "$@"
}

# Network settings and trust anchors follow the host's (its CA bundle may hold a proxy's certificate).
copy_host_network() {
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    if [ -f "$CA_BUNDLE" ]; then
        mkdir -p "$ROOT$(dirname "$CA_BUNDLE")" && cp -L "$CA_BUNDLE" "$ROOT$CA_BUNDLE"
    fi
}

build() {
    need_tools
    register_binfmt
    if [ ! -f "$ROOT/.complete" ]; then
        local tmp=$ROOT.tmp
        rm -rf "$tmp" && mkdir -p "$CACHE"
        mmdebstrap --quiet --arch=arm64 --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$MIRROR"
        ROOT=$tmp in_root_build
        touch "$tmp/.complete"
        mv "$tmp" "$ROOT"
    fi
    echo "$ROOT"
}

in_root_build() {
    copy_host_network
    in_root /usr/bin/python3 -m venv /opt/venv
}

need_built() { [ -f "$ROOT/.complete" ] || die "no arm64 root at $ROOT: run '$0 build' first"; }

install() {
    local src=$1 constraints=$2
    need_tools
    register_binfmt
    need_built
    copy_host_network
    rm -rf "$ROOT/src" && mkdir -p "$ROOT/src"
    # The runtime package only: what `pip install .` needs, none of the tests, samples or weights.
    cp -r "$src/pyproject.toml" "$src/README.md" "$src/prefixdeploy" "$ROOT/src/"
    cp "$constraints" "$ROOT/src/constraints.txt"
    # pip always reinstalls a local directory; the dependencies stay installed from the previous run.
    in_root pip install --quiet -c /src/constraints.txt /src
}

case "${1:-}" in
build) build ;;
install) install "$2" "$3" ;;
exec) shift; need_tools; register_binfmt; need_built; in_root "$@" ;;
*) die "usage: $0 build | install SRC CONSTRAINTS | exec CMD..." ;;
esac
