"""Make the Python-side state of an fnn-style network explicit and export it
as an ONNX model that fits twinrig's model contract v1 (rig/proto/MODEL.md).

This is the generic half of the exporter; fnn_export.py holds the
command line and the fnn-specific loading. Nothing here imports fnn.

The state convention (that of the `fnn` package, github.com/cajal/fnn):
a module keeps its state in a dict attribute `past`, which `reset()`
empties and which the module fills on its first step after a reset.
Two kinds of entries are state:

  - "history": a collections.deque of the last `maxlen` inputs of a
    causal temporal convolution (fnn.model.elements.Conv); it starts as
    `maxlen` zero tensors, so the state is the `maxlen - 1` newest entries;
  - "h" and "c": the hidden and cell tensors of an LSTM (or the hidden
    tensor of a GRU).

Every other entry (for instance "weight" and "stream") is a cache derived
from the parameters; the exported graph gets the cached value as a
constant. A module whose `past` is not a dict, or a temporal convolution
that pads by replication (its history starts from the first input, not
from zeros), cannot be represented with zero-state resets and is refused.

Use it in four steps:

  1. discover_state(net, height, width) runs one step from reset and
     lists the state slots (module, key, shape);
  2. ExplicitState(net, slots) is an nn.Module whose forward takes
     (frame uint8 [1,1,H,W], perspective [1,2], modulation [1,2],
     *state) and returns (responses [1,N], *next_state); zero state is a
     reset;
  3. export_onnx(...) writes the ONNX file (opset 17) and appends the
     twinrig metadata properties to it;
  4. verify(...) runs the original network (its own Python-side state),
     the explicit-state wrapper and, when the onnxruntime Python package
     is installed, the ONNX file on the same inputs and reports the
     largest relative errors; reference_json(...) saves those inputs and
     the original network's responses for the Go-side check.
"""

import base64
import collections
import contextlib
import inspect
import json
import math
import warnings

import torch

import rewrites

# Entries of a module's `past` dict that are recurrent state.
HISTORY_KEY = "history"
TENSOR_STATE_KEYS = ("h", "c")

# The contract's metadata keys (plugins/model/onnxmodel/metadata.go). An
# unknown key with the prefix "twinrig." is refused by the model plugin, so
# only these are written.
META_CONTRACT = "twinrig.contract"
META_FRAME_RATE = "twinrig.frame_rate_hz"
META_BURN_IN = "twinrig.burn_in_frames"
META_NEURON_IDS = "twinrig.neuron_ids"

OPSET = 17
REFERENCE_FORMAT = "twinrig-fnn-export-reference/1"


class StateError(ValueError):
    """The network keeps state in a form that cannot be made explicit."""


class Slot:
    """One explicit state tensor: entry `key` (and history position `index`)
    of the `past` dict of the module called `module_name`."""

    def __init__(self, module_name, key, index, shape):
        self.module_name = module_name
        self.key = key
        self.index = index
        self.shape = tuple(int(d) for d in shape)

    @property
    def name(self):
        """The state's name X in the ONNX names in.X / out.X."""
        base = self.module_name or "net"
        if self.index is None:
            return f"{base}.{self.key}"
        return f"{base}.{self.key}.{self.index}"

    def numel(self):
        return math.prod(self.shape)


class _ModuleState:
    """The state slots of one module and the cache entries that must be put
    back with them (a non-empty `past` makes the module skip its own
    initialisation, caches included)."""

    def __init__(self, name, module, cache, slots, history_len):
        self.name = name
        self.module = module
        self.cache = cache
        self.slots = slots
        self.history_len = history_len  # deque maxlen, 0 when no history

    def inject(self, tensors):
        past = dict(self.cache)
        if self.history_len:
            past[HISTORY_KEY] = collections.deque(maxlen=self.history_len)
        for slot, tensor in zip(self.slots, tensors):
            if slot.key == HISTORY_KEY:
                past[HISTORY_KEY].append(tensor)  # oldest first
            else:
                past[slot.key] = tensor
        self.module.past.clear()
        self.module.past.update(past)

    def extract(self):
        past = self.module.past
        out = []
        for slot in self.slots:
            if slot.key == HISTORY_KEY:
                entries = list(past[HISTORY_KEY])
                keep = self.history_len - 1
                out.append(entries[len(entries) - keep + slot.index])
            else:
                out.append(past[slot.key])
        return out


def reset(net):
    """Empties every module's state, as fnn's Module.reset does."""
    if hasattr(net, "reset"):
        net.reset()
        return
    for module in net.modules():
        past = getattr(module, "past", None)
        if hasattr(past, "clear"):
            past.clear()


