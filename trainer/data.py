"""Training data: BraTS / phantom case folders, a one-time preprocessing cache, and the train/val split.

Case folders follow BraTS (one folder per case, 2020/2021 names ``CASE_t1.nii.gz ... CASE_seg.nii.gz`` or
2023 names ``CASE-t1n/-t1c/-t2w/-t2f/-seg.nii.gz``; our phantoms use the 2020 names); they are read by
`engine.case.load_case_folder`, so the app and the trainer agree on orientation (canonical RAS+) and labels.

The cache holds, per case, ``CASE_image.npy`` (float16, shape (4, X, Y, Z): t1, t1ce, t2, flair, each
z-scored inside the brain with zeros outside, exactly as `engine.prepare` normalises for inference) and
``CASE_label.npy`` (uint8, BraTS 2020 labels), plus ``index.json`` with shapes, spacing, tumour voxel
counts and the source folder. Epochs then memory-map .npy files instead of decoding gzip.
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.case import MODALITIES, find_case_files, load_case_folder
from engine.errors import CaseError
from engine.labels import to_brats2020
from engine.preprocess.normalize import zscore_in_mask
from engine.preprocess.skullstrip import nonzero_brain_mask

log = logging.getLogger(__name__)

CHANNELS = MODALITIES  # network input channels, in this order
CACHE_VERSION = 1
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class CachedCase:
    """One preprocessed case in the cache."""

    case_id: str
    image_path: Path
    label_path: Path
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    phantom: bool

    def load(self, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(image float16 (4, X, Y, Z), label uint8 (X, Y, Z)), memory-mapped by default."""
        mode = "r" if mmap else None
        return np.load(self.image_path, mmap_mode=mode), np.load(self.label_path, mmap_mode=mode)


def discover_cases(data_dir: str | Path) -> list[Path]:
    """Case folders (those holding NIfTI contrasts and a label map) directly under ``data_dir``, sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"--data {data_dir} is not a folder; give the folder that holds one folder per case")
    cases = []
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            roles = find_case_files(folder)
        except CaseError:
            continue
        if "seg" in roles and all(m in roles for m in MODALITIES):
            cases.append(folder)
        else:
            log.info("skipping %s: no label map or missing contrasts", folder.name)
    if not cases:
        raise ValueError(f"no labelled BraTS-style cases in {data_dir} (expected CASE/CASE_t1.nii.gz ... _seg.nii.gz)")
    return cases


def _is_phantom(folder: Path) -> bool:
    return (folder / "phantom.json").is_file() or folder.name.lower().startswith("phantom")


def preprocess_case(folder: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(float16 image (4, X, Y, Z), uint8 label, spacing) of one case folder."""
    case = load_case_folder(folder)
    if case.label is None:
        raise ValueError(f"{folder}: no label map; training needs CASE_seg.nii.gz")
    volumes = [case.volumes[name].data for name in CHANNELS]
    mask = nonzero_brain_mask(volumes)
    channels = [zscore_in_mask(data, mask, name)[0] for data, name in zip(volumes, CHANNELS, strict=True)]
    image = np.stack(channels).astype(np.float16)
    return image, to_brats2020(case.label), case.spacing


