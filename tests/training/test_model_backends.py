from __future__ import annotations

import functools

import pytest

from tests.training.lua_samples import sft_rows
from tests.training.openai_server import OpenAIStubServer
from training.backends import BackendError, Completion, LocalBackend, OpenAICompatibleBackend, cut_at_stop

PROMPTS = ["local function add(a, b)\n", "for i = 1, 10 do\n", "-- greet someone\nlocal"]


@pytest.fixture(scope="module")
def local(tiny_base):
    return LocalBackend(tiny_base, threads=1)


@pytest.fixture(scope="module")
def server():
    with OpenAIStubServer() as running:
        yield running


def test_batched_generation_returns_n_per_prompt(local):
    results = local.generate(PROMPTS, n=4, temperature=0.8, max_new_tokens=12, seed=0)
    assert [len(samples) for samples in results] == [4, 4, 4]
    for samples in results:
        for completion in samples:
            assert isinstance(completion, Completion) and isinstance(completion.text, str)
            assert 1 <= completion.tokens <= 12
            assert completion.seconds > 0
            assert completion.finish_reason in ("stop", "length")


def test_prompts_and_samples_share_forward_passes(tiny_base, monkeypatch):
    library = LocalBackend(tiny_base, threads=1, decoder="library")
    calls: list[int] = []
    generate = library.model.generate

    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0] * kwargs["num_return_sequences"])
        return generate(*args, **kwargs)

    monkeypatch.setattr(library.model, "generate", counting)
    library.generate(PROMPTS, n=4, temperature=0.8, max_new_tokens=4, seed=0)
    assert calls == [12]
    monkeypatch.setattr(library, "max_batch", 8)
    calls.clear()
    library.generate(PROMPTS, n=4, temperature=0.8, max_new_tokens=4, seed=0)
    assert calls == [8, 4]


def _record_forward_passes(model, monkeypatch) -> list[tuple[int, int]]:
    """(rows, tokens) of every forward pass through the model's own forward."""
    import functools

    shapes: list[tuple[int, int]] = []
    forward = model.forward

    @functools.wraps(forward)
    def recording(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        shapes.append(tuple(ids.shape))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recording)
    return shapes


def test_each_prompt_is_read_once_for_all_its_samples(local, monkeypatch):
    shapes = _record_forward_passes(local.model, monkeypatch)
    results = local.generate(PROMPTS, n=4, temperature=0.8, max_new_tokens=6, seed=0)
    assert [len(samples) for samples in results] == [4, 4, 4]
    # One pass over the 3 prompts, not 12 copies of them; the decoding steps share it.
    assert [rows for rows, _ in shapes] == [3]
    monkeypatch.setattr(local, "max_batch", 8)
    shapes.clear()
    local.generate(PROMPTS, n=4, temperature=0.8, max_new_tokens=6, seed=0)
    assert [rows for rows, _ in shapes] == [2, 1]


def test_shared_prefix_sampler_decodes_like_the_library(tiny_base):
    library = LocalBackend(tiny_base, threads=1, decoder="library")
    shared = LocalBackend(tiny_base, threads=1)
    prompts = [*PROMPTS, "local t = {}\nfor k, v in pairs(t) do\n  print(k, v)\nend\n"]
    assert shared._shared_prefix_sampler() is not None
    expected = library.generate(prompts, temperature=0, max_new_tokens=16)
    got = shared.generate(prompts, temperature=0, max_new_tokens=16)
    assert [s[0].text for s in got] == [s[0].text for s in expected]
    assert [s[0].tokens for s in got] == [s[0].tokens for s in expected]


