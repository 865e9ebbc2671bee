#!/usr/bin/env bash
# Prepare what the lent GPU machine lacks, here (it has no network): wheels in .whl/ (git-ignored)
# for Python 3.12 x86-64. Its image has torch 2.11 (CUDA 13), transformers 5.x, peft, accelerate,
# huggingface_hub 1.33, safetensors 0.8, pillow and opencv; it lacks diffusers, importlib_metadata, spandrel,
# dlib, pydantic and SQLAlchemy (the whole-job bench runs the worker's handler, which imports them).
# tests/engine/test_engine_cli.py runs the CPU dry run with only the image's packages and these importable.
# diffusers 0.42.1 is the version the suite runs here (and needs huggingface_hub >= 1.32).
# dlib there is the dlib-bin wheel (no BLAS): the project builds dlib from source with OpenBLAS, but that
# machine has no compiler, and the GPU bench's few face descriptors a job don't set its pace.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
VENV_PYTHON=${VENV_PYTHON:-.venv/bin/python}  # the project's environment (make setup): the data files come from it
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl diffusers==0.42.1 importlib_metadata==10.2.0 spandrel==0.4.2 einops==0.8.1 dlib-bin==20.0.1.post1 \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 typing_inspection==0.4.5 SQLAlchemy==2.1.9 greenlet==3.5.6
# dlib's 5-point landmarks and face descriptor (31 MB; the 68-point model, 100 MB, only aligns faces
# for restoration and stays here): ranking a job's candidates against the user's selfies needs them
models=$($VENV_PYTHON -c 'import importlib.util as u; print(u.find_spec("face_recognition_models").submodule_search_locations[0])')/models
mkdir -p .whl/face_models
cp "$models/shape_predictor_5_face_landmarks.dat" "$models/dlib_face_recognition_resnet_model_v1.dat" .whl/face_models/
# CLIP's BPE vocabulary file (openai-clip is an sdist; the engine's tokenizer needs only this file)
cp "$($VENV_PYTHON -c 'import importlib.util as u; print(u.find_spec("clip").submodule_search_locations[0])')/bpe_simple_vocab_16e6.txt.gz" .whl/
du -sh .whl
