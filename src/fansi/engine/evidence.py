"""Evidence and selection: the one function from a candidate's evidence to a
score, and the evidence-weighted vote over answer clusters.

A candidate's evidence:

- **verifier P(pass)**: each verification contributes the probability that the
  verifier passes the candidate: ``Verification.p_pass`` where the backend gave
  a distribution over the score, else 1 for a sampled score of 1 and 0 for 0 or
  0.5; an unknown verdict counts as 0, so that unreadable is never better
  than failing. Each counts with its weight (meta-checks that dismiss a
  failing verdict's issues lower it). With a Beta(1, 1) prior,
  ``p = (sum(w * p_pass) + 1) / (sum(w) + 2)``: no verdict at all gives 1/2.
- **executed checks**: a failed check (arithmetic, a failed assertion, a
  manipulation found) is decisive: the candidate's score and vote are 0.
- **program agreement** and **answer-cluster support** enter through the vote.
- **self-score**: the writer's own score, as a small tie-break only.
- **truncation**: a cut-off solution counts half.

:func:`score` is that function. For problems with a final answer,
:func:`rank` runs a weighted vote: each answer cluster weighs the sum of its
members' *vote weights* (:func:`vote_weight`: P(pass), 0 when refuted or
truncated counts half), plus one vote per program whose printed answer falls in
it (weighted as the pool's mean candidate). The heaviest cluster wins, and its
best candidate by :func:`score` is selected. With a constant P(pass) every
candidate weighs the same, so the vote returns the plurality answer of the n
candidates: an uninformative verifier cannot do worse than majority voting.
Candidates without an answer stand alone, each weighing its own vote weight.
When at least half of the candidates state an answer, the problem asks for
one, and a candidate that states none has not done what it asks: every answer
cluster with any weight goes before it, whatever its verdicts (a majority
vote, likewise, counts only stated answers). Otherwise, as in a proof, the
weights decide, and at equal weight a cluster with an answer goes first. Ties
go to the larger cluster, then to the cluster whose first candidate id comes
first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fansi.engine.checked import Checked
from fansi.records import Verification

PRIOR_PASSES = 1.0
PRIOR_FAILS = 1.0
SELF_SCORE_WEIGHT = 0.05


def verdict_p_pass(v: Verification) -> float:
    """P(pass) of one verification: from its distribution, else from its sampled
    score (1 -> 1; 0 or 0.5 -> 0). An unknown verdict counts as no pass: a
    candidate whose verdicts cannot be read is never better off than one that
    failed."""
    if v.p_scores is not None:
        return v.p_scores[2]
    if v.score is None:
        return 0.0
    return 1.0 if v.score >= 1 else 0.0


def p_pass(checked: Checked) -> float:
    """The posterior probability that a verifier passes the candidate."""
    known = [(v.weight, verdict_p_pass(v)) for v in checked.verifications if v.weight > 0]
    passes = sum(w * p for w, p in known)
    weight = sum(w for w, _ in known)
    return (passes + PRIOR_PASSES) / (weight + PRIOR_PASSES + PRIOR_FAILS)


#: Soft failure (sum of 1 - P(pass)) at which a candidate's failure is clear.
CLEAR_FAIL = 0.75
#: Soft failure under which passes can be clear.
CLEAR_DOUBT = 0.25


def clear(checked: Checked, k: int) -> Literal["pass", "fail"] | None:
    """Whether the verifiers' probabilities already settle the candidate, so that
    the adaptive schedule can stop drawing verdicts: only when every weighted
    verdict came with a distribution. ``fail`` once the soft failures (the sum
    of 1 - P(pass)) reach :data:`CLEAR_FAIL`; ``pass`` once they stay under
    :data:`CLEAR_DOUBT` and the soft passes reach half of k, and at least two
    (the sum of P(pass) within 0.25 of max(2, ceil(k / 2))); else None."""
    weighted = [v for v in checked.verifications if v.weight > 0]
    if not weighted or any(v.p_scores is None for v in weighted):
        return None
    passes = sum(v.weight * verdict_p_pass(v) for v in weighted)
    doubt = sum(v.weight * (1 - verdict_p_pass(v)) for v in weighted)
    if doubt >= CLEAR_FAIL:
        return "fail"
    if doubt < CLEAR_DOUBT and passes >= max(2, -(-k // 2)) - CLEAR_DOUBT:
        return "pass"
    return None


def vote_weight(checked: Checked) -> float:
    """What a candidate adds to its answer's cluster: P(pass), 0 when an executed
    check refuted it, half when it was cut off."""
    if checked.refuted():
        return 0.0
    weight = p_pass(checked)
    return weight * 0.5 if checked.candidate.truncated else weight


def score(checked: Checked) -> float:
    """The candidate's evidence score: its vote weight plus a small tie-break by
    the writer's self-score (0.5 when it gave none)."""
    if checked.refuted():
        return 0.0
    self_score = 0.5 if checked.candidate.self_score is None else checked.candidate.self_score
    return vote_weight(checked) + SELF_SCORE_WEIGHT * self_score


