#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (Python >= 3.11, no display, no GPU):
# the Debian packages Qt/VTK need (only when missing and we are root) and a .venv with RevSeg installed.
# Sourced by ./revseg and ./run-tests; safe to run again, it does nothing when all is in place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
APT_PACKAGES=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1
              libxkbcommon-x11-0 libxcb-cursor0 libxcb-shape0 libegl1 libgl1 libosmesa6 libfontconfig1
              libdbus-1-3 dicom3tools dcmtk orthanc orthanc-dicomweb)
# torch is pinned to the CPU wheel that this machine kind has on disk; a plain "torch" pulls a CUDA build.
TORCH_SPEC="torch==2.13.0"

log() { echo "[setup] $*" >&2; }

install_debian_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages (install them as root): ${missing[*]}"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    disable_orthanc_service
}

# The tests start their own Orthanc (temporary storage, free ports); the Debian service must not hold 4242/8042.
disable_orthanc_service() {
    command -v Orthanc >/dev/null || return 0
    if command -v systemctl >/dev/null; then systemctl disable --now orthanc >/dev/null 2>&1 || true; fi
    if command -v update-rc.d >/dev/null; then update-rc.d orthanc disable >/dev/null 2>&1 || true; fi
    if command -v service >/dev/null; then service orthanc stop >/dev/null 2>&1 || true; fi
}

install_venv() {
    local stamp="$VENV/.revseg-setup-stamp"
    local want
    want="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    log "installing Python packages into .venv (first run: a few minutes; log in .venv/setup.log)"
    # pip's and setuptools' chatter goes to a log; it is shown only when the install fails.
    if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
           "$VENV/bin/python" -m pip install -q "$TORCH_SPEC" -e "$ROOT[test,train]"; } >"$VENV/setup.log" 2>&1; then
        tail -n 40 "$VENV/setup.log" >&2
        log "pip install failed (full log: $VENV/setup.log)"
        return 1
    fi
    echo "$want" > "$stamp"
}

install_debian_packages
install_venv
