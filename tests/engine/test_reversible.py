"""Exactness of the reversible couplings: inverse, gradients vs the plain-autograd twin, RNG replay, autocast,
saved memory, DDP and torch.compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.model import MBConv3d, ReversibleCoupling, ReversibleSequence, UNetConfig, build_network

BRANCH_OPTIONS = [
    dict(norm="group", activation="silu", se_ratio=0.25, expansion=4),
    dict(norm="instance", activation="relu", se_ratio=0.0, expansion=1),
    dict(norm="batch", activation="gelu", se_ratio=0.5, expansion=2),
    dict(norm="none", activation="leaky_relu", se_ratio=0.25, expansion=3),
]


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert expected.norm() > 0, "reference is all zeros: the comparison would prove nothing"
    return ((actual - expected).norm() / expected.norm()).item()


def make_sequence(channels: int, blocks: int, **branch_options: object) -> ReversibleSequence:
    half = channels // 2
    couplings = [
        ReversibleCoupling(MBConv3d(half, norm_groups=2, **branch_options), MBConv3d(half, norm_groups=2, **branch_options))
        for _ in range(blocks)
    ]
    return ReversibleSequence(couplings)


def run_step(model: nn.Module, x: torch.Tensor, mode: str, seed: int = 7) -> dict[str, object]:
    """One forward + backward from a fixed seed; returns output, input grad and parameter grads."""
    for module in model.modules():
        if isinstance(module, ReversibleSequence):
            module.mode = mode
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    torch.manual_seed(seed)
    out = model(x)
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype, device=out.device).view_as(out)
    (out * weights).sum().backward()
    return {
        "out": out.detach(),
        "dx": x.grad.detach(),
        "grads": {name: p.grad.detach().clone() for name, p in model.named_parameters()},
        "rng_after": torch.rand(3),
    }


def assert_same_step(actual: dict, expected: dict, tolerance: float) -> None:
    assert relative_error(actual["out"], expected["out"]) < tolerance
    assert relative_error(actual["dx"], expected["dx"]) < tolerance
    assert set(actual["grads"]) == set(expected["grads"])
    for name, grad in expected["grads"].items():
        if grad.norm() == 0:  # e.g. a bias feeding straight into a norm: both must agree it is zero
            assert actual["grads"][name].norm() < 1e-12, name
            continue
        assert relative_error(actual["grads"][name], grad) < tolerance, name


@pytest.mark.parametrize("options", BRANCH_OPTIONS, ids=lambda o: o["norm"])
def test_coupling_inverse_reconstructs_input(options: dict) -> None:
    torch.manual_seed(0)
    sequence = make_sequence(8, 3, **options).double().train()
    x = torch.randn(2, 8, 6, 5, 7, dtype=torch.float64)
    with torch.no_grad():
        y = sequence(x)
        reconstructed = sequence.inverse(y)
        single = sequence.blocks[0]
        block_error = relative_error(single.inverse(single(x)), x)
    assert relative_error(y, x) > 1e-3  # the sequence really transforms its input
    assert relative_error(reconstructed, x) < 1e-10
    assert block_error < 1e-10


@pytest.mark.parametrize("options", BRANCH_OPTIONS, ids=lambda o: o["norm"])
def test_reversible_gradients_equal_plain_twin(options: dict) -> None:
    torch.manual_seed(1)
    sequence = make_sequence(8, 3, **options).double().train()
    x = torch.randn(2, 8, 6, 6, 5, dtype=torch.float64)
    plain = run_step(sequence, x, "plain")
    reversible = run_step(sequence, x, "reversible")
    checkpointed = run_step(sequence, x, "checkpoint")
    assert torch.equal(reversible["out"], plain["out"])
    assert_same_step(reversible, plain, 1e-10)
    assert_same_step(checkpointed, plain, 1e-10)


def test_batch_norm_statistics_updated_once_per_step() -> None:
    torch.manual_seed(2)
    sequence = make_sequence(8, 2, norm="batch").double().train()
    x = torch.randn(2, 8, 5, 5, 5, dtype=torch.float64)
    initial = {k: v.clone() for k, v in sequence.state_dict().items()}
    run_step(sequence, x, "plain")
    after_plain = {k: v.clone() for k, v in sequence.state_dict().items()}
    sequence.load_state_dict(initial)
    run_step(sequence, x, "reversible")
    for name, value in sequence.state_dict().items():
        if "running" in name or "num_batches" in name:
            assert torch.allclose(value, after_plain[name], rtol=0, atol=1e-12), name
            assert not torch.equal(value, initial[name]), name


def test_dropout_and_drop_path_replayed_in_backward() -> None:
    config = UNetConfig(
        base_width=8, width_multipliers=(1, 2), encoder_blocks=(2, 1), decoder_blocks=(2,),
        dropout=0.3, drop_path=0.3, zero_init_residual=False, norm_groups=4,
    )
    torch.manual_seed(3)
    model = build_network(config).double().train()
    x = torch.randn(2, 4, 8, 8, 8, dtype=torch.float64)
    plain = run_step(model, x, "plain", seed=11)
    reversible = run_step(model, x, "reversible", seed=11)
    other_seed = run_step(model, x, "plain", seed=12)
    assert relative_error(other_seed["out"], plain["out"]) > 1e-3  # the randomness is real
    assert_same_step(reversible, plain, 1e-10)
    # The replay happens in a forked RNG: the caller's generator ends where the plain twin's ends.
    assert torch.equal(reversible["rng_after"], plain["rng_after"])


class AutocastSpy(nn.Module):
    """Branch that records whether autocast was on whenever it ran."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, 1)
        self.autocast_seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return self.conv(x)


