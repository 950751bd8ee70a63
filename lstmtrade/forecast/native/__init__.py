"""The native engine: LSTM training epochs in a small C kernel (``lstm.c``), built on first use.

``nn.LSTM`` on a CPU spends most of each small training step in per-time-step overhead (about 3 ms a
step for a batch of 64 windows of 30 bars and 32 units on one core, against about 0.65 ms for its
50 MFLOP of matrix products at that core's matmul rate). The kernel does the same maths (forward,
backpropagation through time and Adam) for a whole epoch in one call, with the gate arithmetic fused
into the matrix products' loops. It runs on one core, releases the GIL (ctypes does) and is
deterministic, so folds can train in threads.

The kernel is compiled with the machine's C compiler (``cc``, or ``$LSTMTRADE_CC``) for this CPU
(``-march=native``) into ``$LSTMTRADE_KERNEL_DIR`` (default ``~/.cache/lstmtrade/kernels``), once per
source, compiler and CPU, in about a second. Where no compiler works, :func:`unavailable` says why and
``--engine auto`` trains with the loop engine instead. ``LSTMTRADE_NATIVE=0`` turns it off.

It trains one-layer LSTMs whose hidden size is a multiple of 8, on the CPU; results agree with the loop
engine to float32 rounding (not bit for bit: sums run in another order).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SOURCE = Path(__file__).with_name("lstm.c")
FLAGS = ["-O3", "-std=gnu11", "-fPIC", "-shared", "-ffp-contract=fast"]
ARCH_FLAGS = (["-march=native"], [])  # tried in turn: this CPU's vector units, then the compiler default
LOSS_KINDS = {"mse": 0, "huber": 1}

_float_p = ctypes.POINTER(ctypes.c_float)
_long_p = ctypes.POINTER(ctypes.c_long)
_int64_p = ctypes.POINTER(ctypes.c_int64)


def kernel_dir() -> Path:
    """Where built kernels are kept: ``$LSTMTRADE_KERNEL_DIR``, else ``~/.cache/lstmtrade/kernels``."""
    if os.environ.get("LSTMTRADE_KERNEL_DIR"):
        return Path(os.environ["LSTMTRADE_KERNEL_DIR"]).expanduser()
    return Path.home() / ".cache" / "lstmtrade" / "kernels"


def _cpu_id() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags where Linux tells them."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "|".join(sorted({ln for ln in lines if ln.startswith(("flags", "model name", "Features"))}))
    except OSError:
        return platform.processor() or platform.machine()


def _compiler() -> str | None:
    name = os.environ.get("LSTMTRADE_CC") or "cc"
    return shutil.which(name)


@functools.lru_cache(maxsize=None)
def _load() -> tuple[Any, str | None]:
    """``(library, None)`` or ``(None, reason)``; compiles at most once per process."""
    if os.environ.get("LSTMTRADE_NATIVE", "1") == "0":
        return None, "turned off by LSTMTRADE_NATIVE=0"
    cc = _compiler()
    if cc is None:
        return None, f"no C compiler found ({os.environ.get('LSTMTRADE_CC') or 'cc'})"
    source = SOURCE.read_bytes()
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{cc} --version failed: {exc}"
    errors = []
    for arch in ARCH_FLAGS:
        flags = FLAGS + arch
        key = hashlib.sha256(b"\0".join([source, " ".join(flags).encode(), version.encode(),
                                         platform.machine().encode(), _cpu_id().encode()])).hexdigest()[:16]
        target = _built(cc, flags, f"lstm-{key}.so", errors)
        if target is None:
            continue
        try:
            return _bind(ctypes.CDLL(str(target))), None
        except OSError as exc:
            errors.append(f"loading {target}: {exc}")
    return None, "; ".join(errors)


def _built(cc: str, flags: list[str], name: str, errors: list[str]) -> Path | None:
    """The kernel file, compiled now unless already there; a private temporary folder when the kernel
    folder cannot be written (read-only home)."""
    private = Path(tempfile.gettempdir()) / f"lstmtrade-kernels-{getattr(os, 'getuid', lambda: 'user')()}"
    for folder in (kernel_dir(), private):
        target = folder / name
        if target.exists():
            return target
        error = _compile(cc, flags, target)
        if error is None:
            return target
        errors.append(error)
        if not error.startswith("cannot write"):
            return None
    return None


def _compile(cc: str, flags: list[str], target: Path) -> str | None:
    """Compile into a temporary file beside ``target``, then rename (safe with concurrent runs)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write to {target.parent}: {exc}"
    try:
        done = subprocess.run([cc, *flags, str(SOURCE), "-o", tmp, "-lm"], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-300:] or f"exit status {done.returncode}"
            return f"{Path(cc).name} {' '.join(flags)} failed: {said}"
        os.replace(tmp, target)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return f"compiling {SOURCE.name}: {exc}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _bind(lib: Any) -> Any:
    lib.lt_param_count.restype = ctypes.c_long
    lib.lt_param_count.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.lt_work_floats.restype = ctypes.c_long
    lib.lt_work_floats.argtypes = [ctypes.c_int] * 4
    lib.lt_loss_grad.restype = ctypes.c_double
    lib.lt_loss_grad.argtypes = [_float_p, _float_p, _float_p, _float_p] + [ctypes.c_int] * 5 + [
        ctypes.c_float, _float_p]
    lib.lt_train_epoch.restype = ctypes.c_double
    lib.lt_train_epoch.argtypes = [_float_p, _float_p, _float_p, _long_p, _float_p, _int64_p, _float_p, _int64_p,
                                   ctypes.c_long] + [ctypes.c_int] * 4 + [ctypes.c_float] * 4 + [
        ctypes.c_int, ctypes.c_float]
    return lib


