"""Load fnn's MICrONS network offline, with PyTorch and NumPy only.

fnn (github.com/cajal/fnn) builds the released architecture in
fnn/microns/build.py (`network(units)`), from the model classes of
fnn/model/, which need only PyTorch and NumPy. Its package
fnn/microns/__init__.py, however, also imports the helpers that download
the weights (requests, tqdm, pandas), so `import fnn.microns.build` fails
where those are not installed. `import_builder` therefore registers
fnn.microns as a bare package (its directory, without running its
__init__.py) and imports only build.py.

The weights are read with torch.load from a local directory laid out as
fnn's download unpacks it (params_core.pt, params_<session>_<scan_idx>.pt,
scans.csv, units.csv; read here with the csv module, not pandas) or from
state-dict files named one by one. `random_network` gives the architecture
seeded random weights for tests and benchmarks.
"""

import csv
import importlib
import inspect
import os
import sys
import types

import torch


class LoadError(RuntimeError):
    """The fnn code or the weights could not be loaded."""


def import_builder(fnn_path=None):
    """Returns fnn.microns.build.network, the builder of the released
    MICrONS architecture, without importing fnn/microns/__init__.py.

    fnn_path is a checkout of github.com/cajal/fnn (the directory holding
    the `fnn` package); None imports fnn from sys.path."""
    if fnn_path:
        root = os.path.abspath(fnn_path)
        if not os.path.isdir(os.path.join(root, "fnn")):
            raise LoadError(f"{fnn_path}: no fnn package directory in it (expected a checkout of "
                            "github.com/cajal/fnn, holding fnn/model and fnn/microns)")
        sys.path.insert(0, root)
    try:
        import fnn
    except ImportError as e:
        raise LoadError(f"cannot import the fnn package ({e}); pass --fnn-path with a checkout of "
                        "github.com/cajal/fnn") from e
    package_dir = os.path.join(os.path.dirname(os.path.abspath(fnn.__file__)), "microns")
    build = os.path.join(package_dir, "build.py")
    if not os.path.isfile(build):
        raise LoadError(f"{build}: missing; this fnn checkout predates the released MICrONS model "
                        "(fnn.microns.build); use a newer one")
    if "fnn.microns" not in sys.modules:
        # A bare package: its submodules import as usual, but its
        # __init__.py (which imports the download helpers) is not run.
        bare = types.ModuleType("fnn.microns")
        bare.__path__ = [package_dir]
        bare.__package__ = "fnn.microns"
        sys.modules["fnn.microns"] = bare
        fnn.microns = bare
    try:
        module = importlib.import_module("fnn.microns.build")
    except ImportError as e:
        raise LoadError(f"cannot import fnn.microns.build from {package_dir}: {e}") from e
    return module.network


def weights_directory(directory):
    """The directory holding params_core.pt: `directory` itself or its
    microns/ subdirectory (newer fnn versions unpack the weights into
    <root>/microns)."""
    for d in (directory, os.path.join(directory, "microns")):
        if os.path.isfile(os.path.join(d, "params_core.pt")):
            return d
    raise LoadError(f"{directory}: no params_core.pt in it nor in its microns/ subdirectory")


def read_scan_units(directory, session, scan_idx):
    """The number of neurons of scan session-scan_idx, from scans.csv."""
    path = os.path.join(directory, "scans.csv")
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if int(row["session"]) == session and int(row["scan_idx"]) == scan_idx:
                return int(row["units"])
    raise LoadError(f"{path}: no scan {session}-{scan_idx}")


def read_unit_ids(path, session, scan_idx, units):
    """The neuron ids "<session>-<scan_idx>-<unit_id>" in readout order (the
    columns of the responses), from units.csv's readout_id and unit_id."""
    by_readout = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if int(row["session"]) == session and int(row["scan_idx"]) == scan_idx:
                by_readout[int(row["readout_id"])] = int(row["unit_id"])
    if sorted(by_readout) != list(range(units)):
        raise LoadError(f"{path}: scan {session}-{scan_idx} has readout ids for {len(by_readout)} "
                        f"of its {units} neurons, expected 0..{units - 1}")
    return [f"{session}-{scan_idx}-{by_readout[r]}" for r in range(units)]


