"""A small PyTorch network with the stateful shape of fnn's MICrONS network,
for testing the exporter where fnn and its weights are not available.

Like fnn (github.com/cajal/fnn), every stateful module keeps its state in
Python: a dict `past` that `reset()` empties and the first step after a
reset fills.

  - perspective: the pupil position shifts the frame before the core
    (GridSample, as fnn's retina resampling);
  - core: two causal temporal convolutions (temporal kernel 3) that keep
    their last inputs in a deque, then a convolutional LSTM cell whose
    h and c start as [1, C, 1, 1] zeros and grow to the map's size;
  - modulation: an MLP and a flat LSTM cell (h and c [1, 8]) on the pupil
    radius and treadmill, added to the core's input channels;
  - readout: in the form of fnn's PositionFeature readout, so that the
    exporter's rewrites (rewrites.py) apply to it: per neuron a position
    on the feature map (position.mean, bounded by tanh; bilinear
    sampling), per stream (2 streams of 4 channels) a feature weight
    vector and a bias; the streams are averaged, then exp.

The convolutional LSTM also runs a small attention over the map with the
einsum equations of fnn's CvT-LSTM, which the exporter turns into MatMul.
"""

import collections

import torch
from torch import nn
from torch.nn import functional as F


class TemporalConv(nn.Module):
    """A causal 3-D convolution applied frame by frame: it keeps the last
    `temporal` (zero-padded) inputs in past["history"]."""

    def __init__(self, in_channels, out_channels, temporal=3, spatial=3, stride=1):
        super().__init__()
        self.temporal = temporal
        self.stride = stride
        if (spatial - stride) % 2:
            raise ValueError("spatial - stride must be even")
        self.padding = (spatial - stride) // 2
        self.weights = nn.Parameter(torch.randn(out_channels, in_channels, temporal, spatial, spatial))
        self.bias = nn.Parameter(0.1 * torch.randn(out_channels))
        self.past = {}

    def weight(self):
        # weight normalisation, as fnn's Conv: a cache in past["weight"]
        w = self.weights
        var, mean = torch.var_mean(w, dim=[1, 2, 3, 4], keepdim=True, unbiased=False)
        return (w - mean) * (var * w[0].numel() + 1e-5).pow(-0.5)

    def forward(self, x):
        x = F.pad(x, [self.padding] * 4)
        if self.past:
            weight = self.past["weight"]
            history = self.past["history"]
        else:
            self.past["stream"] = None
            self.past["weight"] = weight = self.weight()
            history = collections.deque([torch.zeros_like(x)] * self.temporal, maxlen=self.temporal)
            self.past["history"] = history
        history.append(x)
        y = F.conv3d(torch.stack(list(history), dim=2), weight, self.bias, stride=self.stride)
        return y.squeeze(2)


class ConvLstmCell(nn.Module):
    """A convolutional LSTM cell keeping h and c in past; they start as
    [1, C, 1, 1] zeros (broadcast over the map), as fnn's CvtLstm."""

    def __init__(self, in_channels, hidden):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, 3, padding=1)
        with torch.no_grad():
            self.gates.weight.mul_(0.5)
            self.gates.bias[hidden:2 * hidden].add_(1.0)  # forget gate bias
        self.past = {}

    def attend(self, x):
        """Attention over the map positions, 2 groups, with the einsum
        equations of fnn's CvtLstm (N S G C Q: batch, stream, group,
        channel, position)."""
        n, ch, height, width = x.shape
        q = x.view(n, 1, 2, ch // 2, height * width)
        k = torch.roll(q, 1, dims=4)
        w = torch.einsum("N S G C Q , N S G C D -> N S G Q D", q, k).softmax(dim=-1)
        return torch.einsum("N S G C D , N S G Q D -> N S G C Q", q, w).reshape(n, ch, height, width)

    def forward(self, x):
        if self.past:
            h, c = self.past["h"], self.past["c"]
        else:
            h = c = torch.zeros(1, self.hidden, 1, 1)
        x = x + 0.5 * self.attend(x)
        hx = torch.cat([x, h.expand(x.shape[0], -1, x.shape[2], x.shape[3])], dim=1)
        i, f, g, o = self.gates(hx).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        self.past["c"] = c
        self.past["h"] = h
        return h


class FlatLstmCell(nn.Module):
    """An LSTM cell on a feature vector keeping h and c [1, hidden] in past."""

    def __init__(self, in_features, hidden):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Linear(in_features + hidden, 4 * hidden)
        self.past = {}

    def forward(self, x):
        if self.past:
            h, c = self.past["h"], self.past["c"]
        else:
            h = c = torch.zeros(1, self.hidden)
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        self.past["c"] = c
        self.past["h"] = h
        return h


class Position(nn.Module):
    """Per-neuron positions; `mean` [U, 2] as fnn's positions give them."""

    def __init__(self, neurons):
        super().__init__()
        self.mu = nn.Parameter(torch.randn(neurons, 2))

    @property
    def mean(self):
        return self.mu


class Feature(nn.Module):
    """Per-stream feature weights; forward(stream=None) -> [S, U, 1, C]."""

    def __init__(self, neurons, channels, streams):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(neurons, 1, channels) * 1.5)
                                         for _ in range(streams)])

    def forward(self, stream=None):
        return torch.stack(list(self.weights), dim=0)


