"""Unit tests of statewrap.py (run by the Go test, or by hand:
python3 -m unittest test_statewrap in this directory)."""

import collections
import os
import tempfile
import unittest

import torch

import statewrap


def _decode_varint(b, i):
    n, shift = 0, 0
    while True:
        byte = b[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, i


def _decode_fields(b):
    """(field, payload) of every length-delimited field of a message."""
    out, i = [], 0
    while i < len(b):
        tag, i = _decode_varint(b, i)
        assert tag & 7 == 2, f"wire type {tag & 7}"
        n, i = _decode_varint(b, i)
        out.append((tag >> 3, b[i:i + n]))
        i += n
    return out


class Replicated(torch.nn.Module):
    """A temporal filter whose history starts from the first input."""

    def __init__(self):
        super().__init__()
        self.pad = "replicate"
        self.past = {}

    def forward(self, stimulus, perspective, modulation):
        if not self.past:
            self.past["history"] = collections.deque([stimulus] * 3, maxlen=3)
        self.past["history"].append(stimulus)
        return torch.stack(list(self.past["history"])).mean().exp().view(1, 1)


class Hidden(torch.nn.Module):
    """Keeps its state under a key statewrap does not know ("prev")."""

    def __init__(self):
        super().__init__()
        self.past = {}

    def forward(self, stimulus, perspective, modulation):
        x = stimulus.mean().view(1, 1)
        prev = self.past.get("prev", torch.zeros(1, 1))
        self.past["prev"] = x
        return torch.exp(x - 2 * prev)


class StatewrapTest(unittest.TestCase):
    def test_metadata_bytes_decode(self):
        props = {"twinrig.contract": "1", "twinrig.neuron_ids": '["' + "x" * 300 + '"]'}
        fields = _decode_fields(statewrap.metadata_props_bytes(props))
        self.assertEqual([f for f, _ in fields], [14, 14])
        got = {}
        for _, entry in fields:
            kv = dict(_decode_fields(entry))
            got[kv[1].decode()] = kv[2].decode()
        self.assertEqual(got, props)

    def test_neuron_ids_must_be_unique(self):
        with self.assertRaises(ValueError):
            statewrap.contract_metadata(["a", "a"])

    def test_replicate_padded_history_refused(self):
        with self.assertRaisesRegex(statewrap.StateError, "replication"):
            statewrap.discover_state(Replicated(), 4, 4)

    def test_unknown_state_fails_verification(self):
        # State under an unknown key is frozen like a cache; the
        # verification must notice that the responses then differ.
        with tempfile.TemporaryDirectory() as d:
            ref = statewrap.export_stateful(Hidden(), os.path.join(d, "h.onnx"), 4, 4, steps=5)
        self.assertGreater(ref["report"]["torch_explicit_max_rel_err"], 1e-2)


if __name__ == "__main__":
    unittest.main()
