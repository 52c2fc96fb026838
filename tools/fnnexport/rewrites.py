"""Equivalent forms of the operators that ONNX Runtime runs slowly on the
CPU, used while the network is traced for export.

Two rewrites, each exact up to float rounding and checked by the
exporter's verification against the unchanged network:

  - gather_readouts: a readout that samples the core's feature map with
    GridSample at per-neuron positions (fnn's PositionFeature) has, in
    evaluation mode, fixed positions. Its bilinear sampling is then a
    sum over each neuron's 4 neighbouring map positions with constant
    weights, and its dot product with the feature weights can be taken
    at those 4 positions first: a Gather of the map cells the neurons
    sample, a batched MatMul per cell and stream, Mul and ReduceSum for
    the bilinear weights (GatherReadout), where the traced original is a
    GridSample over 10,000 positions and an Einsum.
  - matmul_einsums: torch.einsum equations that are batched matrix
    products (the attention of fnn's CvT-LSTM: "N S G C Q , N S G C D ->
    N S G Q D" and "N S G C D , N S G Q D -> N S G C Q") become
    torch.matmul with transposes, exported as MatMul instead of Einsum.
    Other equations are left to torch.einsum.

  - traced_rotations: fnn builds 3-D rotation matrices (the eye
    rotation of the perspective module, the monitor's pose) with a
    function `rmat_3d(x, y, z)` that takes the batch size with Python's
    len() and fills identity matrices in place, which the tracer freezes
    to the traced batch of 1. rotation_3d computes the same matrices
    (Rz(z) Ry(y) Rx(x), in that order of products) from stacked
    entries, so that the batch dimension stays dynamic.

Nothing here imports fnn: the readout is recognised by its attributes,
rmat_3d by its name in the modules that define the network's classes.
"""

import contextlib
import sys

import torch


# ---------------------------------------------------------------- einsum


def _parse_equation(equation):
    """Splits an einsum equation written with single-letter subscripts
    (spaces allowed, no ellipsis) into (operand subscripts, output)."""
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        return None
    lhs, out = eq.split("->")
    return lhs.split(","), out


def matmul_plan(equation):
    """How to compute a two-operand einsum as one batched matrix product, or
    None when it is not one.

    It is one when both operands end in two subscripts sharing exactly one,
    the contracted one, their leading subscripts are the same batch
    subscripts in the same order, and the output is those batch subscripts
    followed by the two free subscripts in either order. Returns
    (transpose_a, transpose_b, transpose_out) such that
    einsum(eq, a, b) == matmul(a', b') with a' = a or a.transpose(-1, -2)
    (likewise b'), transposed at the end when transpose_out."""
    parsed = _parse_equation(equation)
    if parsed is None:
        return None
    operands, out = parsed
    if len(operands) != 2:
        return None
    a, b = operands
    if len(a) < 2 or len(b) < 2 or a[:-2] != b[:-2] or out[:-2] != a[:-2]:
        return None
    if len(set(a)) != len(a) or len(set(b)) != len(b) or len(set(out)) != len(out):
        return None
    shared = set(a[-2:]) & set(b[-2:])
    if len(shared) != 1 or set(a[:-2]) & set(a[-2:] + b[-2:]):
        return None
    k = shared.pop()
    free_a = a[-2:].replace(k, "")
    free_b = b[-2:].replace(k, "")
    if free_a == free_b or len(out) != len(a):
        return None
    transpose_a = a[-1] != k  # a' must end in k: [.., free_a, k]
    transpose_b = b[-2] != k  # b' must be [.., k, free_b]
    if out[-2:] == free_a + free_b:
        return transpose_a, transpose_b, False
    if out[-2:] == free_b + free_a:
        return transpose_a, transpose_b, True
    return None


def _matmul_einsum(original):
    """An einsum that computes batched matrix products with torch.matmul and
    passes anything else to `original`."""

    def einsum(equation, *operands):
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        plan = matmul_plan(equation) if isinstance(equation, str) and len(operands) == 2 else None
        if plan is None:
            return original(equation, *operands)
        ta, tb, tout = plan
        a, b = operands
        y = torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)
        return y.transpose(-1, -2) if tout else y

    return einsum


@contextlib.contextmanager
def matmul_einsums():
    """While active, torch.einsum computes batched matrix products with
    torch.matmul (see matmul_plan)."""
    original = torch.einsum
    torch.einsum = _matmul_einsum(original)
    try:
        yield
    finally:
        torch.einsum = original