def test_backward_recompute_reenters_forward_autocast() -> None:
    f, g = AutocastSpy(2), AutocastSpy(2)
    sequence = ReversibleSequence([ReversibleCoupling(f, g)])
    x = torch.randn(1, 4, 4, 4, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = sequence(x)
    y.float().sum().backward()
    assert f.autocast_seen == [True, True] and g.autocast_seen == [True, True]
    f.autocast_seen.clear()
    sequence(x).sum().backward()
    assert f.autocast_seen == [False, False]


def all_gradients(step: dict) -> torch.Tensor:
    return torch.cat([step["dx"].float().flatten()] + [g.flatten() for g in step["grads"].values()])


@pytest.mark.parametrize("float32_stream", [False, True], ids=["bf16-stream", "fp32-stream"])
def test_bf16_autocast_stays_within_tolerance_of_fp32_twin(float32_stream: bool) -> None:
    """bf16 tolerance: relative (Frobenius) error < 2e-2 of the output and of the whole gradient (input and
    all parameters as one vector) against the fp32 plain twin. With a float32 stream every single parameter
    gradient is also as close to fp32 as the plain bf16 twin's is."""
    config = UNetConfig(
        base_width=8, width_multipliers=(1, 2, 4), encoder_blocks=(2, 3, 2), decoder_blocks=(1, 1),
        zero_init_residual=False, norm_groups=4, float32_stream=float32_stream,
    )
    torch.manual_seed(4)
    model = build_network(config).train()
    x = torch.randn(1, 4, 16, 16, 16)
    fp32 = run_step(model, x, "plain")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain_bf16 = run_step(model, x, "plain")
        reversible_bf16 = run_step(model, x, "reversible")
    assert reversible_bf16["out"].dtype == torch.bfloat16
    assert relative_error(reversible_bf16["out"].float(), fp32["out"]) < 2e-2
    assert relative_error(all_gradients(reversible_bf16), all_gradients(fp32)) < 2e-2
    if float32_stream:
        for name, grad in fp32["grads"].items():
            if grad.norm() > 0:
                own = relative_error(plain_bf16["grads"][name], grad)
                assert relative_error(reversible_bf16["grads"][name], grad) <= 2 * own + 1e-2, name


def test_reversible_saves_only_the_sequence_output() -> None:
    """Activation memory of a reversible sequence does not grow with its number of blocks."""

    def saved_bytes(blocks: int, mode: str) -> int:
        torch.manual_seed(5)
        sequence = make_sequence(8, blocks)
        sequence.mode = mode
        x = torch.randn(1, 8, 6, 6, 6, requires_grad=True)
        storages: dict[int, int] = {}

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            if not isinstance(tensor, nn.Parameter):
                storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = sequence(x)
        y.sum().backward()
        return sum(storages.values())

    output_bytes = 8 * 6 * 6 * 6 * 4
    assert saved_bytes(1, "reversible") == saved_bytes(4, "reversible") == output_bytes
    assert saved_bytes(4, "plain") > 3 * saved_bytes(1, "plain") > 3 * output_bytes


def test_ddp_receives_gradients_without_find_unused_parameters(tmp_path) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    config = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                        zero_init_residual=False, norm_groups=4)
    torch.manual_seed(6)
    model = build_network(config).double()
    x = torch.randn(1, 4, 8, 8, 8, dtype=torch.float64)
    plain = run_step(model, x, "plain")
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        wrapped = DistributedDataParallel(model, find_unused_parameters=False)
        for _ in range(2):  # a second step fails if the reducer missed gradients in the first
            reversible = run_step(wrapped, x, "reversible")
    finally:
        dist.destroy_process_group()
    reversible["grads"] = {name.removeprefix("module."): g for name, g in reversible["grads"].items()}
    assert_same_step(reversible, plain, 1e-10)


