"""The compiled forward and fused backward graphs of the reversible couplings (engine.model.fused_backward):
exact gradients against the plain twin, graph sharing, the eager fallback and the branches kept eager."""

from __future__ import annotations

import copy
import logging

import pytest
import torch

from engine.model import UNetConfig, build_network
from engine.model.fused_backward import BranchCompiler
from tests.engine.test_reversible import (
    BRANCH_OPTIONS,
    all_gradients,
    assert_same_step,
    make_sequence,
    relative_error,
    run_step,
)

SMALL = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(2, 1), decoder_blocks=(1,),
                   zero_init_residual=False, norm_groups=4)


def compiled(sequence_or_model, **kwargs) -> BranchCompiler:
    compiler = BranchCompiler(backend="aot_eager", **kwargs)
    sequences = sequence_or_model.sequences() if hasattr(sequence_or_model, "sequences") else [sequence_or_model]
    for sequence in sequences:
        sequence.compiler = compiler
    return compiler


@pytest.mark.parametrize("options", [o for o in BRANCH_OPTIONS if o["norm"] != "batch"], ids=lambda o: o["norm"])
def test_fused_backward_gradients_equal_plain_twin(options: dict) -> None:
    torch.manual_seed(1)
    sequence = make_sequence(8, 3, **options).double().train()
    x = torch.randn(2, 8, 6, 6, 5, dtype=torch.float64)
    plain = run_step(sequence, x, "plain")
    compiler = compiled(sequence)
    fused = run_step(sequence, x, "reversible")
    assert compiler.fallbacks == 0
    # one forward and one backward graph, shared by all six branches (same structure and input shape)
    assert sorted(key[0] for key in compiler.graphs) == ["backward", "forward"]
    assert_same_step(fused, plain, 1e-10)


def test_whole_network_fused_equals_twin_and_eager_reversible() -> None:
    torch.manual_seed(2)
    model = build_network(SMALL.replace(encoder_blocks=(2, 2))).double().train()
    x = torch.randn(1, 4, 8, 8, 8, dtype=torch.float64)
    plain = run_step(model, x, "plain")
    eager = run_step(model, x, "reversible")
    model.compile_for_training(backend="aot_eager")
    compiler = model.encoders[0].compiler
    assert all(sequence.compiler is compiler for sequence in model.sequences())
    fused = run_step(model, x, "reversible")
    assert compiler.fallbacks == 0
    # level 0 (encoder and decoder) and level 1 each trace one forward and one backward graph
    assert len(compiler.graphs) == 4
    assert_same_step(fused, plain, 1e-10)
    assert_same_step(fused, eager, 1e-10)
    model.uncompile_reversible()
    assert all(sequence.compiler is None for sequence in model.sequences())


def test_plain_mode_compile_for_training_compiles_modules() -> None:
    model = build_network(SMALL.replace(reversible=False))
    model.compile_for_training(backend="aot_eager")
    assert all(sequence.compiler is None for sequence in model.sequences())
    assert all(getattr(branch, "_compiled_call_impl", None) is not None for branch in model.branches())


def test_failing_compiler_falls_back_to_eager_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(3)
    model = build_network(SMALL).double().train()
    x = torch.randn(1, 4, 8, 8, 8, dtype=torch.float64)
    plain = run_step(model, x, "plain")
    model.compile_reversible(backend="no-such-backend")
    with caplog.at_level(logging.WARNING, logger="engine.model.fused_backward"):
        fallen = run_step(model, x, "reversible")
        again = run_step(model, x, "reversible")  # a failed graph is not retried
    compiler = model.encoders[0].compiler
    assert compiler.fallbacks == len(compiler.graphs) > 0
    assert all(graph is None for graph in compiler.graphs.values())
    assert sum("runs eagerly" in record.message for record in caplog.records) == compiler.fallbacks
    assert_same_step(fallen, plain, 1e-10)
    assert_same_step(again, plain, 1e-10)


def test_random_and_batch_norm_branches_stay_eager() -> None:
    config = SMALL.replace(dropout=0.3, drop_path=0.3)
    torch.manual_seed(4)
    model = build_network(config).double().train()
    x = torch.randn(2, 4, 8, 8, 8, dtype=torch.float64)
    plain = run_step(model, x, "plain", seed=11)
    compiler = compiled(model)
    reversible = run_step(model, x, "reversible", seed=11)
    assert compiler.graphs == {}  # dropout / drop path: the RNG replay needs the eager path
    assert_same_step(reversible, plain, 1e-10)
    assert torch.equal(reversible["rng_after"], plain["rng_after"])
    batch = make_sequence(8, 2, norm="batch").double().train()
    assert not BranchCompiler.supports(batch.blocks[0].f)


@pytest.mark.slow
def test_bf16_autocast_fused_within_tolerance_of_fp32_twin() -> None:
    config = UNetConfig(base_width=8, width_multipliers=(1, 2, 4), encoder_blocks=(2, 3, 2), decoder_blocks=(1, 1),
                        zero_init_residual=False, norm_groups=4)
    torch.manual_seed(5)
    model = build_network(config).train()
    x = torch.randn(1, 4, 16, 16, 16)
    fp32 = run_step(model, x, "plain")
    compiler = compiled(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = run_step(model, x, "reversible")
    assert compiler.fallbacks == 0 and compiler.graphs
    assert fused["out"].dtype == torch.bfloat16
    assert relative_error(fused["out"].float(), fp32["out"]) < 2e-2
    assert relative_error(all_gradients(fused), all_gradients(fp32)) < 2e-2


def test_deepcopy_shares_the_compiler_and_inference_is_untouched() -> None:
    torch.manual_seed(6)
    model = build_network(SMALL).eval()
    model.compile_reversible(backend="aot_eager")
    twin = copy.deepcopy(model)  # the trainer's weight EMA copies the network
    assert twin.encoders[0].compiler is model.encoders[0].compiler
    x = torch.randn(1, 4, 8, 8, 8)
    with torch.no_grad():
        out = model(x)
    assert model.encoders[0].compiler.graphs == {}  # no grad: the plain forward, nothing traced
    assert torch.equal(out, twin(x).detach())


@pytest.mark.slow
def test_inductor_fused_backward_matches_twin() -> None:
    torch.manual_seed(7)
    sequence = make_sequence(8, 2).train()
    x = torch.randn(1, 8, 6, 6, 6)
    plain = run_step(sequence, x, "plain")
    compiler = BranchCompiler()
    sequence.compiler = compiler
    fused = run_step(sequence, x, "reversible")
    assert compiler.fallbacks == 0
    assert_same_step(fused, plain, 1e-4)


@pytest.mark.gpu
def test_cuda_fused_backward_default_network_bf16() -> None:
    """The trainer's default CUDA mode on the default network: inductor graphs, no fallback, gradients as
    close to the fp32 twin as the eager reversible network's."""
    torch.manual_seed(8)
    model = build_network(UNetConfig()).cuda().train()
    x = torch.randn(1, 4, 64, 64, 64, device="cuda")
    fp32 = run_step(model, x, "plain")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        eager = run_step(model, x, "reversible")
        model.compile_for_training()
        fused = run_step(model, x, "reversible")
    assert model.encoders[0].compiler.fallbacks == 0
    eager_error = relative_error(all_gradients(eager), all_gradients(fp32))
    fused_error = relative_error(all_gradients(fused), all_gradients(fp32))
    assert fused_error < max(2e-2, 1.5 * eager_error)
    assert relative_error(fused["out"].float(), fp32["out"]) < 2e-2
