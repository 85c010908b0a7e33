"""Numerics of the gradient aggregators at the edges of the floating-point range, and their dtype check.

The cases come from comparing with LibMTL and TorchJD (issue 16): CAGrad returned NaN from finite float32 input at
scale 1e19 (float64 from 1e154), IMTL-G equal weights at 1e154, PCGrad a wrong direction at 1e160, MGDA and Nash-MTL
errors from an overflowed Gram matrix; integer gradients were truncated (MGDA: zero direction) or raised raw errors.
"""

import pytest
import torch

from mtlnotes.weighting import imtl_weights, make_method, nash_bargaining_weights
from mtlnotes.weighting.scaling import rescale_exponent, scale_by_power_of_two
from mtlnotes.weighting.threads import one_thread

AGGREGATORS = ["MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL", "GradDrop"]
#: (dtype, scale): float32 squared norms overflow from ~1e19, float64 ones from ~1e154; the small ones underflow
EXTREME = [(torch.float32, 1e19), (torch.float32, 1e30), (torch.float32, 1e-25), (torch.float64, 1e154),
           (torch.float64, 1e160), (torch.float64, 1e300), (torch.float64, 1e-160), (torch.float64, 1e-300)]


def _method(name, k):
    return make_method(name, k, max_norm=None) if name == "Nash-MTL" else make_method(name, k)


def _grads():
    return torch.randn(3, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) + torch.tensor(
        [1.0] + [0.0] * 39, dtype=torch.float64)  # conflicting, but 0 is not in their hull


@pytest.mark.parametrize("dtype,scale", EXTREME)
@pytest.mark.parametrize("name", ["MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL"])
def test_aggregators_are_scale_safe(name, dtype, scale):
    g = _grads()
    ref = _method(name, 3).aggregate(g)
    got = _method(name, 3).aggregate((g * scale).to(dtype))
    assert torch.isfinite(got.direction).all()
    degree = 0 if name == "Nash-MTL" else 1  # Nash-MTL's direction does not change with the scale of G
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    assert torch.allclose(got.direction.double() / scale ** degree, ref.direction, rtol=rtol, atol=rtol * 1e-2)
    if ref.weights is not None:
        w_degree = -1 if name == "Nash-MTL" else 0
        assert torch.allclose(got.weights.double() / scale ** w_degree, ref.weights, rtol=rtol)


@pytest.mark.parametrize("scale", [1e154, 1e200, 1e-160])
def test_public_weight_functions_are_scale_safe(scale):
    g = _grads()
    assert torch.allclose(imtl_weights(g * scale), imtl_weights(g), rtol=1e-12)
    assert torch.allclose(nash_bargaining_weights(g * scale) * scale, nash_bargaining_weights(g), rtol=1e-9)


def test_imtlg_weights_at_1e154_are_not_equal_weights():
    g = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(imtl_weights(g * 1e154), torch.tensor([2 / 3, 1 / 3], dtype=torch.float64))


def test_in_range_inputs_are_not_rescaled(monkeypatch):
    # the bit-for-bit promise: inputs in range never go through the rescaled path
    calls = []
    import mtlnotes.weighting.gram as gram_module
    monkeypatch.setattr(gram_module, "scale_by_power_of_two", lambda x, e: calls.append(e) or x)
    for name in ["MGDA", "CAGrad", "Nash-MTL"]:
        for dtype in (torch.float32, torch.float64):
            _method(name, 3).aggregate(_grads().to(dtype) * 1e-6)
            _method(name, 3).aggregate(_grads().to(dtype) * 1e6)
    assert set(calls) == {0}


def test_power_of_two_scaling_is_exact():
    x = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for e in (-1000, -300, -1, 1, 300, 1000):
        assert torch.equal(scale_by_power_of_two(scale_by_power_of_two(x, e), -e), x)
    tiny = torch.tensor([[5e-324, 1e-320]], dtype=torch.float64)  # subnormal: needs e > 1023 (two factors)
    e = rescale_exponent(tiny, 0.0)
    assert e > 1023 and 0.5 <= float(scale_by_power_of_two(tiny, e).abs().max()) < 1


@pytest.mark.parametrize("name", AGGREGATORS)
def test_integer_gradients_are_rejected_with_a_clear_error(name):
    with pytest.raises(TypeError, match="floating-point.*int64"):
        make_method(name, 2).aggregate(torch.tensor([[3, 1], [1, 4]]))


def test_integer_gradients_rejected_by_the_weight_functions():
    for fn in (imtl_weights, nash_bargaining_weights):
        with pytest.raises(TypeError, match="floating-point"):
            fn(torch.tensor([[3, 1], [1, 4]], dtype=torch.int32))


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(KeyError):
            with one_thread(blas=False):
                raise KeyError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
