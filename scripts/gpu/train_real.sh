#!/usr/bin/env bash
# Issue 14 on the device machine: synthetic v2 set -> five models side by side -> scores. Chained over calls
# while the machine stays warm (runs/ is git-ignored, so it survives between calls of one lease).
#   bash scripts/gpu/train_real.sh gen N STOP_MIN       generate N training + 20 held-out cases, start model S
#   bash scripts/gpu/train_real.sh train STOP_MIN       (re)start all five models for STOP_MIN minutes each
#   bash scripts/gpu/train_real.sh score                score the models, pack checkpoints into $OUT
# Round 2 (fine-tuning all five from round 1's S; the processes outlive the call that starts them):
#   bash scripts/gpu/train_real.sh gen N 0              generate only (STOP_MIN 0 starts no model)
#   bash scripts/gpu/train_real.sh stage DIR...         copy carried folders into runs/ (kept while the machine is warm)
#   bash scripts/gpu/train_real.sh launch INIT MIN      start all five from checkpoint INIT, MIN minutes each, detached
#   bash scripts/gpu/train_real.sh wait MIN             wait up to MIN minutes for the detached models
#   bash scripts/gpu/train_real.sh pack NAME...         those models' last checkpoints into $OUT, 15 MB parts
# Round 3 (one model on every GPU of the machine through torchrun/DDP, detached):
#   [EXTRA="key=value ..."] bash scripts/gpu/train_real.sh launch-ddp NAME INIT MIN DATA...   e.g. B3 from the bundled weights
#   bash scripts/gpu/train_real.sh score-heldout NAME=CKPT...         fp32 Dice of checkpoints on the held-out set
# One model on one GPU (its step is one CUDA graph there; DDP has none), detached:
#   [EXTRA="key=value ..."] bash scripts/gpu/train_real.sh launch-one NAME GPU INIT MIN DATA...
# A synthetic-only S must start from weights that saw no real case: the phantom weights of commit 1edec28
# (git show 1edec28:resources/weights/revseg-demo.safetensors), not synth-v2's default init (the bundled B).
# Round 4 (S4 = synthetic-only continuation on both GPUs, then B and the three L twins from S4, two per GPU):
#   [EXTRA="key=value ..."] bash scripts/gpu/train_real.sh finetune INIT MIN   B + L-* from INIT, MIN minutes, detached
# Round 5: EXTRA="real_fraction=0.2" finetune from S4 for 6 minutes (fewer real patches, so less is forgotten of
# the synthetic cases). Detached models live only while the lease does, and it goes back 30 s after a call ends:
# follow a launch at once with `wait MIN` calls (round 5's first attempt was lost to an idle gap).
# Round 6 (one session, one H200, from the phantom weights; docs/benchmarks.md R30-R36) showed that 30 device minutes
# cannot redo S + B + three twins: checkpoints must outlive the session, and runs/ does not (a new session gets a
# fresh checkout). Keep a synthetic-only S by packing it (`pack S`), committing the float16 file under .ckpt-history/
# in one commit and removing it in the next (the working tree, which every device call carries, stays small), then
# `git show COMMIT:.ckpt-history/S.safetensors > .ckpt/S.safetensors` and `stage .ckpt` in a later session.
# Round 7 did that: S from the phantom weights for 19 minutes, kept in commit 35eae5d (.ckpt-history/S.safetensors).
# Round 8 (2026-12-01, docs/benchmarks.md R42-R49) did that: gen 1000 0 (carry .whl and .pack/anatomy), stage .pack/real
# (carry it), then stage .ckpt with `git show 35eae5d:.ckpt-history/S.safetensors > .ckpt/S.safetensors` carried, and
#   EXTRA="real_fraction=0.2 num_workers=3" bash scripts/gpu/train_real.sh finetune runs/issue14/stage/.ckpt/S.safetensors 16
# followed at once by `wait 9` and `wait 8` calls, then pack and score-heldout: 1475 s of the 1800 device seconds.
# A call brings back about 60 MiB at most (four 15 MB parts): pack two models per call. Round 8's four models are in
# commit edbb1d2 (.ckpt-history/round8/).
# Round 9 (next session): the same commands with synthetic v2.3 (gen makes it: the generator's version is in the
# code), so B and its twins fine-tune from round 7's S on v2.3; score-heldout on the v2.3 held-out set.
# Models: S (synthetic only), L-<case> (synthetic + the two other real cases; scored on <case>), B (synthetic +
# all three real cases: the bundled weights). Data: .pack/ from scripts/pack_device_data.py, carried with every
# call that needs it (gen: .pack/anatomy and .whl; train: .pack/real and .whl); a path not carried is removed.
source scripts/gpu/common.sh
RUNS=runs/issue14
SYNTH=$RUNS/synth
REAL=.pack/real
[ -d "$REAL" ] || REAL=$RUNS/stage/real  # staged by an earlier call of this lease
CASES=(BraTS-GLI-00000-000 BraTS-GLI-00001-000 TCGA-DU-7294)
NGPU=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
mkdir -p "$RUNS"