def test_shared_prefix_step_gives_the_librarys_logits(local):
    """The next-token distribution of a decoding step is the one the full forward pass gives."""
    import torch

    sampler = local._shared_prefix_sampler()
    steps: list = []
    step = sampler._step

    def keeping(*args, **kwargs):
        steps.append(step(*args, **kwargs))
        return steps[-1]

    sampler._step = keeping
    try:
        local.tokenizer.padding_side = "left"
        encoded = local._encode(PROMPTS, 8, add_special_tokens=True)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(3)
            rows = sampler.sample(encoded, 2, temperature=1.0, top_p=1.0, max_new_tokens=4, stop=None)
    finally:
        del sampler._step
    full_length = [row for row, ids in enumerate(rows) if len(ids) == 4]  # not ended by end-of-sequence
    assert len(full_length) >= 4
    for row in full_length:
        ids = rows[row]
        prompt = encoded["input_ids"][row // 2][encoded["attention_mask"][row // 2].bool()].tolist()
        with torch.inference_mode():
            full = local.model(torch.tensor([prompt + ids[:3]])).logits[0, -3:]
        for position in range(3):
            assert torch.allclose(steps[position][row], full[position], atol=1e-4)


def _rows(backend, prompts, *, n, stop, max_new_tokens, seed, temperature=1.0):
    import torch

    sampler = backend._shared_prefix_sampler()
    backend.tokenizer.padding_side = "left"
    encoded = backend._encode(prompts, max_new_tokens, add_special_tokens=True)
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        return sampler.sample(encoded, n, temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens,
                              stop=stop)


def test_a_sample_stops_at_the_token_that_completes_a_stop_string(local):
    decode = local.tokenizer.decode
    rows = _rows(local, PROMPTS, n=4, stop=["\n", " end"], max_new_tokens=40, seed=2)
    stopped = 0
    for ids in rows:
        if len(ids) == 40 or ids[-1] == local.tokenizer.eos_token_id:
            continue
        stopped += 1
        assert cut_at_stop(decode(ids, skip_special_tokens=True), ["\n", " end"])[1]
        assert not cut_at_stop(decode(ids[:-1], skip_special_tokens=True), ["\n", " end"])[1]
    assert stopped >= len(rows) // 2


def test_a_batch_ends_as_soon_as_every_sample_has_stopped(local):
    sampler = local._shared_prefix_sampler()
    batch_rows: list[int] = []
    step = sampler._step

    def counting(tokens, *args, **kwargs):
        batch_rows.append(tokens.shape[0])
        return step(tokens, *args, **kwargs)

    sampler._step = counting
    try:
        # A space starts most tokens of this vocabulary, so every sample meets one quickly.
        rows = _rows(local, PROMPTS, n=4, stop=[" "], max_new_tokens=200, seed=1)
    finally:
        del sampler._step
    longest = max(len(ids) for ids in rows)
    assert longest < 200
    assert len(batch_rows) == longest - 1  # no step after the last sample stopped
    # A prompt whose samples have all stopped leaves the batch.
    assert batch_rows == sorted(batch_rows, reverse=True) and set(batch_rows) <= {12, 8, 4}


def test_sampling_keeps_its_temperature(local):
    """Temperature sampling draws from softmax(logits / T): a low temperature concentrates
    the samples, a high one spreads them."""
    cold = _rows(local, PROMPTS[:1], n=64, stop=None, max_new_tokens=1, seed=5, temperature=0.05)
    hot = _rows(local, PROMPTS[:1], n=64, stop=None, max_new_tokens=1, seed=5, temperature=5.0)
    assert len({ids[0] for ids in cold}) < len({ids[0] for ids in hot})


def test_left_padded_batch_matches_single_prompts(local):
    batched = local.generate(PROMPTS, temperature=0, max_new_tokens=10)
    alone = [local.generate([prompt], temperature=0, max_new_tokens=10)[0] for prompt in PROMPTS]
    assert [s[0].text for s in batched] == [s[0].text for s in alone]


def test_greedy_samples_are_identical(local):
    samples = local.generate(PROMPTS[:1], n=3, temperature=0, max_new_tokens=8)[0]
    assert len(samples) == 3 and len({c.text for c in samples}) == 1


def test_same_seed_gives_same_samples(local):
    first = local.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=10, seed=42)
    again = local.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=10, seed=42)
    other = local.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=10, seed=43)
    assert [[c.text for c in s] for s in first] == [[c.text for c in s] for s in again]
    assert [[c.text for c in s] for s in first] != [[c.text for c in s] for s in other]


def test_unseeded_calls_give_fresh_samples(local):
    first = local.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=10)
    second = local.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=10)
    assert [[c.text for c in s] for s in first] != [[c.text for c in s] for s in second]


