"""RANO 2.0 measurement on phantoms with known answers: ellipse, ring (annulus) and open arc, measurability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.rano import (
    MAX_TARGET_LESIONS,
    Bidimensional,
    assign_targets,
    measure_lesion,
    measure_slice,
    measured_region,
)


def _disc_grid(shape=(90, 80)):
    return np.ogrid[: shape[0], : shape[1]]


def _samples(ends, spacing_factor: int = 20):
    """Points every 1/20 voxel along the segment between two voxel centres (in-plane)."""
    a, b = np.asarray(ends[0][:2], float), np.asarray(ends[1][:2], float)
    t = np.linspace(0.0, 1.0, int(spacing_factor * max(np.abs(b - a).max(), 1)) + 1)
    return np.rint(a[None] + t[:, None] * (b - a)[None]).astype(int)


def _angle_deg(rano: Bidimensional, spacing) -> float:
    mm = np.asarray(spacing[:2])
    u = np.subtract(rano.longest_ends[1][:2], rano.longest_ends[0][:2]) * mm
    v = np.subtract(rano.perpendicular_ends[1][:2], rano.perpendicular_ends[0][:2]) * mm
    return math.degrees(math.acos(abs(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v))))


@pytest.mark.parametrize(("a_mm", "b_mm", "spacing"), [(20.0, 12.0, (1.0, 1.0, 1.0)), (15.0, 11.0, (0.5, 0.8, 2.0)),
                                                      (25.0, 18.0, (0.9375, 0.9375, 5.0))])
def test_ellipse_diameters_within_a_voxel(a_mm, b_mm, spacing):
    x, y = _disc_grid((120, 100))
    px, py = (x - 60) * spacing[0], (y - 50) * spacing[1]
    region = (px / a_mm) ** 2 + (py / b_mm) ** 2 <= 1
    rano = measure_slice(region, spacing, 7)
    voxel = max(spacing[:2])
    assert abs(rano.longest_mm - 2 * a_mm) <= voxel
    # On a pixelated ellipse the longest may tilt a few degrees; the perpendicular then is the ellipse's chord
    # at that tilt (a little longer than the minor axis): within a voxel of that chord.
    direction = np.subtract(rano.perpendicular_ends[1][:2], rano.perpendicular_ends[0][:2]) * np.asarray(spacing[:2])
    phi = math.atan2(direction[1], direction[0])
    chord = 2 * a_mm * b_mm / math.hypot(b_mm * math.cos(phi), a_mm * math.sin(phi))
    assert abs(rano.perpendicular_mm - chord) <= voxel and abs(rano.perpendicular_mm - 2 * b_mm) <= 1.5 * voxel
    assert _angle_deg(rano, spacing) >= 85.0
    assert rano.slice_index == 7 and rano.slice_number == 8 and rano.measurable


def test_closed_ring_is_measured_with_its_cavity_and_both_lines_stay_inside():
    """A rim around a necrotic cavity: RANO measures the outer extent; the lines cross only rim and cavity."""
    x, y = _disc_grid()
    radius = np.hypot(x - 45, y - 40)
    label = np.zeros((90, 80, 5), np.uint8)
    label[..., 2][radius <= 22] = 4
    label[..., 2][radius <= 16] = 1  # necrotic cavity, enclosed by the enhancing rim
    label[..., 1][radius <= 10] = 4  # a smaller cross-section on another slice
    rano = measure_lesion(label == 4, (1.0, 1.0, 1.0))
    assert rano.slice_index == 2  # the largest enhancing cross-section
    lesion = measured_region(label[..., 2] == 4)
    assert np.array_equal(lesion, radius <= 22)  # rim + enclosed cavity
    for ends in (rano.longest_ends, rano.perpendicular_ends):
        points = _samples(ends)
        assert lesion[points[:, 0], points[:, 1]].all()
        assert np.isin(label[points[:, 0], points[:, 1], 2], (1, 4)).all()
    assert abs(rano.longest_mm - 44.0) <= 1.0 and abs(rano.perpendicular_mm - 44.0) <= 1.5
    assert _angle_deg(rano, (1, 1, 1)) >= 85.0


def test_open_ring_lines_stay_in_the_band():
    """A C-shaped enhancing band encloses nothing: the old 'farthest voxels' chord crossed the gap; now every
    point of both lines lies in the band, and the longest is the longest chord that fits inside it."""
    x, y = _disc_grid()
    radius = np.hypot(x - 45, y - 40)
    outer, inner = 25.0, 18.0
    band = (radius <= outer) & (radius >= inner) & ~((x > 45) & (y > 40))  # three quarters of an annulus
    assert not (measured_region(band) & ~band).any()
    rano = measure_slice(band, (1.0, 1.0, 1.0), 0)
    for ends in (rano.longest_ends, rano.perpendicular_ends):
        points = _samples(ends)
        assert band[points[:, 0], points[:, 1]].all(), f"{ends} leaves the band"
    tangent_chord = 2 * math.sqrt(outer**2 - inner**2)  # the longest chord of the annulus that misses the hole
    assert tangent_chord - 2.0 <= rano.longest_mm <= tangent_chord + 1.0
    assert rano.longest_mm < 2 * outer - 5  # not the 50 mm chord across the hole
    assert _angle_deg(rano, (1, 1, 1)) >= 85.0


def test_non_measurable_when_a_diameter_is_below_10_mm():
    region = np.zeros((60, 60), bool)
    region[10:40, 25:33] = True  # 29 x 7 mm between voxel centres
    rano = measure_slice(region, (1.0, 1.0, 1.0), 3)
    assert rano.longest_mm > 25 and rano.perpendicular_mm < 10 and not rano.measurable
    assert assign_targets([("thin", rano)]) == {"thin": "non-measurable"}
    region[10:40, 25:40] = True  # now 14 mm wide
    wide = measure_slice(region, (1.0, 1.0, 1.0), 3)
    assert wide.perpendicular_mm >= 10 and wide.measurable
    assert measure_lesion(np.zeros((5, 5, 5), bool), (1.0, 1.0, 1.0)) is None


def test_up_to_three_targets_by_product_and_corrections():
    def square(side: int) -> Bidimensional:
        region = np.zeros((40, 40), bool)
        region[2:2 + side, 2:2 + side] = True
        return measure_slice(region, (1.0, 1.0, 1.0), 0)

    lesions = [(f"L{side}", square(side)) for side in (12, 20, 16, 24, 6)] + [("no ET", None)]
    status = assign_targets(lesions)
    assert MAX_TARGET_LESIONS == 3
    assert [k for k, s in status.items() if s == "target"] == ["L20", "L16", "L24"]
    assert status["L12"] == "non-target" and status["L6"] == status["no ET"] == "non-measurable"
    rano = square(20)
    moved = rano.with_ends("perpendicular", ((5, 5, 0), (5, 11, 0)), (1.0, 2.0, 3.0))
    assert moved.perpendicular_mm == pytest.approx(12.0 + 2.0) and moved.corrected and moved.longest_mm == rano.longest_mm
    with pytest.raises(ValueError, match="axial slice 1"):
        rano.with_ends("longest", ((5, 5, 0), (5, 11, 1)), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="longest"):
        rano.with_ends("diagonal", rano.longest_ends, (1.0, 1.0, 1.0))
