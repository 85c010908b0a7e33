"""Per-task gradients of a feed-forward trunk by one hand-written backward pass with all K tasks batched.

For hard parameter sharing, z = trunk(x) and L_k = ℓ_k(z), the gradient-aggregation methods need the (K, d)
matrix of per-task trunk gradients (Navon et al., 2022, §3). Autograd's batched backward (``is_grads_batched`` or
``torch.func.vmap`` of a VJP) does not make that cheaper on the CPU: with torch 2.x the batching rules of the
convolution and max-pool backward kernels loop over the K cotangents, so K tasks cost about K backward passes
(measured in ``benchmarks/gradients_engine.py``). This module writes the backward of the common layers itself,
which is where the saving lives:

* everything a layer's backward needs from the forward (its input, the ReLU mask, the max-pool arg-max) is
  computed once and shared by the K tasks;
* the cotangents of all tasks flow back at once, the K copies folded into the batch dimension (one transposed
  convolution / one matrix product at batch K·B instead of K at batch B);
* a convolution's weight gradient for all K tasks is one *forward* convolution with batch and channels swapped,
  the tasks' cotangents as its filters (:func:`_conv_weight_gradients`). On the CPU, oneDNN runs that 1.5-3x
  faster than ATen's weight-gradient kernel, which is slowest for LeNet's one-channel first layer;
* the max-pool backward writes its cotangents channel-major, the layout that weight gradient reads, into a
  buffer reused from call to call (fresh buffers over 32 MB page-fault on every call).

On the 2-core CPU this takes about half the time of K autograd backward passes for LeNet at K ≥ 4 (benchmark
and its numbers: ``benchmarks/gradients_engine.py``).

Supported trunks are chains (each layer feeds the next) of ``nn.Conv2d`` (groups 1, zero padding given as
numbers), ``nn.Linear``, ReLU (module, ``torch.relu``, ``F.relu`` or ``.relu()``), ``nn.MaxPool2d``,
flatten / view / reshape, ``nn.Identity`` and ``nn.Dropout`` in eval mode (or p = 0); the chain is read with
``torch.fx``. Anything else (batch norm, residual additions, attention, ...) raises
:class:`UnsupportedTrunkError` naming the layer, and :func:`mtlnotes.gradients.shared_trunk_gradients` with
``engine="auto"`` then uses the vmap path. The results equal autograd's to float rounding (tests: 1e-5).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from mtlnotes.gradients._common import TrunkGradients
from mtlnotes.gradients._reference import head_cotangents

__all__ = ["UnsupportedTrunkError", "LayerwiseTrunk", "Tape", "layerwise_trunk", "trunk_gradients"]

_RELU_FUNCTIONS = (torch.relu, F.relu)
_FLATTEN_FUNCTIONS = (torch.flatten,)
_RESHAPE_METHODS = ("flatten", "view", "reshape")


class UnsupportedTrunkError(ValueError):
    """The trunk contains a layer (or a wiring) that the layerwise backward does not implement."""


@dataclass(frozen=True)
class _Step:
    """One layer of the chain: its kind ('conv', 'linear', 'relu', 'maxpool', 'reshape', 'identity'),
    the fx node and (for modules) the module."""

    kind: str
    node: fx.Node
    module: nn.Module | None = None


@dataclass(frozen=True)
class Tape:
    """What one forward saved for the backward: per layer, its input shape and (by kind) its input, ReLU mask
    or max-pool arg-max. Backward passes read it and never change it, so a tape can be reused."""

    saved: tuple[dict, ...]


def _kind(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[str, nn.Module | None]:
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise UnsupportedTrunkError(f"{node.target}: only Conv2d with groups=1 and numeric zero padding "
                                            f"is supported, got {m}")
            return "conv", m
        if isinstance(m, nn.Linear):
            return "linear", m
        if isinstance(m, nn.ReLU):
            return "relu", m
        if isinstance(m, nn.MaxPool2d):
            return "maxpool", m
        if isinstance(m, nn.Flatten):
            return "reshape", m
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return "identity", m
        raise UnsupportedTrunkError(f"{node.target}: {type(m).__name__} is not supported by the layerwise backward")
    if node.op == "call_function":
        if node.target in _RELU_FUNCTIONS:
            return "relu", None
        if node.target in _FLATTEN_FUNCTIONS:
            return "reshape", None
        raise UnsupportedTrunkError(f"{node.name}: function {getattr(node.target, '__name__', node.target)} "
                                    "is not supported by the layerwise backward")
    if node.op == "call_method":
        if node.target == "relu":
            return "relu", None
        if node.target in _RESHAPE_METHODS:
            return "reshape", None
        raise UnsupportedTrunkError(f"{node.name}: method .{node.target}() is not supported by the layerwise "
                                    "backward")
    raise UnsupportedTrunkError(f"{node.name}: fx node of kind {node.op!r} is not supported")


class LayerwiseTrunk:
    """The layerwise backward of one trunk (build it once; :func:`layerwise_trunk` caches it per module).

    ``forward(x)`` runs the trunk without autograd and returns (z, tape); ``backward(tape, cotangents)`` maps
    (K, *z.shape) to the (K, d) per-task gradients of the trunk's trainable parameters, flattened in
    ``trunk.parameters()`` order (the layout of :class:`mtlnotes.gradients.TrunkGradients`).
    """

    def __init__(self, trunk: nn.Module) -> None:
        try:
            graph_module = fx.symbolic_trace(trunk)
        except Exception as err:  # fx raises many kinds (TraceError, TypeError, ...) for dynamic control flow
            raise UnsupportedTrunkError(f"torch.fx cannot trace {type(trunk).__name__}: {err}") from err
        modules = dict(graph_module.named_modules())
        nodes = list(graph_module.graph.nodes)
        inputs = [n for n in nodes if n.op == "placeholder"]
        outputs = [n for n in nodes if n.op == "output"]
        if len(inputs) != 1:
            raise UnsupportedTrunkError(f"the trunk must take one input tensor, its forward takes {len(inputs)}")
        # Walk back from the output along first arguments: that is the chain; every layer must be on it.
        chain, node = [], outputs[0].args[0]
        while isinstance(node, fx.Node) and node.op != "placeholder":
            if node.op == "get_attr":
                raise UnsupportedTrunkError(f"{node.name}: the trunk's output does not depend on its input")
            chain.append(node)
            node = node.args[0] if node.args else None
        if node is not inputs[0]:
            raise UnsupportedTrunkError("the trunk's output is not a chain of layers starting at its input")
        chain.reverse()
        on_chain = set(chain)
        for n in nodes:
            if n.op in ("call_module", "call_function", "call_method") and n not in on_chain:
                if n.op == "call_method" and n.target == "size" or n.op == "call_function" and \
                        getattr(n.target, "__name__", "") in ("getitem", "getattr"):
                    continue  # shape arithmetic for a view/reshape
                raise UnsupportedTrunkError(f"{n.name}: layers off the main chain (branches, residual additions) "
                                            "are not supported")
        for prev, n in zip(chain, chain[1:]):
            extra = [a for a in list(n.args[1:]) + list(n.kwargs.values()) if isinstance(a, fx.Node) and a in on_chain]
            if n.args[0] is not prev or extra:
                raise UnsupportedTrunkError(f"{n.name}: uses more than the previous layer's output")
        self.graph_module = graph_module
        self.steps = [_Step(kind, n, m) for (kind, m), n in ((_kind(n, modules), n) for n in chain)]
        seen: set[int] = set()
        for step in self.steps:
            if step.module is not None and step.kind in ("conv", "linear"):
                if id(step.module) in seen:
                    raise UnsupportedTrunkError(f"{step.node.target}: a layer used twice (weight sharing inside the "
                                                "trunk) is not supported")
                seen.add(id(step.module))
        covered = {id(p) for s in self.steps if s.kind in ("conv", "linear") for p in s.module.parameters()}
        for name, p in trunk.named_parameters():
            if p.requires_grad and id(p) not in covered:
                raise UnsupportedTrunkError(f"parameter {name} belongs to no supported layer of the trunk")
        self.params = [p for p in trunk.parameters() if p.requires_grad]
        self.first_param_step = next((i for i, s in enumerate(self.steps) if s.kind in ("conv", "linear")), None)
        if self.first_param_step is None:
            raise UnsupportedTrunkError("the trunk has no Conv2d or Linear layer: there is nothing to differentiate")
        self._buffers = threading.local()

    # ----------------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Tape]:
        """z = trunk(x), computed without autograd, and the tape for :meth:`backward`."""
        env: dict[fx.Node, object] = {}
        saved: dict[fx.Node, dict] = {}
        placeholder = next(n for n in self.graph_module.graph.nodes if n.op == "placeholder")
        env[placeholder] = x
        steps = {s.node: s for s in self.steps}
        with torch.no_grad():
            for node in self.graph_module.graph.nodes:
                if node.op in ("placeholder", "output"):
                    continue
                args = fx.node.map_arg(node.args, lambda n: env[n])
                kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
                step = steps.get(node)
                if step is None:  # shape arithmetic
                    env[node] = getattr(args[0], node.target)(*args[1:], **kwargs) if node.op == "call_method" \
                        else node.target(*args, **kwargs)
                    continue
                inp = args[0]
                keep = saved[node] = {"in_shape": tuple(inp.shape)}
                if step.kind == "maxpool":
                    m = step.module
                    # ATen's channels-last max-pool kernel vectorises over channels: measured 2x faster on the CPU
                    # at LeNet's shapes, conversions included; same values, same arg-max (first maximum in scan
                    # order, NaN wins) as the default kernel.
                    out, idx = F.max_pool2d(inp.contiguous(memory_format=torch.channels_last), m.kernel_size,
                                            m.stride, m.padding, m.dilation, m.ceil_mode, return_indices=True)
                    out, keep["indices"] = out.contiguous(), idx.contiguous()
                elif step.kind == "identity":
                    if isinstance(step.module, nn.Dropout) and step.module.training and step.module.p > 0:
                        raise UnsupportedTrunkError(f"{node.target}: dropout in training mode is random per call; "
                                                    "put the trunk in eval mode or use engine='vmap'")
                    out = inp
                elif node.op == "call_module":
                    out = step.module(inp)
                elif node.op == "call_method":
                    out = getattr(inp, node.target)(*args[1:], **kwargs)
                else:
                    out = node.target(*args, **kwargs)
                if step.kind in ("conv", "linear"):
                    keep["input"] = inp
                elif step.kind == "relu":
                    keep["mask"] = out > 0
                env[node] = out
        return env[self.steps[-1].node], Tape(tuple(saved[s.node] for s in self.steps))

    # ---------------------------------------------------------------------------------------------- backward
    def backward(self, tape: Tape, cotangents: torch.Tensor) -> torch.Tensor:
        """(K, *z.shape) cotangents of the output of the forward that wrote ``tape`` → (K, d) gradients."""
        k = cotangents.shape[0]
        grads: dict[int, torch.Tensor] = {}
        d = cotangents
        i = len(self.steps) - 1
        while i >= self.first_param_step:
            step, saved = self.steps[i], tape.saved[i]
            if step.kind == "relu":
                d = d * saved["mask"]
            elif step.kind == "reshape":
                d = d.reshape(k, *saved["in_shape"])
            elif step.kind == "maxpool":
                d = self._maxpool_backward(d, saved, i)
            elif step.kind == "linear":
                d = self._linear_backward(d, step.module, saved, grads, i > self.first_param_step)
            elif step.kind == "conv":
                d = self._conv_backward(d, step.module, saved, grads, i > self.first_param_step)
            i -= 1
        rows = [grads[id(p)].reshape(k, -1) for p in self.params]
        return torch.cat(rows, dim=1)

    def _maxpool_backward(self, d: torch.Tensor, saved: dict, at: int) -> torch.Tensor:
        """Cotangents at a max-pool's input: each pooled cotangent added at its arg-max (``scatter_add_``, so that
        overlapping windows that pick the same input count twice). The result is written channel-major, (K, C, B,
        h, w) in memory, and returned as the (K, B, C, h, w) view: that is the layout the weight gradient of a
        convolution below reads without a copy. The buffer is this layer's workspace (reused by the next call)."""
        k = d.shape[0]
        b, c, h, w = saved["in_shape"]
        idx = saved["indices"]
        out = self._workspace(("maxpool", at), (k, c, b, h * w), d).zero_()
        out.permute(0, 2, 1, 3).scatter_add_(3, idx.reshape(1, b, c, -1).expand(k, -1, -1, -1),
                                             d.reshape(k, b, c, -1))
        return out.view(k, c, b, h, w).transpose(1, 2)

    @staticmethod
    def _linear_backward(d: torch.Tensor, m: nn.Linear, saved: dict, grads: dict,
                         need_input_grad: bool) -> torch.Tensor:
        a = saved["input"]
        k = d.shape[0]
        a2 = a.reshape(-1, a.shape[-1])                      # (N, I)
        d3 = d.reshape(k, -1, d.shape[-1])                   # (K, N, O)
        if m.weight.requires_grad:                            # ∂L_k/∂W = Σ_n δ_kn a_nᵀ, all k in one product
            grads[id(m.weight)] = (d3.transpose(1, 2).reshape(-1, a2.shape[0]) @ a2).reshape(k, -1)
        if m.bias is not None and m.bias.requires_grad:
            grads[id(m.bias)] = d3.sum(1)
        return (d3 @ m.weight).reshape(k, *a.shape) if need_input_grad else d

    @staticmethod
    def _conv_backward(d: torch.Tensor, m: nn.Conv2d, saved: dict, grads: dict,
                       need_input_grad: bool) -> torch.Tensor:
        x = saved["input"]
        k, b = d.shape[:2]
        if m.weight.requires_grad:
            grads[id(m.weight)] = _conv_weight_gradients(x, d, m).reshape(k, -1)
        if m.bias is not None and m.bias.requires_grad:
            grads[id(m.bias)] = d.sum((1, 3, 4))
        if not need_input_grad:
            return d
        # The input gradient is a transposed convolution of the K·B cotangents (ATen's ``conv2d_input`` computes
        # the same numbers, measured 1.5-2x slower on the CPU at these shapes).
        dx = F.conv_transpose2d(d.reshape(k * b, *d.shape[2:]), m.weight, None, m.stride, m.padding,
                                _output_padding(x.shape[2:], d.shape[3:], m), 1, m.dilation)
        return dx.reshape(k, *x.shape)

    def _workspace(self, key: object, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised buffer for one intermediate of :meth:`backward`, kept per thread and reused by the
        next call with the same shape. Why: glibc serves allocations over 32 MB by a fresh ``mmap``, so a new
        buffer of that size costs a page fault per 4 kB on every call (measured: 21 ms to zero a fresh 65 MB
        tensor, 2.6 ms to zero a reused one). Buffers never leave :meth:`backward`: its results are new tensors."""
        pool = self._buffers.__dict__.setdefault("tensors", {})
        buf = pool.get(key)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
            pool[key] = buf = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def release_workspace(self) -> None:
        """Free this thread's reusable buffers (they are rebuilt on the next backward)."""
        self._buffers.__dict__.pop("tensors", None)


def _output_padding(in_hw: torch.Size, out_hw: torch.Size, conv: nn.Conv2d) -> tuple[int, int]:
    """The ``output_padding`` that makes the transposed convolution return the forward input's size: rows and
    columns the forward convolution's stride never reached."""
    return tuple(i - ((o - 1) * s - 2 * p + dl * (kk - 1) + 1)
                 for i, o, s, p, dl, kk in zip(in_hw, out_hw, conv.stride, conv.padding, conv.dilation,
                                               conv.kernel_size))


#: Cotangent bytes per weight-gradient convolution: tasks are split into calls of at most this many bytes of
#: filters. oneDNN copies the filters into its own layout, and above glibc's 32 MB mmap threshold that copy
#: page-faults on every call (measured at batch 256: 1.7 ms per task in calls of 24 MB, 3.5 ms in calls of 47 MB).
_FILTER_BYTES = 24 * 2**20


def _conv_weight_gradients(x: torch.Tensor, d: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """∂L_k/∂W for all K tasks as one *forward* convolution: (K·C_out, C_in, kh, kw).

    ∂L_k/∂W[o, i, u, v] = Σ_{b, y, x} d[k, b, o, y, x] · x_pad[b, i, s·y + δ·u, s·x + δ·v] (stride s, dilation δ)
    is a convolution of the input with batch and channels swapped, x_padᵀ (C_in, B, H, W), by the cotangents as
    filters, (K·C_out, B, h, w), with stride δ and dilation s; outputs past the kernel size (input rows the
    forward never reached) are cut off. The K tasks share each call (as many per call as fit in
    :data:`_FILTER_BYTES`), and the cotangents are read without a copy when they are channel-major in memory (as
    :meth:`LayerwiseTrunk._maxpool_backward` writes them). On the CPU this is 1.5-3x faster than ATen's weight
    gradient (``conv2d_weight``) at LeNet's shapes."""
    k, b, c_out, h, w = d.shape
    per_task = c_out * b * h * w * d.element_size()
    chunk = max(1, _FILTER_BYTES // per_task)
    xt, kh, kw = x.transpose(0, 1), *conv.kernel_size
    parts = [F.conv2d(xt, dc.transpose(1, 2).reshape(-1, b, h, w), None, conv.dilation, conv.padding, conv.stride)
             for dc in d.split(chunk)]
    g = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
    return g[:, :, :kh, :kw].transpose(0, 1)


_CACHE: "weakref.WeakKeyDictionary[nn.Module, LayerwiseTrunk | UnsupportedTrunkError]" = weakref.WeakKeyDictionary()


def layerwise_trunk(trunk: nn.Module) -> LayerwiseTrunk:
    """The (cached) :class:`LayerwiseTrunk` of ``trunk``; raises :class:`UnsupportedTrunkError` when its layers
    are not all supported (the verdict is cached too, so ``engine="auto"`` traces a trunk once). The cache holds
    the traced layer chain: replacing a layer of ``trunk`` afterwards needs a new ``LayerwiseTrunk(trunk)``. It
    also keeps the max-pool backward's buffers between calls (about K·B·C·h·w values per pooling layer); free
    them with ``layerwise_trunk(trunk).release_workspace()``."""
    hit = _CACHE.get(trunk)
    if hit is None:
        try:
            hit = LayerwiseTrunk(trunk)
        except UnsupportedTrunkError as err:
            hit = err
        _CACHE[trunk] = hit
    if isinstance(hit, UnsupportedTrunkError):
        raise hit
    return hit


def trunk_gradients(engine: LayerwiseTrunk, x: torch.Tensor,
                    task_losses: Callable[[torch.Tensor], torch.Tensor]) -> TrunkGradients:
    """The layerwise engine of :func:`mtlnotes.gradients.shared_trunk_gradients`, given the trunk's
    :class:`LayerwiseTrunk`."""
    z, tape = engine.forward(x)  # may raise UnsupportedTrunkError (dropout in training mode) before any work
    losses, rep = head_cotangents(task_losses, z)
    grads = engine.backward(tape, rep)

    def backward_trunk(v: torch.Tensor) -> torch.Tensor:
        return engine.backward(tape, v.unsqueeze(0))[0]

    return TrunkGradients(grads, rep, losses, backward_trunk)
