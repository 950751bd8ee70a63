"""Shared by the live tests: training a model sets torch's thread count; each module leaves it as it found it."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
