"""Model-written assertions, run in a ``CheckPool`` worker, judged one claim at a time.

``run_assertions``, registered as ``"programs.assertions"`` (it is one of the
programs checks; ``fansi.checks.programs`` imports it), runs a block of ``assert``
statements, each a concrete claim taken from a candidate: an identity, "the
answer satisfies the equation", the claim on small cases by brute force, an
inequality at random points. It says which hold and, for each that fails, the
values that make it fail.

The code runs in the worker's own interpreter, with fresh globals, its output
discarded and whatever it raises turned into data; the pool supplies the
sandbox and the timeout. The code shares the worker's process, so it could
tamper with the tracker that judges it: the results are the word of the code
that ran, no more. The job is registered as ``untrusted``: it is the last job
its worker runs.

**Which assertions count.** The block is split into its top-level statements,
run one at a time in order. A statement is a *claim* when it contains an
``assert`` (outside any ``def``, ``class`` or ``lambda``) or when an ``assert``
ran while it executed (``main()``, ``check(5)``). Every other statement
(imports, definitions, assignments) is *setup*; if one raises, the whole block
is "cannot judge": no results, and ``error`` says which setup failed. An ``assert``
inside a function that is never called counts as nothing.

A claim *passes* when at least one of its asserts ran and none failed. It
*fails* (``passed: False``) when one of its asserts failed, even if the code
caught the ``AssertionError``. It is ``passed: None`` ("cannot judge") when:

- it is *trivial*: every assert that ran in it (every assert in it, if none
  ran) cannot fail whatever the candidate's claim, because its test
  - uses no names and no calls (``assert True``, ``assert 1 == 1``,
    ``assert 17 * 23 == 391``; constant arithmetic is left to the
    deterministic arithmetic check, and a check-writer's own arithmetic
    transcribed into a constant is not the candidate's claim), or
  - is a non-empty tuple, list, set, dict or f-string literal (always true), or
  - compares an expression with itself (``f(n) == f(n)``), or
  - is ``a == b`` where ``a`` and ``b`` are arithmetic over plain names and
    numbers whose difference SymPy simplifies to 0, treating every name as a
    free symbol (``x + x == 2*x``, ``(a+b)**2 == a**2 + 2*a*b + b**2``): it
    holds for every value of every name, so it says nothing about them; or an
    ``or`` with such an operand, or an ``and`` of such operands;
- no assert ran in it (``for n in range(0): assert ...``);
- it raised anything other than a failing assert of the block (an
  ``AssertionError`` raised inside a library counts as an error);
- its only failures are a strict comparison (``<``, ``>``) between numbers
  that are equal up to floating-point rounding;
- its only failures are ``==`` between SymPy expressions with free symbols
  that SymPy cannot reduce to each other but that agree at every sampled value
  of those symbols (``Mod(4*k*m + 2*k + 2*m + 1, 2) == 1`` for integer ``k``
  and ``m``): SymPy's ``==`` is structural. Where they differ at a sampled
  value, the assert fails as usual.

Comparisons ``==``, ``<=`` and ``>=`` between numbers of which one is inexact
(a float, a complex, a SymPy ``Float``) hold when the two agree to about nine
significant digits (``math.isclose``, relative 1e-9, absolute 1e-12), and
``==`` between SymPy expressions holds when their difference simplifies to 0,
so ``sqrt(2)**2 == 2.0`` or ``(x+1)**2 == x**2 + 2*x + 1`` with SymPy symbols
is not reported as a counterexample.

**Counterexamples.** A failing assert reports its message, if it has one, then
the values at the moment of failure of the loop variables around it and the
names in its test (modules and callables left out), then, for a comparison,
the value of each side: ``"n = 40; n**2 + n + 41 = 1681"``.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import math
import reprlib
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Literal

from fansi.checks.pool import register
from fansi.checks.sampling import zero_at_samples

_FILENAME = "<assertions>"
_SOURCE_CHARS = 500
_COUNTEREXAMPLE_CHARS = 1000
ERROR_CHARS = 500

_HIT, _FAIL, _SIDES = "__fansi_hit__", "__fansi_fail__", "__fansi_sides__"


def describe(exc: BaseException) -> str:
    """``"ExcType: message"`` (or just ``"ExcType"``), cut to 500 characters."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:ERROR_CHARS]


