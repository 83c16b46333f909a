"""A speech-quality score: DNSMOS P.835 (Reddy et al., ICASSP 2022), the non-intrusive estimate of
how listeners rate a clip's speech (SIG), background (BAK) and overall quality (OVRL), 1-5.

The model is Microsoft's ONNX file as the `speechmos` wheel ships it (MIT), run with onnxruntime; we
read only the file, not speechmos's module (that imports librosa and requests for its other models).
The published reference (`reference`) scores a clip of 9.01 s (the model's fixed input) or longer in
9.01 s windows every second, and a shorter one repeated to fill a window; calibration polynomials
turn the raw outputs into MOS figures, averaged over the windows.

The network is a log-spectrogram, seven 3x3 convolutions with three 2x2 poolings, a global maximum
and three small dense layers. Everything before the maximum is convolutional, so `dnsmos` runs that
part once over the clip (the graph made length-free with the `onnx` package) and takes each
window's maximum from the one feature map: a 15 s clip costs 15 s of convolutions, not the
reference's 7 windows of 9.01 s. A short clip is repeated only to its length plus 2 s (every sample,
and the join, seen with more than the network's 0.44 s of receptive field either side), not to
9.01 s. On the 160 clips of the espeak-ng benchmark in tests/voice the figures differ from the
reference's by 0.06-0.08 on average (0.3-0.45 at most), about what the reference itself moves when
the same clip starts 5 ms later (0.07-0.12 on average, 0.4-0.6 at most), at half the cost;
`bench/voice.py` measures both on its hour.

`Scorer` runs the model on a thread of its own, off the core the rest of `samdata voice run` is
pinned to: onnxruntime releases the GIL, so the score costs little wall time on a second core.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

RATE = 16000
WINDOW = 144160  # 9.01 s at 16 kHz: the model's fixed input
HOP = RATE  # the reference scores a window every second
# The reference's calibration of raw outputs to MOS (P.835, not the personalised model).
_POLY = (
    np.poly1d([-0.08397278, 1.22083953, 0.0052439]),  # sig
    np.poly1d([-0.13166888, 1.60915514, -0.39604546]),  # bak
    np.poly1d([-0.06766283, 1.11546468, 0.04602535]),  # ovrl
)
FIGURES = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")


class QualityModelMissing(RuntimeError):
    """onnxruntime or the speechmos wheel (with the model file) is not installed."""


def model_path() -> str:
    """The DNSMOS P.835 ONNX file inside the installed speechmos wheel."""
    from importlib import resources

    try:
        path = resources.files("speechmos") / "dnsmos_models" / "sig_bak_ovr.onnx"
    except ModuleNotFoundError as e:
        raise QualityModelMissing(
            "the speech-quality model (DNSMOS) needs the voice extra: pip install 'samdata[voice]'"
        ) from e
    if not path.is_file():
        raise QualityModelMissing(f"the speechmos wheel has no DNSMOS model at {path}")
    return str(path)


def _options() -> Any:
    try:
        import onnxruntime as ort
    except ModuleNotFoundError as e:
        raise QualityModelMissing(
            "the speech-quality model (DNSMOS) needs onnxruntime: pip install 'samdata[voice]'"
        ) from e
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one core per score; parallelism comes from the caller
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


@functools.cache
def _session() -> Any:
    """The model as published: (n, WINDOW) windows in, (n, 3) raw outputs out."""
    import onnxruntime as ort

    options = _options()
    return ort.InferenceSession(model_path(), options, providers=["CPUExecutionProvider"])


FRAME = 160  # the spectrogram's hop (frames of 320 samples every 10 ms)
POOLED = 8  # frames per row of the feature map (three 2x2 poolings)
# The windows' rows: 900 frames of a 9.01 s window -> 112 rows; a window every second starts
# 100 frames (12.5 rows) later.
WINDOW_ROWS = (WINDOW // FRAME - 1) // POOLED
CONTEXT = 2 * RATE  # what a short clip is repeated to beyond its own length
PIECE_ROWS = 384  # the feature map is computed ~31 s at a time: activations are 8 MB a second
MARGIN_ROWS = 8  # overlap of the pieces: 64 frames, more than the 44-frame receptive field
_HEAD = (
    "mos_estimator_logpow/dense/MatMul/ReadVariableOp/resource:0",
    "mos_estimator_logpow/dense/BiasAdd/ReadVariableOp/resource:0",
    "mos_estimator_logpow/dense_1/MatMul/ReadVariableOp/resource:0",
    "mos_estimator_logpow/dense_1/BiasAdd/ReadVariableOp/resource:0",
    "mos_estimator_logpow/dense_3/MatMul/ReadVariableOp/resource:0",
    "mos_estimator_logpow/dense_3/BiasAdd/ReadVariableOp/resource:0",
)


@functools.cache
def _cut_model() -> tuple[Any, tuple[np.ndarray, ...]]:
    """The network cut before its global maximum, taking any length (a multiple of FRAME), as an
    onnxruntime session giving (1, rows, 20, 64) feature maps; and the dense layers' weights."""
    options = _options()
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError as e:
        raise QualityModelMissing(
            "the speech-quality model (DNSMOS) needs onnx: pip install 'samdata[voice]'"
        ) from e
    import onnxruntime as ort

    model = onnx.load(model_path())
    graph = model.graph
    init = {i.name: i for i in graph.initializer}

    def replace(name: str, value: list[int]) -> None:
        init[name].CopyFrom(numpy_helper.from_array(np.array(value, np.int64), name))

    try:
        head = tuple(numpy_helper.to_array(init[n]).astype(np.float32) for n in _HEAD)
        # Samples [0, n - 160) and [160, n), each as frames of 160: the halves of the 320-sample
        # frames. The file fixes n at 144160 (900 frames).
        replace("input_1:01_cropping_end", [2**63 - 1, -FRAME])
        replace("shape_tensor", [0, -1, FRAME])
        replace("shape_tensor1", [0, -1, FRAME])
        last = [n.name for n in graph.node].index("PushTranspose_0")
    except (KeyError, ValueError) as e:
        raise QualityModelMissing(
            f"the DNSMOS file in the speechmos wheel is not the one expected: {e}"
        ) from e
    dim = graph.input[0].type.tensor_type.shape.dim[1]
    dim.ClearField("dim_value")
    dim.dim_param = "samples"
    kept = list(graph.node[: last + 1])
    del graph.node[:]
    graph.node.extend(kept)
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info(kept[-1].output[0], onnx.TensorProto.FLOAT, None))
    del graph.value_info[:]  # shapes inferred for 900 frames
    used = {i for n in kept for i in n.input}
    weights = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(weights)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, head


