"""Command line of the trainer: ``python main.py train --data DIR --out RUN [--config FILE] [--resume] [k=v ...]``.

Under torchrun the same command trains on every process: ``torchrun --nproc_per_node=2 main.py train ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.config import load_config
from trainer.distributed import leave_process, shutdown

if TYPE_CHECKING:
    from trainer.loop import Trainer

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py train",
        description="Train a RevSeg U-Net on BraTS-style case folders (or phantoms).",
        epilog="Overrides: key=value with TrainConfig names, model.KEY=value for the architecture, e.g. "
               "epochs=10 patch_size=[96,96,96] model.base_width=16. Bundled configs: "
               + ", ".join(p.stem for p in sorted(CONFIG_DIR.glob("*.toml"))),
    )
    parser.add_argument("--data", required=True, type=Path, action="append",
                        help="folder holding one folder per case, or a synthetic v2 cache (main.py synth); "
                             "repeat to train on several (e.g. --data SYNTH --data REAL)")
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, logs, resume state)")
    parser.add_argument("--config", help="TOML recipe file, or the name of a bundled one (demo, tiny-cpu)")
    parser.add_argument("--cache", type=Path, help="preprocessing cache folder (default RUN/cache)")
    parser.add_argument("--val-data", type=Path, action="append", default=[],
                        help="cases that validate (a folder of cases or a synthetic cache; repeatable); all of "
                             "--data then trains (default: a seeded share of --data validates)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/trainer_state.pt")
    parser.add_argument("--stop-after", type=float, default=0.0, metavar="MINUTES",
                        help="pause after this many minutes of training in this session (state saved; continue "
                             "with --resume); the schedule still follows epochs / max_minutes")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def config_path(name: str | None) -> Path | None:
    """A config file's path: NAME of a bundled config (trainer/configs/NAME.toml) or a path as given."""
    if name is None:
        return None
    path = Path(name)
    if not path.is_file() and (CONFIG_DIR / f"{name}.toml").is_file():
        return CONFIG_DIR / f"{name}.toml"
    return path


def main(argv: list[str] | None = None) -> int:
    """Run training; returns the process exit code (0 done, 2 bad input)."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_path(args.config), args.overrides)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    from trainer.loop import Trainer  # torch-heavy import after the cheap argument checks

    trainer = None
    try:
        trainer = Trainer(config, args.data, args.out, resume=args.resume, cache_dir=args.cache,
                          val_dirs=args.val_data, stop_after_minutes=args.stop_after)
        _report(trainer, trainer.run(), args.out)
        code = 0
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        code = 2
    finally:
        if trainer is not None:
            shutdown(trainer.context)
    return code if trainer is None else leave_process(code, trainer.context)


def _report(trainer: Trainer, summary: dict[str, Any], out: Path) -> None:
    """Print the outcome (the main process only)."""
    if not trainer.context.is_main:
        return
    if summary.get("paused"):
        print(f"paused at step {summary['steps']}; continue with --resume")  # noqa: T201 - CLI output
        return
    metrics = summary.get("metrics") or {}
    print(f"trained {summary['steps']} steps in {summary['time_s']} s; "  # noqa: T201 - CLI output
          + " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if k.startswith("dice")))
    print(f"checkpoints: {out / 'checkpoint_best.safetensors'}, {out / 'checkpoint_last.safetensors'}")  # noqa: T201 - CLI output


if __name__ == "__main__":
    raise SystemExit(main())
