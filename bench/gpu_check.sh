#!/usr/bin/env bash
# The whole GPU check on a lent machine, inside 8 minutes (the device tool runs it from the repo root,
# with `carry: [".whl"]` prepared by bench/gpu_wheels.sh). Figures and logs go to $OUT (or ./out).
#   1. training as production trains + generation with the user LoRA (one portrait split into its parts,
#      and torch.profiler's op table of it in portrait_profile.txt) + the whole generate job with the
#      trained LoRA, ranking against real selfies and finishing every aspect (bench.engine_gpu);
#   2. the train-free preview: IP-Adapter load into the warm pipeline and one 1024² preview;
#   2b. generation with the UNets and the VAE in channels-last memory format (production: off), against 1.;
#   3. finishing's GPU part, one portrait at a time against a job's portraits batched, and the op table of a
#      batched call in finishing_profile.txt (bench.finishing_gpu);
#   4. (opt-in, CKPT_LIMIT=90) training with gradient checkpointing (measured 2026-11-27: 40 % slower);
#   5. (opt-in, COMPILE_LIMIT=300) generation with torch.compile, regional by default (COMPILE_MODE=default:
#      the whole UNets, which did not finish compiling in 370 s on 2026-11-27).
# Each part has its own limit, so a slow one cannot take the figures of the others with it.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || exit 1
  # CLIP's BPE vocabulary (the openai-clip package is an sdist; only its data file is needed)
  [ -f .whl/bpe_simple_vocab_16e6.txt.gz ] && mkdir -p /tmp/site/clip && cp .whl/bpe_simple_vocab_16e6.txt.gz /tmp/site/clip/
  # dlib's face models, where engine.intake.faces looks for them (the package itself needs pkg_resources)
  [ -d .whl/face_models ] && mkdir -p /tmp/site/face_recognition_models/models && cp .whl/face_models/*.dat /tmp/site/face_recognition_models/models/
fi
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:-$PWD}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
bench() { local name=$1 limit=$2; shift 2
  [ "$limit" -gt 0 ] || return 0
  timeout "$limit" python3 -m bench.engine_gpu --json "$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name (exit $?)"; grep -E "^\[|environment|Error|error" "$OUT/$name.log" | tail -6; }
bench engine ${MAIN_LIMIT:-270} --skip-preview --profile "$OUT/portrait_profile.txt"
bench preview ${PREVIEW_LIMIT:-90} --skip-train --skip-generate --skip-job
bench channels-last ${CL_LIMIT:-60} --skip-train --skip-preview --skip-job --channels-last --images 3
timeout ${FINISH_LIMIT:-60} python3 -m bench.finishing_gpu --json "$OUT/finishing.json" --profile "$OUT/finishing_profile.txt" > "$OUT/finishing.log" 2>&1
echo "== finishing (exit $?)"; grep -E "^\[|Error|error" "$OUT/finishing.log" | tail -4
bench checkpointing ${CKPT_LIMIT:-0} --skip-generate --skip-preview --skip-job --checkpointing --train-steps 15
bench compiled ${COMPILE_LIMIT:-0} --skip-train --skip-preview --skip-job --compile --compile-mode ${COMPILE_MODE:-regional} --images 3
exit 0
