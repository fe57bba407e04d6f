"""The compute plan of a model, its per-call buffers, and its flat gradients.

``Plan``: which layers compute (``Flatten``, ``InputLayer`` and, outside
training, ``Dropout`` pass their input through), and the fusions that save a
pass over memory:

* the output activation left to the loss (softmax + cross-entropy, sigmoid +
  binary cross-entropy): the last Dense layer produces logits
  (``logits_only``), the loss kernel gives dL/dz directly (``dy_is_dz``); a
  trailing ``Activation('softmax')`` layer is dropped from the training plan
  for the same reason;
* a layer with a ``fuse_backward_into_previous`` hook (Dropout after a ReLU
  Dense layer) turns the gradient into the previous layer's dL/dz, and its
  bias gradient, in one pass;
* layers that need no input gradient get none: the first layer that
  computes, and every layer with no trainable layer before it.

``Workspace``: every buffer one fit/evaluate/predict call needs, allocated
once on 64-byte lines (see ``fastdense/_memory.py``); a shorter last batch
uses leading-row views of them.

``GradientStore``: one flat, line-aligned float32 vector holding the
gradient of every trainable parameter (each layer's segment starts on a
line), so that data-parallel training sums it with one in-place allreduce,
and the (parameter, gradient, state offset) segments the optimizer steps.
"""
import numpy as np

from .. import _memory

__all__ = ["Plan", "Node", "Workspace", "GradientStore"]

_F32 = np.float32
_LINE = 16          # floats per 64-byte line


def _features(shape):
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


class Node:
    """One computing layer of a plan, with its fixed per-plan options."""

    __slots__ = ("layer", "index", "features", "logits_only", "dy_is_dz", "bias_done",
                 "fuse_into_prev", "need_dx", "trainable", "first", "gathers")

    def __init__(self, layer, index, features):
        self.layer = layer
        self.index = index            # position in model.layers
        self.features = features      # output features per sample
        self.logits_only = False
        self.dy_is_dz = False         # backward: the incoming gradient is dL/dz
        self.bias_done = False        # backward: the bias gradient is already written
        self.fuse_into_prev = False   # backward: this node writes the previous one's dL/dz
        self.need_dx = False
        self.trainable = False
        self.first = False
        self.gathers = False          # forward/backward take rows=

    def __repr__(self):
        return "<Node %s>" % self.layer.name


class Plan:
    """The layers that compute, in order, with their fusions."""

    def __init__(self, model, training, loss=None, trainable=None):
        from ..layers.core import Activation
        shapes = model._layer_output_shapes()
        nodes = [Node(l, i, _features(shapes[i])) for i, l in enumerate(model.layers)
                 if l.computes(training)]
        self.training = training
        self.input_features = _features(model._input_shape())
        self.fused = False
        if loss is not None and nodes:
            last = nodes[-1]
            act = getattr(last.layer, "activation", None)
            if act is not None and loss.fuses_with(act.name):
                if isinstance(last.layer, Activation):
                    # the loss takes the previous layer's output as logits and
                    # gives the gradient with respect to that output
                    if len(nodes) > 1:
                        nodes.pop()
                        self.fused = True
                else:
                    last.logits_only = True
                    last.dy_is_dz = True
                    self.fused = True
        trainable = trainable if trainable is not None else set()
        seen_trainable = False
        for i, node in enumerate(nodes):
            node.first = i == 0
            node.gathers = node.first and node.layer.gathers_rows
            node.trainable = training and id(node.layer) in trainable \
                and bool(node.layer.param_shapes())
            node.need_dx = training and seen_trainable
            seen_trainable = seen_trainable or node.trainable
        if training:
            for prev, node in zip(nodes, nodes[1:]):
                hook = getattr(node.layer, "fuses_backward_with", None)
                if hook is not None and not prev.dy_is_dz and hook(prev.layer):
                    node.fuse_into_prev = True
                    prev.dy_is_dz = True
                    prev.bias_done = True
        self.nodes = nodes
        self.output_features = nodes[-1].features if nodes else self.input_features

    @property
    def first(self):
        return self.nodes[0] if self.nodes else None


class Workspace:
    """Buffers for one call, sized for ``rows`` samples."""

    def __init__(self, plan, rows, train=False, target_proto=None, need_probs=False,
                 gather_input=False, weights=False):
        self.rows = rows
        self.plan = plan
        nodes = plan.nodes
        self.outs = [_memory.empty((rows, n.features)) for n in nodes]
        self.grads = [_memory.empty((rows, n.features)) for n in nodes] if train else None
        self.extra = [{k: _memory.empty(s) for k, s in
                       n.layer.workspace_shapes(rows, plan.training).items()}
                      for n in nodes]
        self.probs = (_memory.empty((rows, plan.output_features))
                      if need_probs and plan.fused else None)
        self.targets = (np.empty((rows,) + target_proto.shape[1:], target_proto.dtype)
                        if target_proto is not None else None)
        self.weights = np.empty(rows, _F32) if weights else None
        self.batch = (_memory.empty((rows, plan.input_features))
                      if gather_input else None)
        self._views = {}

    def view(self, m):
        """(outs, grads, extra, probs, targets, weights, batch) for the first m rows."""
        if m == self.rows:
            return (self.outs, self.grads, self.extra, self.probs, self.targets,
                    self.weights, self.batch)
        got = self._views.get(m)
        if got is None:
            cut = lambda a: None if a is None else a[:m]
            got = ([o[:m] for o in self.outs],
                   None if self.grads is None else [g[:m] for g in self.grads],
                   [{k: v[:m] for k, v in e.items()} for e in self.extra],
                   cut(self.probs), cut(self.targets), cut(self.weights), cut(self.batch))
            if len(self._views) < 4:      # the last, shorter batch of each split
                self._views[m] = got
        return got


class GradientStore:
    """One flat gradient vector over the trainable layers, and their segments."""

    def __init__(self, layers):
        self.layers = [l for l in layers if l.param_shapes()]
        offsets, total = [], 0
        for l in self.layers:
            offsets.append(total)
            size = l.param_buffer.size
            total += -(-size // _LINE) * _LINE      # the next segment starts on a line
        self.flat = _memory.zeros(total)
        self.n_params = int(sum(l.param_buffer.size for l in self.layers))
        self.views = {}           # id(layer) -> [gradient views, Keras order]
        self.segments = []        # (param2d, grad2d, state offset)
        state_offset = 0
        for l, off in zip(self.layers, offsets):
            size = l.param_buffer.size
            seg = self.flat[off:off + size]
            views, o = [], 0
            for s in l.param_shapes():
                n = _features(s)
                views.append(seg[o:o + n].reshape(s))
                o += n
            self.views[id(l)] = views
            self.segments.append((l.param_buffer.reshape(1, size), seg.reshape(1, size),
                                  state_offset))
            state_offset += size

    def grads_for(self, layer):
        return self.views.get(id(layer))
