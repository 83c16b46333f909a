"""TRL backend: transformers + peft LoRA through TRL's SFTTrainer (conversational `messages` rows)
and DPOTrainer (explicit `prompt` / `chosen` / `rejected` message lists), on whatever device torch
finds. The adapter is saved with peft's `save_pretrained` (adapter_model.safetensors +
adapter_config.json), loadable with `PeftModel.from_pretrained(base, adapter_dir)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samdata.train import TrainJob


def _callback(report: Callable[..., None]) -> Any:
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.last = (time.perf_counter(), 0.0)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:  # fmt: skip
            logs = logs or {}
            step = int(state.global_step)
            if "eval_loss" in logs:
                report(step, valid_loss=float(logs["eval_loss"]))
            if "loss" in logs:
                now, tokens = time.perf_counter(), float(logs.get("num_tokens") or 0.0)
                rate = (tokens - self.last[1]) / (now - self.last[0]) if tokens else None
                self.last = (now, tokens)
                report(step, train_loss=float(logs["loss"]), tokens_per_second=rate,
                       learning_rate=logs.get("learning_rate"))  # fmt: skip

    return Reporter()


def train(job: TrainJob, report: Callable[..., None]) -> Path:
    """Train a LoRA adapter for the job; return the adapter folder."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    o = job.options
    torch.manual_seed(o.seed)
    files = {"train": str(job.data_dir / "train.jsonl")}
    valid = job.data_dir / "valid.jsonl"
    if valid.is_file() and valid.stat().st_size > 0:
        files["validation"] = str(valid)
    data = load_dataset("json", data_files=files, cache_dir=str(job.job_dir / "datasets-cache"))
    tokenizer = AutoTokenizer.from_pretrained(job.model)
    model = AutoModelForCausalLM.from_pretrained(job.model)
    peft_config = LoraConfig(r=o.lora_rank, lora_alpha=o.lora_alpha, lora_dropout=0.0,
                             target_modules="all-linear", task_type="CAUSAL_LM")  # fmt: skip
    has_eval = "validation" in data
    cuda = torch.cuda.is_available()
    accelerated = cuda or torch.backends.mps.is_available()
    common: dict[str, Any] = {
        "output_dir": str(job.job_dir / "trl"),
        "max_steps": o.steps,
        "per_device_train_batch_size": o.batch_size,
        "per_device_eval_batch_size": o.batch_size,
        "learning_rate": o.learning_rate,
        "logging_steps": o.report_every,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": o.eval_every,
        "save_strategy": "no",
        "report_to": [],
        "seed": o.seed,
        "max_length": o.max_seq_length,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        # TRL defaults to bf16, which a CPU refuses; use it only where the GPU has it.
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "use_cpu": not accelerated,
    }
    # Like mlx-lm's val_batches: a fixed, bounded slice of valid, so an eval costs the same every time.
    eval_data = (
        data["validation"].select(range(min(len(data["validation"]), o.val_batches * o.batch_size)))
        if has_eval
        else None
    )
    if job.mode == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer: Any = DPOTrainer(model=model, args=DPOConfig(**common, beta=o.beta),
                                  train_dataset=data["train"], eval_dataset=eval_data,
                                  processing_class=tokenizer, peft_config=peft_config,
                                  callbacks=[_callback(report)])  # fmt: skip
    else:
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=model, args=SFTConfig(**common), train_dataset=data["train"],
                             eval_dataset=eval_data, processing_class=tokenizer, peft_config=peft_config,
                             callbacks=[_callback(report)])  # fmt: skip
    trainer.train()
    if has_eval and o.steps % o.eval_every:
        report(int(trainer.state.global_step), valid_loss=float(trainer.evaluate()["eval_loss"]))
    trainer.save_model(str(job.adapter_dir))
    return job.adapter_dir