def test_stop_strings_cut_the_text(local):
    # A space starts most tokens of this vocabulary, so every sample meets one quickly.
    results = local.generate(PROMPTS, n=4, temperature=1.0, max_new_tokens=24, stop=[" "], seed=1)
    texts = [c for s in results for c in s]
    assert all(" " not in c.text for c in texts)
    assert sum(c.finish_reason == "stop" for c in texts) >= len(texts) // 2


def test_score_is_mean_token_negative_log_likelihood(local):
    import torch

    text = "local x = 1\nreturn x"
    ids = [local.tokenizer.bos_token_id, *local.tokenizer.encode(text, add_special_tokens=False)]
    with torch.inference_mode():
        expected = local.model(torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    assert local.score([text]) == pytest.approx([expected], rel=1e-5)


def test_score_does_not_depend_on_batch_company(local):
    short = "x = 1"
    alone = local.score([short])[0]
    in_company = local.score([short, "local function f(a, b, c)\n  return a * b + c\nend"])[0]
    assert in_company == pytest.approx(alone, abs=1e-4)


@pytest.mark.slow
def test_local_backend_runs_a_lora_checkpoint(tiny_base, tmp_path):
    from training.config import TrainingConfig
    from training.runner import train

    config = TrainingConfig.from_mapping(
        {"method": "sft", "base_model": str(tiny_base), "output_dir": str(tmp_path), "max_steps": 1, "max_length": 64,
         "threads": 1}
    )
    result = train(config, sft_rows()[:8])
    backend = LocalBackend(result.output_dir)
    assert len(backend.generate(["local"], n=2, temperature=0.5, max_new_tokens=4)[0]) == 2


def test_cut_at_stop_uses_the_earliest_stop():
    assert cut_at_stop("a\nb END c", ["END", "\n"]) == ("a", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)


def test_http_backend_returns_n_completions_per_prompt(server):
    backend = OpenAICompatibleBackend(server.url, "echo-model")
    results = backend.generate(["p1", "p2"], n=3, max_new_tokens=20)
    assert [[c.text for c in samples] for samples in results] == [
        [f" answer {j} to p{i}\nsecond line" for j in range(3)] for i in (1, 2)
    ]
    assert all(c.tokens == 6 for samples in results for c in samples)


def test_http_backend_sends_settings_and_cuts_at_stop(server):
    backend = OpenAICompatibleBackend(server.url + "/v1/", "echo-model", api_key="sk-test")
    completion = backend.generate(["p"], n=1, temperature=0.7, max_new_tokens=9, stop=["\n"], seed=5)[0][0]
    assert completion.text == " answer 0 to p"
    assert completion.finish_reason == "stop"
    sent = server.requests[-1]
    assert sent["path"] == "/v1/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-test"
    assert sent["body"] == {"model": "echo-model", "n": 1, "temperature": 0.7, "max_tokens": 9,
                            "stop": ["\n"], "seed": 5, "prompt": "p"}


def test_http_backend_chat_mode_reads_messages(server):
    backend = OpenAICompatibleBackend(server.url, "echo-model", chat=True)
    completion = backend.generate(["hello"], n=1)[0][0]
    assert completion.text == " answer 0 to hello\nsecond line"
    assert server.requests[-1]["path"] == "/v1/chat/completions"


def test_http_backend_timeout_is_a_clear_error(server):
    backend = OpenAICompatibleBackend(server.url, "slow", timeout=0.3)
    with pytest.raises(BackendError, match=r"did not answer within 0.3 s"):
        backend.generate(["p"])


def test_http_backend_garbage_answer_is_a_clear_error(server):
    backend = OpenAICompatibleBackend(server.url, "garbage")
    with pytest.raises(BackendError, match="not JSON: <html>upstream proxy error</html>"):
        backend.generate(["p"])


def test_http_backend_wrong_number_of_choices_is_refused(server):
    backend = OpenAICompatibleBackend(server.url, "wrong-count")
    with pytest.raises(BackendError, match="expected 2 choices"):
        backend.generate(["p"], n=2)


def test_http_backend_server_error_carries_its_message(server):
    backend = OpenAICompatibleBackend(server.url, "broken")
    with pytest.raises(BackendError, match="HTTP 500.*CUDA out of memory"):
        backend.generate(["p"])


def test_http_backend_unreachable_server_is_a_clear_error():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{free_port}", "m", timeout=2)
    with pytest.raises(BackendError, match="unreachable"):
        backend.generate(["p"])


def test_http_backend_scores_from_echoed_logprobs(server):
    backend = OpenAICompatibleBackend(server.url, "echo-model")
    # Words 2..4 get logprobs -1, -2, -3: mean negative log-likelihood 2.
    assert backend.score(["a b c d", "a b"]) == [2.0, 1.0]


def test_http_backend_without_prompt_logprobs_cannot_score(server):
    backend = OpenAICompatibleBackend(server.url, "no-logprobs")
    with pytest.raises(BackendError, match="cannot score texts"):
        backend.score(["a b c"])


def test_chat_mode_sends_prompts_through_the_chat_template(tiny_base, monkeypatch):
    backend = LocalBackend(tiny_base, chat=True)
    seen: list[list[int]] = []
    forward = backend.model.forward

    @functools.wraps(forward)
    def recording(*args, **kwargs):
        seen.extend(kwargs["input_ids"].tolist())
        return forward(*args, **kwargs)

    monkeypatch.setattr(backend.model, "forward", recording)
    backend.generate(["Add two numbers."], temperature=0, max_new_tokens=2)
    assert backend.tokenizer.decode(seen[0]) == "<s><|user|>\nAdd two numbers.</s>\n<|assistant|>\n"


def test_prompt_longer_than_the_context_keeps_its_end(local):
    long_prompt = "x = x + 1\n" * 400 + "local last"
    completion = local.generate([long_prompt], temperature=0, max_new_tokens=4)[0][0]
    assert completion.tokens >= 1


def test_http_backend_goes_through_the_callers_opener(server):
    import urllib.request

    seen: list[str] = []

    class Recording(urllib.request.BaseHandler):
        def http_request(self, request):
            seen.append(request.full_url)
            return request

    backend = OpenAICompatibleBackend(server.url, "echo-model", opener=urllib.request.build_opener(Recording()))
    backend.generate(["p"])
    assert seen == [server.url + "/v1/completions"]


# ---------------------------------------------------------------- {"kind": "checkpoint"}: a registered one

@pytest.mark.django_db
def test_checkpoint_backend_runs_the_registered_checkpoint(lua, tiny_base):
    from training.backend_settings import backend_from_spec
    from training.models import Checkpoint

    checkpoint = Checkpoint.objects.create(language=lua, name="tiny", method="base", base_model=str(tiny_base),
                                           path=str(tiny_base))
    backend = backend_from_spec({"kind": "checkpoint", "id": checkpoint.pk})
    assert isinstance(backend, LocalBackend) and not backend.chat  # a base model continues raw text
    assert len(backend.generate(["local x = "], n=2, temperature=0.5, max_new_tokens=4, seed=0)[0]) == 2
    checkpoint.method = "sft"  # trained on conversations: instructions go through its chat template
    checkpoint.save(update_fields=["method"])
    assert backend_from_spec({"kind": "checkpoint", "id": checkpoint.pk}).chat


@pytest.mark.django_db
def test_checkpoint_backend_spec_is_checked_without_loading_a_model(lua):
    from curation.models import Language
    from training.backend_settings import backend_from_spec, check_backend_spec
    from training.models import Checkpoint

    other = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl", pack_path="/nowhere")
    theirs = Checkpoint.objects.create(language=other, name="t", method="sft", base_model="/m", path="/no/such/model")
    spec = {"kind": "checkpoint", "id": theirs.pk}
    assert check_backend_spec(spec) == spec  # the folder is not opened
    with pytest.raises(ValueError, match=f"checkpoint #{theirs.pk} is not one of Lua's"):
        check_backend_spec(spec, language=lua)
    with pytest.raises(ValueError, match="no checkpoint #999999"):
        backend_from_spec({"kind": "checkpoint", "id": 999999})
    with pytest.raises(ValueError, match='needs "id"'):
        check_backend_spec({"kind": "checkpoint", "id": "3"})
    with pytest.raises(ValueError, match="unknown backend kind 'carrier-pigeon'"):
        check_backend_spec({"kind": "carrier-pigeon"})


def test_kind_none_means_no_model_even_with_a_teacher(settings):
    from training.backend_settings import backend_from_spec

    settings.TEACHER_BASE_URL = "http://gpu-box:8000/v1"
    assert backend_from_spec({"kind": "none"}) is None
