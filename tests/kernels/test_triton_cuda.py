"""The Triton kernel tests of ``triton_cases.py`` on a CUDA device (skipped without a GPU).

Under ``TRITON_INTERPRET=1`` the same cases run on CPU tensors (``test_triton_interpret.py``).
"""
from __future__ import annotations

import os

import pytest
import torch

if torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1":
    from tests.kernels.triton_cases import *  # noqa: F401,F403
else:
    pytestmark = pytest.mark.skip(reason="needs a CUDA GPU (the interpreter run covers CPU)")

    def test_triton_on_cuda():
        pass