class Discard(io.StringIO):
    """A stdout or stderr that drops what is written to it."""

    def write(self, text: str) -> int:
        return len(text)


CompareOp = Literal["==", "!=", "<", "<=", ">", ">=", "other"]


@dataclass(slots=True)
class _Assert:
    """One assert of the block, as the model wrote it."""

    names: list[str]  # loop variables around it, then names in its test
    sides: list[str]  # the source of each side of a single comparison
    op: CompareOp
    trivial: bool


@dataclass(slots=True)
class _Tracker:
    """Collects, while the block runs, which asserts ran and how they failed."""

    asserts: list[_Assert]
    ran: set[int] = field(default_factory=set)
    failure: str | None = None
    close_call: bool = False
    symbolic: bool = False

    def hit(self, index: int) -> None:
        self.ran.add(index)

    def fail(self, index: int, sides: tuple[Any, Any] | None, message: object = None) -> None:
        record = self.asserts[index]
        if sides is not None:
            verdict = _second_look(record.op, *sides)
            if verdict == "holds":
                return
            if verdict == "unclear":
                self.close_call = True
                return
            if verdict == "symbolic":
                self.symbolic = True
                return
        if self.failure is None:
            frame = sys._getframe(1)
            self.failure = _counterexample(record, frame, sides, message)
        raise AssertionError(message) if message is not None else AssertionError

    def reset(self) -> None:
        self.ran, self.failure, self.close_call, self.symbolic = set(), None, False, False


@register("programs.assertions", untrusted=True)
def run_assertions(code: str) -> dict[str, Any]:
    """Run a block of model-written assertions, each a claim, and judge each one.

    Runs in a ``CheckPool`` worker: ``await pool.run("programs.assertions",
    code, timeout_s=...)``. The rules (claims and setup, trivial assertions,
    counterexamples) are in the module docstring.

    Args:
        code: Python source: imports and definitions, then ``assert`` statements,
            loops over small cases, and so on.

    Returns:
        ``{"results": [...], "error": str}``. One result per claim, in order:
        ``{"index": 0-based claim number, "line": its first line, "source": its
        source (at most 500 characters), "passed": True | False | None,
        "counterexample": str ("" unless failed), "reason": why ``passed`` is
        None ("" otherwise)}``. ``error`` is ``""``, or why nothing could be
        judged (``results`` is then empty): a syntax error, or a setup
        statement that raised.
    """
    try:
        module = ast.parse(code, _FILENAME)
    except (SyntaxError, ValueError) as exc:
        return {"results": [], "error": describe(exc)}
    instrument = _Instrument()
    plan = []
    for statement in module.body:
        static = not isinstance(statement, _DEFINITIONS) and _contains_assert(statement)
        first = len(instrument.asserts)
        rewritten = instrument.statements(statement)
        body = ast.fix_missing_locations(ast.Module(body=rewritten, type_ignores=[]))
        compiled = compile(body, _FILENAME, "exec", dont_inherit=True, optimize=0)
        source = ast.get_source_segment(code, statement) or ""
        plan.append((statement, static, range(first, len(instrument.asserts)), compiled, source))
    tracker = _Tracker(instrument.asserts)
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        _HIT: tracker.hit,
        _FAIL: tracker.fail,
    }
    results: list[dict[str, Any]] = []
    for statement, static, own, compiled, source in plan:
        tracker.reset()
        raised = _execute(compiled, namespace)
        if not (static or tracker.ran):
            if raised is not None:
                error = f"setup at line {statement.lineno} failed: {describe(raised)}"
                return {"results": [], "error": error[:ERROR_CHARS]}
            continue
        passed, counterexample, reason = _verdict(tracker, own, raised)
        results.append(
            {
                "index": len(results),
                "line": statement.lineno,
                "source": source[:_SOURCE_CHARS],
                "passed": passed,
                "counterexample": counterexample,
                "reason": reason,
            }
        )
    return {"results": results, "error": ""}


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _execute(compiled: types.CodeType, namespace: dict[str, Any]) -> BaseException | None:
    with contextlib.redirect_stdout(Discard()), contextlib.redirect_stderr(Discard()):
        try:
            exec(compiled, namespace)
        except BaseException as exc:  # the code's failure is data
            return exc
    return None


