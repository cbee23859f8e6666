#!/usr/bin/env bash
# Issue 19, GPU end to end after a warm start: the model is loaded and run once, then 3 runs each turn a raw
# native-like four-contrast NIfTI study (each contrast on its own rotated 0.9 x 0.9 x 5 mm grid, so three
# registrations run) into the label NIfTI + DICOM-SEG on disk. Prints the stage times per run and their medians;
# writes $OUT/time_to_result.json and the log. Each run is made twice, interleaved: registrations one after
# another (REVSEG_REGISTRATION_WORKERS=1, the code of run TTR1) and side by side (the default on a many-core
# machine), with the Dice of the second's label map against the first's; WORKERS=auto times the default only.
# The study is made from CASE (default the packed TCGA-DU-7294 of scripts/pack_device_data.py, carried as
# .pack/); that source is skull-stripped, so no skull strip runs.
#
# The GPU image lacks SimpleITK, nibabel, pydicom, highdicom and pyjpegls. SimpleITK's wheel (53 MB) and the
# repository do not fit one call's 64 MiB, so it travels alone first, repacked as an xz tarball of its
# site-packages tree (28 MB) in .sitk/ (extracted here into /tmp/site, which lasts while the machine stays
# warm); the four other wheels travel in .whl/ with the case (common.sh installs them). docs/benchmarks.md
# (issue 19) gives the two calls.
# Usage (repo root, GPU machine): bash scripts/gpu/bench_time_to_result.sh [CASE]
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
for tarball in .sitk/*.tar.xz; do
  [ -f "$tarball" ] && { mkdir -p /tmp/site && tar -xJf "$tarball" -C /tmp/site || exit 1; }
done
missing=$(python3 -c "
import importlib.util as u
print(' '.join(m for m in ('SimpleITK', 'nibabel', 'pydicom', 'highdicom', 'jpeg_ls') if u.find_spec(m) is None))")
[ -z "$missing" ] || { echo "missing on this machine: $missing (carry .sitk/ and .whl/ as docs/benchmarks.md says)"; exit 2; }
CASE=${1:-.pack/real/TCGA-DU-7294}
[ -d "$CASE" ] || { echo "no case folder $CASE (carry .pack/ from scripts/pack_device_data.py, or pass CASE)"; exit 2; }
python3 scripts/bench_time_to_result.py --warm cuda --case "$CASE" --runs 3 --registration-workers "${WORKERS:-1,auto}" \
  --json "$OUT/time_to_result.json" --work /tmp/revseg-ttr 2>&1 | grep -v Warning | tee "$OUT/time_to_result.log"
