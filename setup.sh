#!/usr/bin/env bash
# One idempotent set-up step for a brand-new Debian 12 machine (run as root):
# the system packages qos-sdn drives (Open vSwitch, iperf3, ethtool, Debian's
# mininet for mnexec, tcpdump, etcd for the cluster) and a project venv (.venv) with the pinned
# Python packages. A second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")"

# prometheus: the real server (and promtool) the metrics tests scrape the controller with
# etcd-server/etcd-client: the replicated store of a controller cluster (--store etcd://...)
APT_PACKAGES=(openvswitch-switch iperf3 ethtool mininet tcpdump iproute2 iputils-ping chromium prometheus etcd-server etcd-client)
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: need root for apt-get (missing: ${missing[*]})" >&2
        exit 1
    fi
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The web page's libraries (qosapp/http/vendored.txt): npm packages at pinned versions, each file checked by
# sha256 before it goes into the static directory. Needs npm (Debian's, when node did not bring its own).
vendor_ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }
static=qosapp/http/static
need_vendor=0
while read -r pkg version file target sha; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    vendor_ok "$static/$target" "$sha" || need_vendor=1
done < qosapp/http/vendored.txt
if ((need_vendor)); then
    if ! command -v npm >/dev/null; then
        [[ $(id -u) -eq 0 ]] || { echo "setup: need root to apt-get install npm" >&2; exit 1; }
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends npm >/dev/null
    fi
    echo "setup: fetching the web page's libraries from the npm registry"
    work=$(mktemp -d)
    while read -r pkg version file target sha; do
        [[ -z $pkg || $pkg == \#* ]] && continue
        vendor_ok "$static/$target" "$sha" && continue
        tarball="$work/$pkg-$version.tgz"
        if [[ ! -f $tarball ]]; then
            (cd "$work" && npm pack --silent "$pkg@$version" >/dev/null) || { echo "setup: npm pack $pkg@$version failed" >&2; exit 1; }
        fi
        mkdir -p "$work/x"
        tar -xzf "$tarball" -C "$work/x" "package/$file"
        if ! vendor_ok "$work/x/package/$file" "$sha"; then
            echo "setup: $pkg@$version $file has sha256 $(sha256sum "$work/x/package/$file" | cut -d' ' -f1), expected $sha" >&2
            exit 1
        fi
        install -m 0644 "$work/x/package/$file" "$static/$target"
    done < qosapp/http/vendored.txt
    rm -rf "$work"
fi

stamp=.venv/.qos-sdn-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    exit 0
fi
echo "setup: creating .venv with pinned packages"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
export PIP_CONSTRAINT="$PWD/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1
log=$(mktemp)
if ! { .venv/bin/pip install "setuptools<68" wheel && .venv/bin/pip install -e ".[test]"; } >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -40 >&2
    echo "setup: pip install failed (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
.venv/bin/python -c "import ryu, ovs, mininet, networkx, webob, eventlet, prometheus_client, etcd3gw"
echo "$want" > "$stamp"
echo "setup: done"
