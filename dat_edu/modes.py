"""How large a run the lessons do on this machine: the one owner of that choice.

Lessons that train or otherwise depend on the machine (GPU, optional data sets, threads) call
:func:`run_mode` once at the top instead of probing ``torch.cuda`` or data folders themselves.
The mode comes from the argument, else ``$DAT_EDU_MODE``, else ``auto``:

``pinned``
    The one small, deterministic CPU run whose outputs are committed and compared by
    ``pytest --nbval``. It never depends on the machine: CPU only, one torch thread, and only data
    that every installation has (the generated shapes, the Fashion-MNIST sample bundled with
    dat_edu). The test command and ``python -m dat_edu.course.execute`` set it (:func:`pinned_env`).
``auto`` (the default, e.g. in JupyterLab)
    The largest run this machine allows: the GPU and the large recipe when there is one; the real
    data set when it is here (CIFAR-10 in the data folder; Fashion-MNIST, fetched on first use).
``full``
    The large run even without a GPU (slow on a CPU), fetching the data sets it needs.

Usage in a lesson::

    from dat_edu.modes import run_mode
    RUN = run_mode(data=("cifar10", "shapes"))   # prints one line: which mode ran, how to switch
    RUN.large, RUN.device, RUN.dataset, RUN.data_root

``data`` lists the lesson's data sets in order of preference; the pinned mode takes the first
one that has a pinned form (``fashion_mnist``: the bundled sample; ``shapes``/``synthetic``:
generated), the other modes the first one that is present (or, for Fashion-MNIST, fetchable).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["MODES", "MODE_ENV", "RunMode", "mode_from_env", "pinned_env", "run_mode"]

MODES = ("pinned", "auto", "full")
MODE_ENV = "DAT_EDU_MODE"
GENERATED = ("shapes", "synthetic")  # made by dat_edu: the same on every machine
KNOWN_DATA = ("cifar10", "fashion_mnist", *GENERATED)


@dataclass(frozen=True)
class RunMode:
    """What :func:`run_mode` decided. ``data_root`` is passed on as ``root=`` / ``data_root=``."""

    mode: str  # "pinned", "auto" or "full"
    source: str  # where the mode came from: "argument", "DAT_EDU_MODE" or "default"
    large: bool  # the large recipe (more data, epochs, bf16) instead of the small CPU run
    device: str  # "cpu" or "cuda"
    threads: int  # torch CPU threads in use
    dataset: str | None  # the chosen data set, None if the lesson asked for none
    data_root: str | None  # folder to load it from (None: generated, or the default place)
    data_note: str  # where the data comes from, or why a preferred data set was not used
    gpu: str | None = None  # the GPU's name, if one is used

    def line(self) -> str:
        """The one line a lesson prints: which mode ran, on what, with what data; how to switch."""
        how = {"argument": "run_mode argument", "DAT_EDU_MODE": f"{MODE_ENV}={self.mode}", "default": "default"}
        where = f"GPU ({self.gpu})" if self.device == "cuda" else f"CPU, {self.threads} thread{'s' * (self.threads > 1)}"
        size = "large run" if self.large else "small run"
        slow = "; no GPU, so expect hours" if self.large and self.device == "cpu" else ""
        data = f"; data: {self.dataset} ({self.data_note})" if self.dataset else ""
        others = {"pinned": "the committed CPU run", "auto": "the largest run this machine allows",
                  "full": "the large run, even on a CPU"}
        switch = ", ".join(f'run_mode("{m}") = {others[m]}' for m in MODES if m != self.mode)
        return f"run mode: {self.mode} ({how[self.source]}): {where}, {size}{slow}{data}. To switch: {switch}."


def mode_from_env(value: str | None = None) -> tuple[str, str]:
    """(mode, source) from ``value``, else ``$DAT_EDU_MODE``, else ``"auto"``; checks the name."""
    source = "argument"
    if value is None:
        value, source = os.environ.get(MODE_ENV) or None, MODE_ENV
    if value is None:
        return "auto", "default"
    mode = value.strip().lower()
    if mode not in MODES:
        where = "run_mode()" if source == "argument" else f"${MODE_ENV}"
        raise ValueError(f"unknown run mode {value!r} in {where}: choose one of {', '.join(MODES)}")
    return mode, source


def pinned_env() -> dict[str, str]:
    """Environment for kernels whose outputs are committed or compared: the pinned mode, one thread.

    Set by the root ``conftest.py`` whenever nbval runs and by ``python -m dat_edu.course.execute``.
    """
    return {MODE_ENV: "pinned", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _pick_data(mode: str, data: tuple[str, ...]) -> tuple[str | None, str | None, str]:
    """(dataset, data_root, note) for ``mode`` from the lesson's preference list ``data``."""
    from dat_edu.data import DownloadError, FASHION_MNIST_SAMPLE, prepare_cifar10, prepare_fashion_mnist
    from dat_edu.data.fashion_mnist import SAMPLE_SIZES

    unknown = [d for d in data if d not in KNOWN_DATA]
    if unknown:
        raise ValueError(f"unknown data set(s) {unknown}: choose from {', '.join(KNOWN_DATA)}")
    if not data:
        return None, None, ""
    sample = f"the {SAMPLE_SIZES[True]:,} + {SAMPLE_SIZES[False]:,} real images bundled with dat_edu"
    skipped: list[str] = []
    for name in data:
        if name in GENERATED:
            why = f"; {'; '.join(skipped)}" if skipped else ""
            return name, None, f"generated, the same on every machine{why}"
        if mode == "pinned":
            if name == "fashion_mnist":
                return name, str(FASHION_MNIST_SAMPLE), f"Fashion-MNIST sample: {sample}"
            skipped.append(f"{name} is never used in pinned mode")
            continue
        try:
            if name == "fashion_mnist":
                folder = prepare_fashion_mnist(download=True)  # fetched on first use (30 MB)
                return name, str(folder), f"the full set, in {folder}"
            folder = prepare_cifar10(download=(mode == "full"))
            return name, str(folder.parent), f"in {folder.parent}"
        except (DownloadError, OSError) as err:
            if name == "fashion_mnist":
                return name, str(FASHION_MNIST_SAMPLE), f"Fashion-MNIST sample ({sample}): full set not available: {err}"
            hint = "`make data` fetches it" if mode == "auto" else str(err)
            skipped.append(f"{name} not found ({hint})")
    raise ValueError(
        f"none of the data sets {list(data)} can be used in mode {mode!r} ({'; '.join(skipped)}); "
        "end the list with one that is always there, such as 'shapes' or 'fashion_mnist'"
    )


def run_mode(mode: str | None = None, *, data: tuple[str, ...] | list[str] = (), quiet: bool = False) -> RunMode:
    """Decide device, size and data set for a lesson, set torch's threads, print :meth:`RunMode.line`.

    ``mode``: "pinned", "auto", "full" or None (``$DAT_EDU_MODE``, else "auto"). ``data``: the
    lesson's data sets in order of preference (see the module docstring). The small run uses one
    torch thread (repeatable numbers; tiny models gain little from more).
    """
    import torch

    mode, source = mode_from_env(mode)
    cuda = mode != "pinned" and torch.cuda.is_available()
    large = mode == "full" or (mode == "auto" and cuda)
    if not large:
        torch.set_num_threads(1)
    dataset, data_root, note = _pick_data(mode, tuple(data))
    result = RunMode(mode=mode, source=source, large=large, device="cuda" if cuda else "cpu",
                     threads=torch.get_num_threads(), dataset=dataset, data_root=data_root, data_note=note,
                     gpu=torch.cuda.get_device_name(0) if cuda else None)
    if not quiet:
        print(result.line())
    return result