def _verdict(
    tracker: _Tracker, own: range, raised: BaseException | None
) -> tuple[bool | None, str, str]:
    """(passed, counterexample, reason) for one claim after it ran."""
    considered = tracker.ran or set(own)
    if considered and all(tracker.asserts[i].trivial for i in considered):
        return None, "", "trivial: the assertion cannot fail, whatever the claim"
    if tracker.failure is not None:
        return False, tracker.failure, ""
    if raised is not None:
        return None, "", describe(raised)
    if not tracker.ran:
        return None, "", "no assertion ran"
    if tracker.close_call:
        return None, "", "a strict comparison was equal up to floating-point rounding"
    if tracker.symbolic:
        return None, "", ("symbolic: SymPy could not reduce the two sides to each other, "
                          "and they agree at every sampled value")
    return True, "", ""


def _contains_assert(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
        return False
    return any(_contains_assert(child) for child in ast.iter_child_nodes(node))


_OPS: dict[type[ast.cmpop], CompareOp] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}


class _Instrument(ast.NodeTransformer):
    """Rewrites each ``assert`` so that the tracker sees it run and fail.

    ``assert a == b, msg`` becomes::

        __fansi_hit__(k)
        __fansi_sides__ = (a, b)
        if not (__fansi_sides__[0] == __fansi_sides__[1]):
            __fansi_fail__(k, __fansi_sides__, msg)

    which evaluates what the assert evaluated, in the same order, and runs even
    under ``python -O``. ``assert all(p for x in xs if c)`` becomes a loop in a
    function of its own (so that ``x`` does not leak), asserting ``p`` for each
    ``x``, so that a failure names the ``x`` that failed.
    """

    def __init__(self) -> None:
        self.asserts: list[_Assert] = []
        self._loops: list[list[str]] = [[]]

    def statements(self, statement: ast.stmt) -> list[ast.stmt]:
        result = self.visit(statement)
        return result if isinstance(result, list) else [result]

    def _scoped(self, node: ast.AST) -> ast.AST:
        self._loops.append([])
        try:
            return self.generic_visit(node)
        finally:
            self._loops.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_For(self, node: ast.For) -> ast.AST:
        scope = self._loops[-1]
        depth = len(scope)
        scope.extend(_bound_names(node.target))
        try:
            return self.generic_visit(node)
        finally:
            del scope[depth:]

    def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
        expanded = _expand_all(node)
        if expanded is not None:
            return [self.visit(statement) for statement in expanded]
        index = len(self.asserts)
        test = node.test
        single = isinstance(test, ast.Compare) and len(test.ops) == 1
        op: CompareOp = "other"
        sides: list[str] = []
        if isinstance(test, ast.Compare) and single:
            op = _OPS.get(type(test.ops[0]), "other")
            sides = [ast.unparse(test.left), ast.unparse(test.comparators[0])]
        self.asserts.append(
            _Assert(
                names=_unique(self._loops[-1] + _names(test)),
                sides=sides,
                op=op,
                trivial=_trivial(test),
            )
        )
        hit = ast.Expr(_call(_HIT, ast.Constant(index)))
        message = node.msg if node.msg is not None else ast.Constant(None)
        if single:
            assert isinstance(test, ast.Compare)
            load = ast.Name(_SIDES, ast.Load())
            capture = ast.Assign(
                [ast.Name(_SIDES, ast.Store())],
                ast.Tuple([test.left, test.comparators[0]], ast.Load()),
            )
            check = ast.Compare(
                ast.Subscript(load, ast.Constant(0), ast.Load()),
                test.ops,
                [ast.Subscript(load, ast.Constant(1), ast.Load())],
            )
            fail = _call(_FAIL, ast.Constant(index), load, message)
            statements: list[ast.stmt] = [
                hit,
                capture,
                ast.If(ast.UnaryOp(ast.Not(), check), [ast.Expr(fail)], []),
            ]
        else:
            fail = _call(_FAIL, ast.Constant(index), ast.Constant(None), message)
            statements = [hit, ast.If(ast.UnaryOp(ast.Not(), test), [ast.Expr(fail)], [])]
        for statement in statements:
            ast.copy_location(statement, node)
        return statements


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def _expand_all(node: ast.Assert) -> list[ast.stmt] | None:
    """``assert all(p for x in xs if c), m`` as a loop in a function of its own, or None."""
    test = node.test
    if not (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "all"
        and len(test.args) == 1
        and not test.keywords
    ):
        return None
    generator = test.args[0]
    if not isinstance(generator, ast.GeneratorExp | ast.ListComp):
        return None
    if any(comprehension.is_async for comprehension in generator.generators):
        return None
    body: list[ast.stmt] = [ast.Assert(generator.elt, node.msg)]
    for comprehension in reversed(generator.generators):
        for condition in reversed(comprehension.ifs):
            body = [ast.If(condition, body, [])]
        body = [ast.For(comprehension.target, comprehension.iter, body, [])]
    name = f"__fansi_all_{id(node)}__"
    function = ast.FunctionDef(name, ast.arguments([], [], None, [], [], None, []), body, [])
    statements: list[ast.stmt] = [function, ast.Expr(_call(name))]
    for statement in ast.walk(ast.Module(statements, [])):
        if isinstance(statement, ast.stmt):
            ast.copy_location(statement, node)
    return statements


