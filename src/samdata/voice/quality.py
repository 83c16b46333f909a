"""A speech-quality score: DNSMOS P.835 (Reddy et al., ICASSP 2022), the non-intrusive estimate of
how listeners rate a clip's speech (SIG), background (BAK) and overall quality (OVRL), 1-5.

The model is Microsoft's ONNX file as the `speechmos` wheel ships it (MIT), run with onnxruntime; we
read only the file, not speechmos's module (that imports librosa and requests for its other models).
Scoring follows the published reference: a clip of 9.01 s (the model's input) or longer is scored in
9.01 s windows every second, and the reference's calibration polynomials turn the model's raw
outputs into MOS figures, averaged over the windows. A shorter clip is repeated back to back to fill
one window. (The reference doubles it until it fills 9.01 s and scores every second of the result:
a 4 s clip becomes 16 s and 7 windows of the same sound, 7 times the work for one sound.)

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


@functools.cache
def _session() -> Any:
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
    return ort.InferenceSession(model_path(), options, providers=["CPUExecutionProvider"])


def windows(x16: np.ndarray) -> np.ndarray:
    """The (n, WINDOW) float32 windows the reference scores for a 16 kHz clip."""
    x = np.asarray(x16, dtype=np.float32).ravel()
    if x.size == 0:
        return np.zeros((0, WINDOW), np.float32)
    if x.size < WINDOW:
        return np.tile(x, -(-WINDOW // x.size))[None, :WINDOW]
    hops = int(np.floor(x.size / RATE) - WINDOW / RATE) + 1
    starts = [i * HOP for i in range(max(hops, 1)) if i * HOP + WINDOW <= x.size]
    return np.stack([x[s : s + WINDOW] for s in starts])


def dnsmos(x16: np.ndarray) -> dict[str, float]:
    """DNSMOS P.835 figures of a mono 16 kHz clip (samples in [-1, 1]); NaN for an empty one."""
    batch = windows(x16)
    if not len(batch):
        return dict.fromkeys(FIGURES, float("nan"))
    raw = _session().run(None, {"input_1": batch})[0]
    return {
        name: round(float(poly(raw[:, i]).mean()), 4)
        for i, (name, poly) in enumerate(zip(FIGURES, _POLY, strict=True))
    }


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
        _session()  # fail here, with the reason, not inside the worker
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
