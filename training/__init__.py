"""Training: tiny base builder, typed job config, TRL runners, model backends.

The core modules (tiny_base, config, methods, progress, runner, checkpoints, backends)
import no Django; the app's models, Celery tasks and views are thin shells around them.

Nothing here may reach a model hub — the machines have no route to one and a silent
download attempt costs a long timeout — so the offline switches are set before any
Hugging Face library is imported through this package. `setdefault` lets a deployment
that does have a hub mirror opt back in through its environment.
"""
import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Telemetry pings are network calls too.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DISABLE_TELEMETRY", "1")

# peft 0.21 and trl 1.16 read `model.is_gradient_checkpointing`, deprecated in
# transformers 5.23: one FutureWarning per run that no caller can act on.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
