"""Shared test setup for the unit tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors in unit tests are tiny: on a busy 2-core machine a second intra-op thread only
    adds waiting (tiny float64 matmuls in gradcheck get 10-100x slower). Restored after each test."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
