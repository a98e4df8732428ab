"""A stand-in for PyTorch on a one-GPU H200, for tests that run the GPU path of the
harness and of gpu_check in a subprocess with this folder first on PYTHONPATH.

Importing ``torch`` gives a MagicMock configured like tests/test_cuda_fake.py's fixture:
CUDA is available, one device named "Stand-in H200 (fake torch)" of compute capability
9.0, and every CUDA-event interval is 0.25 ms.  Kernels do nothing; what runs is the
code around them.  Files written with it say ``torch: 2.11.0+fake``: not GPU data.
"""

import sys
import types
from unittest import mock


class OutOfMemoryError(RuntimeError):
    pass


_t = mock.MagicMock(name="torch")
_t.__version__ = "2.11.0+fake"
_t.version.cuda = "13.0"
_t.backends.cudnn.version.return_value = 91002
_t.cuda.is_available.return_value = True
_t.cuda.device_count.return_value = 1
_t.cuda.get_device_properties.return_value = types.SimpleNamespace(
    name="Stand-in H200 (fake torch)", major=9, minor=0, L2_cache_size=60 << 20, total_memory=143771 << 20
)
_t.cuda.OutOfMemoryError = OutOfMemoryError
_t.cuda.nccl.version.return_value = (2, 27, 3)
_t.cuda.can_device_access_peer.return_value = True
_event = mock.MagicMock(name="event")
_event.elapsed_time.return_value = 0.25
_t.cuda.Event.return_value = _event

sys.modules[__name__] = _t
