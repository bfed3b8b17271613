"""The kernel check: is this proof of this theorem accepted by Coq, honestly?

A candidate is a proof script (what goes between ``Proof.`` and ``Qed.``) and,
optionally, extra imports (``Require``, ``Import``, ``Open Scope`` sentences).
:func:`check_proof` writes, in a fresh scratch directory, the library
``C<hash>.v``::

    <the theorem's context, verbatim>
    Definition fansi_statement_<id> := forall <binders>, <statement>.
    <the candidate's imports>
    Theorem <name> <binders> : <statement>.
    Proof.
    <the candidate's proof>
    Qed.

The statement definition comes before any candidate text, so it is elaborated
with the original imports only; the theorem itself is elaborated after the
candidate's imports, which may change what the same bytes mean. The proof is
accepted only if every stage passes, in this order:

1. ``policy``: the candidate text contains none of the forbidden commands
   (:data:`FORBIDDEN`; comments are read too, so a hidden one counts), and its
   imports are only ``Require``/``Import``/``Export``/``Open Scope``/``Close
   Scope`` sentences.
2. ``compile``: ``coqc`` compiles the library.
3. ``statement``: a second file, which loads the library without importing
   anything from it, compiles ``Definition fansi_chk : C<hash>.fansi_statement_<id>
   := C<hash>.<name>.``: the candidate's theorem proves the original statement.
   The hashed library name cannot be written inside the text it is the hash
   of, so no module in the candidate can shadow these names.
4. ``libraries``: that file's ``Print Libraries`` lists only libraries under
   :data:`ALLOWED_ROOTS` and the candidate's own library.
5. ``assumptions``: ``Print Assumptions fansi_chk`` lists only axioms on
   :data:`ALLOWED_AXIOMS` (or in :data:`ALLOWED_AXIOM_MODULES`) and those the
   theorem's own context declares; an unsafe fixpoint or positivity note fails.
6. ``coqchk``: ``coqchk`` re-checks both compiled libraries (the installed
   standard library and packages are trusted, not re-checked: ``-norec``),
   reports no axiom in them beyond the context's, and no type-in-type, unsafe
   fixpoint or assumed positivity.

Failures are data: a :class:`KernelResult` with the failing stage and the
trimmed compiler message. Only a missing Coq raises (``ConfigError``).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fansi.errors import InputError
from fansi.formal.coq import Coq, Limits, Run, find_coq, run_limited
from fansi.formal.statements import Theorem, split_sentences, strip_comments

Stage = Literal["policy", "compile", "statement", "libraries", "assumptions", "coqchk",
                "accepted"]

#: Imports every fansi-written proof gets: the arithmetic decision procedures.
#: They come after the statement definition, so the statement check guards them.
STANDARD_IMPORTS = "From Coq Require Import Lia Lra Psatz."


def proof_imports(extra: str = "") -> str:
    """The imports fansi gives a proof: :data:`STANDARD_IMPORTS`, then ``extra``.

    Adding imports is safe: the statement check refuses a proof whose imports
    change what the statement means.
    """
    return "\n".join(part for part in (STANDARD_IMPORTS, extra.strip()) if part)


#: Axioms a proof may rely on, by full name. Together they hold in the usual
#: set-theoretic model of Coq, so they cannot prove False:
#: - the two axioms Coq's classical reals (``Reals``) rest on;
#: - excluded middle, and what it gives with extensionality: proof
#:   irrelevance and the dependent-equality axiom (used by ``dependent
#:   destruction`` and ``inversion`` on dependent types);
#: - functional and propositional extensionality;
#: - definite and indefinite description (Hilbert's epsilon), which
#:   Coquelicot and ``ClassicalEpsilon`` use.
ALLOWED_AXIOMS: frozenset[str] = frozenset({
    "Coq.Reals.ClassicalDedekindReals.sig_forall_dec",
    "Coq.Reals.ClassicalDedekindReals.sig_not_dec",
    "Coq.Logic.Classical_Prop.classic",
    "Coq.Logic.FunctionalExtensionality.functional_extensionality_dep",
    "Coq.Logic.PropExtensionality.propositional_extensionality",
    "Coq.Logic.ProofIrrelevance.proof_irrelevance",
    "Coq.Logic.Eqdep.Eq_rect_eq.eq_rect_eq",
    "Coq.Logic.Description.constructive_definite_description",
    "Coq.Logic.IndefiniteDescription.constructive_indefinite_description",
    "Coq.Logic.ClassicalEpsilon.constructive_indefinite_description",
})
#: Modules whose every axiom is allowed: Coq's primitive 63-bit integers and
#: floats and the axioms that specify them. The kernel computes with these
#: natively; the ``interval`` tactic needs them.
ALLOWED_AXIOM_MODULES: frozenset[str] = frozenset({
    "Coq.Numbers.Cyclic.Int63.PrimInt63",
    "Coq.Numbers.Cyclic.Int63.Uint63",
    "Coq.Numbers.Cyclic.Int63.Sint63",
    "Coq.Floats.PrimFloat",
    "Coq.Floats.FloatAxioms",
})
#: Roots of the libraries a proof may load: the standard library and the
#: Debian packages that scripts/install-coq.sh installs (with their dependencies).
ALLOWED_ROOTS: frozenset[str] = frozenset({
    "Coq", "Ltac2", "Coquelicot", "Interval", "Flocq", "Bignums", "mathcomp",
})
#: The logical root the scratch libraries are compiled under.
ROOT = "Fansi"

#: (pattern, reason) pairs; any match in the candidate text refuses it.
FORBIDDEN: tuple[tuple[str, str], ...] = (
    (r"\bDeclare\s+ML\s+Module\b", "loads a plugin (Declare ML Module)"),
    (r"\bUnset\s+(?:Guard|Positivity|Universe)\s+Checking\b", "turns a kernel check off"),
    (r"\bbypass_check\b", "turns a kernel check off (bypass_check)"),
    (r"\b(?:Admitted|admit|Abort)\b", "leaves the proof unfinished (Admitted, admit, Abort)"),
    (r"\b(?:Axioms?|Parameters?|Conjectures?|Variables?|Hypothes[ie]s|Context)\b",
     "declares an assumption (Axiom, Parameter, Hypothesis, Variable, Context...)"),
    (r"\b(?:Primitive|Register)\b", "declares a primitive (Primitive, Register)"),
    (r"\bAdmit\s+Obligations\b", "admits obligations"),
    (r"\b(?:Reset|Back|BackTo)\b", "rewinds the document (Reset, Back)"),
    (r"\b(?:Drop|Cd|Redirect|Load)\b", "touches the file system or the toplevel "
                                       "(Drop, Cd, Redirect, Load)"),
    (r"\bAdd\s+(?:Rec\s+)?(?:LoadPath|ML\s+Path)\b", "changes the load path"),
    (r"\bExtraction\b", "writes files (Extraction)"),
)
_FORBIDDEN = tuple((re.compile(pattern), reason) for pattern, reason in FORBIDDEN)
_IMPORT_SENTENCE = re.compile(
    r"(?:From\s+[\w.]+\s+)?Require(?:\s+(?:Import|Export))?(?:\s+[\w.']+)+\s*\."
    r"|(?:Import|Export)(?:\s+[\w.']+)+\s*\."
    r"|(?:(?:Local|Global)\s+)?(?:Open|Close)\s+Scope\s+\w+\s*\."
)
#: The longest candidate text (imports and proof) accepted, in characters.
MAX_CANDIDATE_CHARS = 100_000
#: The longest compiler message kept in a result, in characters.
MESSAGE_CHARS = 2_000
_LOCATION = re.compile(r'File "[^"]*", line (\d+), characters (\d+)-(\d+):\s*')


@dataclass(frozen=True)
class KernelResult:
    """The verdict on one candidate proof.

    Attributes:
        accepted: True only when every stage passed.
        stage: The stage that failed, or ``"accepted"``.
        message: Why it failed (the compiler's message, trimmed and with its
            location given relative to the proof), or "" when accepted.
        seconds: Wall time of the whole check.
        timed_out: Whether the failing stage ran out of time.
        axioms: The axioms ``Print Assumptions`` listed (printed names).
        error_offset: Where in the proof text the compile error sits, when it
            sits in the proof (a character offset), else None.
    """

    accepted: bool
    stage: Stage
    message: str
    seconds: float
    timed_out: bool = False
    axioms: tuple[str, ...] = ()
    error_offset: int | None = None


@dataclass(frozen=True)
class _Layout:
    library: str
    statement_name: str
    source: str
    statement_end: int  # character offset just after the statement definition
    proof_start: int  # character offset of the proof in ``source``


def _layout(theorem: Theorem, proof: str, imports: str) -> _Layout:
    statement_name = f"fansi_statement_{theorem.digest[:8]}"
    trusted = (f"{theorem.context.rstrip()}\n\n"
               f"Definition {statement_name} :=\n  {theorem.proposition}.\n")
    head = f"{trusted}\n{imports.strip()}\n\n{theorem.header}\nProof.\n"
    source = f"{head}{proof}\nQed.\n"
    library = "C" + hashlib.sha256(source.encode()).hexdigest()[:20]
    return _Layout(library, statement_name, source, len(trusted), len(head))


def candidate_source(theorem: Theorem, proof: str, *, imports: str | None = None) -> str:
    """The ``.v`` text :func:`check_proof` compiles for this proof: a complete file."""
    return _layout(theorem, proof, proof_imports() if imports is None else imports).source


def policy_violation(proof: str, imports: str = "") -> str | None:
    """Why the candidate text is refused before compiling, or None if it is not.

    Args:
        proof: The proof script.
        imports: The candidate's extra import sentences.
    """
    text = f"{imports}\n{proof}"
    if not proof.strip():
        return "the proof is empty"
    if len(text) > MAX_CANDIDATE_CHARS:
        return f"the proof has {len(text)} characters; the limit is {MAX_CANDIDATE_CHARS}"
    for pattern, reason in _FORBIDDEN:
        match = pattern.search(text)
        if match:
            return f"forbidden: {match.group(0)!r} {reason}"
    try:
        sentences = split_sentences(imports)
        split_sentences(proof)
    except InputError as exc:
        return exc.message
    for sentence in sentences:
        flat = " ".join(strip_comments(sentence.text).split())
        if flat and not _IMPORT_SENTENCE.fullmatch(flat):
            return f"imports may only Require, Import or open scopes: {flat[:120]!r}"
    return None


def _trim(text: str) -> str:
    text = text.strip()
    if len(text) <= MESSAGE_CHARS:
        return text
    return text[: MESSAGE_CHARS - 20].rstrip() + "\n... (trimmed)"


def _byte_offset(source: str, line: int, column: int) -> int:
    """The character offset of (1-based line, byte column) in ``source``."""
    lines = source.split("\n")
    before = sum(len(part) + 1 for part in lines[: line - 1])
    current = lines[line - 1] if line - 1 < len(lines) else ""
    prefix = current.encode()[:column].decode("utf-8", errors="ignore")
    return before + len(prefix)


def _compile_message(run: Run, layout: _Layout, seconds: float) -> tuple[str, int | None]:
    if run.timed_out:
        return f"coqc did not finish within {seconds:g} s", None
    text = run.output
    # Warnings carry locations too; the error is the last located message.
    located = [m for m in _LOCATION.finditer(text) if text.startswith("Error", m.end())]
    match = located[-1] if located else None
    if match is None:
        return _trim(text) or f"coqc failed with exit status {run.returncode}", None
    offset = _byte_offset(layout.source, int(match.group(1)), int(match.group(2)))
    body = text[match.end():]
    if offset < layout.proof_start:
        where = "in the imports or the statement"
        proof_offset = None
    else:
        proof_offset = offset - layout.proof_start
        proof_line = layout.source[layout.proof_start:offset].count("\n") + 1
        where = f"at line {proof_line} of the proof"
        sentence_end = layout.source.find(".", offset)
        snippet = layout.source[offset: sentence_end + 1 if sentence_end >= 0 else offset + 80]
        where += f" ({' '.join(snippet.split())[:120]!r})"
    return _trim(f"{where}: {body}"), proof_offset


def check_proof(
    theorem: Theorem,
    proof: str,
    *,
    imports: str | None = None,
    limits: Limits | None = None,
    coq: Coq | None = None,
) -> KernelResult:
    """Check one proof of ``theorem`` with the Coq kernel (see the module docstring).

    Blocking: it runs up to three subprocesses; call it in a thread from async code.

    Args:
        theorem: The theorem, with the context it is checked in.
        proof: The proof script, without ``Proof.`` and ``Qed.``.
        imports: Import sentences, placed after the statement definition; None
            gives :func:`proof_imports`.
        limits: Time and memory limits for each program run.
        coq: The Coq to use; None finds it on PATH.

    Returns:
        The verdict; a refused or failing proof is a result, never an exception.

    Raises:
        ConfigError: If Coq is not installed (the message names the install command).
    """
    coq = coq or find_coq()
    limits = limits or Limits()
    imports = proof_imports() if imports is None else imports
    start = time.perf_counter()

    def fail(stage: Stage, message: str, *, timed_out: bool = False,
             axioms: tuple[str, ...] = (), offset: int | None = None) -> KernelResult:
        return KernelResult(False, stage, message, time.perf_counter() - start,
                            timed_out=timed_out, axioms=axioms, error_offset=offset)

    violation = policy_violation(proof, imports)
    if violation is not None:
        return fail("policy", violation)
    layout = _layout(theorem, proof, imports)
    library, statement = f"{ROOT}.{layout.library}", layout.statement_name
    with tempfile.TemporaryDirectory(prefix="fansi-coq-") as scratch:
        directory = Path(scratch)
        (directory / f"{layout.library}.v").write_text(layout.source, encoding="utf-8")
        run = _coqc(coq, directory, f"{layout.library}.v", limits)
        if not run.ok:
            message, offset = _compile_message(run, layout, limits.seconds)
            return fail("compile", message, timed_out=run.timed_out, offset=offset)

        checker = "K" + layout.library[1:]
        (directory / f"{checker}.v").write_text(
            f"Require {library}.\n"
            f"Definition fansi_chk : {library}.{statement} := {library}.{theorem.name}.\n"
            "Print Libraries.\nPrint Assumptions fansi_chk.\n", encoding="utf-8")
        run = _coqc(coq, directory, f"{checker}.v", limits)
        if not run.ok:
            if run.timed_out:
                return fail("statement", f"the statement check did not finish within "
                            f"{limits.seconds:g} s", timed_out=True)
            body = _LOCATION.sub("", run.output)
            return fail("statement", _trim("the proof does not prove the original "
                                           f"statement: {body}"))
        libraries, assumptions, unexpected = _read_prints(run.stdout)
        own = {f"{ROOT}.{layout.library}"}
        foreign = [name for name in libraries
                   if name.split(".")[0] not in ALLOWED_ROOTS and name not in own]
        if foreign or not libraries:
            return fail("libraries", "loads libraries outside the standard library and the "
                        f"installed packages: {', '.join(foreign) or '(none listed)'}")
        allowed_own = {f"{layout.library}.{name}" for name in theorem.context_axioms}
        bad = [name for name in assumptions
               if not _allowed(name, layout.library, allowed_own)]
        if unexpected or bad:
            detail = "; ".join([*unexpected, *(f"axiom {name}" for name in bad)])
            return fail("assumptions", _trim(f"relies on what is not allowed: {detail}"),
                        axioms=tuple(assumptions))

        run = _run(coq.coqchk, ["-silent", "-o", "-Q", ".", ROOT, "-norec", library,
                                "-norec", f"{ROOT}.{checker}"], directory, limits, "coqchk")
        problem = _coqchk_problem(run, {f"{ROOT}.{name}" for name in allowed_own}, limits)
        if problem is not None:
            return fail("coqchk", problem, timed_out=run.timed_out, axioms=tuple(assumptions))
    return KernelResult(True, "accepted", "", time.perf_counter() - start,
                        axioms=tuple(assumptions))


def _run(program: str, args: list[str], directory: Path, limits: Limits, name: str) -> Run:
    return run_limited([program, *args], cwd=directory, limits=limits, name=name)


def _coqc(coq: Coq, directory: Path, file: str, limits: Limits) -> Run:
    return _run(coq.coqc, ["-q", "-Q", ".", ROOT, file], directory, limits, Path(file).stem)


def _read_prints(stdout: str) -> tuple[list[str], list[str], list[str]]:
    """Split the checker's output into (libraries, axiom names, unexpected lines)."""
    libraries: list[str] = []
    axioms: list[str] = []
    unexpected: list[str] = []
    section = ""
    for line in stdout.splitlines():
        if not line.strip():
            continue
        if line.startswith("Loaded library files:"):
            section = "libraries"
        elif line.startswith(" "):
            if section == "libraries":
                libraries.append(line.strip())
            # Otherwise it continues an axiom's type.
        elif line.strip() == "Closed under the global context":
            section = "closed"
        elif line.strip() == "Axioms:":
            section = "axioms"
        elif section == "axioms" and re.fullmatch(r"\S+(?: : .*)?", line):
            axioms.append(line.split()[0])
        else:
            section = "other"
            unexpected.append(line.strip())
    return libraries, axioms, unexpected


