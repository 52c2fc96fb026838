"""Unit tests of fnnload.py (run by the Go test, or by hand:
python3 -m unittest test_fnnload in this directory).

They use a stand-in fnn checkout written to a temporary directory: its
fnn/microns/__init__.py imports a module that does not exist, as the real
one imports requests, tqdm and pandas."""

import os
import sys
import tempfile
import textwrap
import unittest

import torch

import fnnload

BUILD = '''
import torch


class Position(torch.nn.Module):
    def __init__(self, units):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.zeros(units, 2))


class Readout(torch.nn.Module):
    def __init__(self, units):
        super().__init__()
        self.position = Position(units)
        self.bias = torch.nn.Parameter(torch.zeros(units))


class Net(torch.nn.Module):
    def __init__(self, units):
        super().__init__()
        self.core = torch.nn.Linear(3, 4)
        self.readout = Readout(units)
        self.register_buffer("zero", torch.zeros(2))


def network(units):
    return Net(units)
'''


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))


class FnnloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        root = self.dir.name
        _write(os.path.join(root, "fnn", "__init__.py"), "")
        _write(os.path.join(root, "fnn", "microns", "__init__.py"),
               "import download_helper_not_installed  # stands for requests, tqdm, pandas\n")
        _write(os.path.join(root, "fnn", "microns", "build.py"), BUILD)
        self.path = list(sys.path)

    def tearDown(self):
        for name in [m for m in sys.modules if m == "fnn" or m.startswith("fnn.")]:
            del sys.modules[name]
        sys.path[:] = self.path
        self.dir.cleanup()

    def test_builder_without_the_package_init(self):
        with self.assertRaises(ImportError):
            sys.path.insert(0, self.dir.name)
            import fnn.microns  # noqa: F401  (the failure fnnload avoids)
        del sys.modules["fnn"]
        builder = fnnload.import_builder(self.dir.name)
        self.assertEqual(builder(7).readout.position.mu.shape, (7, 2))

    def test_missing_checkout(self):
        with self.assertRaisesRegex(fnnload.LoadError, "no fnn package"):
            fnnload.import_builder(os.path.join(self.dir.name, "nowhere"))

    def test_scan_weights_and_ids(self):
        builder = fnnload.import_builder(self.dir.name)
        weights = os.path.join(self.dir.name, "weights", "microns")
        os.makedirs(weights)
        trained = builder(3)
        with torch.no_grad():
            for p in trained.parameters():
                p.uniform_()
        params = trained.state_dict()
        torch.save({k: v for k, v in params.items() if k.startswith("core.")},
                   os.path.join(weights, "params_core.pt"))
        torch.save({k: v for k, v in params.items() if not k.startswith("core.")},
                   os.path.join(weights, "params_8_5.pt"))
        _write(os.path.join(weights, "scans.csv"), "session,scan_idx,units\n8,5,3\n9,1,2\n")
        _write(os.path.join(weights, "units.csv"),
               "session,scan_idx,unit_id,readout_id\n8,5,40,1\n8,5,30,0\n9,1,7,0\n8,5,50,2\n")
        # the directory above microns/, as newer fnn versions lay it out
        net, ids = fnnload.scan_network(builder, os.path.dirname(weights), 8, 5)
        self.assertEqual(ids, ["8-5-30", "8-5-40", "8-5-50"])
        torch.testing.assert_close(net.readout.position.mu, trained.readout.position.mu)
        with self.assertRaisesRegex(fnnload.LoadError, "no scan 7-7"):
            fnnload.read_scan_units(weights, 7, 7)

        net, ids = fnnload.files_network(builder, [os.path.join(weights, "params_core.pt"),
                                                   os.path.join(weights, "params_8_5.pt")])
        self.assertEqual(ids, ["readout-0", "readout-1", "readout-2"])
        with self.assertRaisesRegex(fnnload.LoadError, "readout.position.mu"):
            fnnload.files_network(builder, [os.path.join(weights, "params_core.pt")])

    def test_random_fill(self):
        builder = fnnload.import_builder(self.dir.name)
        net, ids, filled = fnnload.random_network(builder, 4, seed=3)
        # zero parameters are filled, zero buffers are not
        self.assertEqual(sorted(filled), ["readout.bias", "readout.position.mu"])
        self.assertTrue(bool(net.readout.bias.all()))
        self.assertFalse(bool(net.zero.any()))
        self.assertEqual(ids, ["random-0", "random-1", "random-2", "random-3"])
        again, _, _ = fnnload.random_network(builder, 4, seed=3)
        torch.testing.assert_close(again.readout.position.mu, net.readout.position.mu)


if __name__ == "__main__":
    unittest.main()
