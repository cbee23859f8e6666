"""The training loop: a small hook-based trainer in the spirit of nnU-Net's.

Hooks, in call order: `on_train_start` (data, cache, split, model, optimiser, resume), then per epoch
`train_epoch` -> `train_step` per batch, `on_epoch_end` (validation every ``val_every`` epochs, checkpoints,
resume state, logs), and `on_train_end` (final summary). Subclass and override a hook to change one part.

Files under the run folder (rank 0 writes): ``cache/`` (unless given), ``split.json``, ``config.json``,
``checkpoint_last.safetensors``, ``checkpoint_best.safetensors`` (engine format, loadable by the app),
``trainer_state.pt`` (exact resume), ``tensorboard/`` (when TensorBoard is installed), ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from engine.checkpoint import DEFAULT_LABELS, load_checkpoint, save_checkpoint
from engine.model import build_network
from trainer.autopatch import choose_patch
from trainer.config import TrainConfig
from trainer.data import (
    CHANNELS,
    build_training_cache,
    cached_cases,
    load_or_write_split,
    source_case_ids,
)
from trainer.distributed import (
    DistributedContext,
    all_reduce_mean,
    autograd_sum_over_ranks,
    barrier,
    init_distributed,
    wrap_model,
)
from trainer.graphed_step import GRAPH_MEMORY_MARGIN, GraphedStep, graph_unsupported_reason
from trainer.losses import RegionLoss
from trainer.optim import (
    WeightEMA,
    autocast_context,
    build_optimizer,
    clip_gradients,
    learning_rate,
    match_capturable,
    set_learning_rate,
)
from trainer.sampling import ResumableBatchSampler, pad_collate, training_dataset
from trainer.state import (
    STATE_NAME,
    VALIDATION_METHOD,
    hardware_summary,
    load_state,
    means_from_sums,
    restore_rng_states,
    rng_states,
    save_state,
    validate_cases,
)

log = logging.getLogger(__name__)


def worker_context() -> multiprocessing.context.BaseContext:
    """Patch workers come from a fork server, never from a fork of this process.

    A plain fork copies a process that may hold other threads (torch's and ONNX Runtime's pools, ITK's, a GUI's
    or a test runner's) and their locks; a child that touches a lock held at the fork waits forever, and its
    parent with it. The fork server is a fresh single-threaded process with the sampling code preloaded, so a
    worker still starts in milliseconds.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["trainer.sampling"])
    return context