def _step_inputs(frame, perspective, modulation):
    """Turns a uint8 frame [1,1,H,W] into the float stimulus fnn's network
    takes (fnn scales by 1/255 in Visual.to_tensor)."""
    return frame.to(torch.float32) / 255.0, perspective, modulation


def discover_state(net, height, width, freeze_caches=True):
    """Runs the network one step from reset (zero frame and behaviour) and
    returns its state as a list of _ModuleState, in module order. The
    network is left reset. Raises StateError for state it cannot express.

    With freeze_caches, modules whose `past` holds only caches (weights
    normalised from the parameters, for instance) are listed too, without
    slots: the wrapper then gives them their cached values, which become
    constants of the graph instead of being recomputed on every step."""
    net.eval()
    reset(net)
    frame = torch.zeros(1, 1, height, width, dtype=torch.uint8)
    zero2 = torch.zeros(1, 2)
    with torch.no_grad():
        net(*_step_inputs(frame, zero2, zero2))
    found = []
    for name, module in net.named_modules():
        past = getattr(module, "past", None)
        if past is None or (hasattr(past, "__len__") and len(past) == 0):
            continue
        if not isinstance(past, dict):
            raise StateError(f"module {name or 'net'!r} ({type(module).__name__}) keeps state in a "
                             f"{type(past).__name__}, expected a dict of tensors")
        cache, slots, history_len = {}, [], 0
        for key, value in past.items():
            if key == HISTORY_KEY:
                if value is None:
                    cache[key] = None
                    continue
                if not isinstance(value, collections.deque) or not value.maxlen:
                    raise StateError(f"module {name!r}: history is a {type(value).__name__}, "
                                     "expected a deque with maxlen")
                if getattr(module, "pad", None) == "replicate":
                    raise StateError(f"module {name!r}: a temporal convolution padded by replication "
                                     "starts its history from the first input; zero state cannot reset it")
                history_len = value.maxlen
                entries = list(value)
                for i, t in enumerate(entries[len(entries) - (history_len - 1):]):
                    slots.append(Slot(name, HISTORY_KEY, i, t.shape))
            elif key in TENSOR_STATE_KEYS and torch.is_tensor(value):
                slots.append(Slot(name, key, None, value.shape))
            else:
                cache[key] = value.detach() if torch.is_tensor(value) else value
        for s in slots:
            if not s.shape or s.shape[0] != 1:
                raise StateError(f"state {s.name!r}: shape {list(s.shape)}, expected batch 1")
        if slots or freeze_caches:
            found.append(_ModuleState(name, module, cache, slots, history_len))
    reset(net)
    return found


def slots_of(modules):
    """The flat list of state slots, in input order."""
    return [s for m in modules for s in m.slots]


class FeatureTap:
    """Keeps the last output of one module of a network (a forward hook):
    the core's feature map that the readout reads, exported as the
    "features" output."""

    def __init__(self, net, module_name):
        modules = dict(net.named_modules())
        if module_name not in modules:
            raise ValueError(f"no module {module_name!r} in the network to take the features from")
        self.module_name = module_name
        self.value = None
        self._handle = modules[module_name].register_forward_hook(self._keep)

    def _keep(self, module, inputs, output):
        if not torch.is_tensor(output):
            raise StateError(f"module {self.module_name!r} returns a {type(output).__name__}, "
                             "expected the feature map as one tensor")
        self.value = output

    def take(self):
        """The last output, forgotten here."""
        value, self.value = self.value, None
        if value is None:
            raise StateError(f"module {self.module_name!r} did not run in the step")
        return value

    def remove(self):
        self._handle.remove()


