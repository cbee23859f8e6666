"""generate_phantom: one seeded synthetic BraTS case in memory."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
from scipy import ndimage

from trainer.phantoms.anatomy import (
    MniAnatomy,
    brain_bounding_box,
    grid_to_mni_mm,
    jitter_matrix,
    load_mni_anatomy,
    sample_tissue,
)
from trainer.phantoms.config import (
    BRATS_AFFINE,
    BRATS_SHAPE,
    CONTRASTS,
    LABEL_ED,
    LABEL_ET,
    LABEL_NCR,
    WT_HARD_LIMITS_ML,
    Phantom,
    PhantomConfig,
)
from trainer.phantoms.contrast import acquire, clean_image, draw_intensities, soften_labels, vessel_mask
from trainer.phantoms.shapes import FocusPlan, apply_mass_effect, draw_focus, merge_focus, smooth_noise

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
#: Extra voxels around the brain's box: room for the jitter's rounding and for the mass effect's push.
BOX_MARGIN = 12
#: Healthy-tissue masks hold voxels whose tissue probability is at least this.
DOMINANT_TISSUE = 0.6
#: Tries to meet the hard WT limits before giving up (the default ranges meet them at the first try).
MAX_ATTEMPTS = 5


def _focus_volumes(rng: np.random.Generator, config: PhantomConfig, n_foci: int) -> list[float]:
    """Split a log-uniform total WT volume over the foci (the first focus is the largest)."""
    low, high = config.wt_volume_ml
    total = math.exp(rng.uniform(math.log(low), math.log(high)))
    if n_foci == 1:
        return [total]
    main = rng.uniform(0.55, 0.8)
    rest = rng.dirichlet(np.full(n_foci - 1, 2.0)) * (1.0 - main)
    return [total * main, *(total * share for share in rest)]


def _choose_centre(
    rng: np.random.Generator,
    grid_candidates: np.ndarray,
    depth_mm: np.ndarray,
    min_depth: float,
    placed: list[tuple[np.ndarray, float]],
    radius: float,
) -> np.ndarray | None:
    """A candidate deep enough and clear of already placed foci, or None when none is left."""
    ok = depth_mm >= min_depth
    if not ok.any():  # a very large core: take the deepest tenth of the white matter
        ok = depth_mm >= np.quantile(depth_mm, 0.9)
    for centre, other_radius in placed:
        distance = np.linalg.norm(grid_candidates - centre, axis=1)
        ok &= (distance >= radius + other_radius + 6.0) & (distance <= 80.0)
    choices = np.flatnonzero(ok)
    return None if choices.size == 0 else grid_candidates[rng.choice(choices)]


def plan_foci(
    rng: np.random.Generator, config: PhantomConfig, anatomy: MniAnatomy, grid_to_mni_voxel: np.ndarray
) -> tuple[bool, list[FocusPlan]]:
    """Draw grade, number, sizes and (grid) centres of the foci; returns (low_grade, plans)."""
    low_grade = bool(rng.uniform() < config.p_low_grade)
    multifocal = bool(rng.uniform() < config.p_multifocal)
    n_foci = int(rng.integers(2, config.max_foci + 1)) if multifocal else 1
    homogeneous = np.c_[anatomy.candidates, np.ones(len(anatomy.candidates))]
    grid_candidates = (np.linalg.inv(grid_to_mni_voxel) @ homogeneous.T)[:3].T
    plans: list[FocusPlan] = []
    placed: list[tuple[np.ndarray, float]] = []
    for wt_ml in _focus_volumes(rng, config, n_foci):
        core_ml = wt_ml * rng.uniform(*config.core_fraction)
        necrosis = 0.0 if low_grade else rng.uniform(*config.necrosis_fraction)
        mass = rng.uniform(*config.mass_effect) * (0.5 if low_grade else 1.0)
        plan = FocusPlan(np.zeros(3), wt_ml, core_ml, necrosis, mass)
        min_depth = max(12.0, (plan.core_radius + 4.0) / config.brain_scale)
        centre = _choose_centre(
            rng, grid_candidates, anatomy.candidate_depth_mm, min_depth, placed, plan.wt_radius
        )
        if centre is None:
            logger.debug("no room for another focus of %.1f mL; case keeps %d foci", wt_ml, len(plans))
            continue
        plans.append(dataclasses.replace(plan, centre=centre))
        placed.append((centre, plan.wt_radius))
    return low_grade, plans


def _sample_anatomy(
    anatomy: MniAnatomy, grid_to_mni_voxel: np.ndarray, box: tuple[slice, ...], local_plans: list[FocusPlan]
) -> dict[str, np.ndarray]:
    """Tissue maps inside ``box`` after jitter and mass effect, interpolated once from MNI space."""
    shape = tuple(s.stop - s.start for s in box)
    coords = np.indices(shape, dtype=np.float32)
    for plan in local_plans:
        apply_mass_effect(coords, plan)
    origin = np.eye(4)
    origin[:3, 3] = [s.start for s in box]
    local_to_mni = (grid_to_mni_voxel @ origin).astype(np.float32)
    mni = local_to_mni[:3, :3] @ coords.reshape(3, -1) + local_to_mni[:3, 3:4]
    return sample_tissue(anatomy, mni.reshape(3, *shape))


def label_volumes_ml(label: np.ndarray) -> dict[str, float]:
    """NCR, ED, ET, TC and WT volumes in mL (1 mm voxels)."""
    counts = {
        name: int(np.count_nonzero(label == value))
        for name, value in (("NCR", LABEL_NCR), ("ED", LABEL_ED), ("ET", LABEL_ET))
    }
    volumes = {name: count / 1000.0 for name, count in counts.items()}
    volumes["TC"] = (counts["NCR"] + counts["ET"]) / 1000.0
    volumes["WT"] = (counts["NCR"] + counts["ET"] + counts["ED"]) / 1000.0
    return volumes


def _draw_case_geometry(
    rng: np.random.Generator, config: PhantomConfig, anatomy: MniAnatomy
) -> dict[str, Any]:
    """Jitter, foci, anatomy and labels of one case (one attempt)."""
    jitter = jitter_matrix(rng, config.scale_jitter, config.rotation_jitter_deg, config.translation_jitter_mm)
    grid_to_mni_voxel = (
        np.linalg.inv(anatomy.voxel_to_mm) @ grid_to_mni_mm(config.brain_scale, anatomy) @ jitter
    )
    box = brain_bounding_box(grid_to_mni_voxel, anatomy, BOX_MARGIN)
    origin = np.array([s.start for s in box], dtype=np.float64)
    low_grade, plans = plan_foci(rng, config, anatomy, grid_to_mni_voxel)
    local_plans = [dataclasses.replace(plan, centre=plan.centre - origin) for plan in plans]
    tissue = _sample_anatomy(anatomy, grid_to_mni_voxel, box, local_plans)
    label = np.zeros(tissue["brain"].shape, dtype=np.uint8)
    for plan in local_plans:
        crop, focus_label = draw_focus(rng, plan, tissue["brain"], tissue["wm"], tissue["csf"])
        merge_focus(label, crop, focus_label)
    tight = _bounding_box(tissue["brain"], margin=2)  # later steps only need the brain itself
    box = tuple(
        slice(outer.start + inner.start, outer.start + inner.stop)
        for outer, inner in zip(box, tight, strict=True)
    )
    tissue = {name: array[tight] for name, array in tissue.items()}
    return {"box": box, "tissue": tissue, "label": label[tight], "plans": plans, "low_grade": low_grade}


def _bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """Slices of the smallest box around ``mask``'s True voxels, grown by ``margin`` and clipped."""
    inside = np.argwhere(mask)
    low = np.maximum(inside.min(axis=0) - margin, 0)
    high = np.minimum(inside.max(axis=0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def _render_contrasts(
    rng: np.random.Generator, config: PhantomConfig, case: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict]:
    """The four acquired contrasts inside the brain box, plus the intensity table used."""
    tissue, label = case["tissue"], case["label"]
    intensities = draw_intensities(rng)
    texture = smooth_noise(rng, label.shape, 3.0)
    vessels = ndimage.gaussian_filter(vessel_mask(rng, tissue["csf"]).astype(np.float32), 0.5)
    tumour_box = _bounding_box(label > 0, margin=3)
    soft = soften_labels(label[tumour_box])
    images = {}
    for name in CONTRASTS:
        clean = clean_image(intensities[name], tissue, soft, tumour_box, texture, case["low_grade"])
        if name == "t1ce":
            clean += vessels * (intensities[name]["vessel"] - clean)
        images[name] = acquire(rng, clean, tissue["brain"], config)
    return images, intensities


def _on_grid(box_array: np.ndarray, box: tuple[slice, ...], dtype: type) -> np.ndarray:
    full = np.zeros(BRATS_SHAPE, dtype=dtype)
    full[box] = box_array
    return full


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")


def _draw_valid_geometry(
    rng: np.random.Generator, config: PhantomConfig, seed: int
) -> tuple[dict[str, Any], int]:
    """Draw case geometry until the WT volume lies within the hard limits; returns (case, attempts)."""
    anatomy = load_mni_anatomy()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        case = _draw_case_geometry(rng, config, anatomy)
        case["volumes_ml"] = label_volumes_ml(case["label"])
        if case["plans"] and WT_HARD_LIMITS_ML[0] <= case["volumes_ml"]["WT"] <= WT_HARD_LIMITS_ML[1]:
            return case, attempt
        logger.debug(
            "seed %d attempt %d: WT %.1f mL outside the hard limits, redrawing",
            seed,
            attempt,
            case["volumes_ml"]["WT"],
        )
    raise RuntimeError(
        f"seed {seed}: no tumour within {WT_HARD_LIMITS_ML} mL after {MAX_ATTEMPTS} tries; widen PhantomConfig"
    )


def _metadata(seed: int, attempts: int, case: dict[str, Any], intensities: dict) -> dict[str, Any]:
    """JSON-serialisable facts about the case (written next to the images)."""
    foci = [
        {
            "centre_voxel": [round(float(c), 2) for c in plan.centre],
            "target_wt_ml": round(float(plan.wt_ml), 2),
            "target_core_ml": round(float(plan.core_ml), 2),
        }
        for plan in case["plans"]
    ]
    return {
        "generator": "revseg-phantom",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "attempts": attempts,
        "low_grade": case["low_grade"],
        "n_foci": len(case["plans"]),
        "volumes_ml": case["volumes_ml"],
        "foci": foci,
        "intensities": {
            name: {cls: round(v, 4) for cls, v in table.items()} for name, table in intensities.items()
        },
    }


def generate_phantom(seed: int, config: PhantomConfig = PhantomConfig()) -> Phantom:  # noqa: B008 (frozen)
    """Generate one synthetic BraTS-format case from the MNI152 anatomy; the same seed gives the same case.

    Args:
        seed: non-negative integer seeding every random choice of the case.
        config: ranges of the randomisation (see PhantomConfig).

    Returns:
        The Phantom: four float32 contrasts holding whole numbers, uint8 labels 0/1/2/4, the BraTS affine,
        healthy-tissue masks and metadata (grade, foci, label volumes in mL, intensity table).
    """
    _check_seed(seed)
    if not isinstance(config, PhantomConfig):
        raise ValueError(f"config must be a PhantomConfig, got {type(config).__name__}")
    rng = np.random.default_rng(int(seed))
    case, attempts = _draw_valid_geometry(rng, config, int(seed))
    images, intensities = _render_contrasts(rng, config, case)
    box, tissue, label = case["box"], case["tissue"], case["label"]
    healthy = label == 0
    masks = {
        name: _on_grid((tissue[name] >= DOMINANT_TISSUE) & healthy, box, bool) for name in ("wm", "gm", "csf")
    }
    masks["brain"] = _on_grid(tissue["brain"], box, bool)
    return Phantom(
        images={name: _on_grid(image, box, np.float32) for name, image in images.items()},
        label=_on_grid(label, box, np.uint8),
        affine=BRATS_AFFINE.copy(),
        tissue=masks,
        metadata=_metadata(seed, attempts, case, intensities),
    )