def _allowed(printed: str, library: str, allowed_own: set[str]) -> bool:
    """Whether an axiom, as ``Print Assumptions`` names it, is allowed.

    Coq prints the shortest suffix of the full name that is unambiguous. The
    candidate's own library is never imported by the checking file, so its
    axioms always print with the library's (hashed) name first; a name that
    does not is matched, as a suffix, against the allow-lists.
    """
    parts = printed.split(".")
    if parts[0] in (library, ROOT):
        return printed in allowed_own
    for full in ALLOWED_AXIOMS:
        if full.split(".")[-len(parts):] == parts:
            return True
    module = parts[:-1]
    return bool(module) and any(
        allowed.split(".")[-len(module):] == module for allowed in ALLOWED_AXIOM_MODULES)


def _coqchk_problem(run: Run, allowed_own: set[str], limits: Limits) -> str | None:
    if run.timed_out:
        return f"coqchk did not finish within {limits.seconds:g} s"
    if not run.ok:
        return _trim(f"coqchk refused the compiled proof: {run.output}")
    summary = run.output.partition("CONTEXT SUMMARY")[2]
    if not summary:
        return "coqchk printed no context summary"
    section = ""
    for raw in summary.splitlines():
        line = raw.strip()
        if line.startswith("* "):
            section = line
            if ("type-in-type" in line or "unsafe" in line or "positivity" in line) \
                    and not line.endswith("<none>"):
                return _trim(f"coqchk: {line}")
        elif section.startswith("* Axioms") and line.startswith(f"{ROOT}.") \
                and line not in allowed_own:
            return f"coqchk: the compiled proof declares the axiom {line}"
    return None


