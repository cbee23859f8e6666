"""Measurements of a label map: volumes per label and region, the lesion table and the RANO 2.0 measurement.

Volumes (mL) reuse the post-processing function (one implementation). The lesion count is the number of rows of
the lesion table (``engine.lesions``): 26-connected whole-tumour components of at least the minimum lesion
volume (default 0.1 mL); smaller specks are "small foci", listed apart. RANO 2.0 bidimensional measurements
are made per lesion (``engine.rano``): on the axial slice of its largest enhancing cross-section, with both
diameters inside the lesion; measurable when both are at least 10 mm; up to three target lesions and their
sum of products. Slices are shown counted from 1 everywhere (``slice_number``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.inference.postprocess import label_volumes_ml
from engine.labels import EDEMA, ENHANCING, NECROSIS
from engine.lesions import DEFAULT_MIN_LESION_ML, LESION_CONNECTIVITY, LesionCache, LesionTable, lesion_table
from engine.rano import AXIAL_AXIS, MIN_MEASURABLE_MM, Bidimensional, measure_slice, measured_region

__all__ = ["AXIAL_AXIS", "LESION_CONNECTIVITY", "Bidimensional", "Measurements", "as_tsv", "bidimensional_product",
           "lesion_rows", "measure", "measurement_rows", "measurements_from_cache", "measurements_from_table", "slice_number", "voxel_volume_ml"]
Voxel = tuple[int, int, int]


def slice_number(index: int) -> int:
    """A 0-based slice index as shown to the user (counted from 1, as the views' "Axial N/M")."""
    return int(index) + 1


@dataclass(frozen=True)
class Measurements:
    """What the measurement panel and the report show.

    Attributes:
        volumes_ml: NCR, ED, ET (labels) and TC, WT (regions) in mL.
        table: the lesion table (lesions above the minimum volume, small foci, RANO status).
        max_et_slice: axial slice index (0-based) with the largest ET area (None without ET).
        max_tumour_slice: axial slice index (0-based) with the largest whole-tumour area (None without tumour).
    """

    volumes_ml: dict[str, float]
    table: LesionTable
    max_et_slice: int | None
    max_tumour_slice: int | None

    @property
    def lesions(self) -> int:
        """Number of lesions in the table (small foci not counted)."""
        return len(self.table.lesions)

    @property
    def bidimensional(self) -> Bidimensional | None:
        """The RANO measurement shown first: the largest target lesion's (else the largest measured one's)."""
        primary = self.table.primary
        return primary.rano if primary is not None else None


def voxel_volume_ml(spacing: tuple[float, float, float]) -> float:
    """Volume of one voxel in mL (spacing in mm)."""
    if len(spacing) != 3 or any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must be three positive voxel sizes in mm, got {spacing}")
    return float(np.prod(spacing)) / 1000.0


def measure(label: np.ndarray, spacing: tuple[float, float, float], *, affine: np.ndarray | None = None,
            image: np.ndarray | None = None, min_volume_ml: float = DEFAULT_MIN_LESION_ML) -> Measurements:
    """All measurements of a BraTS 2020 label map (0/1/2/4).

    Args:
        label: label map, axis 2 running inferior to superior (axial slices).
        spacing: voxel size in mm per axis.
        affine: voxel-to-world matrix (lesion hemispheres; None: "n/a").
        image: a grey-value volume on the same grid (the head's midline; None: "n/a").
        min_volume_ml: smaller whole-tumour components are small foci, not lesions.
    """
    if label.ndim != 3:
        raise ValueError(f"expected a 3D label map, got shape {label.shape}")
    voxel_volume_ml(spacing)
    return measurements_from_table(label, spacing, lesion_table(label, spacing, affine=affine, image=image,
                                                                 min_volume_ml=min_volume_ml))


def measurements_from_table(label: np.ndarray, spacing: tuple[float, float, float], table: LesionTable) -> Measurements:
    """The measurements of ``label`` around a lesion table computed already (e.g. incrementally)."""
    volumes = label_volumes_ml(label, voxel_volume_ml(spacing))
    return Measurements(volumes, table, _max_area_slice(label, ENHANCING), _max_area_slice(label, None))


def measurements_from_cache(cache: LesionCache) -> Measurements:
    """The measurements of the label map ``cache`` last saw, from its per-slice label counts (no pass over
    the whole volume: what an edit costs is the part it touched)."""
    counts = cache.slice_counts
    if counts.size == 0:
        raise ValueError("the lesion cache has not seen a label map yet; call its update() first")
    voxel_ml = voxel_volume_ml(cache.spacing)  # type: ignore[arg-type]
    totals = counts.sum(axis=0)
    volumes = {"NCR": int(totals[NECROSIS]), "ED": int(totals[EDEMA]), "ET": int(totals[ENHANCING])}
    volumes["TC"] = volumes["NCR"] + volumes["ET"]
    volumes["WT"] = volumes["TC"] + volumes["ED"]
    tumour = counts[:, 1:].sum(axis=1)
    return Measurements({name: round(n * voxel_ml, 3) for name, n in volumes.items()}, cache.table,
                        int(np.argmax(counts[:, ENHANCING])) if counts[:, ENHANCING].any() else None,
                        int(np.argmax(tumour)) if tumour.any() else None)


def _max_area_slice(label: np.ndarray, value: int | None) -> int | None:
    areas = np.count_nonzero(label > 0 if value is None else label == value, axis=(0, 1))
    return int(np.argmax(areas)) if areas.any() else None


def bidimensional_product(label: np.ndarray, spacing: tuple[float, float, float]) -> Bidimensional | None:
    """The RANO measurement shown first for ``label`` (every component counts as a lesion here).

    Args:
        label: label map.
        spacing: voxel size in mm per axis.
    """
    return measure(label, spacing, min_volume_ml=0.0).bidimensional


def measure_et_slice(et_slice: np.ndarray, spacing: tuple[float, float, float], index: int) -> Bidimensional:
    """RANO diameters of one axial slice's ET (rim plus enclosed cavity), e.g. for a slice the user picks."""
    return measure_slice(measured_region(et_slice), spacing, index)


def rano_text(rano: Bidimensional) -> str:
    """One line: the diameters, their product, the slice (from 1) and whether RANO can measure it."""
    text = (f"{rano.longest_mm:.1f} x {rano.perpendicular_mm:.1f} mm = {rano.product_mm2:.0f} mm² "
            f"(axial slice {rano.slice_number})")
    if not rano.measurable:
        text += f", non-measurable (a diameter < {MIN_MEASURABLE_MM:.0f} mm)"
    return text + (", corrected" if rano.corrected else "")


def measurement_rows(measurements: Measurements) -> list[tuple[str, str]]:
    """(name, value) rows for tables and the report, in display order."""
    table = measurements.table
    rows = [(f"{name} volume (mL)", f"{volume:.2f}") for name, volume in measurements.volumes_ml.items()]
    rows.append((f"Lesions (>= {table.min_volume_ml:g} mL)", str(measurements.lesions)))  # 26-connected: in the docs
    rows.append((f"Small foci (< {table.min_volume_ml:g} mL)", f"{table.small_foci} ({table.small_foci_ml:.2f} mL)"))
    rano = measurements.bidimensional
    if rano is None:
        rows.append(("ET bidimensional product (mm²)", "no ET"))
        return rows
    rows += [("ET longest diameter (mm)", f"{rano.longest_mm:.1f}"),
             ("ET perpendicular diameter (mm)", f"{rano.perpendicular_mm:.1f}"),
             ("ET bidimensional product (mm²)", f"{rano.product_mm2:.1f}"),
             ("RANO axial slice", str(rano.slice_number)),
             ("RANO measurable (>= 10 mm)", "yes" if rano.measurable else "no"),
             ("RANO target lesions", str(len(table.targets))),
             ("RANO sum of products (mm²)", f"{table.sum_of_products_mm2:.1f}" if table.targets else "none measurable")]
    return rows


def lesion_rows(table: LesionTable, limit: int | None = None) -> list[tuple[str, str]]:
    """One (name, value) row per lesion (the report's lesion list), then the small foci."""
    rows = []
    for lesion in table.lesions[:limit]:
        status = lesion.rano_status
        if lesion.rano is not None and status != "non-measurable":
            status += f" {lesion.rano.longest_mm:.0f}x{lesion.rano.perpendicular_mm:.0f}"  # mm, as the rows say
        rows.append((f"Lesion {lesion.number} ({lesion.hemisphere}, slice {lesion.centre_slice})",
                     f"{lesion.volumes_ml['total']:.1f} mL, {status}"))
    if limit is not None and len(table.lesions) > limit:
        rows.append(("More lesions", str(len(table.lesions) - limit)))
    rows.append((f"Small foci (< {table.min_volume_ml:g} mL)", str(table.small_foci)))
    return rows


def as_tsv(measurements: Measurements) -> str:
    """The rows, then the lesion table, as tab-separated text with header lines (pastes into spreadsheets)."""
    lines = ["Measurement\tValue", *(f"{n}\t{v}" for n, v in measurement_rows(measurements)), "",
             "\t".join(LESION_COLUMNS)]
    lines += ["\t".join(row) for row in lesion_table_rows(measurements.table)]
    return "\n".join(lines) + "\n"


LESION_COLUMNS = ("Lesion", "NCR mL", "ED mL", "ET mL", "Total mL", "Centre slice", "Hemisphere", "Lobe", "RANO",
                  "RANO diameters")


def lesion_table_rows(table: LesionTable) -> list[tuple[str, ...]]:
    """The lesion table's cells as text, one tuple per lesion in ``LESION_COLUMNS`` order."""
    rows = []
    for lesion in table.lesions:
        volumes = lesion.volumes_ml
        diameters = "no ET" if lesion.rano is None else rano_text(lesion.rano)
        rows.append((str(lesion.number), *(f"{volumes[k]:.2f}" for k in ("NCR", "ED", "ET", "total")),
                     str(lesion.centre_slice), lesion.hemisphere, lesion.lobe, lesion.rano_status, diameters))
    return rows


def measurements_record(measurements: Measurements, affine: np.ndarray | None = None,
                        grid: str = "the exported label map's grid") -> dict[str, object]:
    """The measurements as JSON-ready data (sidecar, companion outputs): lesion table, RANO, slices from 1.

    Args:
        measurements: what to record.
        affine: voxel-to-world matrix of the grid the voxel indices refer to (adds RAS mm positions).
        grid: which grid the voxel indices and slice numbers refer to (written into the record).
    """
    table = measurements.table

    def place(voxel: Voxel) -> dict[str, object]:
        entry: dict[str, object] = {"voxel": [int(v) for v in voxel], "axial_slice": slice_number(voxel[AXIAL_AXIS])}
        if affine is not None:
            entry["ras_mm"] = [round(float(v), 2) for v in (np.asarray(affine) @ np.array([*voxel, 1.0]))[:3]]
        return entry

    def rano(measured: Bidimensional | None) -> dict[str, object] | None:
        if measured is None:
            return None
        return {"axial_slice": measured.slice_number, "longest_mm": round(measured.longest_mm, 2),
                "perpendicular_mm": round(measured.perpendicular_mm, 2), "product_mm2": round(measured.product_mm2, 2),
                "measurable": measured.measurable, "corrected_by_user": measured.corrected,
                "longest_ends": [place(v) for v in measured.longest_ends],
                "perpendicular_ends": [place(v) for v in measured.perpendicular_ends]}

    lesions = [{"number": lesion.number, "volumes_ml": dict(lesion.volumes_ml), "centre": place(lesion.centre),
                "hemisphere": lesion.hemisphere, "lobe": lesion.lobe, "rano_status": lesion.rano_status,
                "rano": rano(lesion.rano)} for lesion in table.lesions]
    return {
        "criteria": "RANO 2.0 (Wen et al., J Clin Oncol 2023): axial slice of the largest enhancing cross-section, "
                    "diameters inside the lesion (enhancing rim with enclosed cavity), measurable when both >= 10 mm, "
                    "up to 3 target lesions",
        "voxel_grid": grid,
        "slice_numbering": "axial slices counted from 1 along voxel axis 2; voxel indices from 0; ras_mm: world "
                           "position (RAS, mm), independent of the grid",
        "lesion_definition": f"{LESION_CONNECTIVITY}-connected whole-tumour components >= {table.min_volume_ml:g} mL",
        "min_lesion_volume_ml": table.min_volume_ml,
        "lesion_count": len(table.lesions),
        "small_foci": {"count": table.small_foci, "volume_ml": table.small_foci_ml},
        "lesions": lesions,
        "rano_target_lesions": [lesion.number for lesion in table.targets],
        "rano_sum_of_products_mm2": round(table.sum_of_products_mm2, 2),
    }
