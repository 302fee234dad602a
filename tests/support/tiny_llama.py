"""A tiny llama-architecture GGUF model with seeded random weights, for a real llama.cpp server.

No weights can be downloaded in tests, so :func:`write_tiny_model` writes one with the ``gguf``
package: 64-dimensional, 2 layers, 4 attention heads, a byte-level BPE vocabulary (the 256 GPT-2
byte tokens, merges that spell a few hundred common English and JSON fragments, and the three
chatml control tokens) and a chatml chat template. It is about 0.5 MB and answers in well under a
second on one core. Its text is noise; what it is for is the server around it (HTTP, usage,
response formats, grammar-constrained decoding).

Metadata written (``llama.*`` keys are per architecture, read by llama.cpp's ``llama`` loader):

``general.architecture``
    ``"llama"``: selects llama.cpp's llama graph and the ``llama.*`` keys below.
``general.name``
    ``"spreadlab-tiny-llama"``: the name the server logs (it serves the model under its path).
``general.file_type``
    ``0`` (ALL_F32): every tensor is float32, so no quantisation code is involved.
``llama.context_length``
    Training context, :data:`CONTEXT_LENGTH`; the server's ``--n_ctx`` may not exceed it usefully.
``llama.embedding_length``
    Width of the residual stream, :data:`EMBED`.
``llama.block_count``
    Number of transformer blocks, :data:`LAYERS`.
``llama.feed_forward_length``
    Hidden width of the SwiGLU feed-forward, :data:`FFN`.
``llama.attention.head_count`` / ``llama.attention.head_count_kv``
    Query heads and key/value heads (:data:`HEADS` both: no grouped-query attention).
``llama.rope.dimension_count``
    Rotary dimensions per head (the whole head, ``EMBED // HEADS``).
``llama.rope.freq_base``
    RoPE base frequency, 10000 as in Llama 1/2.
``llama.attention.layer_norm_rms_epsilon``
    RMSNorm epsilon, 1e-5.
``llama.vocab_size``
    Number of tokens; must equal the rows of ``token_embd`` and ``output``.
``tokenizer.ggml.model``
    ``"gpt2"``: byte-level BPE. llama.cpp refuses this model type without merges.
``tokenizer.ggml.pre``
    ``"gpt-2"``: the GPT-2 pre-tokenizer regex (splits words, numbers, punctuation, spaces).
``tokenizer.ggml.tokens``
    Token strings in GPT-2's byte-to-unicode alphabet (a space is ``Ġ``, a newline ``Ċ``).
``tokenizer.ggml.token_type``
    1 (normal) for text tokens, 3 (control) for ``<|endoftext|>``, ``<|im_start|>``,
    ``<|im_end|>``, so the chat template's markers are parsed as single special tokens.
``tokenizer.ggml.merges``
    BPE merges ``"left right"``; each result is also a token.
``tokenizer.ggml.bos_token_id`` / ``tokenizer.ggml.eos_token_id``
    ``<|endoftext|>`` and ``<|im_end|>``: generation stops at the end of the assistant turn.
``tokenizer.ggml.padding_token_id``
    ``<|endoftext|>``.
``tokenizer.ggml.add_bos_token``
    False: chatml prompts start with ``<|im_start|>``, not a BOS token.
``tokenizer.chat_template``
    The chatml Jinja template (llama.cpp recognises it as its ``chatml`` format).

Tensors (numpy shapes; GGUF stores them reversed): ``token_embd.weight`` (vocab, embed),
``output_norm.weight`` (embed), ``output.weight`` (vocab, embed), and per block ``blk.N.``
``attn_norm``, ``attn_q``/``attn_k``/``attn_v``/``attn_output`` (embed, embed), ``ffn_norm``,
``ffn_gate``/``ffn_up`` (ffn, embed) and ``ffn_down`` (embed, ffn). Norm weights are ones, the
rest normal with standard deviation :data:`INIT_STD`, all from ``numpy.random.default_rng(seed)``.

Run ``python tests/support/tiny_llama.py OUT.gguf`` to write one by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gguf
import numpy as np

EMBED = 64
LAYERS = 2
HEADS = 4
FFN = 128
CONTEXT_LENGTH = 8192
INIT_STD = 0.02
NAME = "spreadlab-tiny-llama"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Fragments the merges spell out, so prompts in English (and JSON answers) take fewer tokens
# than one per byte. Each word is added with and without a leading space.
WORDS = (
    "the of and to in is was for on that with as by at from it an be are has have had not "
    "this which or but they their were been who will one all would there what about so up "
    "out if into can more other when than them some could people your you do does follow "
    "posted post posts news report read today round recent newest first social network "
    "write decide whether below answer object nothing else text true false characters most "
    "person high low openness conscientiousness extraversion agreeableness neuroticism "
    "battle explosion violence civilians protest riot strategic development police city "
    "town village forces fighting killed injured attack government local officials said "
    "reported according residents near during after before"
)
JSON_FRAGMENTS = ('{"', '":', '",', '"}', '""', "post", "text", ": ", ", ")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (byte-level BPE's alphabet)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def build_vocab() -> tuple[list[str], list[int], list[str]]:
    """Tokens, token types and merges: bytes, then merged fragments, then control tokens."""
    alphabet = bytes_to_unicode()
    tokens = [alphabet[b] for b in range(256)]
    known = set(tokens)
    merges: list[str] = []
    fragments = [f(w) for w in WORDS.split() for f in (str, " {}".format)] + list(JSON_FRAGMENTS)
    for fragment in fragments:
        chars = "".join(alphabet[b] for b in fragment.encode())
        for end in range(2, len(chars) + 1):
            left, right, whole = chars[: end - 1], chars[end - 1], chars[:end]
            if whole not in known:
                known.add(whole)
                tokens.append(whole)
                merges.append(f"{left} {right}")
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    tokens += SPECIAL_TOKENS
    types += [int(gguf.TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    return tokens, types, merges


def random_tensors(vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    """The llama tensors by GGUF name, float32, seeded."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * INIT_STD).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    tensors = {"token_embd.weight": normal(vocab_size, EMBED)}
    for i in range(LAYERS):
        p = f"blk.{i}."
        tensors |= {
            p + "attn_norm.weight": ones(EMBED),
            p + "attn_q.weight": normal(EMBED, EMBED),
            p + "attn_k.weight": normal(EMBED, EMBED),
            p + "attn_v.weight": normal(EMBED, EMBED),
            p + "attn_output.weight": normal(EMBED, EMBED),
            p + "ffn_norm.weight": ones(EMBED),
            p + "ffn_gate.weight": normal(FFN, EMBED),
            p + "ffn_up.weight": normal(FFN, EMBED),
            p + "ffn_down.weight": normal(EMBED, FFN),
        }
    tensors["output_norm.weight"] = ones(EMBED)
    tensors["output.weight"] = normal(vocab_size, EMBED)
    return tensors


def write_tiny_model(path: Path | str, seed: int = 0) -> Path:
    """Write the tiny model to ``path`` (a ``.gguf`` file); same seed, same bytes."""
    path = Path(path)
    tokens, types, merges = build_vocab()
    writer = gguf.GGUFWriter(str(path), "llama")  # writes general.architecture
    writer.add_name(NAME)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)
    for name, array in random_tensors(len(tokens), seed).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


if __name__ == "__main__":
    print(write_tiny_model(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
