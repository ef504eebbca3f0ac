from __future__ import annotations

import pytest
import yaml

from training.config import BaseModelError, ConfigError, TrainingConfig, check_base_model

MINIMAL = {"method": "sft", "base_model": "/models/base", "output_dir": "/runs/one"}


def config(**changes) -> TrainingConfig:
    return TrainingConfig.from_mapping({**MINIMAL, **changes})


def refusal(**changes) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config(**changes)
    return caught.value


def test_unknown_config_key_is_refused():
    error = refusal(learning_rte=1e-4)
    assert error.errors == {"learning_rte": "unknown setting (did you mean 'learning_rate'?)"}


def test_missing_required_fields_are_named():
    with pytest.raises(ConfigError) as caught:
        TrainingConfig.from_mapping({"method": "sft"})
    assert set(caught.value.errors) == {"base_model", "output_dir"}


def test_negative_learning_rate_is_refused():
    assert "learning_rate" in refusal(learning_rate=-1e-4).errors


def test_zero_batch_size_is_refused():
    assert refusal(batch_size=0).errors["batch_size"] == "must be greater than zero, got 0"


def test_boolean_is_not_a_batch_size():
    assert "batch_size" in refusal(batch_size=True).errors


def test_unknown_method_is_refused():
    assert "must be one of cpt, sft, dpo, grpo" in refusal(method="ppo").errors["method"]


def test_lora_settings_on_full_fine_tuning_are_refused():
    error = refusal(adapter="full", lora_r=8)
    assert error.errors == {"lora_r": "only applies to adapter lora or qlora, but adapter is full"}


def test_qlora_without_bitsandbytes_or_gpu_is_refused():
    import importlib.util

    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes"):
        pytest.skip("this machine can run QLoRA")
    assert "qlora needs" in refusal(adapter="qlora").errors["adapter"]


def test_method_specific_setting_on_another_method_is_refused():
    assert refusal(dpo_beta=0.1).errors == {"dpo_beta": "only applies to method dpo, but method is sft"}


def test_grpo_generations_must_divide_the_generation_batch():
    error = refusal(method="grpo", batch_size=6, grpo_generations=4)
    assert "must divide batch_size x gradient_accumulation (6)" in error.errors["grpo_generations"]


def test_lora_dropout_of_one_is_refused():
    assert "lora_dropout" in refusal(lora_dropout=1.0).errors


def test_every_bad_field_is_named_at_once():
    error = refusal(learning_rate=0, batch_size=-2, max_length=4)
    assert set(error.errors) == {"learning_rate", "batch_size", "max_length"}
    assert "learning_rate" in str(error) and "batch_size" in str(error)


def test_numeric_strings_from_a_form_are_accepted():
    settings = config(learning_rate="2e-4", batch_size="4", max_steps="", lora_targets="q_proj, v_proj")
    assert settings.learning_rate == 2e-4
    assert settings.batch_size == 4
    assert settings.max_steps is None
    assert settings.lora_targets == ["q_proj", "v_proj"]


def test_text_that_is_not_a_number_is_refused():
    assert refusal(epochs="three").errors["epochs"] == "must be a number, not 'three'"


def test_defaults_fill_only_the_settings_that_apply():
    lora_sft = config()
    assert (lora_sft.lora_r, lora_sft.dpo_beta, lora_sft.grpo_generations) == (16, None, None)
    full_dpo = config(method="dpo", adapter="full")
    assert (full_dpo.lora_r, full_dpo.dpo_beta) == (None, 0.1)
    assert config(method="cpt").packing is True and lora_sft.packing is False


def test_preview_round_trips():
    settings = config(method="grpo", batch_size=8, grpo_generations=4, lora_targets=["q_proj"])
    assert TrainingConfig.from_mapping(settings.to_mapping()) == settings
    assert TrainingConfig.from_mapping(yaml.safe_load(settings.to_yaml())) == settings
    assert settings.to_yaml().startswith("method: grpo\nbase_model: /models/base\n")


def test_base_model_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(BaseModelError, match="does not exist; it must be a local model folder"):
        check_base_model(tmp_path / "missing")


def test_folder_without_config_json_is_not_a_model(tmp_path):
    with pytest.raises(BaseModelError, match="has no config.json"):
        check_base_model(tmp_path)


def test_unreadable_config_json_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(BaseModelError, match="config.json cannot be loaded"):
        check_base_model(tmp_path)


def test_tiny_base_is_a_model(tiny_base):
    assert check_base_model(tiny_base) == tiny_base


def test_lora_adapter_folder_is_not_a_base_model(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(BaseModelError, match="is a LoRA adapter, not a model"):
        check_base_model(tmp_path)


def test_empty_optional_settings_take_their_defaults():
    settings = config(method="grpo", batch_size=8, grpo_generations=None, lora_r="")
    assert (settings.grpo_generations, settings.lora_r) == (4, 16)


def test_empty_lora_target_list_is_refused():
    assert "lora_targets" in refusal(lora_targets=[]).errors
