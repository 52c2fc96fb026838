"""Unit tests of rewrites.py (run by the Go test, or by hand:
python3 -m unittest test_rewrites in this directory)."""

import unittest

import torch
from torch.nn import functional

import rewrites


class Position(torch.nn.Module):
    """Positions [U, 2] as fnn's Gaussian position gives them in evaluation."""

    def __init__(self, mu):
        super().__init__()
        self.mu = torch.nn.Parameter(mu)

    @property
    def mean(self):
        return self.mu


class Feature(torch.nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(w) for w in weights])

    def forward(self, stream=None):
        return torch.stack(list(self.weights), dim=0)  # [S, U, R, C]


class PositionReadout(torch.nn.Module):
    """A readout of the form of fnn's PositionFeature (eval mode): bilinear
    sampling at tanh-bounded positions, border padding, then per stream a
    dot product with the feature weights plus a bias; [N, S, U, R]."""

    def __init__(self, units, streams, channels, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        mu = torch.randn(units, 2, generator=g) * 1.5
        mu[:4] = torch.tensor([[-9.0, -9.0], [9.0, 9.0], [9.0, -9.0], [0.0, 0.0]])  # corners and centre
        self.position = Position(mu)
        self.bound = torch.tanh
        self.feature = Feature([torch.randn(units, 1, channels, generator=g) for _ in range(streams)])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(units, 1, generator=g))
                                              for _ in range(streams)])
        self.streams = streams

    def forward(self, core, stream=None):
        grid = self.bound(self.position.mean).expand(core.size(0), -1, -1).unsqueeze(2)
        out = functional.grid_sample(core, grid, mode="bilinear", padding_mode="border", align_corners=False)
        n, sc, u, _ = out.shape
        out = out.view(n, self.streams, sc // self.streams, u)
        out = torch.einsum("S U R C , N S C U -> N S U R", self.feature(), out)
        return out + torch.stack(list(self.biases), dim=0)


class RewritesTest(unittest.TestCase):
    def test_gather_readout_equals_grid_sample(self):
        torch.manual_seed(0)
        readout = PositionReadout(units=300, streams=3, channels=5).eval()
        core = torch.randn(2, 15, 7, 11)
        with torch.no_grad():
            want = readout(core)
            self.assertTrue(rewrites.is_position_readout(readout))
            for block in (1, 4, 32):
                got = rewrites.GatherReadout(readout, 7, 11, block=block)(core)
                self.assertEqual(got.shape, want.shape)
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
            with rewrites.gather_readouts(readout) as swapped:
                self.assertEqual(swapped, 1)
                torch.testing.assert_close(readout(core), want, rtol=1e-5, atol=1e-5)
            self.assertNotIn("forward", vars(readout))

    def test_training_readout_left_alone(self):
        readout = PositionReadout(units=5, streams=1, channels=2).train()
        with rewrites.gather_readouts(readout) as swapped:
            self.assertEqual(swapped, 0)

    def test_bilinear_taps_clamp_to_the_border(self):
        index, weight = rewrites.bilinear_taps(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), 4, 6)
        # Both corners sample exactly one pixel (weight 1).
        self.assertEqual(index[0, 0].item(), 0)
        self.assertAlmostEqual(weight[0, 0].item(), 1.0)
        self.assertEqual(index[1, 0].item(), 3 * 6 + 5)
        self.assertAlmostEqual(weight[1, 0].item(), 1.0)
        self.assertTrue(bool((index < 24).all()))
        torch.testing.assert_close(weight.sum(1), torch.ones(2))

    def test_matmul_plan(self):
        # fnn's CvT-LSTM attention
        self.assertEqual(rewrites.matmul_plan("N S G C Q , N S G C D -> N S G Q D"), (True, False, False))
        self.assertEqual(rewrites.matmul_plan("N S G C D , N S G Q D -> N S G C Q"), (False, True, False))
        self.assertEqual(rewrites.matmul_plan("bij,bjk->bki"), (False, False, True))
        for eq in ("S U R C , N S C U -> N S U R", "N C H W , N C -> N C H W", "ij,jk", "...ij,...jk->...ik",
                   "bij,bjk->bik,", "bii,bij->bij", "bij,bij->bij", "abij,bajk->abik"):
            self.assertIsNone(rewrites.matmul_plan(eq), eq)

    def test_matmul_einsums_equal_einsum(self):
        g = torch.Generator().manual_seed(1)
        q = torch.randn(1, 2, 3, 5, 7, generator=g)
        k = torch.randn(1, 2, 3, 5, 7, generator=g)
        w = torch.randn(1, 2, 3, 7, 7, generator=g)
        cases = [("N S G C Q , N S G C D -> N S G Q D", q, k), ("N S G C D , N S G Q D -> N S G C Q", q, w),
                 ("bij,bjk->bki", q[0, 0], w[0, 0]), ("N C, N C -> N", q[0, 0, 0], k[0, 0, 0])]
        for eq, a, b in cases:
            want = torch.einsum(eq, a, b)
            with rewrites.matmul_einsums():
                got = torch.einsum(eq, a, b)
                listed = torch.einsum(eq, [a, b])
            torch.testing.assert_close(got, want)
            torch.testing.assert_close(listed, want)


def rotation_in_place(x, y, z):
    """Rz(z) Ry(y) Rx(x) filled into identity matrices in place, the way
    that freezes the batch size when traced."""
    n = len(x)
    a, b, c = (torch.eye(3).repeat(n, 1, 1) for _ in range(3))
    a[:, 0, 0], a[:, 0, 1], a[:, 1, 0], a[:, 1, 1] = torch.cos(z), -torch.sin(z), torch.sin(z), torch.cos(z)
    b[:, 0, 0], b[:, 0, 2], b[:, 2, 0], b[:, 2, 2] = torch.cos(y), torch.sin(y), -torch.sin(y), torch.cos(y)
    c[:, 1, 1], c[:, 1, 2], c[:, 2, 1], c[:, 2, 2] = torch.cos(x), -torch.sin(x), torch.sin(x), torch.cos(x)
    return a.matmul(b).matmul(c)


rmat_3d = rotation_in_place  # the name traced_rotations replaces


class Rotating(torch.nn.Module):
    def forward(self, angles):
        return rmat_3d(*angles.unbind(1))


class RotationsTest(unittest.TestCase):
    def test_rotation_3d_equals_in_place(self):
        angles = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(rewrites.rotation_3d(*angles.unbind(1)), rotation_in_place(*angles.unbind(1)))

    def test_traced_rotations_keep_the_batch_dynamic(self):
        net = Rotating()
        with rewrites.traced_rotations(net) as n:
            self.assertEqual(n, 1)
            traced = torch.jit.trace(net, torch.zeros(1, 3))
        self.assertIs(rmat_3d, rotation_in_place)
        angles = torch.randn(4, 3)
        torch.testing.assert_close(traced(angles), rotation_in_place(*angles.unbind(1)))


if __name__ == "__main__":
    unittest.main()
