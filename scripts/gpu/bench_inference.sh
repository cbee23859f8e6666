#!/usr/bin/env bash
# Issue 5: our predictor vs MONAI's sliding_window_inference (same network, tile, overlap, Gaussian, batch),
# with the volume on the GPU for both, plus from host memory and with torch.compile; then the CUDA tests.
# Ours at defaults (CUDA graphs), without graphs, with the native depthwise kernel, with torch.compile, and MONAI,
# in 3 interleaved rounds. Usage (repo root, GPU machine): bash scripts/gpu/bench_inference.sh
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
timeout 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests/engine/test_blocks.py tests/engine/test_reversible.py tests/engine/inference/test_predictor_gpu.py tests/engine/test_depthwise.py tests/engine/test_fused_norm.py 2>&1 | tail -8 | tee "$OUT/pytest_gpu.log"
python3 main.py bench inference --compile --variants --out "$OUT/inference" 2>&1 | tee "$OUT/inference.log"
echo "== inference =="; sed -n "/^Inference benchmark/,\$p" "$OUT/inference.log" | grep -v "^top CUDA ops"
