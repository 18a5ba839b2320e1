#!/usr/bin/env bash
# The GPU path, checked and measured in one go (under 5 minutes on a recent GPU):
#   1. a 200-step run of the shipped InfoGAN config on the device: the trainer stops on any
#      non-finite loss, and the export at the end verifies the GPU-trained generator against
#      onnxruntime (parity within 1e-4);
#   2. training images/s at batch 128 and 1,024, fp32 and bf16, compiled and not, as one table;
#   3. the same table for the dSprites beta-VAE (configs/betavae_dsprites.json, batch 64), with the
#      hours Locatello et al.'s budget (300,000 steps) takes at each rate (docs/datasets.md sets it
#      beside the CPU's).
#
#   bench/gpu_check.sh                 # on the GPU
#   bench/gpu_check.sh --device cpu    # the same checks on the CPU, scaled down (20 steps, one setting)
#
# Needs MNIST: GENFW_DATA pointing at a folder with MNIST/raw/ (or network access to download it).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
if [[ "${1:-}" == "--device" ]]; then DEVICE="${2:?--device needs cuda or cpu}"; fi
PY="${PYTHON:-python}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

if [[ "$DEVICE" == cpu ]]; then
  STEPS=20; TABLE=(--precisions fp32 --compile off --steps 3 --windows 1); BATCHES=(128)
else
  STEPS=200; TABLE=(--precisions fp32 bf16 --compile both --steps 30 --windows 3); BATCHES=(128 1024)
fi

echo "== 1. ${STEPS}-step run on ${DEVICE}, then export parity"
"$PY" -m genfw run configs/infogan_mnist.json --quiet \
  --set train.device="$DEVICE" --set train.max_steps="$STEPS" --set train.log_every=20 \
  --set eval.at_end=false --set loggers='[]' --set output.dir="$OUT"
RUN="$(ls -d "$OUT"/*/)"
"$PY" - "$RUN" <<'PY'
import json, math, sys
records = [json.loads(l) for l in open(sys.argv[1] + "metrics.jsonl") if '"event"' not in l]
bad = [(r["step"], k) for r in records for k, v in r.items() if isinstance(v, float) and not math.isfinite(v)]
assert not bad, f"non-finite values: {bad}"
print(f"losses finite over {records[-1]['step']} steps; last: " + ", ".join(f"{k}={records[-1][k]:.3g}" for k in ("d_loss", "g_gan", "info_loss")))
PY
"$PY" -m genfw export "$RUN" -o "$OUT/check.onnx"

echo "== 2. training throughput on ${DEVICE}"
"$PY" bench/train_throughput.py --device "$DEVICE" --batches "${BATCHES[@]}" "${TABLE[@]}"

echo "== 3. dSprites beta-VAE throughput on ${DEVICE}, and Locatello et al.'s 300,000 steps at that rate"
# A quarter of the orientations: the rate does not depend on the dataset's size, and rendering
# a tenth of dSprites is quicker than the whole.
"$PY" bench/train_throughput.py --device "$DEVICE" --config configs/betavae_dsprites.json --batches 64 \
  "${TABLE[@]}" --for-steps 300000 --set 'dataset.subset={"orientation": [0, 10, 20, 30]}'
