"""Writing phantoms as BraTS 2020 case folders, and whole seeded data sets."""

from __future__ import annotations

import functools
import gzip
import json
import logging
import multiprocessing
import os
import re
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from trainer.phantoms.config import CONTRASTS, Phantom, PhantomConfig
from trainer.phantoms.generator import generate_phantom

logger = logging.getLogger(__name__)

#: Case ids become folder and file names: keep them to portable characters.
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: gzip level of the written files (6 ~ gzip's default: small files, well under a second per case).
GZIP_LEVEL = 6


def case_id_for(seed: int, index: int) -> str:
    """Folder name of case ``index`` of the data set generated with ``seed``, e.g. ``Phantom-0007-012``."""
    return f"Phantom-{seed:04d}-{index:03d}"


def case_seed(seed: int, index: int) -> int:
    """Seed of case ``index`` in the data set of ``seed``: independent streams via numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _nifti_gz_bytes(data: np.ndarray, affine: np.ndarray) -> bytes:
    """Deterministic .nii.gz bytes: gzip with mtime 0 and no file name, so equal data give equal files."""
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=GZIP_LEVEL, mtime=0)


def _case_files(phantom: Phantom, case_id: str) -> dict[str, bytes]:
    """File name -> content of one BraTS 2020 case folder (plus the generator's metadata as JSON)."""
    files = {
        f"{case_id}_{name}.nii.gz": _nifti_gz_bytes(phantom.images[name].astype(np.int16), phantom.affine)
        for name in CONTRASTS
    }
    files[f"{case_id}_seg.nii.gz"] = _nifti_gz_bytes(phantom.label.astype(np.uint8), phantom.affine)
    files[f"{case_id}_phantom.json"] = (
        json.dumps(phantom.metadata, indent=2, sort_keys=True) + "\n"
    ).encode()
    return files


def _check_case_id(case_id: str) -> None:
    if not isinstance(case_id, str) or not CASE_ID_PATTERN.match(case_id):
        raise ValueError(
            f"case_id must be 1-100 characters of letters, digits, '.', '_' or '-' (not starting "
            f"with '.', '_' or '-'), got {case_id!r}"
        )


def _fresh_hidden_folder(parent: Path, case_id: str, kind: str) -> Path:
    """New empty ``.case_id.<random>.kind`` folder; os.mkdir (unlike mkdtemp) keeps the user's umask permissions."""
    for _ in range(100):
        folder = parent / f".{case_id}.{uuid.uuid4().hex[:12]}.{kind}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a staging folder in {parent}")


def write_phantom(phantom: Phantom, out_dir: Path, case_id: str, overwrite: bool = False) -> Path:
    """Write ``phantom`` as ``out_dir/case_id/`` with ``case_id_{t1,t1ce,t2,flair,seg}.nii.gz`` (+ metadata JSON).

    The files go to a hidden temporary folder next to the target first, which is then renamed, so a reader
    never sees a half-written case.

    Args:
        phantom: the case to write (images stored as int16, labels as uint8).
        out_dir: parent folder; created if missing.
        case_id: name of the case folder and prefix of its files.
        overwrite: replace an existing case folder instead of refusing.

    Returns:
        The case folder.

    Raises:
        FileExistsError: the case folder exists and ``overwrite`` is False.
    """
    if not isinstance(phantom, Phantom):
        raise ValueError(f"phantom must be a Phantom, got {type(phantom).__name__}")
    _check_case_id(case_id)
    out_dir = Path(out_dir)
    target = out_dir / case_id
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = _fresh_hidden_folder(out_dir, case_id, "tmp")
    try:
        for name, content in _case_files(phantom, case_id).items():
            (staging / name).write_bytes(content)
        if target.exists():
            retired = _fresh_hidden_folder(out_dir, case_id, "old")
            os.replace(target, retired / case_id)
            os.replace(staging, target)
            shutil.rmtree(retired)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote phantom %s", target)
    return target


def _check_dataset_arguments(n: int, seed: int, progress: Callable[[int, int], None] | None) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= 999:
        raise ValueError(f"n must be an integer between 1 and 999 (case ids have 3 digits), got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable(done, total) or None, got {progress!r}")


def generate_dataset(
    out_dir: Path,
    n: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
    config: PhantomConfig = PhantomConfig(),  # noqa: B008 (frozen dataclass)
    workers: int = 1,
) -> list[Path]:
    """Generate ``n`` phantoms into ``out_dir`` as ``Phantom-{seed:04d}-{i:03d}/`` BraTS 2020 folders.

    Case ``i`` uses the seed ``case_seed(seed, i)``, so any case can be regenerated on its own.

    Args:
        out_dir: parent folder of the case folders (created if missing).
        n: number of cases, 1-999.
        seed: data-set seed, 0 <= seed < 2**32.
        progress: called as ``progress(done, n)`` after each case.
        overwrite: replace existing case folders; without it, existing ones stop the run before any work.
        config: generator configuration shared by all cases.
        workers: processes generating cases side by side (each case depends on its seed alone, so the
            result does not depend on this).

    Returns:
        The case folders, in order.
    """
    _check_dataset_arguments(n, seed, progress)
    out_dir = Path(out_dir)
    if not overwrite:
        existing = [case_id_for(seed, i) for i in range(n) if (out_dir / case_id_for(seed, i)).exists()]
        if existing:
            raise FileExistsError(
                f"{len(existing)} case folder(s) already in {out_dir} (first: {existing[0]}); "
                "pass overwrite=True (CLI: --overwrite) or choose another --out or --seed"
            )
    job = functools.partial(_generate_one, out_dir=out_dir, seed=seed, config=config, overwrite=overwrite)
    if workers <= 1 or n == 1:
        results = map(job, range(n))
        return [_reported(path, done, n, progress) for done, path in enumerate(results, 1)]
    with ProcessPoolExecutor(min(workers, n), mp_context=multiprocessing.get_context("spawn")) as pool:
        return [_reported(path, done, n, progress) for done, path in enumerate(pool.map(job, range(n)), 1)]


def _generate_one(index: int, out_dir: Path, seed: int, config: PhantomConfig, overwrite: bool) -> Path:
    phantom = generate_phantom(case_seed(seed, index), config)
    phantom.metadata["dataset"] = {"seed": int(seed), "index": index}  # provenance for the JSON file
    return write_phantom(phantom, out_dir, case_id_for(seed, index), overwrite=overwrite)


def _reported(path: Path, done: int, n: int, progress: Callable[[int, int], None] | None) -> Path:
    if progress is not None:
        progress(done, n)
    return path