def _bound_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


# --- triviality --------------------------------------------------------------------


def _trivial(test: ast.expr) -> bool:
    """Whether an assert's test holds whatever the names in it hold (module docstring)."""
    if not any(isinstance(n, ast.Name | ast.Call) for n in ast.walk(test)):
        return True
    if isinstance(test, ast.Tuple | ast.List | ast.Set | ast.Dict | ast.JoinedStr):
        return bool(
            test.elts
            if isinstance(test, ast.Tuple | ast.List | ast.Set)
            else test.keys
            if isinstance(test, ast.Dict)
            else test.values
        )
    if isinstance(test, ast.BoolOp):
        verdicts = [_trivial(value) for value in test.values]
        return any(verdicts) if isinstance(test.op, ast.Or) else all(verdicts)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right = test.left, test.comparators[0]
        reflexive = isinstance(test.ops[0], ast.Eq | ast.LtE | ast.GtE | ast.Is)
        if reflexive and ast.dump(left) == ast.dump(right):
            return True
        if isinstance(test.ops[0], ast.Eq):
            return _identity(left, right)
    return False


_PURE_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)


def _identity(left: ast.expr, right: ast.expr) -> bool:
    """``left == right`` for every value of the names in it, by SymPy."""
    nodes = [*ast.walk(left), *ast.walk(right)]
    for n in nodes:
        if isinstance(n, ast.BinOp):
            if not isinstance(n.op, _PURE_OPS):
                return False
            if isinstance(n.op, ast.Pow) and not (
                isinstance(n.right, ast.Constant)
                and isinstance(n.right.value, int)
                and abs(n.right.value) <= 12
            ):
                return False
        elif isinstance(n, ast.UnaryOp):
            if not isinstance(n.op, ast.USub | ast.UAdd):
                return False
        elif isinstance(n, ast.Constant):
            if isinstance(n.value, bool) or not isinstance(n.value, int | float):
                return False
        elif not isinstance(n, ast.Name | ast.operator | ast.unaryop | ast.expr_context):
            return False
    import sympy  # type: ignore[import-untyped]

    try:
        difference = _to_sympy(left, sympy) - _to_sympy(right, sympy)
        return bool(sympy.simplify(difference) == 0)
    except (ArithmeticError, ValueError, TypeError):
        return False