real_without() {  # a folder of links to every real case but $1
  local dir=$RUNS/real-without-$1
  mkdir -p "$dir"
  for c in "${CASES[@]}"; do [ "$c" = "$1" ] || ln -sfn "$(realpath $REAL/$c)" "$dir/$c"; done
  echo "$dir"
}

start_model() {  # name gpu stop_min max_minutes data...
  local name=$1 gpu=$2 stop=$3 budget=$4; shift 4
  local data=() resume=()
  for d in "$@"; do data+=(--data "$d"); done
  [ -f "$RUNS/$name/trainer_state.pt" ] && resume=(--resume)
  CUDA_VISIBLE_DEVICES=$gpu nohup python3 main.py train "${data[@]}" --val-data "$SYNTH/heldout" \
    --out "$RUNS/$name" --config synth-v2 --stop-after "$stop" "${resume[@]}" max_minutes="$budget" \
    >>"$RUNS/$name.log" 2>&1 &
  echo "started $name on GPU $gpu (${resume[*]:-fresh}, stop after $stop min, budget $budget min)"
}

launch_model() {  # name gpu init minutes data...: detached (setsid), so it outlives this call
  local name=$1 gpu=$2 init=$3 budget=$4; shift 4
  local data=()
  for d in "$@"; do data+=(--data "$d"); done
  CUDA_VISIBLE_DEVICES=$gpu setsid nohup python3 main.py train "${data[@]}" --val-data "$SYNTH/heldout" \
    --out "$RUNS/$name" --config synth-v2 init_weights="$init" max_minutes="$budget" $EXTRA \
    >>"$RUNS/$name.log" 2>&1 </dev/null &
  echo "launched $name on GPU $gpu from $init for $budget min ${EXTRA:+($EXTRA)}"
}

# "[m]ain": the pattern must not match a command line that merely quotes it (run R35 waited on itself that way)
training_processes() { pgrep -f "[m]ain.py train" | wc -l; }