class Readout(nn.Module):
    """fnn's PositionFeature form: forward(core [N, S*C, h, w]) -> [N, S, U, 1]."""

    def __init__(self, neurons, channels, streams):
        super().__init__()
        self.streams = streams
        self.position = Position(neurons)
        self.bound = torch.tanh
        self.feature = Feature(neurons, channels // streams, streams)
        self.biases = nn.ParameterList([nn.Parameter(torch.randn(neurons, 1) * 0.2) for _ in range(streams)])

    def forward(self, core, stream=None):
        n = core.shape[0]
        grid = self.bound(self.position.mean).expand(n, -1, -1).unsqueeze(2)
        sampled = F.grid_sample(core, grid, mode="bilinear", padding_mode="border", align_corners=False)
        sampled = sampled.view(n, self.streams, -1, sampled.shape[2])  # [N, S, C, U]
        out = torch.einsum("S U R C , N S C U -> N S U R", self.feature(), sampled)
        return out + torch.stack(list(self.biases), dim=0)


class ToyVisual(nn.Module):
    """The test network. forward(stimulus [1,1,H,W] in 0..1, perspective
    [1,2], modulation [1,2]) -> responses [1, neurons], like fnn's
    Visual.forward; reset() empties the state."""

    def __init__(self, neurons=23, channels=8, seed=1):
        super().__init__()
        torch.manual_seed(seed)
        self.neurons = neurons
        self.conv1 = TemporalConv(1, channels, spatial=4, stride=2)
        self.conv2 = TemporalConv(channels, channels)
        self.modulation_in = nn.Linear(2, 8)
        self.modulation_lstm = FlatLstmCell(8, 8)
        self.modulation_out = nn.Linear(8, channels)
        self.recurrent = ConvLstmCell(channels, channels)
        self.readout = Readout(neurons, channels, streams=2)
        # sampling positions of a 36 x 64 "retina" in the frame, x then y in [-1, 1]
        ys = (torch.arange(36) + 0.5) / 18 - 1
        xs = (torch.arange(64) + 0.5) / 32 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self.register_buffer("retina", torch.stack([gx, gy], dim=-1).unsqueeze(0))

    def reset(self):
        for m in self.modules():
            if isinstance(getattr(m, "past", None), dict):
                m.past.clear()
        return self

    def forward(self, stimulus, perspective, modulation):
        # perspective: shift the image by up to 10 % of its size
        shift = 0.1 * torch.tanh(perspective)
        grid = self.retina + shift.view(-1, 1, 1, 2)
        x = F.grid_sample(stimulus, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = (x - 0.5) * 4
        # modulation
        m = self.modulation_out(self.modulation_lstm(torch.tanh(self.modulation_in(modulation))))
        # core
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x) + m.view(m.shape[0], -1, 1, 1))
        h = self.recurrent(x)
        # readout: mean over streams, exp
        r = self.readout(h).mean(dim=1)
        return torch.exp(r.squeeze(2))