class ExplicitState(torch.nn.Module):
    """Wraps a stateful network so that its state is explicit: forward takes
    (frame uint8 [1,1,H,W], perspective [1,2], modulation [1,2], *state)
    and returns (responses [1,N], [features,] *next_state), the state in
    the order of slots_of(modules). All-zero state reproduces a reset.

    With `features` (a module name, e.g. "core"), that module's output is
    returned after the responses, with its batch dimension 1 and its shape
    fixed (features_shape, known after the first call)."""

    def __init__(self, net, modules, features=None, dynamic_batch=False):
        super().__init__()
        self.net = net
        self._modules_state = modules
        self._tap = FeatureTap(net, features) if features else None
        self.features_shape = None
        self.neurons = 0  # the width of responses, once known (export_onnx)
        # With dynamic_batch the outputs keep the inputs' batch dimension
        # (reshaped to [-1, ...]); otherwise it is fixed at 1.
        self.batch = -1 if dynamic_batch else 1

    def zero_state(self):
        return [torch.zeros(s.shape) for s in slots_of(self._modules_state)]

    def forward(self, frame, perspective, modulation, *state):
        reset(self.net)
        k = 0
        for m in self._modules_state:
            n = len(m.slots)
            m.inject(state[k:k + n])
            k += n
        responses = self.net(*_step_inputs(frame, perspective, modulation))
        if self.neurons:
            responses = responses.reshape(self.batch, self.neurons)
        out = [responses]
        if self._tap is not None:
            features = self._tap.take()
            if self.features_shape is None:
                self.features_shape = (1,) + tuple(int(d) for d in features.shape[1:])
            out.append(features.reshape(self.batch, *self.features_shape[1:]))
        for m in self._modules_state:
            # Reshaping to the known shape gives every state output a fixed
            # shape in the ONNX graph (a Pad with computed pads, for one,
            # leaves its output's shape unknown), as the contract requires.
            out.extend(t.reshape(self.batch, *s.shape[1:]) for s, t in zip(m.slots, m.extract()))
        reset(self.net)
        return tuple(out)

    @property
    def has_features(self):
        return self._tap is not None


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _length_delimited(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def metadata_props_bytes(props):
    """Serialises props (str -> str) as ModelProto.metadata_props entries
    (field 14, each a StringStringEntryProto with key = 1, value = 2).
    Protobuf concatenates repeated fields, so appending these bytes to a
    serialised ModelProto adds the properties without the onnx package."""
    out = bytearray()
    for key, value in props.items():
        entry = _length_delimited(1, key.encode()) + _length_delimited(2, value.encode())
        out += _length_delimited(14, entry)
    return bytes(out)


def contract_metadata(neuron_ids, frame_rate_hz=30, burn_in_frames=10):
    """The twinrig metadata properties of a contract-v1 model."""
    props = {
        META_CONTRACT: "1",
        META_FRAME_RATE: f"{frame_rate_hz:g}",
        META_BURN_IN: str(int(burn_in_frames)),
    }
    if neuron_ids is not None:
        ids = [str(i) for i in neuron_ids]
        if len(set(ids)) != len(ids) or any(not i for i in ids):
            raise ValueError("neuron ids must be unique and non-empty")
        props[META_NEURON_IDS] = json.dumps(ids, separators=(",", ":"))
    return props


def export_onnx(wrapper, path, height, width, metadata):
    """Traces wrapper with torch.onnx.export (opset 17, batch 1, fixed
    shapes, constants folded) to path and appends the metadata properties.
    Returns the number of neurons (the width of "responses"). Call it
    inside rewrites.all_rewrites(net) to export the rewritten operators."""
    slots = slots_of(wrapper._modules_state)
    frame = torch.zeros(1, 1, height, width, dtype=torch.uint8)
    zero2 = torch.zeros(1, 2)
    args = (frame, zero2, zero2, *wrapper.zero_state())
    names = [s.name for s in slots]
    if len(set(names)) != len(names):
        raise StateError(f"state names are not unique: {names}")
    input_names = ["frame", "perspective", "modulation"] + ["in." + n for n in names]
    output_names = ["responses"] + (["features"] if wrapper.has_features else []) + ["out." + n for n in names]
    if wrapper.batch == -1:
        # every input and output: the batch dimension is dynamic
        options = {"dynamic_axes": {n: {0: "batch"} for n in input_names + output_names}}
    else:
        options = {}
    with torch.no_grad(), warnings.catch_warnings():
        # torch.onnx warns about constant folding and shape inference of
        # Python-side constants; verify() checks the result instead.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        neurons = wrapper(*args)[0].shape[1]
        wrapper.neurons = int(neurons)
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            # PyTorch >= 2.5 also has a torch.export-based exporter (the
            # default from 2.9); the Python-side state needs the tracer.
            options["dynamo"] = False
        torch.onnx.export(
            wrapper, args, path,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            do_constant_folding=True,
            **options,
        )
    with open(path, "ab") as f:
        f.write(metadata_props_bytes(metadata))
    return int(neurons)


def test_inputs(steps, height, width, seed=0):
    """Deterministic step inputs: smooth drifting uint8 frames and slowly
    varying behaviour (perspective = pupil x, y; modulation = pupil radius,
    treadmill), all in z-scored units."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.arange(height, dtype=torch.float64).view(-1, 1)
    xs = torch.arange(width, dtype=torch.float64).view(1, -1)
    phases = torch.rand(steps, 3, generator=g, dtype=torch.float64) * 2 * math.pi
    noise = torch.randn(steps, 4, generator=g, dtype=torch.float64)
    out = []
    walk = torch.zeros(4, dtype=torch.float64)
    for t in range(steps):
        a, b, c = phases[t]
        img = (128 + 60 * torch.sin(xs / 9.0 + 0.7 * t + a) * torch.cos(ys / 13.0 - 0.3 * t + b)
               + 40 * torch.sin((xs + ys) / 5.0 + c))
        frame = img.round().clamp(0, 255).to(torch.uint8).view(1, 1, height, width)
        walk = 0.8 * walk + 0.5 * noise[t]
        w = walk.to(torch.float32)
        out.append((frame, w[:2].view(1, 2).clone(), w[2:].view(1, 2).clone()))
    return out


def _max_rel(got, want):
    got = got.to(torch.float64)
    want = want.to(torch.float64)
    return float(((got - want).abs() / want.abs().clamp_min(1e-30)).max())


def run_original(net, inputs, features=None):
    """The network with its own Python-side state, reset first: one [N]
    float32 tensor of responses per step and, with `features` (a module
    name), one tensor of that module's output per step (else None)."""
    net.eval()
    reset(net)
    tap = FeatureTap(net, features) if features else None
    out, feats = [], []
    try:
        with torch.no_grad():
            for frame, p, m in inputs:
                out.append(net(*_step_inputs(frame, p, m))[0].clone())
                if tap is not None:
                    feats.append(tap.take().clone())
    finally:
        if tap is not None:
            tap.remove()
    reset(net)
    return out, (feats if tap is not None else None)


def run_explicit(wrapper, inputs):
    """The explicit-state wrapper from zero state, feeding each step's state
    outputs back as the next step's inputs: responses [N] per step, and the
    features per step (None without)."""
    state = wrapper.zero_state()
    slots = slots_of(wrapper._modules_state)
    first = 2 if wrapper.has_features else 1
    out, feats = [], []
    with torch.no_grad():
        for frame, p, m in inputs:
            res = wrapper(frame, p, m, *state)
            state = list(res[first:])
            for s, t in zip(slots, state):
                if tuple(t.shape) != s.shape:
                    raise StateError(f"state {s.name!r} came back with shape {list(t.shape)}, "
                                     f"expected {list(s.shape)}")
            out.append(res[0][0].clone())
            if wrapper.has_features:
                feats.append(res[1].clone())
    return out, (feats if wrapper.has_features else None)


def run_onnxruntime(path, slots, inputs):
    """The responses of the ONNX file in the onnxruntime Python package, or
    None when that package is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    state = [torch.zeros(s.shape).numpy() for s in slots]
    out_names = ["responses"] + ["out." + s.name for s in slots]
    out = []
    for frame, p, m in inputs:
        feed = {"frame": frame.numpy(), "perspective": p.numpy(), "modulation": m.numpy()}
        feed.update({"in." + s.name: v for s, v in zip(slots, state)})
        res = sess.run(out_names, feed)
        state = res[1:]
        out.append(torch.from_numpy(res[0][0]).clone())
    return out


def _max_scaled(got, want):
    """max |got - want| / max |want|: the error of a tensor whose values may
    be near zero (the features), relative to its scale."""
    got = got.to(torch.float64)
    want = want.to(torch.float64)
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def verify(net, wrapper, path, inputs, features=None, rewrite_context=None):
    """Runs the original network, the wrapper (inside the context manager
    rewrite_context, when given, as it was exported) and (when possible) the
    ONNX file on inputs. Returns (original responses, original features or
    None, report dict with the largest relative errors against the
    original)."""
    original, original_features = run_original(net, inputs, features)
    with rewrite_context if rewrite_context is not None else contextlib.nullcontext():
        explicit, explicit_features = run_explicit(wrapper, inputs)
    report = {
        "steps": len(inputs),
        "torch_explicit_max_rel_err": max(_max_rel(a, b) for a, b in zip(explicit, original)),
        "onnxruntime_max_rel_err": None,
    }
    if features:
        report["torch_explicit_features_max_scaled_err"] = max(
            _max_scaled(a.reshape(b.shape), b) for a, b in zip(explicit_features, original_features))
    ort = run_onnxruntime(path, slots_of(wrapper._modules_state), inputs)
    if ort is not None:
        report["onnxruntime_max_rel_err"] = max(_max_rel(a, b) for a, b in zip(ort, original))
    return original, original_features, report


# At most this many feature values per step go into the reference file.
FEATURE_SAMPLES = 4096


def verify_batch(wrapper, inputs, original, rows=3):
    """Runs the wrapper on `rows` batch rows at once from zero state: row r
    gets the inputs shifted by r steps (row 0 the inputs themselves), and
    returns the largest relative error of row 0 against the original
    network, showing that the rows run independently of each other."""
    state = [torch.zeros((rows,) + s.shape[1:]) for s in slots_of(wrapper._modules_state)]
    first = 2 if wrapper.has_features else 1
    worst = 0.0
    with torch.no_grad():
        for t in range(len(inputs)):
            batch = [inputs[(t + r) % len(inputs)] for r in range(rows)]
            frame = torch.cat([b[0] for b in batch])
            perspective = torch.cat([b[1] for b in batch])
            modulation = torch.cat([b[2] for b in batch])
            res = wrapper(frame, perspective, modulation, *state)
            state = list(res[first:])
            worst = max(worst, _max_rel(res[0][0], original[t]))
    return worst


def reference_json(model_path, inputs, responses, slots, neuron_ids, report, features=None):
    """The reference document the Go check (tools/fnnexport) reads: the
    step inputs (frames as base64 of H*W bytes, row-major), the original
    network's responses and, with features (one tensor per step), every
    features_stride-th value of the flattened feature map (at most
    FEATURE_SAMPLES per step)."""
    _, _, height, width = inputs[0][0].shape
    stride = 0
    if features is not None:
        stride = max(1, math.ceil(features[0].numel() / FEATURE_SAMPLES))
    steps = []
    for k, ((frame, p, m), r) in enumerate(zip(inputs, responses)):
        step = {
            "frame": base64.b64encode(frame.numpy().tobytes()).decode(),
            "perspective": [float(v) for v in p[0]],
            "modulation": [float(v) for v in m[0]],
            "responses": [float(v) for v in r],
        }
        if features is not None:
            step["features"] = [float(v) for v in features[k].reshape(-1)[::stride]]
        steps.append(step)
    return {
        "format": REFERENCE_FORMAT,
        "model": model_path,
        "height": int(height),
        "width": int(width),
        "neurons": len(responses[0]),
        "neuron_ids": None if neuron_ids is None else [str(i) for i in neuron_ids],
        "state": [{"name": s.name, "shape": list(s.shape)} for s in slots],
        "features_shape": None if features is None else list(features[0].shape),
        "features_stride": stride,
        "report": report,
        "steps": steps,
    }


def export_stateful(net, out_path, height, width, neuron_ids=None, steps=20,
                    frame_rate_hz=30, burn_in_frames=10, seed=0, freeze_caches=True,
                    features=None, rewrite=True, dynamic_batch=False):
    """The whole generic pipeline: discover the state, wrap, export with the
    contract metadata, verify for `steps` steps. Returns the reference
    document (see reference_json).

    features names the module whose output becomes the "features" output
    (None: no such output). With rewrite, the network is traced with the
    rewrites of rewrites.py (gather readouts, einsums as matmul), and the
    verification runs the explicit-state wrapper with them too. With
    dynamic_batch, the batch dimension of every input and output is
    dynamic ("batch"), for batched evaluation; the verification also runs
    the wrapper on a batch of 3 rows (see verify_batch)."""
    modules = discover_state(net, height, width, freeze_caches)
    wrapper = ExplicitState(net, modules, features, dynamic_batch).eval()
    context = (lambda: rewrites.all_rewrites(net)) if rewrite else contextlib.nullcontext
    with context() as swapped:
        neurons = export_onnx(wrapper, out_path, height, width,
                              contract_metadata(neuron_ids, frame_rate_hz, burn_in_frames))
    if neuron_ids is not None and len(neuron_ids) != neurons:
        raise ValueError(f"{len(neuron_ids)} neuron ids for {neurons} responses")
    inputs = test_inputs(steps, height, width, seed)
    original, original_features, report = verify(net, wrapper, out_path, inputs, features, context())
    report["neurons"] = neurons
    report["features"] = None if not features else list(wrapper.features_shape)
    report["dynamic_batch"] = bool(dynamic_batch)
    if dynamic_batch:
        with context():
            report["torch_batch_max_rel_err"] = verify_batch(wrapper, inputs, original)
    report["rewritten_readouts"] = swapped or 0
    report["einsums_as_matmul"] = bool(rewrite)
    report["state_tensors"] = len(slots_of(modules))
    report["state_floats"] = sum(s.numel() for s in slots_of(modules))
    return reference_json(out_path, inputs, original, slots_of(modules), neuron_ids, report,
                          original_features)
