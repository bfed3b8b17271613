"""Learning from verified runs: labels, exported datasets, TRL rewards and recipes.

DeepSeekMath-V2's verifier and writer improve each other in stages: scaled
verification labels new proofs, the labels train the next verifier, and the
verifier's scores reward the writer. fansi already stores every candidate,
verdict, issue, meta-check and refinement; this package turns the store into
data in the field's own formats.

- :mod:`fansi.learn.labels`: the labelling rule (correct, wrong or unlabelled,
  with the source that decided it) and the labels file.
- :mod:`fansi.learn.labelling`: ``fansi label``, scaled verification of
  stored candidates or of a JSONL of solutions.
- :mod:`fansi.learn.export`: ``fansi export``, Hugging Face ``datasets`` in
  TRL's column conventions (sft, dpo, verifier, prm, grpo).
- :mod:`fansi.learn.rewards`: TRL-shaped reward functions.
- :mod:`fansi.learn.train`: ``fansi learn sft|dpo|grpo``, TRL on a GGUF model,
  written back as GGUF by llama.cpp's converter (:mod:`fansi.learn.convert`).

Only the labelling rule is imported here; everything that needs the ``learn``
extra (datasets, trl, transformers, torch) is imported where it is used.
"""

from __future__ import annotations

from fansi.learn.labels import Label, LabelRule, LabelSource, LabelValue, decide

__all__ = ["Label", "LabelRule", "LabelSource", "LabelValue", "decide"]
