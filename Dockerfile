# The engine worker image: RunPod serverless by default, or a plain worker on any GPU host.
#
#   docker build -t portrait-studio-worker .
#   docker build --build-arg BAKE_MODEL=sdxl -t portrait-studio-worker:sdxl .   # weights inside (~14 GB)
#
# RunPod serverless (the endpoint's container): the default command runs
# engine/runtime/runpod_handler.py (runpod.serverless.start). Configure it with the endpoint's env:
#   STUDIO_STORAGE_BACKEND=s3 STUDIO_S3_BUCKET=… STUDIO_S3_REGION=… STUDIO_S3_ACCESS_KEY_ID=…
#   STUDIO_S3_SECRET_ACCESS_KEY=… (the same bucket as the bot), STUDIO_BASE_MODEL=sdxl,
#   and STUDIO_MODELS_DIR=/runpod-volume/models when the weights live on a network volume.
# A worker claiming from the database instead (the "many workers" scale-out):
#   docker run --gpus all -e STUDIO_DATABASE_URL=postgresql+asyncpg://… -e STUDIO_STORAGE_BACKEND=s3 …
#     portrait-studio-worker studio worker

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STUDIO_DATA_DIR=/data \
    STUDIO_MODELS_DIR=/models \
    STUDIO_HF_OFFLINE=true \
    STUDIO_DEVICE=cuda

# libgl/glib for OpenCV-based restorers; DejaVu for the style sheets' non-Latin titles; tini reaps children and forwards SIGTERM (the worker
# gives its running job back to the queue on SIGTERM).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 tini fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch first and pinned (its CUDA wheels carry the CUDA runtime), then the project: a code
# change does not reinstall torch.
RUN pip install torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config ./config
COPY db ./db
COPY engine ./engine
COPY studio ./studio
COPY styles ./styles
# Editable: the console script and `python -m` both use /app (data files such as engine/models.toml
# included).
RUN pip install -e '.[engine,runpod,postgres]'

# Optionally bake a base model's weights into the image (cold starts without a network volume).
ARG BAKE_MODEL=""
RUN if [ -n "$BAKE_MODEL" ]; then STUDIO_HF_OFFLINE=false studio models fetch "$BAKE_MODEL"; fi

RUN useradd --create-home --uid 10001 studio && mkdir -p /data /models && chown -R studio /data /models
USER studio

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "engine.runtime.runpod_handler"]
