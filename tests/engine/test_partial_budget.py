"""A partial study (one to three contrasts, for viewing) passes the same header budget as a full one (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import CaseError
from engine.io.inputs import plan_inputs
from engine.partial_study import load_available
from tests.cli.bad_files import nifti_case, role_file, write_raw_nifti


def partial_case(tmp_path: Path) -> Path:
    case = nifti_case(tmp_path / "case")
    for role in ("t1", "t1ce"):
        role_file(case, role).unlink()
    return case


def test_a_partial_study_within_the_budget_loads_what_is_there(tmp_path: Path) -> None:
    plan = plan_inputs(partial_case(tmp_path), strict=False)
    images = load_available(plan)
    assert sorted(images) == ["flair", "t2"]


def test_a_partial_study_above_the_memory_limit_is_refused_before_reading(tmp_path: Path) -> None:
    plan = plan_inputs(partial_case(tmp_path), strict=False)
    with pytest.raises(CaseError, match="above the memory limit"):
        load_available(plan, memory_limit_gb=0.0001)


def test_a_partial_study_with_an_implausible_voxel_size_is_refused_from_its_header(tmp_path: Path) -> None:
    case = partial_case(tmp_path)
    # a FLAIR whose header says 20 mm voxels (and whose data would not even be there: the header decides)
    write_raw_nifti(role_file(case, "flair"), (40, 44, 36), zooms=(20.0, 20.0, 20.0), data=b"\0" * 64)
    plan = plan_inputs(case, strict=False)
    with pytest.raises(CaseError, match=r"has 20 mm voxels along axis 0; a head MRI has 0\.1-10 mm voxels"):
        load_available(plan)
