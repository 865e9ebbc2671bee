#!/usr/bin/env bash
# Build the worker image (the repository's Dockerfile) with podman and smoke-test it: one command.
#
#   deploy/build_image.sh                 # base (once), build, smoke; prints the times and the size
#   SMOKE=0 deploy/build_image.sh         # build only
#   BASE_IMAGE=python:3.11-slim deploy/build_image.sh   # where a registry can be reached
#
# For machines that reach no container registry: the base image is a Debian rootfs made here from
# Debian's packages (mmdebstrap: python3 + python3-venv), imported once as $BASE_IMAGE and reused
# (as is its tarball under $CACHE_DIR). The build reaches the package index the way this machine's
# pip does: its effective configuration (`pip config list`: index, find-links, constraints, CA
# bundle) is written to a folder lent to the build as /etc/xdg/pip, and every local folder it names
# (a wheel cache, a file:// index) is lent at its own path, read-only. Nothing of it is copied into
# the image: a lent path leaves only an empty mount point behind.
# The smoke test, without network: `studio doctor` where the image has it (every check but "front
# ends", which fails without a bot token, must pass; else `studio config` and `studio styles`),
# then `studio demo --auto` on the tiny model on the CPU (selfie checks, a training job and a
# generation job through the queue, run by the worker child; the sample selfies are lent from
# tests/fixtures/photos, which the image does not hold).
#
# Needs: podman (apt-get install podman), and for the base mmdebstrap; root or a podman set up
# for the user. Results: bench/RESULTS.md ("Ship the image").
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/portrait-studio-worker:local}
SUITE=${SUITE:-bookworm}                      # Python 3.11, as pyproject's requires-python wants
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_IMAGE=${BASE_IMAGE:-localhost/portrait-studio-base:$SUITE}
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portrait-studio}
CONTEXT=${CONTEXT:-.}                         # the build context (the repository; .dockerignore applies)
ISOLATION=${ISOLATION:-chroot}                # podman build --isolation: chroot works without namespaces
PIP=${PIP:-python3 -m pip}                    # whose configuration the build borrows
SMOKE=${SMOKE:-1}
BUILD_ARGS=${BUILD_ARGS:-}                    # e.g. "--build-arg BAKE_MODEL=sdxl"

