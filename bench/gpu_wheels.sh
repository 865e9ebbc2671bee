#!/usr/bin/env bash
# Prepare what the lent GPU machine lacks, here (it has no network): wheels in .whl/ (git-ignored)
# for Python 3.12 x86-64. Its image has torch 2.11 (CUDA 13), transformers 5.x, peft, accelerate,
# huggingface_hub 1.33, safetensors 0.8 and pillow; it lacks diffusers and importlib_metadata.
# diffusers 0.42.1 is the version the suite runs here (and needs huggingface_hub >= 1.32).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl diffusers==0.42.1 importlib_metadata==10.2.0 spandrel==0.4.2 einops==0.8.1
du -sh .whl
# CLIP's BPE vocabulary file (openai-clip is an sdist; the engine's tokenizer needs only this file)
cp "$(python3 -c 'import importlib.util as u; print(u.find_spec("clip").submodule_search_locations[0])')/bpe_simple_vocab_16e6.txt.gz" .whl/
