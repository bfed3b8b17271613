"""Which checkers run: the list a ``checks`` setting allows, in order."""

from __future__ import annotations

from fansi.config import Checks
from fansi.engine.checkers import Checker, answer_agreement
from fansi.engine.executed import answer_substitution, arithmetic_steps, executed_claims
from fansi.engine.manipulation import manipulation_model, manipulation_text

#: Checkers that call a model (so they spend budget).
MODEL_CHECKERS: frozenset[Checker] = frozenset({executed_claims, manipulation_model})


def checkers_for(level: Checks) -> tuple[Checker, ...]:
    """The checkers a ``checks`` setting allows, in the order they run.

    Always: answer agreement and the manipulation detector, which only read
    text. Unless ``none``: arithmetic steps, evaluated by fansi's own parser,
    and the stated answer substituted into a functional equation (parsed by
    SymPy in the sandbox; no model-written code).
    With ``all``: the model-written checks (assertions of the candidate's
    claims, executed in the sandbox). The program votes of
    :func:`fansi.engine.executed.program_votes` also need ``all``.

    The verifier model's manipulation screen
    (:func:`fansi.engine.manipulation.manipulation_model`) is not in any list:
    on the embedded 1.5B model it quoted ordinary steps of honest ProcessBench
    solutions ("Step 1: To determine how far ...") as addressed to the grader,
    so it failed honest work. Pass it in ``Search(checkers=...)`` with a
    stronger verifier.
    """
    chosen: list[Checker] = [answer_agreement, manipulation_text]
    if level != "none":
        chosen += [arithmetic_steps, answer_substitution]
    if level == "all":
        chosen.append(executed_claims)
    return tuple(chosen)


__all__ = ["MODEL_CHECKERS", "checkers_for"]
