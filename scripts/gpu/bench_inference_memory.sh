#!/usr/bin/env bash
# Issue 5 and issue 3 figures on one GPU: inference vs MONAI (+ forward variants and top CUDA ops), the
# training-step time of reversible / twin / checkpoint (eager and compiled blocks), and the CUDA tests.
# Usage (repo root, GPU machine): bash scripts/gpu/bench_inference_memory.sh
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
python3 main.py bench inference --variants --out "$OUT/inference" 2>&1 | tee "$OUT/inference.log"
timeout 150 python3 main.py bench memory --sections crops,brats --crops 128,192 --iters 10 --out "$OUT/mem_eager" 2>&1 | tail -20 | tee "$OUT/mem_eager.log"
timeout 170 python3 main.py bench memory --sections crops,brats --crops 128,192 --iters 10 --modes reversible,twin --compile-blocks --out "$OUT/mem_compiled" 2>&1 | tail -20 | tee "$OUT/mem_compiled.log"
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/engine/test_blocks.py tests/engine/test_reversible.py tests/engine/inference/test_predictor_gpu.py 2>&1 | tail -15 | tee "$OUT/pytest_gpu.log"
echo "== inference =="; tail -12 "$OUT/inference.log"
echo "== memory eager =="; grep '^|' "$OUT/mem_eager.log" | head -12
echo "== memory compiled =="; grep '^|' "$OUT/mem_compiled.log" | head -12
echo "== gpu tests =="; tail -2 "$OUT/pytest_gpu.log"
