#!/bin/bash
# VitSharp's whole-model benchmarks (the issue-6 set), each the median of 5 timed runs, one JSON object per line.
# Usage: bench/run.sh [OUT.jsonl]   (build first: ./vit --help). Keep the machine otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/dev/stdout}
vit() { dotnet src/VitSharp.Cli/bin/Release/net10.0/vit.dll "$@"; }
{
  vit bench model --model vit_base_patch16_224 --batch 1 --mode infer --runs 5 --json
  vit bench model --model vit_base_patch16_224 --batch 8 --mode infer --runs 5 --json
  vit bench model --model vit_tiny_patch16_224 --num-classes 10 --batch 1 --mode infer --runs 5 --json
  vit bench model --model vit_tiny_patch16_224 --num-classes 10 --batch 8 --mode infer --runs 5 --json
  vit bench model --model vit_tiny_patch16_224 --num-classes 10 --batch 32 --mode train --optimizer sgd --runs 5 --json
  vit bench model --model vit_mnist_patch4_28 --batch 128 --mode train --optimizer adamw --runs 5 --json
} > "$out"
