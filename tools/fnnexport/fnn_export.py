#!/usr/bin/env python3
"""Export fnn's foundation model (or the test network) to an ONNX file that
fits twinrig's model contract v1, with its Python-side state made explicit.

  fnn_export.py microns --fnn-path FNN --session 8 --scan-idx 5 --directory WEIGHTS --out scan-8-5.onnx
  fnn_export.py microns --fnn-path FNN --weights params_core.pt params_8_5.pt --out scan-8-5.onnx
  fnn_export.py microns --fnn-path FNN --random-weights 10000 --seed 0 --out random.onnx
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

import fnnload  # noqa: E402  (after the path set-up)
import statewrap  # noqa: E402

HEIGHT, WIDTH = 144, 256

# The module whose output is the "features" output: the core's feature map
# that the readout samples (fnn's Visual: core -> readout; the test
# network: its convolutional LSTM's h).
FEATURES = {"microns": "core", "toy": "recurrent"}


def load_microns(args, parser):
    """The MICrONS network and its neuron ids as the arguments ask: trained
    weights from fnn's weights directory (--directory with --session and
    --scan-idx) or from state-dict files (--weights), or seeded random
    weights (--random-weights, --seed). The fnn code comes from --fnn-path
    or sys.path, without its download helpers (fnnload.import_builder)."""
    chosen = [bool(args.directory), bool(args.weights), bool(args.random_weights)]
    if sum(chosen) != 1:
        parser.error("microns needs one of --directory (with --session and --scan-idx), "
                     "--weights FILE... or --random-weights UNITS")
    try:
        builder = fnnload.import_builder(args.fnn_path)
        if args.random_weights:
            net, ids, filled = fnnload.random_network(builder, args.random_weights, args.seed)
            print(f"fnn_export: random weights (seed {args.seed}); {len(filled)} tensors that fnn "
                  f"initialises to zero were filled from N(0, 0.05^2)", file=sys.stderr)
            return net, ids
        if args.weights:
            return fnnload.files_network(builder, args.weights)
        if args.session is None or args.scan_idx is None:
            parser.error("--directory needs --session and --scan-idx")
        return fnnload.scan_network(builder, args.directory, args.session, args.scan_idx)
    except fnnload.LoadError as e:
        parser.exit(2, f"fnn_export.py: {e}\n")


def load_toy(neurons):
    """The test network of toymodel.py with neuron ids "toy-<i>"."""
    from toymodel import ToyVisual

    net = ToyVisual(neurons=neurons).eval()
    return net, [f"toy-{i}" for i in range(neurons)]


def add_source_arguments(parser):
    """Adds the sub-commands that choose the network (microns, toy) and
    their loading options to parser; returns the two sub-parsers."""
    sub = parser.add_subparsers(dest="source", required=True)
    mic = sub.add_parser("microns", help="a MICrONS scan's network from the fnn package")
    mic.add_argument("--fnn-path", metavar="DIR",
                     help="a checkout of github.com/cajal/fnn (default: import fnn from the Python path)")
    mic.add_argument("--session", type=int, help="scan session, e.g. 8")
    mic.add_argument("--scan-idx", type=int, help="scan index, e.g. 5")
    mic.add_argument("--directory",
                     help="the unpacked fnn weights (params_core.pt, params_<session>_<scan_idx>.pt, scans.csv, "
                          "units.csv), or the directory above their microns/ directory")
    mic.add_argument("--weights", nargs="+", metavar="FILE",
                     help="instead of --directory: state-dict files (e.g. params_core.pt params_8_5.pt), merged "
                          "in order; neuron ids readout-<i>")
    mic.add_argument("--random-weights", type=int, metavar="UNITS",
                     help="instead: the architecture with seeded random weights and UNITS neurons")
    mic.add_argument("--seed", type=int, default=0, help="seed of --random-weights (default 0)")
    toy = sub.add_parser("toy", help="the small test network of toymodel.py")
    toy.add_argument("--neurons", type=int, default=23)
    for p in (mic, toy):
        p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    return mic, toy


def load_network(args, parser):
    """The network and neuron ids the parsed source arguments name (with
    torch's thread count set first)."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.source == "microns":
        return load_microns(args, parser)
    return load_toy(args.neurons)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mic, toy = add_source_arguments(parser)
    for p in (mic, toy):
        p.add_argument("--out", required=True, help="the .onnx file to write")
        p.add_argument("--reference", help="the reference JSON to write (default: OUT with .reference.json)")
        p.add_argument("--steps", type=int, default=20, help="verification steps (default 20)")
        p.add_argument("--tolerance", type=float, default=1e-5,
                       help="largest relative error accepted in verification (default 1e-5)")
        p.add_argument("--no-rewrite", action="store_true",
                       help="export the readout's GridSample and the Einsums as traced, without the "
                            "rewrites of rewrites.py")
        p.add_argument("--dynamic-batch", action="store_true",
                       help="make the batch dimension of every input and output dynamic (batched Evaluate)")
        p.add_argument("--no-freeze-caches", action="store_true",
                       help="recompute cached weights (fnn's past['weight'] and the like) in the graph on every step")
    args = parser.parse_args(argv)
    net, ids = load_network(args, parser)

    ref = statewrap.export_stateful(net, args.out, HEIGHT, WIDTH, neuron_ids=ids, steps=args.steps,
                                    freeze_caches=not args.no_freeze_caches, features=FEATURES[args.source],
                                    rewrite=not args.no_rewrite, dynamic_batch=args.dynamic_batch)
    ref["model"] = os.path.basename(args.out)
    reference = args.reference or os.path.splitext(args.out)[0] + ".reference.json"
    with open(reference, "w") as f:
        json.dump(ref, f)

    report = dict(ref["report"], model=args.out, reference=reference,
                  bytes=os.path.getsize(args.out))
    print(json.dumps(report))
    errs = [report["torch_explicit_max_rel_err"], report["onnxruntime_max_rel_err"],
            report.get("torch_batch_max_rel_err")]
    bad = [e for e in errs if e is not None and not e <= args.tolerance]
    if bad:
        print(f"fnn_export: verification failed: relative error {max(bad):.3g} > tolerance {args.tolerance:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