@dataclass(frozen=True)
class Cluster:
    """Candidates that share one final answer (or one answerless candidate)."""

    key: int | None
    members: tuple[Checked, ...]
    program_votes: int
    weight: float

    @property
    def answered(self) -> bool:
        return any(m.candidate.answer is not None for m in self.members)


def clusters(pool: Sequence[Checked], program_clusters: Sequence[int | None] = ()
             ) -> list[Cluster]:
    """The pool grouped by ``Checked.cluster``, heaviest first (see the module doc).

    Args:
        pool: The candidates with their evidence and cluster ids.
        program_clusters: For each program that printed an answer, the cluster
            that answer fell in (None: an answer no candidate gave).
    """
    by_id = sorted(pool, key=lambda c: c.candidate.id)
    mean = sum(vote_weight(c) for c in by_id) / len(by_id) if by_id else 0.0
    grouped: dict[int, list[Checked]] = {}
    alone: list[Checked] = []
    for checked in by_id:
        if checked.cluster is None:
            alone.append(checked)
        else:
            grouped.setdefault(checked.cluster, []).append(checked)
    found = []
    for key, members in grouped.items():
        votes = sum(1 for c in program_clusters if c == key)
        weight = sum(vote_weight(m) for m in members) + votes * mean
        found.append(Cluster(key, tuple(members), votes, weight))
    found += [Cluster(None, (c,), 0, vote_weight(c)) for c in alone]
    asks_answer = bool(by_id) and 2 * (len(by_id) - len(alone)) >= len(by_id)

    def order(cluster: Cluster) -> tuple[int, float, int, int, str]:
        size = len(cluster.members) + cluster.program_votes
        first = 0 if not asks_answer or (cluster.answered and cluster.weight > 0) else 1
        return (first, -round(cluster.weight, 9), -size, 0 if cluster.answered else 1,
                cluster.members[0].candidate.id)

    return sorted(found, key=order)


def best_first(members: Sequence[Checked]) -> list[Checked]:
    """Candidates of one cluster, best first: accepted, then by score, then id."""
    by_id = sorted(members, key=lambda c: c.candidate.id)
    return sorted(by_id, key=lambda c: (float(c.accepted), round(score(c), 9)), reverse=True)


def rank(pool: Sequence[Checked], program_clusters: Sequence[int | None] = ()
         ) -> list[Checked]:
    """The whole pool, best first: clusters by weight, members by score."""
    return [c for cluster in clusters(pool, program_clusters) for c in best_first(cluster.members)]


def vote_share(pool: Sequence[Checked], chosen: Checked,
               program_clusters: Sequence[int | None] = ()) -> float | None:
    """The share of all vote weight that the chosen candidate's cluster holds;
    None when the pool has no answers to vote on."""
    found = clusters(pool, program_clusters)
    if not any(c.answered for c in found):
        return None
    # Programs whose answer no candidate gave are votes against every cluster.
    mean = sum(vote_weight(c) for c in pool) / len(pool)
    dissent = sum(1 for c in program_clusters if c is None) * mean
    total = sum(c.weight for c in found) + dissent
    mine = next(c for c in found if chosen in c.members)
    return mine.weight / total if total > 0 else 1.0 / len(found)


__all__ = ["Cluster", "best_first", "clear", "clusters", "p_pass", "rank", "score",
           "verdict_p_pass", "vote_share", "vote_weight"]
