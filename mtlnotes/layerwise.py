"""Per-task gradients of a feed-forward trunk by one hand-written backward pass with all K tasks batched.

For hard parameter sharing, z = trunk(x) and L_k = ℓ_k(z), the gradient-aggregation methods need the (K, d)
matrix of per-task trunk gradients (Navon et al., 2022, §3). Autograd's batched backward (``is_grads_batched`` or
``torch.func.vmap`` of a VJP) does not make that cheaper on the CPU: with torch 2.x the batching rules of the
convolution and max-pool backward kernels loop over the K cotangents, so K tasks cost about K backward passes
(measured in ``benchmarks/gradients_engine.py``). This module writes the backward of the common layers itself,
which is where the saving lives:

* everything a layer's backward needs from the forward (its input, the ReLU mask, the max-pool arg-max) is
  computed once and shared by the K tasks;
* the cotangents of all tasks flow back at once, the K copies folded into the batch dimension (one
  ``conv2d_input`` / one matrix product at batch K·B instead of K at batch B), and a weight gradient is one
  call for all tasks (a matrix product, or one ``conv2d_weight`` with the K copies as output channels);
* the first layer, when it is conv → (ReLU) → max-pool, gets its weight gradient at *pooled* resolution from
  the im2col rows at the arg-max, gathered once for all tasks (ATen's weight gradient of LeNet's one-channel
  first convolution is slow on the CPU, and this is most of the saving there).

Supported trunks are chains (each layer feeds the next) of ``nn.Conv2d`` (groups 1, zero padding given as
numbers), ``nn.Linear``, ReLU (module, ``torch.relu``, ``F.relu`` or ``.relu()``), ``nn.MaxPool2d``,
flatten / view / reshape, ``nn.Identity`` and ``nn.Dropout`` in eval mode (or p = 0); the chain is read with
``torch.fx``. Anything else (batch norm, residual additions, attention, ...) raises
:class:`UnsupportedTrunkError` naming the layer, and :func:`mtlnotes.gradients.shared_trunk_gradients` with
``method="auto"`` then uses the vmap path. The results equal autograd's to float rounding (tests: 1e-5).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["UnsupportedTrunkError", "LayerwiseTrunk", "Tape", "layerwise_trunk"]

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


def _unfold(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """im2col of ``x`` (B, C, H, W) for ``conv``: (B·L, C·kh·kw), rows ordered (b, output position), columns in
    the order of ``conv.weight`` (C, kh, kw). Built from strided views (``F.unfold`` is much slower for one
    input channel on CPU)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if ph or pw:
        x = F.pad(x, (pw, pw, ph, ph))
    patches = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)   # (B, C, Ho, Wo, ., .)
    if dh > 1 or dw > 1:
        patches = patches[..., ::dh, ::dw]
    b, c, ho, wo = patches.shape[:4]
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)


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
                    out, idx = F.max_pool2d(inp, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode,
                                            return_indices=True)
                    keep["indices"] = idx
                elif step.kind == "identity":
                    if isinstance(step.module, nn.Dropout) and step.module.training and step.module.p > 0:
                        raise UnsupportedTrunkError(f"{node.target}: dropout in training mode is random per call; "
                                                    "put the trunk in eval mode or use method='vmap'")
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
                conv_at = self._first_conv_before_pool(i, k, tape)
                if conv_at is None:
                    d = self._maxpool_backward(d, saved)
                else:
                    between = [tape.saved[j]["mask"] for j in range(conv_at + 1, i) if self.steps[j].kind == "relu"]
                    self._first_conv_pool_backward(d, self.steps[conv_at].module, tape.saved[conv_at], saved,
                                                   between, grads)
                    break
            elif step.kind == "linear":
                d = self._linear_backward(d, step.module, saved, grads, i > self.first_param_step)
            elif step.kind == "conv":
                d = self._conv_backward(d, step.module, saved, grads, i > self.first_param_step)
            i -= 1
        rows = [grads[id(p)].reshape(k, -1) for p in self.params]
        return torch.cat(rows, dim=1)

    def _first_conv_before_pool(self, pool_at: int, k: int, tape: Tape) -> int | None:
        """Index of the first parametrised layer when it is a convolution that reaches max-pool ``pool_at``
        through ReLU / identity layers only (the case :meth:`_first_conv_pool_backward` handles) *and* gathering
        its im2col rows at the arg-max moves less memory than the full-resolution route for K tasks; else None.

        Per sample, the gather moves C·P·J values (P pooled positions, J = C_in·kh·kw), shared by the tasks; the
        full-resolution route zero-fills, scatters and transposes K·C·L values (L conv output positions). The
        rule is fixed (no timing), so the same inputs always take the same route and give the same bits."""
        j = pool_at - 1
        while j >= 0 and self.steps[j].kind in ("relu", "identity"):
            j -= 1
        if j != self.first_param_step or self.steps[j].kind != "conv":
            return None
        conv, saved = self.steps[j].module, tape.saved[pool_at]
        c, n_in = conv.out_channels, conv.weight[0].numel()
        n_out, n_pooled = saved["in_shape"][2] * saved["in_shape"][3], saved["indices"][0, 0].numel()
        return j if c * n_pooled * n_in < 3 * k * c * n_out else None

    @staticmethod
    def _first_conv_pool_backward(d: torch.Tensor, conv: nn.Conv2d, conv_saved: dict, pool_saved: dict,
                                  masks: list[torch.Tensor], grads: dict) -> None:
        """Parameter gradients of the *first* layer when it is conv → (ReLU masks ``masks``) → max-pool, for
        cotangents d (K, B, C, h, w) at the pool's output (no input gradient is needed there).

        Each pooled gradient lands on one position (its arg-max), so ∂L_k/∂W = Σ over (b, pooled position p) of
        d[k, b, c, p] times the im2col row of that arg-max. Gathering those rows once, shared by the K tasks,
        leaves one product per channel at pooled resolution: the K full-resolution gradients are never
        scattered, transposed and multiplied (for LeNet's first layer on the CPU, where ATen's weight gradient
        of a one-channel convolution is slow, this is most of the saving)."""
        k, b, c = d.shape[:3]
        idx = pool_saved["indices"].reshape(b, c, -1)                       # (B, C, P) into the h·w plane
        h, w = pool_saved["in_shape"][2:]
        dp = d.reshape(k, b, c, -1)
        for mask in masks:                                                   # the ReLU masks at the arg-max
            dp = dp * mask.reshape(b, c, -1).gather(2, idx)
        if conv.weight.requires_grad:
            cols = _unfold(conv_saved["input"], conv)                        # (B·h·w, J)
            flat = idx.transpose(0, 1) + (h * w) * torch.arange(b, device=d.device).view(1, b, 1)
            rows = cols.index_select(0, flat.reshape(-1)).reshape(c, -1, cols.shape[1])      # (C, B·P, J)
            dc = dp.permute(2, 0, 1, 3).reshape(c, k, -1)                                   # (C, K, B·P)
            grads[id(conv.weight)] = torch.bmm(dc, rows).transpose(0, 1).reshape(k, -1)
        if conv.bias is not None and conv.bias.requires_grad:
            grads[id(conv.bias)] = dp.sum((1, 3))

    @staticmethod
    def _maxpool_backward(d: torch.Tensor, saved: dict) -> torch.Tensor:
        k = d.shape[0]
        b, c, h, w = saved["in_shape"]
        idx = saved["indices"]
        out = torch.zeros(k, b, c, h * w, dtype=d.dtype, device=d.device)
        # scatter_add: overlapping windows may pick the same input twice, and both gradients count
        out.scatter_add_(3, idx.reshape(1, b, c, -1).expand(k, -1, -1, -1), d.reshape(k, b, c, -1))
        return out.reshape(k, b, c, h, w)

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
        k, b, c_out = d.shape[:3]
        if m.weight.requires_grad:  # one weight-gradient convolution for all tasks: the K copies as output channels
            dk = d.transpose(0, 1).reshape(b, k * c_out, *d.shape[3:])
            gw = torch.nn.grad.conv2d_weight(x, (k * c_out, *m.weight.shape[1:]), dk, m.stride, m.padding,
                                             m.dilation, 1)
            grads[id(m.weight)] = gw.reshape(k, -1)
        if m.bias is not None and m.bias.requires_grad:
            grads[id(m.bias)] = d.sum((1, 3, 4))
        if not need_input_grad:
            return d
        dx = torch.nn.grad.conv2d_input((k * b, *x.shape[1:]), m.weight, d.reshape(k * b, *d.shape[2:]),
                                        m.stride, m.padding, m.dilation, 1)
        return dx.reshape(k, *x.shape)


_CACHE: "weakref.WeakKeyDictionary[nn.Module, LayerwiseTrunk | UnsupportedTrunkError]" = weakref.WeakKeyDictionary()


def layerwise_trunk(trunk: nn.Module) -> LayerwiseTrunk:
    """The (cached) :class:`LayerwiseTrunk` of ``trunk``; raises :class:`UnsupportedTrunkError` when its layers
    are not all supported (the verdict is cached too, so ``method="auto"`` traces a trunk once). The cache holds
    the traced layer chain: replacing a layer of ``trunk`` afterwards needs a new ``LayerwiseTrunk(trunk)``."""
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
