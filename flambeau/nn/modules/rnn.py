"""Recurrent layers (``torch.nn``): ``RNN``, ``LSTM``, ``GRU`` and their cells.

The layers are composed from flambeau ops (``F.linear``, ``sigmoid``, ``tanh``, ``chunk``,
``unbind``, ``stack``), so autograd differentiates them like any other composite. For each layer and
direction the input-to-hidden product of the whole sequence is one ``F.linear``; only the
hidden-to-hidden product runs inside the loop over time steps.

Parameter names, shapes, gate order (LSTM: input, forget, cell, output; GRU: reset, update, new)
and initialisation (every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))) are PyTorch's,
so state dicts are interchangeable.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ... import _creation
from ... import _dtype as D
from ... import ops
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _empty(*shape, dtype=None):
    return _creation.empty(*shape, dtype=dtype if dtype is not None else D.get_default_dtype())


def _lstm_step(x_gates, h, c, w_hh, b_hh, w_hr=None):
    """One LSTM step: ``x_gates`` = W_ih x + b_ih (B, 4H); returns (h', c')."""
    gates = x_gates + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, 1)
    i, f, g, o = ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o)
    c = f * c + i * g
    h = o * ops.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(x_gates, h, w_hh, b_hh):
    """One GRU step: ``x_gates`` = W_ih x + b_ih (B, 3H); returns h'."""
    xr, xz, xn = x_gates.chunk(3, 1)
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, 1)
    r = ops.sigmoid(xr + hr)
    z = ops.sigmoid(xz + hz)
    n = ops.tanh(xn + r * hn)
    return (h - n) * z + n


def _rnn_step(x_gates, h, w_hh, b_hh, relu):
    pre = x_gates + F.linear(h, w_hh, b_hh)
    return ops.relu(pre) if relu else ops.tanh(pre)