def build_cache(data_dir: str | Path, cache_dir: str | Path, workers: int = 1) -> list[CachedCase]:
    """Preprocess every case of ``data_dir`` into ``cache_dir`` once; later calls reuse the cache.

    A case is re-done when its entry is missing from the index or its files are gone. ``workers`` > 1
    preprocesses cases in that many processes (decoding gzip dominates); the index is written here only.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    index = read_index(cache_dir)
    todo = [folder for folder in discover_cases(data_dir) if not _cached(index.get(folder.name), cache_dir)]
    job = functools.partial(_cache_case, cache_dir=cache_dir)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
            entries = pool.map(job, todo)
            _index_all(index, zip(todo, entries, strict=True), cache_dir)
    else:
        _index_all(index, ((folder, job(folder)) for folder in todo), cache_dir)
    return cached_cases(cache_dir)


def is_cache_folder(folder: str | Path) -> bool:
    """A folder that is itself a preprocessing cache (e.g. a synthetic v2 set), not a folder of cases."""
    return (Path(folder) / INDEX_NAME).is_file()


def source_case_ids(source: str | Path) -> list[str]:
    """The case ids a ``--data`` source holds (a cache's index, or its case folders' names)."""
    return list(read_index(Path(source))) if is_cache_folder(source) else [f.name for f in discover_cases(source)]


def build_training_cache(sources: list[Path], cache_dir: str | Path, workers: int = 1) -> list[CachedCase]:
    """The run's cache over several ``--data`` sources: case folders are preprocessed into ``cache_dir``; a
    source that is already a cache (synthetic v2 sets) is referenced in place, by absolute paths, not copied.

    Raises:
        ValueError: when two sources hold a case of the same id.
    """
    cache_dir = Path(cache_dir)
    seen: dict[str, Path] = {}
    for source in sources:
        for case_id in source_case_ids(source):
            if case_id in seen and seen[case_id] != source:
                raise ValueError(f"case {case_id} is in both {seen[case_id]} and {source}; case ids must be unique")
            seen[case_id] = source
    for source in sources:
        if is_cache_folder(source):
            _reference_cache(Path(source), cache_dir)
        else:
            build_cache(source, cache_dir, workers=workers)
    return cached_cases(cache_dir)


def _reference_cache(source: Path, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    index = read_index(cache_dir)
    for case_id, entry in read_index(source).items():
        absolute = {key: str((source / entry[key]).resolve()) for key in ("image", "label")}
        index[case_id] = {**entry, **absolute}
    write_index(cache_dir, index)


def _cached(entry: dict[str, Any] | None, cache_dir: Path) -> bool:
    return bool(entry) and (cache_dir / entry["image"]).is_file() and (cache_dir / entry["label"]).is_file()


def _cache_case(folder: Path, cache_dir: Path) -> dict[str, Any]:
    """Preprocess one case into ``cache_dir``; returns its index entry."""
    image, label, spacing = preprocess_case(folder)
    image_name, label_name = f"{folder.name}_image.npy", f"{folder.name}_label.npy"
    np.save(cache_dir / image_name, image)
    np.save(cache_dir / label_name, label)
    return {"image": image_name, "label": label_name, "shape": list(label.shape), "spacing": list(spacing),
            "source": str(folder.resolve()), "phantom": _is_phantom(folder), "tumour_voxels": int((label > 0).sum())}


def _index_all(index: dict[str, Any], entries: Iterable[tuple[Path, dict[str, Any]]], cache_dir: Path) -> None:
    # The index is rewritten after every case, so an interrupted build keeps what it finished.
    for folder, entry in entries:
        index[folder.name] = entry
        write_index(cache_dir, index)
        log.info("cached %s %s", folder.name, tuple(entry["shape"]))


def read_index(cache_dir: Path) -> dict[str, Any]:
    path = Path(cache_dir) / INDEX_NAME
    if not path.is_file():
        return {}
    content = json.loads(path.read_text())
    if content.get("version") != CACHE_VERSION:
        raise ValueError(f"{path} was written by another cache version; delete {cache_dir} to rebuild it")
    return content["cases"]


def write_index(cache_dir: Path, cases: dict[str, Any]) -> None:
    """Write the cache index atomically (temporary file, then rename)."""
    temp = cache_dir / f".{INDEX_NAME}.tmp"
    temp.write_text(json.dumps({"version": CACHE_VERSION, "channels": list(CHANNELS), "cases": cases}, indent=1))
    temp.replace(cache_dir / INDEX_NAME)


def cached_cases(cache_dir: str | Path) -> list[CachedCase]:
    """The cases listed in ``cache_dir``'s index, sorted by id."""
    cache_dir = Path(cache_dir)
    return [
        CachedCase(case_id, cache_dir / e["image"], cache_dir / e["label"], tuple(e["shape"]),
                   tuple(e["spacing"]), bool(e["phantom"]))
        for case_id, e in sorted(read_index(cache_dir).items())
    ]


def make_split(case_ids: list[str], *, val_fraction: float = 0.2, folds: int = 1, fold: int = 0,
               seed: int = 0) -> dict[str, list[str]]:
    """Seeded train/val split of case ids (k-fold when ``folds > 1``); at least one case validates.

    Args:
        case_ids: all case ids.
        val_fraction: validation share for a plain split.
        folds: number of folds; > 1 makes fold ``fold`` the validation set.
        fold: which fold validates.
        seed: shuffle seed.
    """
    ids = sorted(case_ids)
    if len(ids) < 2:
        return {"train": ids, "val": ids}  # a single case trains and validates (smoke runs)
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    if folds > 1:
        if folds > len(ids):
            raise ValueError(f"{folds} folds need at least {folds} cases, got {len(ids)}")
        val = order[fold::folds]
    else:
        val = order[: max(1, round(val_fraction * len(ids)))] if val_fraction > 0 else []
    train = [c for c in order if c not in val]
    return {"train": sorted(train), "val": sorted(val)}


def load_or_write_split(path: Path, case_ids: list[str], **split_args: Any) -> dict[str, list[str]]:
    """Reuse an existing split file (so a resumed or repeated run keeps its cases), else write a new one."""
    if path.is_file():
        split = json.loads(path.read_text())
        missing = sorted((set(split["train"]) | set(split["val"])) - set(case_ids))
        if missing:
            raise ValueError(f"split file {path} names cases not in the data: {missing[:5]}; delete it to re-split")
        return {"train": split["train"], "val": split["val"]}
    split = make_split(case_ids, **split_args)
    path.write_text(json.dumps({**split, "settings": split_args}, indent=1))
    return split