case "$1" in
gen)
  python3 -m trainer.synth --anatomy .pack/anatomy --out "$SYNTH/heldout" --n 20 --seed 1 --workers 30 --device cpu \
    2>&1 | tail -1 | tee "$OUT/synth_heldout_cpu.json"
  timeout -k 10 330 python3 -m trainer.synth --anatomy .pack/anatomy --out "$SYNTH/train" --n "$2" --seed 0 --workers 24 --device cuda \
    2>&1 | tail -1 | tee "$OUT/synth_train_gpu.json"
  du -sh "$SYNTH"/* | tee -a "$OUT/synth_train_gpu.json"
  [ "$3" = 0 ] || start_model S 0 "$3" 18.5 "$SYNTH/train"
  wait
  ;;
stage)
  shift
  mkdir -p "$RUNS/stage"
  for d in "$@"; do mkdir -p "$RUNS/stage/$(basename "$d")" && cp -r "$d"/. "$RUNS/stage/$(basename "$d")/"; done
  ls -la "$RUNS"/stage/*
  ;;
launch)
  INIT=$2 MIN=$3
  [ -d "$REAL" ] || { echo "no real cases: carry .pack/real or stage it first"; exit 2; }
  [ -f "$INIT" ] || { echo "no init checkpoint $INIT"; exit 2; }
  launch_model S 0 "$INIT" "$MIN" "$SYNTH/train"
  launch_model L-BraTS-GLI-00000-000 $((1 % NGPU)) "$INIT" "$MIN" "$SYNTH/train" "$(real_without BraTS-GLI-00000-000)"
  launch_model L-BraTS-GLI-00001-000 0 "$INIT" "$MIN" "$SYNTH/train" "$(real_without BraTS-GLI-00001-000)"
  launch_model L-TCGA-DU-7294 $((1 % NGPU)) "$INIT" "$MIN" "$SYNTH/train" "$(real_without TCGA-DU-7294)"
  launch_model B $((1 % NGPU)) "$INIT" "$MIN" "$SYNTH/train" "$REAL"
  ;;
finetune)
  # Round 4: the bundled model and its three leave-one-out twins, fine-tuned side by side from one checkpoint
  # that saw no real case (synthetic-only S4), so every twin is the bundled recipe without its scored case.
  INIT=$2 MIN=$3
  [ -d "$REAL" ] || { echo "no real cases: carry .pack/real or stage it first"; exit 2; }
  [ -f "$INIT" ] || { echo "no init checkpoint $INIT"; exit 2; }
  launch_model L-BraTS-GLI-00000-000 0 "$INIT" "$MIN" "$SYNTH/train" "$(real_without BraTS-GLI-00000-000)"
  launch_model L-BraTS-GLI-00001-000 $((1 % NGPU)) "$INIT" "$MIN" "$SYNTH/train" "$(real_without BraTS-GLI-00001-000)"
  launch_model L-TCGA-DU-7294 0 "$INIT" "$MIN" "$SYNTH/train" "$(real_without TCGA-DU-7294)"
  launch_model B $((1 % NGPU)) "$INIT" "$MIN" "$SYNTH/train" "$REAL"
  sleep 75; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; uptime
  ;;
launch-one)
  # One model on one GPU, detached. On one GPU the trainer's step is one CUDA graph (2.7x faster than the
  # compiled step at 128^3 on an H200, run RS4); under DDP it is not, so a round trains independent models.
  NAME=$2 GPU=$3 INIT=$4 MIN=$5; shift 5
  [ -f "$INIT" ] || { echo "no init checkpoint $INIT"; exit 2; }
  for d in "$@"; do [ -d "$d" ] || { echo "no data folder $d"; exit 2; }; done
  launch_model "$NAME" "$GPU" "$INIT" "$MIN" "$@"
  sleep 75; tail -5 "$RUNS/$NAME.log"; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  ;;
launch-ddp)
  NAME=$2 INIT=$3 MIN=$4; shift 4
  [ -f "$INIT" ] || { echo "no init checkpoint $INIT"; exit 2; }
  data=()
  for d in "$@"; do [ -d "$d" ] || { echo "no data folder $d"; exit 2; }; data+=(--data "$d"); done
  # 32 CPU cores for 2 ranks: 12 loader workers each keep the pair fed (round 2's 5 models x 5 workers did not)
  setsid nohup python3 -m torch.distributed.run --standalone --nproc_per_node="$NGPU" main.py train "${data[@]}" \
    --val-data "$SYNTH/heldout" --out "$RUNS/$NAME" --config synth-v2 init_weights="$INIT" max_minutes="$MIN" \
    num_workers=12 $EXTRA >>"$RUNS/$NAME.log" 2>&1 </dev/null &
  echo "launched $NAME on $NGPU GPUs (DDP) from $INIT for $MIN min"
  sleep 90; tail -5 "$RUNS/$NAME.log"; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  ;;
score-heldout)
  shift
  args=()
  for w in "$@"; do args+=(--weights "$w"); done
  python3 scripts/gpu/score_crops.py --cache "$SYNTH/heldout" "${args[@]}" --out "$OUT/heldout_scores.json"
  ;;
wait)
  deadline=$(( $(date +%s) + ${2%.*} * 60 ))
  polls=0
  while [ "$(training_processes)" -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 15  # device time is held while the models run: return within 15 s of the last one ending
    polls=$((polls + 1))
    [ $((polls % 4)) -eq 0 ] && echo "$(date +%T) $(training_processes) training processes; $(nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader | tr '\n' ' ')"
  done
  uptime
  ;;
pack)
  shift
  for name in "$@"; do
    python3 - "$RUNS/$name/checkpoint_last.safetensors" "$OUT/$name.safetensors" <<'PY'
import sys
from engine.checkpoint import load_model, save_checkpoint
model, loaded = load_model(sys.argv[1])  # float16 on disk: half the size, what the app ships
save_checkpoint(sys.argv[2], model.half(), loaded.config, labels=loaded.labels, normalization=loaded.normalization,
                training=loaded.training, extra=loaded.metadata.get("extra"))
PY
    (cd "$OUT" && split -b 15M "$name.safetensors" "$name.part." && rm "$name.safetensors")
  done
  ls -la "$OUT"
  ;;
train)
  STOP=$2
  # Run R3 lost four models' continuation this way: a call that does not carry .pack/real finds it removed.
  [ -d "$REAL" ] || { echo "no $REAL on this machine: carry .pack/real (and .whl) with every train call"; exit 2; }
  start_model S 0 "$STOP" 18.5 "$SYNTH/train"
  start_model L-BraTS-GLI-00000-000 $((1 % NGPU)) "$STOP" 14.5 "$SYNTH/train" "$(real_without BraTS-GLI-00000-000)"
  start_model L-BraTS-GLI-00001-000 0 "$STOP" 14.5 "$SYNTH/train" "$(real_without BraTS-GLI-00001-000)"
  start_model L-TCGA-DU-7294 $((1 % NGPU)) "$STOP" 14.5 "$SYNTH/train" "$(real_without TCGA-DU-7294)"
  start_model B $((1 % NGPU)) "$STOP" 14.5 "$SYNTH/train" "$REAL"
  sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv | tee "$OUT/gpu_util.txt"
  uptime | tee -a "$OUT/gpu_util.txt"
  wait
  ;;
score)
  args=(--weights S="$RUNS/S/checkpoint_last.safetensors")
  for c in "${CASES[@]}"; do args+=(--weights "L-$c=$RUNS/L-$c/checkpoint_last.safetensors@$c"); done
  args+=(--weights B="$RUNS/B/checkpoint_last.safetensors")
  python3 scripts/gpu/score_crops.py --cache "$RUNS/B/cache" --cases "$(IFS=,; echo "${CASES[*]}")" "${args[@]}" \
    --out "$OUT/real_scores.json"
  ;;
*) echo "usage: $0 gen N STOP_MIN | train STOP_MIN | score | stage DIR... | launch INIT MIN | finetune INIT MIN | launch-ddp NAME INIT MIN DATA... | launch-one NAME GPU INIT MIN DATA... | score-heldout NAME=CKPT... | wait MIN | pack NAME..."; exit 2 ;;
esac
echo "== runs =="
for log in "$RUNS"/*.log; do
  name=$(basename "$log" .log)
  printf '%-24s %s\n' "$name" "$(grep -aoE 'step [0-9]+/[0-9]+ loss [0-9.]+' "$log" | tail -1) $(grep -aE 'paused|done:|Error|error' "$log" | tail -1 | cut -c1-150)"
done
tar czf "$OUT/logs.tgz" "$RUNS"/*.log "$RUNS"/*/summary.json "$RUNS"/*/split.json 2>/dev/null
true
