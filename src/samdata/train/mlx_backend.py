"""MLX backend: mlx-lm's LoRA trainer for SFT, mlx-lm-lora's DPO trainer for preference exports.

Both are driven through their Python APIs with the same argument names their CLIs take, so a run's
job.json maps one to one onto `mlx_lm.lora --config`. The adapter is written where mlx-lm writes it
(`adapters.safetensors` + `adapter_config.json`), loadable with `mlx_lm.load(model, adapter_path=…)`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samdata.train import TrainJob


def _callback(report: Callable[..., None]) -> Any:
    from mlx_lm.tuner.callbacks import TrainingCallback

    class Reporter(TrainingCallback):  # type: ignore[misc]
        def on_train_loss_report(self, info: dict[str, Any]) -> None:
            report(int(info["iteration"]), train_loss=float(info["train_loss"]),
                   tokens_per_second=float(info["tokens_per_second"]),
                   learning_rate=float(info["learning_rate"]))  # fmt: skip

        def on_val_loss_report(self, info: dict[str, Any]) -> None:
            # mlx-lm reports validation before the step it is run at: iteration = steps completed.
            report(int(info["iteration"]), valid_loss=float(info["val_loss"]))

    return Reporter()


def _common(job: TrainJob) -> dict[str, Any]:
    o = job.options
    return {
        "model": str(job.model),
        "data": str(job.data_dir),
        "train": True,
        "test": False,
        "fine_tune_type": "lora",
        "seed": o.seed,
        "num_layers": o.lora_layers,
        "batch_size": o.batch_size,
        "iters": o.steps,
        "val_batches": o.val_batches,
        "learning_rate": o.learning_rate,
        "steps_per_report": o.report_every,
        "steps_per_eval": o.eval_every,
        "save_every": o.steps,
        "adapter_path": str(job.adapter_dir),
        "max_seq_length": o.max_seq_length,
        "mask_prompt": o.mask_prompt,
        "lora_parameters": {"rank": o.lora_rank, "dropout": 0.0, "scale": o.lora_alpha / o.lora_rank},
    }


def _train_sft(job: TrainJob, report: Callable[..., None]) -> None:
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.lora import CONFIG_DEFAULTS, train_model
    from mlx_lm.tuner.datasets import load_dataset

    args = types.SimpleNamespace(**{**CONFIG_DEFAULTS, **_common(job)})
    mx.random.seed(job.options.seed)
    model, tokenizer = load(str(job.model))
    train_set, valid_set, _ = load_dataset(args, tokenizer)
    train_model(args, model, train_set, valid_set, _callback(report))


def _train_dpo(job: TrainJob, report: Callable[..., None]) -> None:
    import mlx.core as mx
    from mlx_lm_lora.train import CONFIG_DEFAULTS, build_parser, run

    info = mx.device_info()
    if "max_recommended_working_set_size" not in info:
        # mlx-lm-lora's DPO loop sets Metal's wired-memory limit from this key, which only Metal
        # reports; without Metal (Linux CPU, CUDA) the limit means nothing, so supply a 0.
        mx.device_info = lambda: {"max_recommended_working_set_size": 0, **info}
    defaults = vars(build_parser().parse_args([]))
    defaults.update({k: v for k, v in CONFIG_DEFAULTS.items() if defaults.get(k) is None})
    args = types.SimpleNamespace(**{
        **defaults, **_common(job), "train_mode": "dpo", "train_type": "lora", "fuse": False,
        "beta": job.options.beta,
    })  # fmt: skip
    run(args, _callback(report))


def train(job: TrainJob, report: Callable[..., None]) -> Path:
    """Train a LoRA adapter for the job; return the adapter folder."""
    if job.mode == "dpo":
        _train_dpo(job, report)
    else:
        _train_sft(job, report)
    return job.adapter_dir