@pytest.mark.slow
def test_compiled_blocks_and_compiled_model_match_eager() -> None:
    config = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                        dropout=0.2, drop_path=0.2, zero_init_residual=False, norm_groups=4)
    torch.manual_seed(8)
    model = build_network(config).train()
    x = torch.randn(1, 4, 8, 8, 8)
    eager = run_step(model, x, "plain")
    keys = list(model.state_dict())
    model.compile_blocks(backend="aot_eager")
    compiled_blocks = run_step(model, x, "reversible")
    assert list(model.state_dict()) == keys
    assert_same_step(compiled_blocks, eager, 1e-5)
    compiled_model = torch.compile(model, backend="aot_eager")
    whole = run_step(compiled_model, x, "reversible")
    whole["grads"] = {name.removeprefix("_orig_mod."): g for name, g in whole["grads"].items()}
    assert_same_step(whole, eager, 1e-5)


@pytest.mark.slow
def test_inductor_compiled_blocks_replay_dropout_exactly() -> None:
    torch.manual_seed(9)
    sequence = make_sequence(8, 1, dropout=0.3, drop_path=0.3).train()
    x = torch.randn(2, 8, 6, 6, 6)
    plain = run_step(sequence, x, "plain")
    sequence.blocks[0].f.compile()  # one compiled branch keeps the (slow) C++ compilation small
    assert_same_step(run_step(sequence, x, "reversible"), plain, 1e-4)


@pytest.mark.gpu
def test_cuda_dropout_replay_and_bf16_autocast() -> None:
    config = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(2, 1), decoder_blocks=(1,),
                        dropout=0.2, drop_path=0.2, zero_init_residual=False, norm_groups=4)
    torch.manual_seed(10)
    model = build_network(config).double().cuda().train()
    x = torch.randn(1, 4, 16, 16, 16, dtype=torch.float64, device="cuda")
    assert_same_step(run_step(model, x, "reversible"), run_step(model, x, "plain"), 1e-10)
    # CUDA dropout draws different masks for bf16 and fp32 tensors: compare precisions without it.
    model = build_network(config.replace(dropout=0.0, drop_path=0.0)).cuda().train()
    fp32 = run_step(model, x.float(), "plain")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        bf16 = run_step(model, x.float(), "reversible")
    assert relative_error(bf16["out"].float(), fp32["out"]) < 2e-2
    assert relative_error(all_gradients(bf16), all_gradients(fp32)) < 2e-2
