#!/usr/bin/env bash
# Demo weights (issue 6): phantoms -> training on every GPU of the machine (torchrun) within a time budget ->
# held-out phantoms -> model card. Usage (repo root, GPU machine): bash scripts/gpu/train_demo.sh [MINUTES]
source scripts/gpu/common.sh
MINUTES=${1:-6.5}
shift || true  # any further arguments are trainer overrides
RUN=/tmp/demo
NGPU=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
start=$(date +%s)
timeout $(( ${MINUTES%.*} * 60 + 200 )) torchrun --standalone --nproc_per_node="$NGPU" -m trainer.demo --out "$RUN" \
  --train-cases 100 --heldout-cases 20 max_minutes="$MINUTES" epochs=60 val_every=4 num_workers=12 "$@" \
  2>&1 | grep -v -E '^\s*epoch [0-9]+/[0-9]+ step' | tee "$OUT/train.log"
echo "wall $(( $(date +%s) - start )) s" | tee -a "$OUT/train.log"
python3 - "$RUN" "$OUT" <<'PY'
import json, sys, torch
from pathlib import Path
from engine.checkpoint import load_model, save_checkpoint
run, out = Path(sys.argv[1]), Path(sys.argv[2])
best = run / "run" / "checkpoint_best.safetensors"
model, loaded = load_model(best)
# Shipped in float16 (half the size; the app computes in bf16 / fp32 anyway).
save_checkpoint(out / "revseg-demo.safetensors", model.half(), loaded.config, labels=loaded.labels,
                normalization=loaded.normalization, training=loaded.training, extra=loaded.metadata.get("extra"))
for name in ("MODEL_CARD.md", "heldout_metrics.json"):
    if (run / name).is_file():
        (out / name).write_bytes((run / name).read_bytes())
(out / "history.json").write_text(json.dumps(torch.load(run / "run" / "trainer_state.pt", weights_only=True)["history"]["epochs"], indent=1))
PY
cd "$OUT" && split -b 15M revseg-demo.safetensors revseg-demo.part. && rm revseg-demo.safetensors && cd - >/dev/null
cat "$OUT/MODEL_CARD.md" 2>/dev/null || echo "no model card"
