#!/usr/bin/env bash
# The trainer's default patch on a GPU: the largest cube within 16 GiB (trainer/autopatch.py), then a few steps.
# Usage (repo root, GPU machine): bash scripts/gpu/auto_patch.sh
source scripts/gpu/common.sh
timeout 100 python3 -m pytest -q -p no:cacheprovider -m gpu tests/trainer/test_autopatch.py 2>&1 | tail -3
python3 main.py phantoms --out /tmp/ap/data --n 4 --seed 3 --workers 4 > /dev/null
timeout 300 python3 main.py train --data /tmp/ap/data --out /tmp/ap/run epochs=1 patches_per_epoch=4 batch_size=2 val_every=1 num_workers=4 2>&1 | grep -v "step [0-9]" | tail -8
cat /tmp/ap/run/auto_patch.json; echo