def feature_map(x16: np.ndarray) -> np.ndarray:
    """(rows, 64): the network's last features, each maximised over frequency, a row per 8 frames
    (80 ms) of a 16 kHz clip of at least 2 frames. Computed PIECE_ROWS at a time with overlapping
    edges, so memory stays flat for any length; the pieces' rows equal the whole's."""
    session, _ = _cut_model()
    x16 = np.asarray(x16, np.float32).ravel()
    frames = x16.size // FRAME - 1
    rows = frames // POOLED
    out = np.empty((rows, 64), np.float32)
    step = PIECE_ROWS - 2 * MARGIN_ROWS
    for first in range(0, max(rows, 1), step):
        stop = min(rows, first + step)
        a = max(0, first - MARGIN_ROWS) * POOLED  # frames, on the pooling grid
        b = min(frames, (stop + MARGIN_ROWS) * POOLED)
        piece = x16[None, a * FRAME : (b + 1) * FRAME]
        got = session.run(None, {"input_1": piece})[0][0].max(axis=1)
        out[first:stop] = got[first - a // POOLED : stop - a // POOLED]
    return out


def _mos(pooled: np.ndarray) -> dict[str, float]:
    """The dense layers on (windows, 64) maxima, then the calibration, averaged over the windows."""
    w1, b1, w2, b2, w3, b3 = _cut_model()[1]
    return _calibrated(np.maximum(np.maximum(pooled @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3)


def _calibrated(raw: np.ndarray) -> dict[str, float]:
    return {
        name: round(float(poly(raw[:, i]).mean()), 4)
        for i, (name, poly) in enumerate(zip(FIGURES, _POLY, strict=True))
    }


def windows(x16: np.ndarray) -> np.ndarray:
    """The (n, WINDOW) float32 windows the reference scores for a 16 kHz clip."""
    x = np.asarray(x16, dtype=np.float32).ravel()
    if x.size == 0:
        return np.zeros((0, WINDOW), np.float32)
    if x.size < WINDOW:
        return np.tile(x, -(-WINDOW // x.size))[None, :WINDOW]
    return np.stack([x[s : s + WINDOW] for s in _starts(x.size)])


def _starts(n: int) -> list[int]:
    hops = int(np.floor(n / RATE) - WINDOW / RATE) + 1
    return [i * HOP for i in range(max(hops, 1)) if i * HOP + WINDOW <= n]


def reference(x16: np.ndarray) -> dict[str, float]:
    """DNSMOS figures computed as published, window by window (what `dnsmos` is measured against)."""
    batch = windows(x16)
    if not len(batch):
        return dict.fromkeys(FIGURES, float("nan"))
    return _calibrated(_session().run(None, {"input_1": batch})[0])


def dnsmos(x16: np.ndarray) -> dict[str, float]:
    """DNSMOS P.835 figures of a mono 16 kHz clip (samples in [-1, 1]); NaN for an empty one."""
    x = np.asarray(x16, dtype=np.float32).ravel()
    if x.size == 0:
        return dict.fromkeys(FIGURES, float("nan"))
    if x.size < WINDOW:
        n = min(WINDOW, x.size + CONTEXT) // FRAME * FRAME
        return _mos(feature_map(np.resize(x, n)).max(axis=0, keepdims=True))
    rows = feature_map(x[: x.size // FRAME * FRAME])
    firsts = [s // FRAME // POOLED for s in _starts(x.size)]
    return _mos(np.stack([rows[f : f + WINDOW_ROWS].max(axis=0) for f in firsts]))


def _move_to(cores: frozenset[int]) -> None:
    """Move this thread to `cores` (Linux; elsewhere, and where refused, it stays where it is)."""
    if cores and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cores)  # 0: the calling thread


class Scorer:
    """DNSMOS on a thread of its own, on `cores` where given (the CPUs the caller is not pinned to),
    with at most `queued_s` seconds of audio waiting, so memory stays bounded (600 s: 38 MB).

    `submit(x16, done)` queues a clip; `done(figures)` is called, in submission order, on the
    caller's thread by a later `submit` or by `drain()`. The bound is generous on purpose: the
    model is the slowest part of `samdata voice run`, and the clips queued while the VAD reads are
    what it works on while the second pass measures the rest.
    """

    def __init__(self, cores: frozenset[int] = frozenset(), queued_s: float = 600.0) -> None:
        _cut_model()  # fail here, with the reason, not inside the worker
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="dnsmos", initializer=_move_to, initargs=(cores,)
        )
        self._queue: list[
            tuple[Future[dict[str, float]], Callable[[dict[str, float]], None], np.ndarray]
        ] = []
        self._limit = round(queued_s * RATE)
        self._queued = 0

    def submit(self, x16: np.ndarray, done: Callable[[dict[str, float]], None]) -> None:
        x = np.array(x16, dtype=np.float32)
        self._queue.append((self._pool.submit(dnsmos, x), done, x))
        self._queued += x.size
        while self._queued > self._limit and len(self._queue) > 1:
            self._finish_one()

    def drain(self) -> None:
        """Deliver every score. The caller has nothing else to do meanwhile, so it scores the clips
        the thread has not started, from the back of the queue while the thread works from the
        front: both cores finish the queue."""
        for i in range(len(self._queue) - 1, -1, -1):
            future, done, x = self._queue[i]
            if not future.cancel():
                break  # the thread has reached this one: it has the rest
            mine: Future[dict[str, float]] = Future()
            mine.set_result(dnsmos(x))
            self._queue[i] = (mine, done, x)
        while self._queue:
            self._finish_one()

    def _finish_one(self) -> None:
        future, done, x = self._queue.pop(0)
        self._queued -= x.size
        done(future.result())

    def discard(self) -> None:
        """Drop what is queued (a recording that failed half-way): its scores would go nowhere."""
        for future, _, _ in self._queue:
            future.cancel()
        self._queue.clear()
        self._queued = 0

    def close(self) -> None:
        self.discard()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