# ---------------------------------------------------------------- readout


def is_position_readout(module):
    """Whether module looks like fnn's PositionFeature readout: per neuron a
    position (position.mean [U, 2], bounded by `bound`), feature weights
    (feature(stream=None) [S, U, R, C]) and biases (S x [U, R])."""
    position = getattr(module, "position", None)
    return (hasattr(position, "mean") and callable(getattr(module, "bound", None))
            and callable(getattr(module, "feature", None)) and hasattr(module, "biases")
            and isinstance(getattr(module, "streams", None), int))


def bilinear_taps(grid, height, width):
    """The 4 map positions and bilinear weights with which GridSample
    (mode bilinear, padding border, align_corners False) samples a
    [height, width] map at each of the points `grid` [U, 2] (x, y in
    [-1, 1]). Returns (index [U, 4] int64 into the flattened map,
    weight [U, 4] float32)."""
    g = grid.detach().to(torch.float64)
    # align_corners=False: -1 and 1 are the outer edges of the border
    # pixels; padding "border" clamps the coordinate into the map.
    x = ((g[:, 0] + 1) * width - 1) / 2
    y = ((g[:, 1] + 1) * height - 1) / 2
    x = x.clamp(0, width - 1)
    y = y.clamp(0, height - 1)
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)
    index = torch.stack([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1], dim=1)
    weight = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], dim=1)
    return index, weight.to(torch.float32)


def cell_blocks(index, block):
    """Groups neurons by the map cell they sample (the top-left of their 4
    taps, which fixes all 4) into blocks of `block` neurons of one cell,
    the last block of a cell padded with empty slots.

    Returns (taps [B, 4]: the 4 map positions of each block's cell,
    slot_of_neuron [U]: the slot (block * block + place) of each neuron,
    neuron_of_slot [B * block]: the inverse, -1 for a padding slot)."""
    units = index.shape[0]
    order = torch.argsort(index[:, 0], stable=True).tolist()
    cells = index[:, 0].tolist()
    neuron_of_slot, taps = [], []
    i = 0
    while i < units:
        j = i
        while j < units and cells[order[j]] == cells[order[i]]:
            j += 1
        group = order[i:j]
        for k in range(0, len(group), block):
            chunk = group[k:k + block]
            neuron_of_slot.extend(chunk + [-1] * (block - len(chunk)))
            taps.append(index[group[0]])
        i = j
    neuron_of_slot = torch.tensor(neuron_of_slot, dtype=torch.long)
    slot_of_neuron = torch.empty(units, dtype=torch.long)
    used = neuron_of_slot >= 0
    slot_of_neuron[neuron_of_slot[used]] = torch.nonzero(used).squeeze(1)
    return torch.stack(taps), slot_of_neuron, neuron_of_slot


