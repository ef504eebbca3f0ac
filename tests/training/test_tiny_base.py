from __future__ import annotations

import json

import pytest

from tests.training.lua_samples import LUA_KEEP_WHOLE, LUA_KEYWORDS, LUA_OPERATORS, LUA_SNIPPETS
from training.tiny_base import build_tiny_base, build_tokenizer

CHAT = [
    {"role": "system", "content": "You write Lua 5.4."},
    {"role": "user", "content": "Add two numbers."},
    {"role": "assistant", "content": "local function add(a, b)\n  return a + b\nend"},
    {"role": "user", "content": "Now subtract."},
    {"role": "assistant", "content": "return a - b"},
]


@pytest.mark.parametrize("keyword", LUA_KEYWORDS)
def test_keywords_encode_to_one_token(tiny_tokenizer, keyword):
    assert len(tiny_tokenizer.encode(keyword, add_special_tokens=False)) == 1
    assert len(tiny_tokenizer.encode(" " + keyword, add_special_tokens=False)) == 1


@pytest.mark.parametrize("operator", LUA_OPERATORS)
def test_operators_encode_to_one_token(tiny_tokenizer, operator):
    assert len(tiny_tokenizer.encode(operator, add_special_tokens=False)) == 1
    assert len(tiny_tokenizer.encode(" " + operator, add_special_tokens=False)) == 1


def test_operators_stay_whole_between_brackets(tiny_tokenizer):
    tokens = tiny_tokenizer.tokenize("f(x)==(y)..z")
    assert "==" in tokens and ".." in tokens


def test_rare_keyword_is_kept_whole_even_if_corpus_lacks_it():
    tokenizer = build_tokenizer(["local x = 1"] * 5, keep_whole=["goto", "~="], vocab_size=300)
    assert len(tokenizer.encode(" goto", add_special_tokens=False)) == 1
    assert len(tokenizer.encode("~=", add_special_tokens=False)) == 1


def test_identifier_containing_a_keyword_is_not_cut_at_it():
    # Added tokens would always cut "endpoint" into "end" + "point"; merges let a
    # frequent identifier become its own token.
    corpus = ["local endpoint = endpoint .. endpoint"] * 50 + ["x end", "end"]
    tokenizer = build_tokenizer(corpus, keep_whole=["end", ".."], vocab_size=400)
    assert tokenizer.tokenize(" endpoint") == ["Ġendpoint"]
    assert tokenizer.decode(tokenizer.encode("endpoint = end_x", add_special_tokens=False)) == "endpoint = end_x"


@pytest.mark.parametrize("text", [*LUA_SNIPPETS[:5], "s = 'héllo wörld ✓'\n\t-- tabs\r\n  end  ", "x~=y...z"])
def test_text_round_trips_through_tokenizer(tiny_tokenizer, text):
    assert tiny_tokenizer.decode(tiny_tokenizer.encode(text, add_special_tokens=False)) == text


def test_chat_template_masks_exactly_the_assistant_turns(tiny_tokenizer):
    encoded = tiny_tokenizer.apply_chat_template(
        CHAT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    trained = [i for i, keep in zip(encoded["input_ids"], encoded["assistant_masks"]) if keep]
    assert tiny_tokenizer.decode(trained) == (
        "local function add(a, b)\n  return a + b\nend</s>" + "return a - b</s>"
    )


def test_chat_template_trains_the_end_of_turn_token(tiny_tokenizer):
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    assert is_chat_template_stop_token_trained(tiny_tokenizer)


def test_chat_template_keeps_newlines_between_turns(tiny_tokenizer):
    rendered = tiny_tokenizer.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    assert rendered == "<s><|system|>\nYou write Lua 5.4.</s>\n<|user|>\nAdd two numbers.</s>\n<|assistant|>\n"


def test_chat_template_refuses_unknown_roles(tiny_tokenizer):
    from jinja2.exceptions import TemplateError

    with pytest.raises(TemplateError, match="unsupported chat role: tool"):
        tiny_tokenizer.apply_chat_template([{"role": "tool", "content": "42"}], tokenize=False)


def test_saved_base_loads_offline_with_auto_classes(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base, local_files_only=True)
    parameters = sum(p.numel() for p in model.parameters())
    assert 500_000 < parameters < 5_000_000
    assert model.config.tie_word_embeddings
    assert (tiny_base / "chat_template.jinja").is_file()
    assert {tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token} == {
        "<s>", "</s>", "<pad>", "<unk>"
    }
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id


def test_same_seed_builds_identical_base(tmp_path):
    first = build_tiny_base(LUA_SNIPPETS, tmp_path / "a", keep_whole=LUA_KEEP_WHOLE, seed=7)
    second = build_tiny_base(LUA_SNIPPETS, tmp_path / "b", keep_whole=LUA_KEEP_WHOLE, seed=7)
    other_seed = build_tiny_base(LUA_SNIPPETS, tmp_path / "c", keep_whole=LUA_KEEP_WHOLE, seed=8)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert (first / "model.safetensors").read_bytes() != (other_seed / "model.safetensors").read_bytes()


def test_vocab_size_bounds_the_learned_vocabulary(tmp_path):
    tokenizer = build_tokenizer(LUA_SNIPPETS * 4, keep_whole=LUA_KEEP_WHOLE, vocab_size=400)
    vocab = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["vocab"]
    # Forced keyword forms may add a few entries on top of what BPE learned.
    assert len(vocab) <= 400 + 2 * len(LUA_KEEP_WHOLE)


def test_whitespace_in_keep_whole_is_refused():
    with pytest.raises(ValueError, match="whitespace"):
        build_tokenizer(["x"], keep_whole=["else if"])


def test_empty_corpus_is_refused():
    with pytest.raises(ValueError, match="corpus is empty"):
        build_tokenizer([], keep_whole=["end"])