say() { printf '[build_image] %s\n' "$*" >&2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

command -v podman >/dev/null || { say "podman is missing: apt-get install -y podman"; exit 1; }
START=$(now)

# 1. The base image: made once from Debian's packages, then reused.
T=$(now)
if [[ $BASE_IMAGE == localhost/portrait-studio-base:* ]] && ! podman image exists "$BASE_IMAGE"; then
  tarball=$CACHE_DIR/base-$SUITE.tar
  if [[ ! -s $tarball ]]; then
    command -v mmdebstrap >/dev/null || { say "mmdebstrap is missing: apt-get install -y mmdebstrap"; exit 1; }
    mkdir -p "$CACHE_DIR"
    say "making the $SUITE rootfs with mmdebstrap ($MIRROR)"
    mmdebstrap --quiet --variant=minbase --format=tar --include=python3,python3-venv,ca-certificates \
      "$SUITE" "$tarball.part" \
      "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main"
    mv "$tarball.part" "$tarball"
  fi
  say "importing $tarball as $BASE_IMAGE"
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
fi
BASE_S=$(took "$T")

# 2. This machine's pip configuration, lent to the build.
LENT=$(mktemp -d)
trap 'rm -rf "$LENT"' EXIT
MOUNTS=()
while IFS= read -r path; do
  [[ -n $path ]] && MOUNTS+=(-v "$path:$path:ro")
done < <($PIP config list 2>/dev/null | python3 -c '
import os, shutil, sys
lent = sys.argv[1]
values = {}
for line in sys.stdin:                      # global.find-links='"'"'/opt/wheels'"'"' (files), :env:.cert=... (PIP_*)
    name, _, value = line.rstrip("\n").partition("=")
    section, _, key = name.rpartition(".")
    value = value.strip("'"'"'\"")
    if section in ("global", "install", "download", ":env:"):
        if section == ":env:" or key not in values:  # the environment wins, as it does for pip
            values[key] = value
lines, paths = ["[global]"], set()
for key, value in sorted(values.items()):
    if key in ("cert", "client-cert", "constraint", "requirement"):   # single files: copied into the lent folder
        if os.path.isfile(value):
            shutil.copy(value, os.path.join(lent, key + os.path.splitext(value)[1]))
            value = "/etc/xdg/pip/" + key + os.path.splitext(value)[1]
    else:                                   # local folders, lent at their own path: a find-links
        for token in value.split():         # folder, and a file:// index with its parent (where its
            local = token.removeprefix("file://")  # pages point, ../../files/...)
            if local.startswith("/") and os.path.exists(local):
                index = key.endswith("index-url")
                paths.add(os.path.dirname(local.rstrip("/")) if index else local)
    lines.append(f"{key} = {value}")
open(os.path.join(lent, "pip.conf"), "w").write("\n".join(lines) + "\n")
print("\n".join(sorted(paths)))
' "$LENT")
[[ -s $LENT/pip.conf ]] || echo "[global]" > "$LENT/pip.conf"
MOUNTS+=(-v "$LENT:/etc/xdg/pip:ro")
say "pip configuration lent to the build:"; sed 's/^/    /' "$LENT/pip.conf" >&2

# 3. The build (layers cached: a second run rebuilds only what changed).
T=$(now)
say "building $IMAGE from $BASE_IMAGE"
# shellcheck disable=SC2086  # BUILD_ARGS is a list of words
podman build --isolation "$ISOLATION" "${MOUNTS[@]}" --build-arg BASE_IMAGE="$BASE_IMAGE" $BUILD_ARGS \
  -t "$IMAGE" -f "$CONTEXT/Dockerfile" "$CONTEXT"
BUILD_S=$(took "$T")
SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")

# 4. The smoke test: no network, the CPU, the tiny model.
SMOKE_S=-
if [[ $SMOKE != 0 ]]; then
  T=$(now)
  # Where containers can't raise their limits or use cgroups (a sandbox), runc with limits at most
  # the host's does; elsewhere podman's defaults.
  RUN=(podman run)
  if ! podman run --rm --network=none "$BASE_IMAGE" true >/dev/null 2>&1; then
    RUN=(podman --runtime runc run --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
  fi
  RUN+=(--rm --network=none -e STUDIO_DEVICE=cpu -e STUDIO_BASE_MODEL=tiny -e STUDIO_LOG_LEVEL=WARNING)
  if "${RUN[@]}" "$IMAGE" studio doctor --help >/dev/null 2>&1; then
    # Its table, whatever its exit code: with no bot token "front ends" is a FAIL by design (nothing
    # would be served); any other FAIL fails the smoke test.
    say "smoke: studio doctor"
    doctor=$("${RUN[@]}" "$IMAGE" studio doctor 2>&1) || true
    printf '%s\n' "$doctor"
    if failed=$(printf '%s\n' "$doctor" | grep -E '^[a-z][a-z ]*[a-z] +FAIL ' | grep -v '^front ends '); then
      say "smoke failed: studio doctor: $failed"; exit 1
    fi
    grep -q '^front ends ' <<<"$doctor" || { say "smoke failed: studio doctor printed no table"; exit 1; }
  else
    say "smoke: the image has no \`studio doctor\` yet: studio config, studio styles"
    "${RUN[@]}" "$IMAGE" studio config
    "${RUN[@]}" "$IMAGE" studio styles | tail -n 3
  fi
  say "smoke: studio demo --auto (tiny model, CPU: a training and a generation job)"
  "${RUN[@]}" -v "$PWD/tests/fixtures/photos:/app/tests/fixtures/photos:ro" "$IMAGE" \
    sh -c 'studio demo --auto --out /data/demo > /data/demo.log 2>&1; code=$?; tail -n 15 /data/demo.log;
           [ $code -eq 0 ] && ls /data/demo | head -n 20 && exit 0;
           echo "--- worker log"; tail -n 30 /data/worker.log; exit $code'
  SMOKE_S=$(took "$T")
fi

printf '[build_image] %s: base %ss, build %ss, smoke %ss, total %ss; size %s (%.2f GB)\n' \
  "$IMAGE" "$BASE_S" "$BUILD_S" "$SMOKE_S" "$(took "$START")" "$SIZE" "$(awk -v s="$SIZE" 'BEGIN { print s / 1e9 }')"
