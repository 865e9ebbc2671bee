# The engine worker image: RunPod serverless by default, or a plain worker on any GPU host.
#
#   docker build -t portrait-studio-worker .
#   docker build --build-arg BAKE_MODEL=sdxl -t portrait-studio-worker:sdxl .   # weights inside (~14 GB)
#   deploy/build_image.sh    # here, with podman: a Debian base made with mmdebstrap, this machine's pip
#                            # configuration lent to the build, then a smoke test (bench/RESULTS.md)
#
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and its venv module (python:3.11-slim, or
# Debian bookworm's python3 + python3-venv). Everything Python goes into the venv /opt/venv, so the
# base's own Python stays untouched (Debian's refuses system-wide pip installs, PEP 668).
# pip reads its configuration (index, find-links, constraints) from wherever the build lends it,
# e.g. `podman build -v /etc/pip.conf:/etc/pip.conf:ro ...`: nothing of it is copied into the image.
#
# RunPod serverless (the endpoint's container): the default command runs
# engine/runtime/runpod_handler.py (runpod.serverless.start). Configure it with the endpoint's env:
#   STUDIO_STORAGE_BACKEND=s3 STUDIO_S3_BUCKET=… STUDIO_S3_REGION=… STUDIO_S3_ACCESS_KEY_ID=…
#   STUDIO_S3_SECRET_ACCESS_KEY=… (the same bucket as the bot), STUDIO_BASE_MODEL=sdxl,
#   and STUDIO_MODELS_DIR=/runpod-volume/models when the weights live on a network volume.
# A worker claiming from the database instead (the "many workers" scale-out):
#   docker run --gpus all -e STUDIO_DATABASE_URL=postgresql+asyncpg://… -e STUDIO_STORAGE_BACKEND=s3 …
#     portrait-studio-worker studio worker

ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STUDIO_DATA_DIR=/data \
    STUDIO_MODELS_DIR=/models \
    STUDIO_HF_OFFLINE=true \
    STUDIO_DEVICE=cuda \
    STUDIO_METRICS_PORT=9100 \
    PATH=/opt/venv/bin:$PATH

# libgl/glib for OpenCV-based restorers; DejaVu for the style sheets' non-Latin titles; tini reaps children and forwards SIGTERM (the worker
# gives its running job back to the queue on SIGTERM).
# libopenblas0: dlib's BLAS (below).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 tini fonts-dejavu-core libopenblas0 \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && pip install --upgrade pip

WORKDIR /app

# torch first and pinned (its CUDA wheels carry the CUDA runtime), then the project's other
# dependencies, read from pyproject.toml alone, then the project: a code change reinstalls neither
# torch nor the ~150 other packages (seconds instead of minutes).
# dlib has no wheel with BLAS, so pip builds it from source here (face descriptors 5x faster): a
# compiler, OpenBLAS's headers and Python's (where the base has none) for the build only, removed
# in the same layer.
RUN pip install torch==2.14.1 torchvision==0.29.1
ARG EXTRAS=engine,runpod,postgres
# x86-64-v3 (AVX2, FMA: any GPU host of the last decade), not the build machine's own processor
ARG DLIB_CXXFLAGS=-march=x86-64-v3
COPY pyproject.toml ./
RUN python -c "import tomllib, sys; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + [d for e in sys.argv[1].split(',') for d in p['optional-dependencies'][e]]))" \
      "$EXTRAS" > /tmp/requirements.txt \
 && apt-get update \
 && build_deps="g++ make libopenblas-dev" \
 && { python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
      || build_deps="$build_deps python3-dev"; } \
 && apt-get install -y --no-install-recommends $build_deps \
 && CXXFLAGS="$DLIB_CXXFLAGS" pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt \
 && python -c "import dlib, sys; sys.exit(not dlib.DLIB_USE_BLAS)" \
 && apt-get purge -y --auto-remove $build_deps && rm -rf /var/lib/apt/lists/*
COPY README.md ./
COPY bot ./bot
COPY config ./config
COPY db ./db
COPY engine ./engine
COPY i18n ./i18n
COPY studio ./studio
COPY styles ./styles
COPY telemetry ./telemetry
COPY web ./web
# Editable: the console script and `python -m` both use /app (data files such as engine/models.toml
# included).
RUN pip install -e ".[$EXTRAS]"

# Optionally bake a base model's weights into the image (cold starts without a network volume).
ARG BAKE_MODEL=""
RUN if [ -n "$BAKE_MODEL" ]; then STUDIO_HF_OFFLINE=false studio models fetch "$BAKE_MODEL"; fi

RUN useradd --create-home --uid 10001 studio && mkdir -p /data /models && chown -R studio /data /models
USER studio

# /metrics, /livez, /readyz (README "Metrics and health"): `studio worker` or the bots of `studio run`
# on 9100, the worker child of `studio run` on 9101.
EXPOSE 9100 9101
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "engine.runtime.runpod_handler"]
