#!/usr/bin/env python3
"""Export fnn's foundation model (or the test network) to an ONNX file that
fits twinrig's model contract v1, with its Python-side state made explicit.

  fnn_export.py microns --session 8 --scan-idx 5 --directory WEIGHTS --out scan-8-5.onnx
  fnn_export.py microns --random-weights 10000 --out random.onnx
  fnn_export.py toy --out toy.onnx

Each writes the model, a reference file (default: OUT with .reference.json)
holding the verification inputs and the original network's responses, and
prints a one-line JSON report. See README.md beside this file.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import statewrap  # noqa: E402  (after the path set-up)

HEIGHT, WIDTH = 144, 256


def load_microns(session, scan_idx, directory):
    """Loads the MICrONS network of scan session-scan_idx with the fnn package
    (github.com/cajal/fnn: fnn.microns.scan reads params_core.pt,
    params_<session>_<scan_idx>.pt, scans.csv and units.csv from directory)
    and returns (network, neuron ids). The ids are "<session>-<scan_idx>-<unit_id>"
    in readout order (the columns of the responses)."""
    from fnn import microns

    net, ids = microns.scan(session=session, scan_idx=scan_idx, cuda=False, directory=directory)
    net = net.to("cpu").eval()
    ids = ids.sort_index()  # indexed by readout_id = the response column
    if "unit_id" in ids.columns:
        names = [f"{session}-{scan_idx}-{int(u)}" for u in ids["unit_id"]]
    else:
        names = [f"{session}-{scan_idx}-readout{int(r)}" for r in ids.index]
    return net, names


def build_microns(units, seed=0):
    """The MICrONS architecture from the fnn package (fnn.microns.build.network)
    with random weights and `units` neurons, ids "random-<i>": for checking
    the export and timing it without the weights."""
    from fnn.microns.build import network

    torch.manual_seed(seed)
    net = network(units).to("cpu").eval()
    with torch.no_grad():
        # fnn starts some parameters at zero (the readout's feature weights,
        # the modulation's output gain), which would make every response
        # exp(0) = 1 and hide errors: give those small random values.
        for p in net.parameters():
            if not p.any():
                p.normal_(0, 0.05)
    return net, [f"random-{i}" for i in range(units)]


def load_toy(neurons):
    """The test network of toymodel.py with neuron ids "toy-<i>"."""
    from toymodel import ToyVisual

    net = ToyVisual(neurons=neurons).eval()
    return net, [f"toy-{i}" for i in range(neurons)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="source", required=True)
    mic = sub.add_parser("microns", help="a MICrONS scan's network from the fnn package")
    mic.add_argument("--session", type=int, help="scan session, e.g. 8")
    mic.add_argument("--scan-idx", type=int, help="scan index, e.g. 5")
    mic.add_argument("--directory",
                     help="the unpacked fnn weights (params_core.pt, params_<session>_<scan_idx>.pt, scans.csv, units.csv)")
    mic.add_argument("--random-weights", type=int, metavar="UNITS",
                     help="instead of --session/--scan-idx/--directory: the architecture with random weights and UNITS neurons")
    toy = sub.add_parser("toy", help="the small test network of toymodel.py")
    toy.add_argument("--neurons", type=int, default=23)
    for p in (mic, toy):
        p.add_argument("--out", required=True, help="the .onnx file to write")
        p.add_argument("--reference", help="the reference JSON to write (default: OUT with .reference.json)")
        p.add_argument("--steps", type=int, default=20, help="verification steps (default 20)")
        p.add_argument("--tolerance", type=float, default=1e-4,
                       help="largest relative error accepted in verification (default 1e-4)")
        p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
        p.add_argument("--no-freeze-caches", action="store_true",
                       help="recompute cached weights (fnn's past['weight'] and the like) in the graph on every step")
    args = parser.parse_args(argv)
    if args.source == "microns":
        try:
            import fnn  # noqa: F401
        except ImportError as e:
            parser.exit(2, f"fnn_export.py: cannot import the fnn package ({e}); "
                           "install it with: pip install git+https://github.com/cajal/fnn.git\n")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.source == "microns" and args.random_weights:
        net, ids = build_microns(args.random_weights)
    elif args.source == "microns":
        if args.session is None or args.scan_idx is None or not args.directory:
            parser.error("microns needs --session, --scan-idx and --directory (or --random-weights UNITS)")
        net, ids = load_microns(args.session, args.scan_idx, args.directory)
    else:
        net, ids = load_toy(args.neurons)

    ref = statewrap.export_stateful(net, args.out, HEIGHT, WIDTH, neuron_ids=ids, steps=args.steps,
                                    freeze_caches=not args.no_freeze_caches)
    ref["model"] = os.path.basename(args.out)
    reference = args.reference or os.path.splitext(args.out)[0] + ".reference.json"
    with open(reference, "w") as f:
        json.dump(ref, f)

    report = dict(ref["report"], model=args.out, reference=reference,
                  bytes=os.path.getsize(args.out))
    print(json.dumps(report))
    errs = [report["torch_explicit_max_rel_err"], report["onnxruntime_max_rel_err"]]
    bad = [e for e in errs if e is not None and not e <= args.tolerance]
    if bad:
        print(f"fnn_export: verification failed: relative error {max(bad):.3g} > tolerance {args.tolerance:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
