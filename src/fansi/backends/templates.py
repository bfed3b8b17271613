"""Chat templates for the model families fansi runs in-process.

We render prompts ourselves rather than trust a template read from a GGUF
file: the result is the same on every machine and testable here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fansi.models import Family
from fansi.records import Message


@dataclass(frozen=True)
class ChatTemplate:
    family: Family
    default_system: str | None
    stop: tuple[str, ...]

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text, ending where the assistant's reply begins."""
        turns = list(messages)
        if self.default_system is not None and (not turns or turns[0].role != "system"):
            turns.insert(0, Message("system", self.default_system))
        body = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in turns)
        return body + "<|im_start|>assistant\n"


# Both packaged families speak ChatML; they differ in the system prompt the
# models were tuned with, which measurably changes a small model's output.
TEMPLATES: dict[Family, ChatTemplate] = {
    "qwen": ChatTemplate(
        "qwen",
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        ("<|im_end|>", "<|endoftext|>"),
    ),
    "smollm2": ChatTemplate(
        "smollm2",
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
        ("<|im_end|>", "<|endoftext|>"),
    ),
    "chatml": ChatTemplate("chatml", None, ("<|im_end|>", "<|endoftext|>")),
}


def family_from_metadata(metadata: dict[str, str]) -> Family:
    """Guess the family of a GGUF file from its metadata; ChatML when unknown."""
    name = (metadata.get("general.name", "") + " " + metadata.get("general.basename", "")).lower()
    arch = metadata.get("general.architecture", "").lower()
    if "smollm" in name:
        return "smollm2"
    if arch.startswith("qwen") or "qwen" in name:
        return "qwen"
    return "chatml"
