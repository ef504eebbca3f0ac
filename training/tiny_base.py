"""Build a tiny base model from a language's own corpus, with no download.

Without a GPU and without a model hub, the default base model is built here: a
byte-level BPE tokenizer trained on the pack's corpus and a small Llama-style network
with random weights, saved as an ordinary Hugging Face folder so every other part of
the pipeline (TRL, PEFT, `AutoModelForCausalLM`) treats it like a real model.

How keywords and operators are kept whole
-----------------------------------------
The pack lists words the tokenizer must never split ("function", "end", "~=", "..").
The obvious tool, added tokens, is wrong for words: an added token is cut out of the
raw text before pre-tokenization, so "endpoint" becomes "end" + "point" and "x end"
loses the space-prefixed form (" end" becomes a lone space token plus "end"). Instead:

1. A code-aware pre-tokenizer splits text into identifiers, numbers, the listed
   operators (longest first) and single punctuation marks, each with an optional
   leading space, GPT-2 style. An identifier is always one pre-token, so a keyword
   is only ever a whole pre-token when the identifier *is* the keyword; "endpoint",
   "end_x" and "xend" are untouched by the keyword rule.
2. BPE is trained normally, then for every listed item and its space-prefixed form
   that does not already encode to one id, a chain of merges is appended (lowest
   priority) that joins exactly the pieces BPE leaves it in. Appended merges never
   change how any other pre-token is split before its own merges run out, so the
   rest of the vocabulary keeps its learned behaviour, and any BPE implementation
   that reads `tokenizer.json` reproduces the guarantee (no reliance on
   `ignore_merges` or added-token matching).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = [UNK, BOS, EOS, PAD, *ROLE_TOKENS.values()]

# Every tag trims the whitespace around it, so the layout below renders nothing, and
# every newline that belongs in the text is written as an expression: the transformers
# Jinja environment runs with trim_blocks, which would eat a literal one after a tag.
# The assistant's content *and its end-of-turn token* sit inside {% generation %}:
# assistant_only_loss trains exactly that span, and a model never trained on the
# closing token never learns to stop.
CHAT_TEMPLATE = """\
{{- bos_token -}}
{%- for message in messages -%}
  {%- if message['role'] == 'assistant' -%}
    {{- '<|assistant|>' + '\\n' -}}
    {%- generation -%}
      {{- message['content'] + eos_token -}}
    {%- endgeneration -%}
    {{- '\\n' -}}
  {%- elif message['role'] == 'system' or message['role'] == 'user' -%}
    {{- '<|' + message['role'] + '|>' + '\\n' + message['content'] + eos_token + '\\n' -}}
  {%- else -%}
    {{- raise_exception('unsupported chat role: ' + message['role']) -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<|assistant|>' + '\\n' -}}
{%- endif -%}
"""

_WORD = re.compile(r"\w+")


def code_pretokenizer_pattern(keep_whole: Iterable[str]) -> str:
    """The Oniguruma regex that cuts code into pre-tokens (see the module docstring).

    Word-like items need no rule of their own (an identifier is one pre-token). Other
    items are tried first, longest first, so "..." wins over ".." over "."; an item
    that ends in a word character must not be followed by one ("#t" must not eat the
    start of "#true").
    """
    symbolic = sorted({item for item in keep_whole if not _WORD.fullmatch(item)}, key=lambda s: (-len(s), s))
    alternatives = [re.escape(item) + (r"(?!\w)" if item[-1].isalnum() or item[-1] == "_" else "") for item in symbolic]
    operators = rf" ?(?:{'|'.join(alternatives)})|" if alternatives else ""
    return operators + r" ?[^\W\d]\w*| ?\d+| ?[^\s\w]|\s+(?!\S)|\s+"


def build_tiny_base(
    corpus: Iterable[str],
    out_dir: str | Path,
    *,
    keep_whole: list[str],
    vocab_size: int = 2000,
    hidden_size: int = 128,
    layers: int = 4,
    heads: int = 4,
    seed: int = 0,
    max_positions: int = 1024,
) -> Path:
    """Train a tokenizer on `corpus`, build a small Llama network, save both to `out_dir`.

    Every string in `keep_whole` encodes to one id, bare and with a leading space.
    The same corpus, arguments and seed give the same tokenizer and weights.
    Returns the folder, loadable offline by `AutoTokenizer` / `AutoModelForCausalLM`.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} must be a multiple of heads {heads}")
    wrapped = build_tokenizer(corpus, keep_whole=keep_whole, vocab_size=vocab_size, max_positions=max_positions)
    config = LlamaConfig(
        vocab_size=len(wrapped),
        hidden_size=hidden_size,
        # Llama's ratio (~8/3) rounded to a multiple of 32 keeps the MLP matmuls aligned.
        intermediate_size=max(32, (hidden_size * 8 // 3 + 31) // 32 * 32),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=wrapped.bos_token_id,
        eos_token_id=wrapped.eos_token_id,
        pad_token_id=wrapped.pad_token_id,
    )
    # fork_rng: seeding for the build must not leave the caller's global RNG reseeded.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=wrapped.bos_token_id,
        eos_token_id=wrapped.eos_token_id,
        pad_token_id=wrapped.pad_token_id,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    wrapped.save_pretrained(out_dir)
    return out_dir


def build_tokenizer(
    corpus: Iterable[str], *, keep_whole: list[str], vocab_size: int = 2000, max_positions: int = 1024
):
    """The tokenizer half of `build_tiny_base`: a PreTrainedTokenizerFast with chat template."""
    for item in keep_whole:
        if not item or any(ch.isspace() for ch in item):
            raise ValueError(f"keep_whole item {item!r} is empty or contains whitespace")
    texts = [text for text in corpus if text]
    if not texts:
        raise ValueError("the corpus is empty: a tokenizer needs text to learn from")
    tokenizer = _train_tokenizer(texts, keep_whole, vocab_size)
    _check_kept_whole(tokenizer, keep_whole)
    return _wrap_tokenizer(tokenizer, max_positions)


def _train_tokenizer(texts: list[str], keep_whole: list[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(code_pretokenizer_pattern(keep_whole)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # trim_offsets=False: the assistant-token mask is computed from character offsets,
    # and trimmed offsets would drop a space-prefixed first token from the mask.
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return _force_whole(tokenizer, keep_whole)


def _force_whole(tokenizer, keep_whole: list[str]):
    """Append merge chains so each listed form becomes one token (module docstring, 2)."""
    from tokenizers import Tokenizer

    state = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    merges: list = state["model"]["merges"]
    as_pairs = bool(merges) and isinstance(merges[0], list)
    forms = [form for item in dict.fromkeys(keep_whole) for form in (item, " " + item)]
    for form in forms:
        pieces = tokenizer.encode(form, add_special_tokens=False).tokens
        if len(pieces) == 1:
            continue
        joined = pieces[0]
        for piece in pieces[1:]:
            merges.append([joined, piece] if as_pairs else f"{joined} {piece}")
            joined += piece
            if joined not in vocab:
                vocab[joined] = max(vocab.values()) + 1
        # Re-read after each form: the next form's pieces must be computed with the
        # merges just appended, or its chain could start from pieces that no longer occur.
        tokenizer = Tokenizer.from_str(json.dumps(state))
    return tokenizer


def _check_kept_whole(tokenizer, keep_whole: list[str]) -> None:
    split = [
        form
        for item in keep_whole
        for form in (item, " " + item)
        if len(tokenizer.encode(form, add_special_tokens=False).ids) != 1
    ]
    if split:
        raise RuntimeError(f"tokenizer still splits {split!r}: the merge chain did not hold")


def _wrap_tokenizer(tokenizer, max_positions: int):
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens=list(ROLE_TOKENS.values()),
        model_max_length=max_positions,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