class RNNBase(Module):
    """The base of ``RNN``, ``LSTM`` and ``GRU``; ``mode`` is ``'RNN_TANH'``, ``'RNN_RELU'``,
    ``'LSTM'`` or ``'GRU'``."""

    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                     "bidirectional", "proj_size"]

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        from ...backend import check_device
        check_device(device)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        gate_size = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}.get(mode)
        if gate_size is None:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size *= hidden_size

        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        real_hidden_size = proj_size if proj_size > 0 else hidden_size

        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                params = [Parameter(_empty(gate_size, layer_input_size, dtype=dtype)),
                          Parameter(_empty(gate_size, real_hidden_size, dtype=dtype))]
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    params += [Parameter(_empty(gate_size, dtype=dtype)), Parameter(_empty(gate_size, dtype=dtype))]
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    params.append(Parameter(_empty(proj_size, hidden_size, dtype=dtype)))
                    names.append("weight_hr_l{}{}")
                suffix = "_reverse" if direction == 1 else ""
                names = [n.format(layer, suffix) for n in names]
                for name, p in zip(names, params):
                    setattr(self, name, p)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """PyTorch packs the weights into one buffer for cuDNN; flambeau's parameters are already
        plain contiguous arrays, so there is nothing to do."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # -------------------------------------------------------------------------- checks
    def check_input(self, input):
        w = self._flat_weights[0]
        if input.dtype != w.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                             f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})")
        if input.dim() != 3:
            raise RuntimeError(f"input must have 3 dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def get_expected_hidden_size(self, input):
        mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, size)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}"):
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    # -------------------------------------------------------------------------- the recurrence
    def _weights_of(self, layer, direction):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of one layer and direction (None where absent)."""
        suffix = "_reverse" if direction == 1 else ""
        w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        b_ih = getattr(self, f"bias_ih_l{layer}{suffix}") if self.bias else None
        b_hh = getattr(self, f"bias_hh_l{layer}{suffix}") if self.bias else None
        w_hr = getattr(self, f"weight_hr_l{layer}{suffix}") if self.proj_size > 0 else None
        return w_ih, w_hh, b_ih, b_hh, w_hr

    def _run(self, input, h0, c0=None):
        """input (B, T, I) if batch_first else (T, B, I); h0 (L*D, B, H) and, for LSTM, c0.
        Returns (output, h_n, c_n). A padded batch is a packed one whose every step holds the
        whole batch: one recurrence (_run_packed) serves both."""
        x = input.transpose(0, 1) if self.batch_first else input
        steps_n, batch = x.size(0), x.size(1)
        data = x.reshape(steps_n * batch, x.size(2))
        out, h_n, c_n = self._run_packed(data, np.full(steps_n, batch), h0, c0)
        output = out.reshape(steps_n, batch, out.size(-1))
        return (output.transpose(0, 1) if self.batch_first else output), h_n, c_n

    def _run_packed(self, data, batch_sizes, h0, c0=None):
        """The recurrence over a PackedSequence's ``data`` (sum of lengths, I): step t updates the
        first ``batch_sizes[t]`` rows of the state (the sequences still running, longest first);
        the others keep their final state. Backwards, a sequence joins when its last element
        comes up, from its initial state. h0/c0 are in the packed (sorted) batch order."""
        steps_n = len(batch_sizes)
        num_directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        layer_input = data
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights_of(layer, direction)
                idx = layer * num_directions + direction
                h = h0[idx]
                c = c0[idx] if c0 is not None else None
                # one split node for all steps (a slice per step would cost a full-size
                # gradient array per step in backward)
                x_gates = F.linear(layer_input, w_ih, b_ih).split([int(n) for n in batch_sizes], 0)
                out = [None] * steps_n
                order = range(steps_n - 1, -1, -1) if direction == 1 else range(steps_n)
                for t in order:
                    n = int(batch_sizes[t])
                    xg = x_gates[t]
                    rest = n < h.size(0)
                    if self.mode == "LSTM":
                        new_h, new_c = _lstm_step(xg, h[:n] if rest else h, c[:n] if rest else c, w_hh, b_hh, w_hr)
                        c = ops.cat([new_c, c[n:]], 0) if rest else new_c
                    elif self.mode == "GRU":
                        new_h = _gru_step(xg, h[:n] if rest else h, w_hh, b_hh)
                    else:
                        new_h = _rnn_step(xg, h[:n] if rest else h, w_hh, b_hh, self.mode == "RNN_RELU")
                    h = ops.cat([new_h, h[n:]], 0) if rest else new_h
                    out[t] = new_h
                outputs.append(ops.cat(out, 0))
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if num_directions == 1 else ops.cat(outputs, 1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, ops.stack(h_n, 0), (ops.stack(c_n, 0) if c0 is not None else None)

    def _forward_packed(self, packed, hx):
        """A PackedSequence in, a PackedSequence out (same batch_sizes and orderings); hx and
        the returned states are in the caller's batch order, as in PyTorch."""
        data, batch_sizes = packed.data, packed.batch_sizes.numpy()
        batch = int(batch_sizes[0])
        sizes = (self.proj_size if self.proj_size > 0 else self.hidden_size, self.hidden_size)
        lstm = self.mode == "LSTM"
        self.check_input(data.unsqueeze(0))
        expected = (self.num_layers * (2 if self.bidirectional else 1), batch)
        if hx is None:
            hx = tuple(_creation.zeros(*expected, n, dtype=data.dtype) for n in sizes[:2 if lstm else 1])
        else:
            hx = tuple(hx) if lstm else (hx,)
            for k, (hk, n) in enumerate(zip(hx, sizes)):
                self.check_hidden_size(hk, expected + (n,), f"Expected hidden{f'[{k}]' if lstm else ''} size "
                                       + "{}, got {}")
            if packed.sorted_indices is not None:
                hx = tuple(hk.index_select(1, packed.sorted_indices) for hk in hx)
        out, h_n, c_n = self._run_packed(data, batch_sizes, *hx)
        if packed.unsorted_indices is not None:
            h_n = h_n.index_select(1, packed.unsorted_indices)
            c_n = c_n.index_select(1, packed.unsorted_indices) if c_n is not None else None
        output = PackedSequence(out, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return output, ((h_n, c_n) if lstm else h_n)

    def _zeros_hidden(self, input, size):
        mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        return _creation.zeros(self.num_layers * num_directions, mini_batch, size, dtype=input.dtype)

    def _forward_single(self, input, hx, name, tensor_word):
        """RNN and GRU: one hidden state."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tensor_word} instead")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
            if hx is not None:
                if hx.dim() != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D tensor")
                hx = hx.unsqueeze(1)
        elif hx is not None and hx.dim() != 3:
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
        if hx is None:
            hx = self._zeros_hidden(input, self.hidden_size)
        self.check_input(input)
        self.check_hidden_size(hx, self.get_expected_hidden_size(input))
        output, h_n, _ = self._run(input, hx)
        if not is_batched:
            output, h_n = output.squeeze(batch_dim), h_n.squeeze(1)
        return output, h_n


class RNN(RNNBase):
    """``nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``: h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh).

    ``forward(input, hx=None)`` -> ``(output, h_n)``; input (T, B, I) ((B, T, I) with batch_first) or
    unbatched (T, I); hx (num_layers * num_directions, B, H).
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._forward_single(input, hx, "RNN", " tensor")


class GRU(RNNBase):
    """``nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False)``, PyTorch's formulation:

    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.

    ``forward(input, hx=None)`` -> ``(output, h_n)``.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        return self._forward_single(input, hx, "GRU", "")


class LSTM(RNNBase):
    """``nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0)``; gates i, f, g, o in that order in ``weight_ih_l*``.

    ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` -> ``(output, (h_n, c_n))``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        real_hidden_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        if hx is None:
            hx = (self._zeros_hidden(input, real_hidden_size), self._zeros_hidden(input, self.hidden_size))
        else:
            if is_batched:
                if hx[0].dim() != 3 or hx[1].dim() != 3:
                    raise RuntimeError("For batched 3-D input, hx and cx should also be 3-D but got "
                                       f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
            else:
                if hx[0].dim() != 2 or hx[1].dim() != 2:
                    raise RuntimeError("For unbatched 2-D input, hx and cx should also be 2-D but got "
                                       f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        self.check_input(input)
        expected = self.get_expected_hidden_size(input)
        self.check_hidden_size(hx[0], expected, "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hx[1], (expected[0], expected[1], self.hidden_size), "Expected hidden[1] size {}, got {}")
        output, h_n, c_n = self._run(input, hx[0], hx[1])
        if not is_batched:
            output, h_n, c_n = output.squeeze(batch_dim), h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)


# ------------------------------------------------------------------------------ cells
class RNNCellBase(Module):
    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        from ...backend import check_device
        check_device(device)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_empty(num_chunks * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(_empty(num_chunks * hidden_size, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(_empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _check(self, name, input, hxs):
        """PyTorch's cell checks; returns (input batched, hxs batched or None, is_batched)."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hxs is not None:
            for idx, value in enumerate(hxs):
                if value.dim() not in (1, 2):
                    what = "hidden" if len(hxs) == 1 else f"hx[{idx}]"
                    raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {value.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hxs is None:
            z = _creation.zeros(input.size(0), self.hidden_size, dtype=input.dtype)
            hxs = (z, z)
        elif not is_batched:
            hxs = tuple(h.unsqueeze(0) for h in hxs)
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")
        for idx, h in enumerate(hxs):
            if h.size(0) != input.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{idx} batch size "
                                   f"{h.size(0)}")
            if h.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{idx} has inconsistent hidden_size: got {h.size(1)}, expected "
                                   f"{self.hidden_size}")
        return input, hxs, is_batched


class RNNCell(RNNCellBase):
    """``nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh')``:
    h' = act(W_ih x + b_ih + W_hh h + b_hh); ``forward(input, hx=None)`` -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, hxs, is_batched = self._check("RNNCell", input, None if hx is None else (hx,))
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        x_gates = F.linear(input, self.weight_ih, self.bias_ih)
        ret = _rnn_step(x_gates, hxs[0], self.weight_hh, self.bias_hh, self.nonlinearity == "relu")
        return ret if is_batched else ret.squeeze(0)


class LSTMCell(RNNCellBase):
    """``nn.LSTMCell(input_size, hidden_size, bias=True)``; ``forward(input, hx=None)`` with
    ``hx = (h, c)`` -> ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, hxs, is_batched = self._check("LSTMCell", input, hx)
        x_gates = F.linear(input, self.weight_ih, self.bias_ih)
        h, c = _lstm_step(x_gates, hxs[0], hxs[1], self.weight_hh, self.bias_hh)
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """``nn.GRUCell(input_size, hidden_size, bias=True)``; ``forward(input, hx=None)`` -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, hxs, is_batched = self._check("GRUCell", input, None if hx is None else (hx,))
        x_gates = F.linear(input, self.weight_ih, self.bias_ih)
        ret = _gru_step(x_gates, hxs[0], self.weight_hh, self.bias_hh)
        return ret if is_batched else ret.squeeze(0)
