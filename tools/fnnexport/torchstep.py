#!/usr/bin/env python3
"""Steps the original PyTorch network for the interleaved benchmark
(fnnbench, bench.go), on the frames of an export's reference file.

  torchstep.py --reference R.reference.json microns --fnn-path FNN --random-weights 10000 --seed 0 --threads 2

It loads the network as fnn_export.py does (same arguments, so the same
weights), runs the reference's steps from a reset and prints one JSON line
{"ready": true, "max_rel_err": ...} (its responses against the
reference's: the network is the exported one). Then, for each line "run K"
on stdin, it runs K more steps, continuing the state and cycling through
the reference's frames and behaviour, and prints {"ms": total
milliseconds}; "quit" or the end of stdin ends it. A step is what fnn's
generate_response does per frame: the uint8 frame scaled by 1/255, then
the network's forward with its Python-side state, under torch.no_grad().
"""

import argparse
import base64
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fnn_export  # noqa: E402  (after the path set-up)
import statewrap  # noqa: E402


def read_steps(path):
    """The reference's steps as (frame uint8 [1,1,H,W], perspective [1,2],
    modulation [1,2], responses [N])."""
    with open(path) as f:
        ref = json.load(f)
    h, w = ref["height"], ref["width"]
    steps = []
    for s in ref["steps"]:
        frame = torch.frombuffer(bytearray(base64.b64decode(s["frame"])), dtype=torch.uint8).view(1, 1, h, w)
        steps.append((frame, torch.tensor([s["perspective"]]), torch.tensor([s["modulation"]]),
                      torch.tensor(s["responses"])))
    return steps


def step(net, frame, perspective, modulation):
    """One step of the network with its own state; the responses [N]."""
    return net(frame.to(torch.float32) / 255.0, perspective, modulation)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="the export's reference file")
    fnn_export.add_source_arguments(parser)
    args = parser.parse_args(argv)
    net, _ = fnn_export.load_network(args, parser)
    net.eval()
    steps = read_steps(args.reference)
    with torch.no_grad():
        statewrap.reset(net)
        err = 0.0
        for frame, p, m, want in steps:
            got = step(net, frame, p, m)
            err = max(err, float(((got.double() - want.double()).abs() / want.double().abs()).max()))
        print(json.dumps({"ready": True, "max_rel_err": err, "neurons": int(steps[0][3].numel()),
                          "threads": torch.get_num_threads()}), flush=True)
        k = 0
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] != "run" or len(words) != 2:
                print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
                continue
            start = time.perf_counter()
            for _ in range(int(words[1])):
                frame, p, m, _ = steps[k % len(steps)]
                step(net, frame, p, m)
                k += 1
            print(json.dumps({"ms": (time.perf_counter() - start) * 1000}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
