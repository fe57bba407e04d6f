"""utils.to_categorical and utils.set_random_seed."""
import random

import numpy as np
import pytest

from fastdense import utils


def test_to_categorical_like_keras():
    y = utils.to_categorical([0, 2, 1])
    assert y.dtype == np.float32 and y.shape == (3, 3)
    np.testing.assert_array_equal(y, np.eye(3)[[0, 2, 1]])
    assert utils.to_categorical(np.array([[1], [0]]), 4).shape == (2, 4)   # (N, 1) -> (N, k)
    assert utils.to_categorical(np.uint8([9]), dtype="float64").dtype == np.float64
    assert utils.to_categorical([1.0, 2.0], 3).tolist() == [[0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("y,n,pattern", [([0, -1], None, ">= 0"), ([0, 3], 3, "out of range"),
                                         ([0.5], None, "whole"), ([], None, "num_classes"),
                                         ([1], 0, "num_classes"), (["a"], None, "integer")])
def test_to_categorical_rejects_bad_labels(y, n, pattern):
    with pytest.raises(ValueError, match=pattern):
        utils.to_categorical(y, n)


def test_set_random_seed_seeds_everything():
    utils.set_random_seed(3)
    a = (utils.get_rng().random(), np.random.random(), random.random())
    utils.set_random_seed(3)
    assert (utils.get_rng().random(), np.random.random(), random.random()) == a
    with pytest.raises(ValueError):
        utils.set_random_seed(-1)