def check_statement(theorem: Theorem, *, limits: Limits | None = None,
                    coq: Coq | None = None) -> str | None:
    """Why the statement does not elaborate in its own context, or None when it does.

    A statement that does not even compile as given (a typo, a wrong scope)
    can have no proof; this says so before any search is spent on it.
    """
    coq = coq or find_coq()
    limits = limits or Limits()
    layout = _layout(theorem, "", "")
    source = layout.source[: layout.statement_end]
    with tempfile.TemporaryDirectory(prefix="fansi-coq-") as scratch:
        directory = Path(scratch)
        (directory / f"{layout.library}.v").write_text(source, encoding="utf-8")
        run = _coqc(coq, directory, f"{layout.library}.v", limits)
    if run.ok:
        return None
    if run.timed_out:
        return f"the statement did not compile within {limits.seconds:g} s"
    return _trim("the statement does not compile in its own file: "
                 + _LOCATION.sub("", run.output))


def goals_before(
    theorem: Theorem,
    proof: str,
    offset: int,
    *,
    imports: str | None = None,
    limits: Limits | None = None,
    coq: Coq | None = None,
) -> str:
    """The goals just before the proof sentence at ``offset``, as ``Show.`` prints them.

    Used to tell a model what it had to prove where its proof broke. Best
    effort: returns "" when the goals cannot be shown (the prefix itself fails,
    the policy refuses it, or time runs out).
    """
    coq = coq or find_coq()
    limits = limits or Limits()
    imports = proof_imports() if imports is None else imports
    starts = [s.start for s in split_sentences(proof) if s.start <= offset]
    prefix = proof[: starts[-1]] if starts else ""
    if policy_violation(prefix or "idtac.", imports) is not None:
        return ""
    layout = _layout(theorem, f"{prefix}\nShow.\n", imports)
    source = layout.source.removesuffix("Qed.\n")
    with tempfile.TemporaryDirectory(prefix="fansi-coq-") as scratch:
        directory = Path(scratch)
        (directory / f"{layout.library}.v").write_text(source, encoding="utf-8")
        run = _coqc(coq, directory, f"{layout.library}.v", limits)
    if run.timed_out:
        return ""
    return _trim(run.stdout)


__all__ = [
    "ALLOWED_AXIOMS",
    "ALLOWED_AXIOM_MODULES",
    "ALLOWED_ROOTS",
    "FORBIDDEN",
    "STANDARD_IMPORTS",
    "KernelResult",
    "Stage",
    "candidate_source",
    "check_proof",
    "check_statement",
    "goals_before",
    "policy_violation",
    "proof_imports",
]