def unavailable() -> str | None:
    """Why the native kernel cannot be used on this machine, or None when it can (builds it if needed)."""
    return _load()[1]


def unsupported(layers: int, hidden: int, device: str) -> str | None:
    """Why the kernel cannot train this network (None when it can); ``device`` is ``cpu`` or ``cuda``."""
    if layers != 1:
        return f"it trains one LSTM layer, not {layers}"
    if hidden % 8:
        return f"it needs a hidden size that is a multiple of 8, not {hidden}"
    if device != "cpu":
        return f"it runs on the CPU, not on {device}"
    return None


def kernel_id() -> str:
    """Names the built kernel (source, flags, compiler, CPU): results are reproducible for the same id."""
    lib, why = _load()
    return why or lib._name.rsplit("/", 1)[-1]


def _ptr(array: np.ndarray, kind: Any = _float_p) -> Any:
    return array.ctypes.data_as(kind)


def _parameters(net: Any) -> list[Any]:
    lstm = net.lstm
    return [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0, net.head.weight, net.head.bias]


def _flat(net: Any) -> np.ndarray:
    """The net's parameters as one float32 array in the kernel's (torch's) layout."""
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in _parameters(net)]).astype(np.float32)


def _floats(tensor: Any) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


class NativeTrainer:
    """Trains an ``LSTMRegressor`` (one layer) epoch by epoch in the C kernel, with its own Adam state.

    The net's tensors are updated after every epoch (:meth:`epoch`), so validation and ``state_dict``
    work as with the loop engine.
    """

    def __init__(self, net: Any, x_fit: Any, y_fit: Any, batch_size: int, lr: float, loss: str = "mse"):
        lib, why = _load()
        if lib is None:
            from ..errors import ConfigError

            raise ConfigError(f"--engine native: the C kernel is unavailable: {why}")
        self.lib, self.net = lib, net
        self.hidden, self.features = net.lstm.hidden_size, net.lstm.input_size
        self.params = _flat(net)
        assert len(self.params) == lib.lt_param_count(self.features, self.hidden)
        self.m = np.zeros_like(self.params)
        self.v = np.zeros_like(self.params)
        self.step = ctypes.c_long(0)
        from ..windows import Windows

        windows = Windows.of(x_fit)  # the feature matrix and window starts, read by the kernel as they are
        self.x, self.y = _floats(windows.matrix), _floats(y_fit)
        self.starts = np.ascontiguousarray(windows.starts.cpu().numpy(), dtype=np.int64)
        self.lookback = windows.lookback
        self.batch_size, self.lr, self.loss = batch_size, lr, LOSS_KINDS[loss]

    def epoch(self, order: Any) -> float:
        """One epoch over the training rows in ``order`` (a permutation); returns its mean loss."""
        order = np.ascontiguousarray(np.asarray(order), dtype=np.int64)
        n, lookback = len(self.starts), self.lookback
        loss = self.lib.lt_train_epoch(
            _ptr(self.params), _ptr(self.m), _ptr(self.v), ctypes.byref(self.step), _ptr(self.x),
            _ptr(self.starts, _int64_p), _ptr(self.y), _ptr(order, _int64_p), n, lookback, self.features, self.hidden, self.batch_size, self.lr, 0.9, 0.999,
            1e-8, self.loss, 1.0)
        if loss < 0:
            raise MemoryError("the native LSTM kernel could not allocate its work space")
        self.sync()
        return float(loss)

    def sync(self) -> None:
        """Copy the trained parameters into the torch net."""
        import torch

        offset = 0
        with torch.no_grad():
            for p in _parameters(self.net):
                size = p.numel()
                p.copy_(torch.from_numpy(self.params[offset: offset + size]).view_as(p))
                offset += size


def loss_and_grad(net: Any, x: Any, y: Any, loss: str = "mse") -> tuple[float, np.ndarray]:
    """One batch's loss and flat gradient from the kernel (torch's parameter layout), for tests."""
    lib, why = _load()
    if lib is None:
        raise RuntimeError(why)
    params = _flat(net)
    hidden, features = net.lstm.hidden_size, net.lstm.input_size
    xs, ys = _floats(x), _floats(y)
    n, lookback = xs.shape[0], xs.shape[1]
    grad = np.zeros_like(params)
    work = np.zeros(lib.lt_work_floats(lookback, features, hidden, n), dtype=np.float32)
    value = lib.lt_loss_grad(_ptr(params), _ptr(grad), _ptr(xs), _ptr(ys), n, lookback, features, hidden,
                             LOSS_KINDS[loss], 1.0, _ptr(work))
    return float(value), grad