class Trainer:
    """Train a RevSeg U-Net on a folder of BraTS-style cases.

    Args:
        config: the recipe.
        data_dir: folder with one folder per case, a synthetic cache, or a list of such folders.
        out_dir: run folder (created).
        resume: continue from ``out_dir/trainer_state.pt``.
        context: distributed context (default: from the torchrun environment).
        cache_dir: preprocessing cache (default ``out_dir/cache``).
        val_dirs: sources whose cases validate (all of ``data_dir`` then trains); default: a seeded split.
        stop_after_minutes: pause after this much training in this process (state and ``checkpoint_last``
            saved; continue with ``resume``): for sessions shorter than the run. 0: no pause.
    """

    def __init__(self, config: TrainConfig, data_dir: str | Path | list[Path], out_dir: str | Path, *,
                 resume: bool = False, context: DistributedContext | None = None,
                 cache_dir: str | Path | None = None, val_dirs: list[Path] | None = None,
                 stop_after_minutes: float = 0.0) -> None:
        sources = data_dir if isinstance(data_dir, list | tuple) else [data_dir]
        self.data_dirs = [Path(p) for p in sources]
        self.val_dirs = [Path(p) for p in val_dirs or []]
        self.stop_after_s = 60.0 * stop_after_minutes
        self.paused = False
        self.config, self.out_dir = config, Path(out_dir)
        self.resume = resume
        self.context = context or init_distributed(config.device)
        self.cache_dir = Path(cache_dir) if cache_dir else self.out_dir / "cache"
        self.step, self.best_dice = 0, -1.0
        self.history: dict[str, Any] = {"step_loss": {}, "epochs": []}
        self.writer: Any = None
        self.graphed: GraphedStep | None = None
        self.started = time.monotonic()
        self.elapsed_before = 0.0
        self.out_of_time = False
        self.batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    # ----------------------------------------------------------------- setup
    def on_train_start(self) -> None:
        cfg, ctx = self.config, self.context
        self._prepare_cases()
        self.demo = cfg.demo if cfg.demo is not None else all(c.phantom for c in self.all_cases.values())
        no_graph = graph_unsupported_reason(cfg, ctx.device, ctx.world_size)
        # Before seeding: the probe builds networks of its own, and training must start from the seed. It measures
        # the eager step; a captured graph keeps a larger pool, hence the margin.
        budget = cfg.auto_patch_gib / (1.0 if no_graph else GRAPH_MEMORY_MARGIN)
        self.patch_size = choose_patch(ctx, cfg.unet_config(), self.train_cases, cfg.batch_size, cfg.amp,
                                       budget, cfg.patch_size, self.out_dir)
        torch.manual_seed(cfg.seed)
        self.unet_config = cfg.unet_config()
        self.network = build_network(self.unet_config).to(ctx.device)
        if cfg.init_weights and not self.resume:
            self._load_initial_weights(Path(cfg.init_weights))
        if cfg.compile_blocks and ctx.device.type == "cuda":
            self.network.compile_for_training()
        self.ema = WeightEMA(self.network, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.optimizer = build_optimizer(self.network, cfg, capturable=not no_graph)
        self.graphed = None if no_graph else GraphedStep(self.optimiser_step, ctx.device)
        if no_graph and ctx.device.type == "cuda":
            log.info("training step without a CUDA graph: %s", no_graph)
        self.loss = RegionLoss(cfg.dice_weight, cfg.bce_weight, cfg.deep_supervision_decay,
                               sum_reduce=autograd_sum_over_ranks(ctx))
        self.steps_per_epoch = max(1, cfg.patches_per_epoch // (cfg.batch_size * ctx.world_size))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if self.resume:
            self._load_resume_state()
        self.model = wrap_model(self.network, ctx)
        self.dataset = training_dataset(cfg, self.train_cases, self.patch_size)
        self._open_tensorboard()
        log.info("training on %d cases, validating on %d, %d steps of %d patches per process",
                 len(self.train_cases), len(self.val_cases), self.total_steps, cfg.batch_size)
        self.started = time.monotonic()  # the training clock (and time budget) starts now, after the set-up

    def _prepare_cases(self) -> None:
        """Cache every source, then split: ``val_dirs`` validate when given, else a seeded share of the data."""
        cfg, ctx = self.config, self.context
        sources = self.data_dirs + self.val_dirs
        if ctx.is_main:
            # it checks every source before it writes anything: bad --data fails before the run folder exists
            build_training_cache(sources, self.cache_dir, workers=cfg.num_workers)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        barrier(ctx)
        cases = {c.case_id: c for c in cached_cases(self.cache_dir)}
        if self.val_dirs:
            val_ids = {case_id for source in self.val_dirs for case_id in source_case_ids(source)}
            split = {"train": sorted(set(cases) - val_ids), "val": sorted(val_ids)}
            if ctx.is_main:
                (self.out_dir / "split.json").write_text(json.dumps({**split, "settings": "--val-data"}, indent=1))
        else:
            split_args = {"val_fraction": cfg.val_fraction, "folds": cfg.folds, "fold": cfg.fold,
                          "seed": cfg.split_seed}
            if ctx.is_main:
                load_or_write_split(self.out_dir / "split.json", list(cases), **split_args)
            barrier(ctx)
            split = load_or_write_split(self.out_dir / "split.json", list(cases), **split_args)
        self.train_cases = [cases[c] for c in split["train"]]
        self.val_cases = [cases[c] for c in split["val"]]
        self.val_on_train = not self.val_cases  # val_fraction = 0 (overfit / smoke runs): score the train cases
        if self.val_on_train:
            self.val_cases = list(self.train_cases)
        self.all_cases = cases

    def _load_initial_weights(self, path: Path) -> None:
        loaded = load_checkpoint(path)
        if loaded.config != self.unet_config:
            raise ValueError(f"init_weights {path} holds another architecture ({loaded.config}); "
                             "train with its model settings or start from random weights (init_weights=\"\")")
        self.network.load_state_dict({k: v.float() for k, v in loaded.state_dict.items()})
        log.info("starting from the weights of %s", path)

    def _load_resume_state(self) -> None:
        state = load_state(self.out_dir / STATE_NAME)
        if state["config"] != self.config.to_dict():
            log.warning("resuming with a config that differs from the saved one; the run is no longer exact")
        self.network.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        match_capturable(self.optimizer, self.graphed is not None)
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.best_dice = int(state["step"]), float(state["best_dice"])
        self.history = state["history"]
        self.elapsed_before = float(state["elapsed_s"])
        restore_rng_states(state["rng"])
        log.info("resumed at step %d (epoch %d)", self.step, self.step // self.steps_per_epoch)

    def _open_tensorboard(self) -> None:
        if not self.context.is_main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard comes with the train extra; training works without it
            log.info("tensorboard not installed: no TensorBoard logs")
            return
        self.writer = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=self.step or None)

    # ----------------------------------------------------------------- training
    def train_step(self, image: torch.Tensor, label: torch.Tensor) -> float:
        """One optimiser step; returns the loss averaged over the ranks."""
        device = self.context.device
        image, label = image.to(device, non_blocking=True), label.to(device, non_blocking=True)
        set_learning_rate(self.optimizer, learning_rate(self.step, self.total_steps, self.config, self.time_progress()))
        loss = (self.graphed or self.optimiser_step)(image, label)
        if self.ema is not None:
            self.ema.update(self.network)
        # The history keeps the mean over ranks, comparable with one process running the whole global batch.
        # The time-budget flag rides on the same reduction, so every rank stops at the same step.
        reduced = all_reduce_mean({"loss": float(loss.detach()), "late": float(self.time_progress() >= 1.0)},
                                  self.context)
        self.out_of_time = reduced["late"] > 0
        return reduced["loss"]

    def optimiser_step(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, clipping and the optimiser's step, with no wait for the GPU (so that
        `GraphedStep` can capture it); returns the detached loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with autocast_context(self.context.device, self.config.amp, cache=self.graphed is None):
            outputs = self.model(image)
        loss = self.loss(outputs, label)
        loss.backward()
        clip_gradients(self.network, self.config.grad_clip)
        self.optimizer.step()
        return loss.detach()

    def time_progress(self) -> float:
        """Share of the time budget (``max_minutes``) used so far, resumed runs included; 0 without one."""
        if self.config.max_minutes <= 0:
            return 0.0
        return (self.elapsed_before + time.monotonic() - self.started) / (60.0 * self.config.max_minutes)

    def _loader(self, start: int, end: int) -> DataLoader:
        sampler = ResumableBatchSampler(start, end, self.config.batch_size, self.context.rank,
                                        self.context.world_size)
        workers = self.config.num_workers
        return DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers, collate_fn=pad_collate,
                          pin_memory=self.context.device.type == "cuda",
                          multiprocessing_context=worker_context() if workers > 0 else None)

    def _open_batches(self, stop_at_step: int | None) -> None:
        """One loader, and so one pool of patch workers, for every remaining step of the run.

        A loader per epoch started its workers again at every epoch and left the GPU idle until their first
        batches arrived: about 5 s of every 30 s epoch in round 7's H200 run (docs/benchmarks.md). The batches
        are indexed by global step, so the stream is the same either way; workers keep filling the queue while
        an epoch ends (validation, checkpoints).
        """
        end = self.total_steps if stop_at_step is None else min(self.total_steps, stop_at_step)
        self.batches = iter(self._loader(self.step, end))

    def train_epoch(self, epoch: int, stop_at_step: int | None = None) -> list[float]:
        end = (epoch + 1) * self.steps_per_epoch
        if stop_at_step is not None:
            end = min(end, stop_at_step)
        if self.batches is None:
            self._open_batches(stop_at_step)
        losses = []
        self.model.train()
        while self.step < end:
            image, label = next(self.batches)
            loss = self.train_step(image, label)
            self.history["step_loss"][str(self.step)] = loss
            losses.append(loss)
            self.step += 1
            self._progress(epoch, loss)
            if self.out_of_time:
                log.info("time budget of %.1f min reached at step %d", self.config.max_minutes, self.step)
                break
            if self.stop_after_s and time.monotonic() - self.started >= self.stop_after_s:
                self.paused = True
                break
            if self.config.state_every_steps and self.step % self.config.state_every_steps == 0:
                self.save_state()
        return losses

    def _progress(self, epoch: int, loss: float) -> None:
        if not self.context.is_main:
            return
        elapsed = time.monotonic() - self.started
        done_here = max(1, self.step - self._first_step)
        eta = elapsed / done_here * (self.total_steps - self.step)
        sys.stderr.write(f"\repoch {epoch + 1}/{self.config.epochs} step {self.step}/{self.total_steps} "
                         f"loss {loss:.4f} elapsed {elapsed:.0f}s ETA {eta:.0f}s ")
        sys.stderr.flush()
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, self.step)
            self.writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)

    # ----------------------------------------------------------------- epoch end
    def validate(self) -> dict[str, float]:
        """Mean Dice / HD95 per region over the validation cases (sharded over ranks, reduced)."""
        ctx = self.context
        model = self.ema.model if self.ema is not None else self.network
        mine = self.val_cases[ctx.rank::ctx.world_size]
        sums = validate_cases(model, mine, ctx.device, tile=self.config.val_tile, overlap=self.config.val_overlap,
                              amp=self.config.amp)
        self.network.to(ctx.device)  # the predictor may have fallen back to the CPU on out-of-memory
        return means_from_sums(all_reduce_mean(sums, ctx))

    def on_epoch_end(self, epoch: int, losses: list[float], last: bool = False) -> None:
        cfg = self.config
        # From the history, so an epoch interrupted and resumed still averages all of its steps.
        first = epoch * self.steps_per_epoch
        losses = [self.history["step_loss"][str(s)] for s in range(first, self.step)
                  if str(s) in self.history["step_loss"]] or losses
        mean_loss = all_reduce_mean({"loss": sum(losses) / max(1, len(losses))}, self.context)["loss"]
        record: dict[str, Any] = {"epoch": epoch + 1, "step": self.step, "train_loss": mean_loss}
        if (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs or last:
            record["val"] = self.validate()
        self.history["epochs"].append(record)
        if not self.context.is_main:
            return
        sys.stderr.write("\n")
        log.info("epoch %d: loss %.4f %s", epoch + 1, mean_loss, _format_val(record.get("val")))
        if self.writer is not None:
            self.writer.add_scalar("train/epoch_loss", mean_loss, self.step)
            for key, value in (record.get("val") or {}).items():
                self.writer.add_scalar(f"val/{key}", value, self.step)
        self.save_checkpoint("last")
        if "val" in record and record["val"]["dice_mean"] > self.best_dice:
            self.best_dice = record["val"]["dice_mean"]
            self.save_checkpoint("best")
        self.save_state()

    def training_summary(self) -> dict[str, Any]:
        validated = [e for e in self.history["epochs"] if "val" in e]
        return {
            "demo": self.demo,
            "data": {"folders": [str(p.resolve()) for p in self.data_dirs], "train_cases": [c.case_id for c in self.train_cases],
                     "val_cases": [c.case_id for c in self.val_cases], "phantoms": self.demo,
                     "validated_on_training_cases": self.val_on_train},
            "epochs": len(self.history["epochs"]), "steps": self.step, "config": self.config.to_dict(),
            "patch_size": list(self.patch_size),
            "metrics": validated[-1]["val"] if validated else None, "best_dice_mean": self.best_dice,
            "validation": VALIDATION_METHOD, "hardware": hardware_summary(self.context.device,
                                                                           self.context.world_size),
            "time_s": round(self.elapsed_before + time.monotonic() - self.started, 1),
        }

    def save_checkpoint(self, which: str) -> Path:
        path = self.out_dir / f"checkpoint_{which}.safetensors"
        model = self.ema.model if self.ema is not None else self.network
        extra = {"demo": self.demo, "notice": "NOT FOR CLINICAL USE" if self.demo else None, "kind": which}
        save_checkpoint(path, model, self.unet_config, labels=DEFAULT_LABELS,
                        normalization={"method": "zscore-in-brain-mask", "channels": list(CHANNELS)},
                        training=self.training_summary(), extra=extra)
        return path

    def save_state(self) -> None:
        if not self.context.is_main:
            return
        save_state(self.out_dir / STATE_NAME, {
            "config": self.config.to_dict(), "model": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
            "step": self.step, "best_dice": self.best_dice, "history": self.history, "rng": rng_states(),
            "elapsed_s": self.elapsed_before + time.monotonic() - self.started,
        })

    def pause(self) -> dict[str, Any]:
        """Stop mid-run (``stop_after_minutes``): the resume state and ``checkpoint_last`` are written."""
        if self.context.is_main:
            sys.stderr.write("\n")
            log.info("pausing at step %d after %.1f min in this process; continue with --resume", self.step,
                     self.stop_after_s / 60)
            self.save_checkpoint("last")
        self.save_state()
        return {**self.training_summary(), "paused": True}

    def on_train_end(self) -> dict[str, Any]:
        summary = self.training_summary()
        if self.context.is_main:
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
            if self.writer is not None:
                self.writer.close()
            log.info("done: %d steps in %.0f s, best mean Dice %.4f", self.step, summary["time_s"], self.best_dice)
        return summary

    # ----------------------------------------------------------------- driver
    def run(self, stop_at_step: int | None = None) -> dict[str, Any]:
        """Train to the end (or stop after ``stop_at_step`` steps, as a kill would; for tests)."""
        self.on_train_start()
        self._first_step = self.step
        try:
            return self._run_epochs(stop_at_step)  # train_epoch opens the run's one loader
        finally:
            self.batches = None  # the iterator's finaliser stops its workers

    def _run_epochs(self, stop_at_step: int | None) -> dict[str, Any]:
        for epoch in range(self.step // self.steps_per_epoch, self.config.epochs):
            losses = self.train_epoch(epoch, stop_at_step)
            if self.paused:
                return self.pause()
            if stop_at_step is not None and self.step >= stop_at_step and self.step % self.steps_per_epoch:
                return self.training_summary()  # stopped mid-epoch: only the resume state exists
            self.on_epoch_end(epoch, losses, last=self.out_of_time)
            if self.out_of_time:
                break
            if stop_at_step is not None and self.step >= stop_at_step:
                return self.training_summary()
        return self.on_train_end()


def _format_val(val: dict[str, float] | None) -> str:
    if not val:
        return ""
    return " ".join(f"{k} {v:.3f}" for k, v in val.items() if k.startswith(("dice", "hd95")))