def load_state_dict(path):
    """A state dict saved with torch.save, on the CPU (tensors only where
    this PyTorch can refuse anything else)."""
    options = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        options["weights_only"] = True
    try:
        params = torch.load(path, **options)
    except Exception as e:  # torch raises several types for a bad file
        raise LoadError(f"{path}: cannot read the weights: {e}") from e
    if not isinstance(params, dict):
        raise LoadError(f"{path}: holds a {type(params).__name__}, expected a state dict")
    return params


def units_of(params):
    """The number of neurons of a state dict (the readout's positions)."""
    mu = params.get("readout.position.mu")
    if mu is None:
        raise LoadError("the weights have no readout.position.mu, so no readout: "
                        "give the scan's file (params_<session>_<scan_idx>.pt) too")
    return int(mu.shape[0])


def trained_network(builder, params):
    """The network built for the state dict's neuron count, with its
    weights (every tensor must match: load_state_dict strict)."""
    net = builder(units_of(params))
    try:
        net.load_state_dict(params, strict=True)
    except RuntimeError as e:
        raise LoadError(f"the weights do not fit fnn's MICrONS architecture: {e}") from e
    return net.to("cpu").eval()


def scan_network(builder, directory, session, scan_idx):
    """The trained network of one scan from fnn's weights directory, and its
    neuron ids (see read_unit_ids)."""
    d = weights_directory(directory)
    params = dict(load_state_dict(os.path.join(d, "params_core.pt")))
    params.update(load_state_dict(os.path.join(d, f"params_{session}_{scan_idx}.pt")))
    units = units_of(params)
    listed = read_scan_units(d, session, scan_idx) if os.path.isfile(os.path.join(d, "scans.csv")) else units
    if listed != units:
        raise LoadError(f"scans.csv gives scan {session}-{scan_idx} {listed} neurons, its weights {units}")
    ids_csv = os.path.join(d, "units.csv")
    if os.path.isfile(ids_csv):
        ids = read_unit_ids(ids_csv, session, scan_idx, units)
    else:
        ids = [f"{session}-{scan_idx}-readout{r}" for r in range(units)]
    return trained_network(builder, params), ids


def files_network(builder, paths, id_prefix="readout"):
    """The network with weights merged from state-dict files (later files
    override earlier ones), and ids "<id_prefix>-<readout index>"."""
    params = {}
    for p in paths:
        params.update(load_state_dict(p))
    net = trained_network(builder, params)
    return net, [f"{id_prefix}-{i}" for i in range(units_of(params))]


def random_network(builder, units, seed):
    """The architecture with `units` neurons and seeded random weights, ids
    "random-<i>"; returns (network, ids, names of the tensors set by
    fill_zeros).

    The network's own initialisation (torch.manual_seed(seed) first) sets
    most tensors; fill_zeros then gives the ones it leaves at zero small
    random values, and spread_positions spreads the readout's positions
    over the whole map."""
    torch.manual_seed(seed)
    net = builder(units).to("cpu").eval()
    generator = torch.Generator().manual_seed(seed)
    filled = fill_zeros(net, generator)
    spread_positions(net, generator)
    return net, [f"random-{i}" for i in range(units)], filled


def fill_zeros(net, generator, std=0.05):
    """Sets every parameter that is all zeros to N(0, std^2) values and
    returns their names. Buffers are left alone (fnn keeps constants there,
    some of them zero by design).

    fnn initialises some tensors to zero: every bias (convolutions, gates,
    MLPs), the readout's feature weights, positions and biases, and the
    like. Left at zero, every response is exp(0) = 1 and the readout samples
    one map position, which would hide errors; with small random values
    every part of the network contributes."""
    filled = []
    with torch.no_grad():
        for name, t in net.named_parameters():
            if t.is_floating_point() and t.numel() and not t.any():
                t.copy_(torch.randn(t.shape, generator=generator) * std)
                filled.append(name)
    return filled


def spread_positions(net, generator):
    """Draws the readout's positions (readout.position.mu, bounded by tanh)
    from N(0, 1), so that the neurons sample the whole feature map, its
    borders included, as trained positions do; fnn starts them all at the
    centre."""
    mu = getattr(getattr(getattr(net, "readout", None), "position", None), "mu", None)
    if mu is not None:
        with torch.no_grad():
            mu.copy_(torch.randn(mu.shape, generator=generator))