def _to_sympy(node: ast.expr, sympy: Any) -> Any:
    if isinstance(node, ast.Name):
        return sympy.Symbol(node.id)
    if isinstance(node, ast.Constant):
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
    if isinstance(node, ast.UnaryOp):
        operand = _to_sympy(node.operand, sympy)
        return -operand if isinstance(node.op, ast.USub) else operand
    assert isinstance(node, ast.BinOp)
    a, b = _to_sympy(node.left, sympy), _to_sympy(node.right, sympy)
    if isinstance(node.op, ast.Add):
        return a + b
    if isinstance(node.op, ast.Sub):
        return a - b
    if isinstance(node.op, ast.Mult):
        return a * b
    if isinstance(node.op, ast.Div):
        return a / b
    return a**b


# --- failures ----------------------------------------------------------------------


def _second_look(
    op: CompareOp, left: Any, right: Any
) -> Literal["fails", "holds", "unclear", "symbolic"]:
    """Whether a failed comparison failed only by floating-point or structural equality.

    ``"symbolic"``: an ``==`` between SymPy expressions with free symbols whose
    difference SymPy cannot reduce to 0 but which is 0 at every sampled point
    (``Mod(4*k*m + 2*k + 2*m + 1, 2) == 1`` with integer ``k``, ``m``). SymPy's
    ``==`` is structural, so such a failure is SymPy's, not the claim's.
    """
    sympy = sys.modules.get("sympy")
    if op == "==" and sympy is not None and _is_sympy(sympy, left, right):
        with contextlib.suppress(Exception):
            difference = sympy.simplify(sympy.sympify(left) - sympy.sympify(right))
            if difference == 0:
                return "holds"
            if difference.free_symbols and zero_at_samples(sympy, difference):
                return "symbolic"
    if op not in ("==", "<=", ">=", "<", ">") or not (_inexact(left) or _inexact(right)):
        return "fails"
    try:
        a, b = complex(left), complex(right)
    except (TypeError, ValueError, OverflowError):
        return "fails"
    if not (math.isfinite(abs(a)) and math.isfinite(abs(b))):
        return "fails"
    if abs(a - b) <= max(1e-12, 1e-9 * max(abs(a), abs(b))):
        return "holds" if op in ("==", "<=", ">=") else "unclear"
    return "fails"


def _is_sympy(sympy: types.ModuleType, *values: Any) -> bool:
    return any(isinstance(value, sympy.Basic) for value in values)


def _inexact(value: Any) -> bool:
    if isinstance(value, float | complex):
        return True
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(value, sympy.Basic):
        return bool(value.has(sympy.Float))
    return type(value).__module__ in ("numpy", "mpmath.ctx_mp_python")


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 80


def _show(value: Any) -> str:
    try:
        return _REPR.repr(value)
    except Exception:  # a value whose repr fails or is too large (ints past 4300 digits)
        return f"<{type(value).__name__}>"


def _counterexample(
    record: _Assert, frame: types.FrameType, sides: tuple[Any, Any] | None, message: object
) -> str:
    parts = [] if message is None else [str(message)]
    missing = object()
    for name in record.names:
        value = frame.f_locals.get(name, frame.f_globals.get(name, missing))
        if value is missing or callable(value) or isinstance(value, types.ModuleType):
            continue
        if _show(value) == name:  # a SymPy symbol standing for itself
            continue
        parts.append(f"{name} = {_show(value)}")
    if sides is not None:
        for source, value in zip(record.sides, sides, strict=True):
            if source not in record.names and not _is_literal(source):
                parts.append(f"{source} = {_show(value)}")
    return "; ".join(parts)[:_COUNTEREXAMPLE_CHARS]


def _is_literal(source: str) -> bool:
    try:
        ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True
