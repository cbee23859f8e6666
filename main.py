"""RevSeg command line: with no arguments it opens the GUI on the bundled demo case.

Subcommands:
    (none)                 open the GUI on the bundled demo case
    gui [CASE_FOLDER] [--seg FILE]  open the GUI on CASE_FOLDER (and a segmentation onto it)
    phantoms               generate synthetic BraTS-format training / demo cases
    prepare                bring a case (NIfTI or DICOM) into the model's working space
    segment                segment a case (or, with --batch, a dataset) into a BraTS label map
    pacs                   echo / find / get / send with a PACS, list / delete local studies (docs/pacs.md)
    evaluate               score the segmenter on labelled cases: Dice / HD95, volumes, false positives
    train                  train a model: train --data DIR --out RUN [--config FILE] [key=value ...]
    synth                  synthetic v2 cases from real head anatomies: synth --anatomy DIR --out CACHE --n N
    bench memory           training-memory benchmark of the reversible U-Net (needs CUDA; --smoke on CPU)
    bench inference        sliding-window inference benchmark, ours vs MONAI (needs CUDA; --smoke on CPU)

Errors are printed as one line on stderr with exit code 2; set REVSEG_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

EXIT_USAGE = 2
# engine.case.MODALITIES, spelled out so that `--help` does not import the engine's I/O stack.
MODALITIES = ("t1", "t1ce", "t2", "flair")
NOT_FOR_CLINICAL_USE = "RevSeg is research software; demo weights are NOT FOR CLINICAL USE."


def _version() -> str:
    from engine import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revseg",
        description="Brain-tumour MRI segmentation workstation (reversible MBConv 3D U-Net). "
        "Without a subcommand, opens the GUI.",
        epilog=NOT_FOR_CLINICAL_USE,
    )
    parser.add_argument("--version", action="version", version=f"revseg {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-v) or debug messages (-vv)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the GUI (the default when no command is given)")
    gui.add_argument("case", nargs="?", type=Path, help="case folder to open (default: the bundled demo case)")
    gui.add_argument("--seg", type=Path, default=None, metavar="FILE",
                     help="a NIfTI label map (BraTS 2020 or 2023 labels) or DICOM-SEG to open onto the case")

    phantoms = commands.add_parser("phantoms", help="generate synthetic BraTS-format phantom cases")
    phantoms.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per case)")
    phantoms.add_argument("--n", type=int, default=10, help="number of cases (default 10)")
    phantoms.add_argument("--seed", type=int, default=0, help="base seed; case i uses a seed derived from it")
    phantoms.add_argument("--overwrite", action="store_true", help="replace case folders that already exist")
    phantoms.add_argument("--workers", type=int, default=1, help="processes generating cases side by side")

    prepare = commands.add_parser("prepare", help="bring a case into the model's working space (1 mm, co-registered)")
    prepare.add_argument("input", nargs="?", type=Path,
                         help="NIfTI case folder or DICOM folder (optional when all four modalities are given)")
    prepare.add_argument("--out", type=Path, required=True, help="output folder (a BraTS-format case + provenance)")
    for modality in MODALITIES:
        prepare.add_argument(f"--{modality}", help="NIfTI file, DICOM series folder, or series number / UID / description")
    prepare.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    _add_memory_limit(prepare)
    _add_allow_unusual_content(prepare)

    _add_segment_parser(commands)
    _add_evaluate_parser(commands)
    from engine.dicomnet.cli_args import add_pacs_parser

    add_pacs_parser(commands)

    train = commands.add_parser("train", help="train a model (trainer; `train --help` lists options)", add_help=False)
    train.add_argument("options", nargs=argparse.REMAINDER, help="options passed to the trainer")

    synth = commands.add_parser("synth", add_help=False,
                                help="generate synthetic v2 training cases from real head label maps into a "
                                     "trainer cache (`synth --help` lists options)")
    synth.add_argument("options", nargs=argparse.REMAINDER, help="options passed to the generator")

    bench = commands.add_parser("bench", help="benchmarks (memory, inference); `bench memory --help` lists options")
    bench.add_argument("which", choices=["memory", "inference"], help="which benchmark")
    bench.add_argument("options", nargs=argparse.REMAINDER, help="options passed to the benchmark")
    return parser


def _add_memory_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory-limit", type=float, metavar="GB",
                        help="refuse inputs whose headers say the case needs more memory than this (default: "
                             "REVSEG_MEMORY_LIMIT_GB, else 8 GB; docs/input-and-export.md)")


def _add_allow_unusual_content(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-unusual-content", action="store_true",
                        help="segment even contrasts that do not look like a brain MRI (a CT, a mask or label map, a "
                             "constant or single-slice volume, a non-MR DICOM series), which are refused by default")


def _add_segment_parser(commands: argparse._SubParsersAction) -> None:
    segment = commands.add_parser("segment", help="segment a case into a BraTS label map on the native T1ce grid")
    segment.add_argument("input", nargs="?", type=Path,
                         help="case folder (NIfTI or DICOM); with --batch a folder of case folders")
    segment.add_argument("-o", "--out", type=Path, required=True,
                         help="output label map (.nii.gz; a .json sidecar goes next to it); with --batch a folder")
    segment.add_argument("--dicom-seg", type=Path, help="also write a DICOM-SEG file here")
    segment.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    segment.add_argument("--weights", type=Path, help="checkpoint file (default: the bundled weights)")
    segment.add_argument("--tta", action="store_true", help="mirroring test-time augmentation (8x slower)")
    segment.add_argument("--tile", type=int, help="tile edge in voxels (default: from free GPU memory, 128 on CPU)")
    segment.add_argument("--overlap", type=float, default=0.5, help="tile overlap fraction in [0, 1) (default 0.5)")
    # No numeric defaults here: the engine's constants (engine.inference.postprocess.DEFAULT_*) stay the only
    # source, and importing them would load torch for `--help`.
    segment.add_argument("--min-lesion-ml", type=float, metavar="ML",
                         help="remove tumour (WT) components smaller than this many mL; 0 keeps all "
                              "(default: DEFAULT_MIN_COMPONENT_ML in engine/inference/postprocess.py)")
    segment.add_argument("--min-et-component-ml", type=float, metavar="ML",
                         help="relabel enhancing-tumour components smaller than this many mL as necrosis; 0 keeps "
                              "all (default: DEFAULT_MIN_ET_COMPONENT_ML in engine/inference/postprocess.py)")
    segment.add_argument("--edge-oedema-mm", type=float, metavar="MM",
                         help="remove tumour components without a core (no label 1 or 4) lying on the brain mask's "
                              "edge, within this many mm of it: skull-strip remnants; 0 keeps them "
                              "(default: DEFAULT_EDGE_OEDEMA_MM in engine/inference/postprocess.py)")
    for modality in MODALITIES:
        segment.add_argument(f"--{modality}", help="NIfTI file, DICOM series folder, or series number / UID / description")
    segment.add_argument("--compile", action="store_true",
                         help="torch.compile the network on CUDA: faster per case after tens of seconds of compiling "
                              "(for --batch runs)")
    segment.add_argument("--cpu-backend", choices=("auto", "onnxruntime", "eager"), default="auto",
                         help="what runs the network on the CPU: ONNX Runtime (exported once per weights, cached; "
                              "faster), PyTorch (eager), or auto = ONNX Runtime when installed (default; "
                              "REVSEG_CPU_BACKEND overrides auto)")
    segment.add_argument("--force", action="store_true", help="overwrite existing outputs")
    _add_memory_limit(segment)
    _add_allow_unusual_content(segment)
    segment.add_argument("--batch", action="store_true",
                         help="INPUT is a dataset folder; write OUT/<case>.nii.gz per case, skip finished cases "
                         "(spread over GPUs when launched by torchrun)")
    from engine.dicomnet.cli_args import add_segment_pacs_options

    add_segment_pacs_options(segment)


def _add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="score the segmenter on labelled cases (Dice, HD95, volumes, "
                                   "false positives); docs/evaluation.md")
    evaluate.add_argument("--data", type=Path, required=True,
                          help="a case folder or a folder of case folders (BraTS 2020/2023 names, reference/)")
    evaluate.add_argument("--weights", type=Path, help="checkpoint file (default: the bundled weights)")
    evaluate.add_argument("--reference", metavar="NAME[,NAME...]",
                          help="use reference/NAME.nii.gz (first name found per case wins; else the case's _seg)")
    evaluate.add_argument("--out", type=Path, help="JSON report (default: ./revseg-evaluation-DATE.json)")
    evaluate.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    evaluate.add_argument("--tta", action="store_true", help="mirroring test-time augmentation (8x slower)")
    evaluate.add_argument("--predictions", type=Path,
                          help="score the existing DIR/<case>.nii.gz instead of segmenting (re-scoring)")
    evaluate.add_argument("--save-predictions", type=Path,
                          help="where segmenting writes <case>.nii.gz (default: a folder next to the JSON)")
    evaluate.add_argument("--brats-evaluation", action="store_true",
                          help="also score each case with the official brats-evaluation package (panoptica)")
    evaluate.add_argument("--force", action="store_true",
                          help="overwrite an existing --out file and predictions already in --save-predictions")


def _run_gui(case: Path | None, segmentation: Path | None = None) -> int:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise RuntimeError(
            'no display: run the GUI on a desktop, or headless under xvfb-run -a -s "-screen 0 1280x1024x24"'
        )
    if segmentation is not None and not segmentation.is_file():
        raise ValueError(f"--seg {segmentation} does not exist; give a NIfTI label map or a DICOM-SEG file")
    from gui.shell.app import run_gui

    return run_gui(case, segmentation)


def _run_phantoms(args: argparse.Namespace) -> int:
    from trainer.phantoms import generate_dataset

    def report(done: int, total: int) -> None:
        print(f"\rphantoms: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    paths = generate_dataset(args.out, n=args.n, seed=args.seed, progress=report, overwrite=args.overwrite,
                             workers=args.workers)
    for path in paths:
        print(path)
    return 0


def _run_prepare(args: argparse.Namespace) -> int:
    from engine.prepare import PrepareConfig, prepare_case

    def report(stage: str, done: int, total: int) -> None:
        print(f"\rprepare: {stage} {done}/{total}\033[K", end="", file=sys.stderr, flush=True)

    overrides = {m: getattr(args, m) for m in MODALITIES}
    interactive = sys.stderr.isatty()
    try:
        prepared = prepare_case(args.input, args.out, overrides, force=args.force,
                                config=PrepareConfig(memory_limit_gb=args.memory_limit,
                                                     check_content=not args.allow_unusual_content),
                                progress=report if interactive else None)
    finally:
        if interactive:
            print("", file=sys.stderr)
    print(prepared.out_dir)
    return 0


def _preflight_segment(args: argparse.Namespace) -> object:
    """Check outputs and input headers before torch is imported, so a bad input is refused in about a second."""
    from engine.io.preflight import preflight_segment, segment_targets

    targets = segment_targets(args.out, args.dicom_seg)
    overrides = {m: getattr(args, m) for m in MODALITIES}
    return preflight_segment(args.input, overrides, targets, force=args.force, memory_limit_gb=args.memory_limit)


def _run_segment(args: argparse.Namespace) -> int:
    if args.from_pacs or args.study or args.send_to:
        from engine.dicomnet.cli import prepare_pacs_segment

        # checks the PACS options, retrieves the study into the local database and makes it INPUT, so the
        # preflight below checks the retrieved files like any other input
        prepare_pacs_segment(args)
    plan = None if args.batch else _preflight_segment(args)
    from engine.inference.postprocess import PostprocessConfig
    from engine.segment import segment_case
    from engine.segment_dataset import segment_dataset

    def report(stage: str, done: int, total: int) -> None:
        print(f"\rsegment: {stage} {done}/{total}\033[K", end="", file=sys.stderr, flush=True)

    # options left out keep the engine's defaults; a negative volume fails here, before any work is done
    volumes = {"min_component_ml": args.min_lesion_ml, "min_et_component_ml": args.min_et_component_ml,
               "edge_oedema_mm": args.edge_oedema_mm}
    postprocess_config = PostprocessConfig(**{name: value for name, value in volumes.items() if value is not None})
    interactive = sys.stderr.isatty()
    options = {"weights": args.weights, "device": args.device, "tta": args.tta, "tile": args.tile,
               "overlap": args.overlap, "compile": args.compile, "progress": report if interactive else None,
               "postprocess_config": postprocess_config, "cpu_backend": args.cpu_backend,
               "check_content": not args.allow_unusual_content}
    try:
        if args.batch:
            if args.input is None:
                raise ValueError("--batch needs INPUT, a folder of case folders")
            done = segment_dataset(args.input, args.out, **options)
        else:
            overrides = {m: getattr(args, m) for m in MODALITIES}
            result = segment_case(args.input, overrides, args.out, dicom_seg=args.dicom_seg, force=args.force,
                                  memory_limit_gb=args.memory_limit, plan=plan, **options)
    finally:
        if interactive:
            print("", file=sys.stderr)
    if args.batch:
        print(f"written {len(done.written)}, skipped {len(done.skipped)} (already done), failed {len(done.failed)}")
        for name, message in done.failed.items():
            print(f"failed {name}: {message}")
        return 0 if not done.failed else 1
    print(result.summary())
    if args.send_to:
        from engine.dicomnet.cli import send_segmentation

        return send_segmentation(args, result.files["dicom-seg"])
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from engine.evaluation import EvaluationConfig, evaluate, parse_reference_names
    from engine.evaluation.report import evaluation_record, format_table

    if args.predictions is not None and (args.weights is not None or args.save_predictions is not None):
        raise ValueError("--predictions scores existing files: it takes neither --weights nor --save-predictions")
    out = args.out or Path(f"revseg-evaluation-{dt.datetime.now():%Y%m%d-%H%M%S}.json")
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; choose another --out or pass --force")
    config = EvaluationConfig(
        data=args.data, reference=parse_reference_names(args.reference), weights=args.weights, device=args.device,
        tta=args.tta,
        predictions=args.predictions, brats_evaluation=args.brats_evaluation, force=args.force,
        save_predictions=args.save_predictions or out.with_name(out.name.removesuffix(".json") + "-predictions"))

    def report(index: int, total: int, name: str, stage: str) -> None:
        print(f"evaluate: case {index}/{total} {name} {stage}", file=sys.stderr, flush=True)

    result = evaluate(config, progress=report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(evaluation_record(result), indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    if result.weights is not None and result.weights["demo"]:
        print(NOT_FOR_CLINICAL_USE)
    print(f"JSON: {out}")
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from trainer.synth.__main__ import main as synth_main

    return synth_main(args.options)


def _run_train(args: argparse.Namespace) -> int:
    from trainer.cli import main as train_main

    return train_main(args.options)


def _run_bench(args: argparse.Namespace) -> int:
    if args.which == "inference":
        from engine.bench.inference import main as bench_inference

        return bench_inference(args.options)
    from engine.bench.memory_cli import main as bench_memory

    return bench_memory(args.options)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # The trainer parses its own options (argparse's REMAINDER does not take a leading "--option").
    args, unknown = parser.parse_known_args(argv)
    if args.command in ("train", "synth"):
        args.options = unknown + args.options
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from engine.cli_errors import route_warnings

    route_warnings(args.verbose)
    try:
        if args.command == "phantoms":
            return _run_phantoms(args)
        if args.command == "prepare":
            return _run_prepare(args)
        if args.command == "segment":
            return _run_segment(args)
        if args.command == "evaluate":
            return _run_evaluate(args)
        if args.command == "train":
            return _run_train(args)
        if args.command == "synth":
            return _run_synth(args)
        if args.command == "bench":
            return _run_bench(args)
        if args.command == "pacs":
            from engine.dicomnet.cli import run_pacs

            return run_pacs(args)
        return _run_gui(getattr(args, "case", None), getattr(args, "seg", None))
    except KeyboardInterrupt:
        print("revseg: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the CLI's contract: one line on stderr, exit code 2
        if os.environ.get("REVSEG_DEBUG"):
            raise
        from engine.cli_errors import error_line

        print(f"revseg: error: {error_line(error)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
