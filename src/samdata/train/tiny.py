"""A tiny Qwen2-architecture model and tokenizer, built locally (no hub), for tests and the demo.

A byte-level BPE trained on the given texts, a ChatML chat template in the Qwen style (tool calls
rendered with `arguments | tojson`), and a 2-layer Qwen2 with random weights saved as safetensors.
Weights come from numpy, so the builder needs neither torch nor MLX; mlx-lm and transformers both
load the folder. Too small to learn anything: it exists to prove that files and loops fit together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n<tools>{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}\n</tools><|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'system' and tools %}"
    "{% elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n"
    "</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "{% for call in message.tool_calls or [] %}{{ '\\n' }}<tool_call>\n"
    '{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}'
    "\n</tool_call>{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(texts: Iterable[str], out: Path, vocab_size: int = 512) -> int:
    """Train a byte-level BPE on `texts`, write tokenizer.json + tokenizer_config.json; return vocab size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return int(tok.get_vocab_size())


def _weights(vocab: int, hidden: int, inter: int, layers: int, heads: int, kv_heads: int,
             seed: int) -> dict[str, np.ndarray]:  # fmt: skip
    rng = np.random.default_rng(seed)

    def dense(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)

    head_dim = hidden // heads
    w = {"model.embed_tokens.weight": dense(vocab, hidden), "model.norm.weight": np.ones(hidden, np.float32)}
    for i in range(layers):
        p = f"model.layers.{i}."
        w[p + "self_attn.q_proj.weight"] = dense(hidden, hidden)
        w[p + "self_attn.k_proj.weight"] = dense(kv_heads * head_dim, hidden)
        w[p + "self_attn.v_proj.weight"] = dense(kv_heads * head_dim, hidden)
        w[p + "self_attn.o_proj.weight"] = dense(hidden, hidden)
        for name, size in (("q", hidden), ("k", kv_heads * head_dim), ("v", kv_heads * head_dim)):
            w[p + f"self_attn.{name}_proj.bias"] = np.zeros(size, np.float32)
        w[p + "mlp.gate_proj.weight"] = dense(inter, hidden)
        w[p + "mlp.up_proj.weight"] = dense(inter, hidden)
        w[p + "mlp.down_proj.weight"] = dense(hidden, inter)
        w[p + "input_layernorm.weight"] = np.ones(hidden, np.float32)
        w[p + "post_attention_layernorm.weight"] = np.ones(hidden, np.float32)
    return w


def build_tiny_model(
    out: Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 512,
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a loadable tiny Qwen2 model folder at `out` (config, safetensors, tokenizer) and return it."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    vocab = build_tokenizer(texts, out, vocab_size)
    heads, kv_heads, inter = 4, 2, hidden * 2
    eos = SPECIAL_TOKENS.index("<|im_end|>")
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": 2048,
        "max_window_layers": layers,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": True,
        "use_sliding_window": False,
        "attention_dropout": 0.0,
        "torch_dtype": "float32",
        "eos_token_id": eos,
        "pad_token_id": SPECIAL_TOKENS.index("<|endoftext|>"),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(json.dumps({"eos_token_id": eos}))
    save_file(
        _weights(vocab, hidden, inter, layers, heads, kv_heads, seed),
        str(out / "model.safetensors"),
        metadata={"format": "pt"},
    )
    return out