class GatherReadout(torch.nn.Module):
    """A fixed-position readout computed with a gather and small matrix
    products: the same [N, S, U, 1] as fnn's PositionFeature.forward(core,
    stream=None) in evaluation mode (one readout per neuron and stream).

    The neurons that sample the same map cell read the same 4 map
    positions, so they are grouped into blocks of `block` (cell_blocks):
    one Gather takes the 4 positions of every block's cell from the map
    ([S, blocks*4, C], a few MB, where gathering per neuron would write
    [U, 4, S*C], 80 MB, on every step); a batched MatMul per stream and
    block gives each neuron's dot product with its feature weights at the
    4 positions; Mul and ReduceSum apply the bilinear weights, and a last
    Gather puts the neurons back in order. Padding slots have zero weights.

    Its constants, taken from the readout when built: the taps
    (bilinear_taps of bound(position.mean)), the feature weights arranged
    [S, blocks, C, block], the bilinear weights [blocks, 4, block], the
    slot of each neuron and the biases [S, U, 1]."""

    def __init__(self, readout, height, width, block=32):
        super().__init__()
        with torch.no_grad():
            grid = readout.bound(readout.position.mean)  # [U, 2]
            feature = readout.feature(stream=None).detach()  # [S, U, R, C]
            bias = torch.stack([b.detach() for b in readout.biases], dim=0)  # [S, U, R]
        streams, units, readouts, channels = (int(d) for d in feature.shape)
        if readouts != 1:
            raise ValueError(f"{readouts} readouts per neuron, GatherReadout computes 1")
        index, weight = bilinear_taps(grid, height, width)
        taps, slot_of_neuron, neuron_of_slot = cell_blocks(index, block)
        blocks = taps.shape[0]
        used = neuron_of_slot >= 0
        slot_feature = torch.zeros(blocks * block, streams, channels)
        slot_feature[used] = feature[:, :, 0, :].permute(1, 0, 2)[neuron_of_slot[used]]
        slot_weight = torch.zeros(blocks * block, 4)
        slot_weight[used] = weight[neuron_of_slot[used]]
        self.streams, self.units, self.channels = streams, units, channels
        self.height, self.width, self.blocks, self.block = int(height), int(width), blocks, block
        self.register_buffer("taps", taps.reshape(-1))  # [blocks*4]
        self.register_buffer("feature", slot_feature.reshape(blocks, block, streams, channels)
                             .permute(2, 0, 3, 1).contiguous())  # [S, blocks, C, block]
        self.register_buffer("weight", slot_weight.reshape(blocks, block, 4).transpose(1, 2).contiguous())
        self.register_buffer("slot", slot_of_neuron)  # [U]
        self.register_buffer("bias", bias)  # [S, U, 1]

    def forward(self, core, stream=None):
        if stream is not None:
            raise ValueError("GatherReadout computes all streams (stream=None)")
        n, sc, h, w = core.shape
        s, c = self.streams, self.channels
        if (h, w) != (self.height, self.width) or sc != s * c:
            raise ValueError(f"core map {list(core.shape)}, expected [N, {s * c}, {self.height}, {self.width}]")
        cells = core.reshape(n, s, c, h * w).transpose(2, 3)  # [N, S, HW, C]
        windows = cells.index_select(2, self.taps).reshape(n, s, self.blocks, 4, c)
        dots = torch.matmul(windows, self.feature)  # [N, S, blocks, 4, block]
        slots = (dots * self.weight).sum(dim=3).reshape(n, s, self.blocks * self.block)
        out = slots.index_select(2, self.slot)  # [N, S, U]
        return out.unsqueeze(3) + self.bias


def _lazy_gather(readout):
    """A forward for readout that builds its GatherReadout on the first call,
    for the size of the map it is given."""
    built = []

    def forward(core, stream=None):
        if not built:
            built.append(GatherReadout(readout, core.shape[2], core.shape[3]))
        return built[0](core, stream)

    return forward


@contextlib.contextmanager
def gather_readouts(net):
    """While active, every fnn-style position readout of net (see
    is_position_readout) in evaluation mode runs as a GatherReadout (built
    on its first call, from its parameters at that time). Yields how many
    readouts were swapped."""
    swapped = []
    for module in net.modules():
        if (is_position_readout(module) and not module.training and "forward" not in vars(module)
                and len(module.biases) and module.biases[0].shape[-1] == 1):
            module.forward = _lazy_gather(module)
            swapped.append(module)
    try:
        yield len(swapped)
    finally:
        for module in swapped:
            del module.forward


# ---------------------------------------------------------------- rotations


def rotation_3d(x, y, z):
    """Rotation matrices [N, 3, 3] for angles x, y, z [N] (radians) about the
    x, y and z axes: Rz(z) @ Ry(y) @ Rx(x), each built by stacking its
    entries, so that N is traced as the inputs' size."""
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    cz, sz, cy, sy, cx, sx = torch.cos(z), torch.sin(z), torch.cos(y), torch.sin(y), torch.cos(x), torch.sin(x)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], dim=1).reshape(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], dim=1).reshape(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], dim=1).reshape(-1, 3, 3)
    return rz.matmul(ry).matmul(rx)


@contextlib.contextmanager
def traced_rotations(net, name="rmat_3d"):
    """While active, a function called `name` in any Python module that
    defines one of net's module classes is rotation_3d. Yields how many
    modules were patched."""
    patched = {}
    for module in net.modules():
        py = sys.modules.get(type(module).__module__)
        if py is not None and py not in patched and callable(getattr(py, name, None)):
            patched[py] = getattr(py, name)
            setattr(py, name, rotation_3d)
    try:
        yield len(patched)
    finally:
        for py, original in patched.items():
            setattr(py, name, original)


@contextlib.contextmanager
def all_rewrites(net):
    """gather_readouts, matmul_einsums and traced_rotations together;
    yields the number of readouts swapped."""
    with gather_readouts(net) as n, matmul_einsums(), traced_rotations(net):
        yield n
