#!/usr/bin/env bash
# Issue 19, GPU end to end after a warm start: the model is loaded and run once per variant, then 3 runs each
# turn a raw native-like four-contrast NIfTI study into the label NIfTI + DICOM-SEG on disk. The study is made
# from CASE (default the packed TCGA-DU-7294 of scripts/pack_device_data.py, carried as .pack/): a simulated
# skull and scalp put back around its brain, then each contrast on its own rotated 0.9 x 0.9 x 5 mm grid, so
# three registrations and a skull strip (deepbet) run. NATIVE=both also times the study without the skull.
# Variants, interleaved run by run (VARIANTS, default "before,default"): "before" is the GPU path as issue 19
# found it (registrations one after another, deepbet on the CPU); "default" is today's (registrations side by
# side, inputs read side by side, deepbet on the GPU), with the Dice of its label map against "before"'s.
# Prints the stage times per run and a table of medians last; writes $OUT/time_to_result.json and the log.
#
# The GPU image lacks SimpleITK, nibabel, pydicom, highdicom, pyjpegls and deepbet with its dependencies.
# SimpleITK's wheel (53 MB) and the repository do not fit one call's 64 MiB, so it travels alone first,
# repacked as an xz tarball of its site-packages tree (28 MB) in .sitk/ (extracted here into /tmp/site, which
# lasts while the machine stays warm); the other wheels travel in .whl/ over two more calls (common.sh
# installs them into /tmp/site). docs/benchmarks.md (issue 19) gives the calls.
# Usage (repo root, GPU machine): bash scripts/gpu/bench_time_to_result.sh [CASE]
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
for tarball in .sitk/*.tar.xz; do
  [ -f "$tarball" ] && { mkdir -p /tmp/site && tar -xJf "$tarball" -C /tmp/site || exit 1; }
done
missing=$(python3 -c "
import importlib.util as u
print(' '.join(m for m in ('SimpleITK', 'nibabel', 'pydicom', 'highdicom', 'jpeg_ls', 'deepbet', 'pandas', 'cc3d',
                         'fill_voids', 'fastremap', 'tqdm') if u.find_spec(m) is None))")
[ -z "$missing" ] || { echo "missing on this machine: $missing (carry .sitk/ and .whl/ as docs/benchmarks.md says)"; exit 2; }
CASE=${1:-.pack/real/TCGA-DU-7294}
[ -d "$CASE" ] || { echo "no case folder $CASE (carry .pack/ from scripts/pack_device_data.py, or pass CASE)"; exit 2; }
python3 scripts/bench_time_to_result.py --warm cuda --case "$CASE" --runs 3 --variants "${VARIANTS:-before,default}" \
  --native "${NATIVE:-skull}" \
  --json "$OUT/time_to_result.json" --work /tmp/revseg-ttr 2>&1 | grep -v Warning | tee "$OUT/time_to_result.log"
