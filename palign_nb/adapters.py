"""The LoRA adapters DPO and the RL baseline train, kept in the results store and loaded back.

One adapter per method, keying and subject (:func:`adapter_dir`), saved atomically and without the
clone's absolute path (:func:`save_adapter`), and merged onto a copy of the model when read back
(:func:`load_adapter`): chapter 07 reloads one to check it answers as it did, chapter 08 keeps its own.

Introduced in :doc:`/notebooks/07_preference_baselines`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from .config import RunConfig
from .errors import PalignError
from .models import LoadedModel
from .preference import TrainResult
from .preference_training import merged, quiet


def adapter_dir(cfg: RunConfig, method: str, subject, keying: str = "papi") -> Path:
    """Where the store keeps one subject's adapter: ``<results>/adapters/<method>_<keying>/<subject>``."""
    return cfg.results_path / "adapters" / f"{method}_{keying}" / str(subject)


def save_adapter(result: TrainResult, path: Path) -> Path:
    """Save the LoRA adapter (``adapter_config.json`` + ``adapter_model.safetensors``) to ``path``: written to a
    temporary folder beside it, which then replaces ``path`` (a killed save leaves the earlier adapter whole).

    A base model loaded from a local folder is recorded by the folder's name (for the embedded model, its
    name and GGUF hash), not its absolute path, and the target modules (a set in PEFT, in hash order) are
    written sorted, so the same adapter saves to the same bytes in any clone and process."""
    import json
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    result.model.save_pretrained(str(tmp))
    for config in (
        result.model.peft_config.values()
    ):  # PEFT needs the real path while saving; the files do not
        base = config.base_model_name_or_path
        if base and Path(base).is_absolute():
            for written in (tmp / "adapter_config.json", tmp / "README.md"):
                if written.exists():
                    written.write_text(
                        written.read_text().replace(base, Path(base).name)
                    )
    config_file = tmp / "adapter_config.json"
    if config_file.exists():
        written = json.loads(config_file.read_text())
        if isinstance(written.get("target_modules"), list):
            written["target_modules"] = sorted(written["target_modules"])
            # PEFT's own layout (PeftConfigMixin.save_pretrained)
            config_file.write_text(json.dumps(written, indent=2, sort_keys=True))
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def load_adapter(lm: LoadedModel, path: Path, tag: str = "adapter") -> LoadedModel:
    """Load a saved adapter onto a copy of ``lm`` and merge it (:func:`palign_nb.preference_training.merged`)."""
    from peft import PeftModel

    path = Path(path)
    if not (path / "adapter_config.json").exists():
        raise PalignError(
            f"No adapter at {path}. Run notebooks/07_preference_baselines.ipynb with the same model_id, "
            "inventory, keying and results_dir first: it saves one adapter per subject there."
        )
    with quiet():
        peft_model = PeftModel.from_pretrained(copy.deepcopy(lm.model), str(path))
    return merged(lm, peft_model, tag)
