"""The notice every output of RevSeg carries: research software, not for clinical use.

One place for the words, so the DICOM-SEG, the NIfTI header, the sidecar, the report and the GUI's status bar
all say the same thing (tests read each exported file back and look for ``CLINICAL_NOTICE``).
"""

from __future__ import annotations

CLINICAL_NOTICE = "NOT FOR CLINICAL USE"
#: DICOM SeriesDescription of a RevSeg SEG (a DICOM LO: at most 64 characters).
SEG_SERIES_DESCRIPTION = f"RevSeg tumor segmentation - {CLINICAL_NOTICE}"
#: DICOM ContentDescription of a RevSeg SEG (LO, at most 64 characters).
SEG_CONTENT_DESCRIPTION = f"Brain tumor segmentation (BraTS) - {CLINICAL_NOTICE}"
#: NIfTI-1 ``descrip`` of an exported label map (at most 80 bytes).
NIFTI_DESCRIPTION = f"RevSeg segmentation - {CLINICAL_NOTICE}"
#: the status bar's permanent notice
STATUS_NOTICE = f"Research software - {CLINICAL_NOTICE}"
