"""The engine behind ``Sequential`` (Keras 2.3's ``engine/``, for dense networks).

=================  ==============================================================
``inputs``         checks of x, y, sample weights, class weights and arguments
``workspace``      the compute plan (fusions), per-call buffers, flat gradients
``data``           where a step's batch comes from (dense or compressed rows)
``training``       the kernel step, the epoch loop, evaluate and predict
``saving``         model and weight files, configs and JSON
=================  ==============================================================

Layers (``fastdense/layers/``) declare parameters, workspace, forward and
backward; everything else happens here.
"""
