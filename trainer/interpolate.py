"""Weight-space interpolation of two checkpoints of one network (robust fine-tuning, "WiSE-FT": Wortsman et al.,
CVPR 2022).

A model fine-tuned on a few real cases forgets part of what its synthetic-only parent knew. Mixing the two in
weight space, ``(1 - alpha) * parent + alpha * fine_tuned``, often keeps most of both where the two share their
lineage (the fine-tuned model started from the parent), at the cost of one network at inference.

    python -m trainer.interpolate PARENT FINE_TUNED --alpha 0.5 --out mixed.safetensors

The result keeps the fine-tuned checkpoint's labels and normalisation; its training record names both inputs
(weights SHA-256) and alpha, so the provenance of every figure made with it is traceable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from engine.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from engine.model import build_network


def _check_compatible(parent: LoadedCheckpoint, tuned: LoadedCheckpoint) -> None:
    if parent.config != tuned.config:
        raise ValueError(f"{parent.path} and {tuned.path} are different networks (configurations differ); "
                         "interpolate a fine-tuned checkpoint with the checkpoint it started from")
    if parent.labels != tuned.labels or parent.normalization != tuned.normalization:
        raise ValueError(f"{parent.path} and {tuned.path} use different labels or input normalisation")
    if set(parent.state_dict) != set(tuned.state_dict):
        raise ValueError(f"{parent.path} and {tuned.path} hold different tensors")


def interpolate_state(parent: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor],
                      alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * parent + alpha * tuned`` per floating-point tensor, computed in float32 and stored in the
    fine-tuned tensor's dtype; other tensors (counters) are the fine-tuned ones."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (0: the parent, 1: the fine-tuned model), got {alpha}")
    mixed = {}
    for name, tuned_tensor in tuned.items():
        if not tuned_tensor.is_floating_point():
            mixed[name] = tuned_tensor.clone()
            continue
        parent_tensor = parent[name].to(torch.float32)
        blend = torch.lerp(parent_tensor, tuned_tensor.to(torch.float32), alpha)
        mixed[name] = blend.to(tuned_tensor.dtype)
    return mixed


def interpolate_checkpoints(parent_path: Path, tuned_path: Path, alpha: float, out: Path) -> str:
    """Write the interpolated checkpoint to ``out``; returns its weights' SHA-256."""
    parent, tuned = load_checkpoint(parent_path), load_checkpoint(tuned_path)
    _check_compatible(parent, tuned)
    network = build_network(tuned.config)
    network.load_state_dict(interpolate_state(parent.state_dict, tuned.state_dict, alpha))
    network.to(next(iter(tuned.state_dict.values())).dtype)
    training = {
        "interpolation": {"method": "weight-space interpolation (WiSE-FT)", "alpha": alpha,
                          "parent": {"path": str(parent_path), "weights_sha256": parent.sha256},
                          "fine_tuned": {"path": str(tuned_path), "weights_sha256": tuned.sha256}},
        "fine_tuned_training": tuned.training,
    }
    extra = tuned.metadata.get("extra")
    return save_checkpoint(out, network, tuned.config, labels=tuned.labels, normalization=tuned.normalization,
                           training=training, extra=extra)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.interpolate", description=__doc__.split("\n\n")[0])
    parser.add_argument("parent", type=Path, help="the checkpoint the fine-tuning started from")
    parser.add_argument("fine_tuned", type=Path, help="the fine-tuned checkpoint")
    parser.add_argument("--alpha", type=float, required=True,
                        help="weight of the fine-tuned model, 0..1 (0: the parent, 1: the fine-tuned model)")
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        digest = interpolate_checkpoints(args.parent, args.fine_tuned, args.alpha, args.out)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    print(f"{args.out}: alpha {args.alpha}, weights sha256 {digest}")  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    sys.exit(main())
