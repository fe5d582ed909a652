"""CBC, the executable shipped with PuLP, fed free MPS written with numpy.

PuLP's own model objects cost about 50 µs per variable to build (DESIGN.md), so the problem is
written straight to MPS by `solvers.mps` and CBC runs as a subprocess. Results come back through
CBC's binary ``-saveSolution`` file (full double precision, read with numpy) and the status from
the first line of its text ``-solution`` file. CBC's log is captured; with ``verbose`` it is
echoed to stderr, never to stdout.

CBC always gets a minimisation without offset and without rows that have no finite bound; the
sense, the offset and those rows are restored here. MIPs run with CBC's preprocessing and its
two-step MIR cuts switched off: in this CBC both return wrong optima (`_MIP_SWITCHES`).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from solvers.base import (
    LinearProblem,
    SolveOptions,
    SolverError,
    SolveResult,
    SolveStatus,
)
from solvers.mps import to_mps
from solvers.support import infeasible_or_unbounded, make_result

__all__ = ["cbc_executable", "cbc_form", "solve_cbc"]

NAME = "cbc"

# First words of CBC's solution file (before " - ") -> neutral status. None marks "infeasible or
# unbounded": CBC says "Unbounded" when the LP relaxation is unbounded, which for a MIP (or an
# LP whose presolve stopped early) does not prove feasibility; a feasibility re-solve settles it.
_STATUS: dict[str, SolveStatus | None] = {
    "Optimal": SolveStatus.OPTIMAL,
    "Infeasible": SolveStatus.INFEASIBLE,
    "Integer infeasible": SolveStatus.INFEASIBLE,
    "Unbounded": None,
    "Stopped on time": SolveStatus.FEASIBLE,
    "Stopped on iterations": SolveStatus.FEASIBLE,
    "Stopped on difficulties": SolveStatus.FEASIBLE,
    "Stopped on ctrl-c": SolveStatus.FEASIBLE,
    "Stopped on solutions": SolveStatus.FEASIBLE,
    "Status unknown": SolveStatus.ERROR,
    # A log line, not a header: CBC's preprocessing cannot tell the two apart.
    "Pre-processing says infeasible or unbounded": None,
}
_PREPROCESS_AMBIGUOUS = "Pre-processing says infeasible or unbounded"

# Bound lines in CBC's log: "Lower bound: X" in the final summary of a stopped search, and
# "(best possible X)" in the partial-search message.
_BOUND_PATTERNS = (re.compile(r"Lower bound:\s*(\S+)"), re.compile(r"best possible (\S+?)\)"))
# Switches for every MIP solve. The CBC that PuLP bundles (2.10.3) returns wrong answers marked
# "Optimal" on small, well-scaled MIPs, whatever the MPS says (PuLP's own model gets the same):
# - its MIP preprocessing (CglPreProcess, default "-preprocess sos") fixes integer columns at
#   values that are not optimal and postsolves a worse point (min -x0 + 2.75 x1 - 3.5 x2 - 4.75 x3
#   with integer x0, x1: 11.875 instead of 9.75, tests/solvers/test_solvers_cbc.py); switching
#   off only its dual reductions on integers ("-tune 4102") still left wrong optima;
# - its two-step MIR cuts cut off integer optima (-26 instead of -30.25 on a pure integer
#   program), or every integer point ("Integer infeasible" on a feasible one).
# With both off, CBC agreed with HiGHS (to HiGHS's tolerances) on 19,000 distinct random MIPs
# built like tests/solvers' (up to 12 columns, 10 rows), of which the defaults got 47 wrong.
# The price is a slower search on hard MIPs; the other cut generators and heuristics stay on.
_MIP_SWITCHES = ("-preprocess", "off", "-twoMirCuts", "off")
# With preprocessing off, CBC tightens the bounds of a MIP itself and may find it infeasible
# that way; it logs this line, and then CBC 2.10.3 crashes (SIGSEGV) writing the ``-solution``
# file, so the line is looked for in a second run without the solution files.
_TIGHTENING_INFEASIBLE = "Problem is infeasible - tightenPrimalBounds!"
# Extra wall time, seconds, granted to CBC beyond the time limit (reading the model, writing
# the solution) before it is killed.
_GRACE_S = 30.0


def cbc_executable() -> str:
    """Path of the CBC executable bundled with PuLP (or PuLP's COIN_CMD CBC as a fallback).

    Raises:
        SolverError: If PuLP or a runnable CBC is missing.
    """
    try:
        import pulp
    except ImportError as exc:
        raise SolverError("backend 'cbc' needs PuLP: pip install pulp") from exc
    with warnings.catch_warnings():
        # PuLP 3 marks PULP_CBC_CMD deprecated (removal in PuLP 4); it is still the bundled CBC.
        warnings.simplefilter("ignore", DeprecationWarning)
        candidates = [pulp.PULP_CBC_CMD(msg=False), pulp.COIN_CMD(msg=False)]
    for cmd in candidates:
        if cmd.available():
            return str(cmd.path)
    raise SolverError("no runnable CBC found: PuLP's bundled cbc is missing; install `pulp[cbc]`")


def solve_cbc(problem: LinearProblem, options: SolveOptions) -> SolveResult:
    """Solve with CBC.

    Args:
        problem: Validated problem.
        options: Time limit (s, wall clock), MIP gap (``-ratio``), threads, relaxation and
            verbosity are honoured.

    Returns:
        The neutral result; duals for LPs only.
    """
    started = time.perf_counter()
    executable = cbc_executable()
    integer = problem.is_mip and not options.relax_integrality
    sign = problem.sense_sign()
    cbc_problem, kept = cbc_form(problem, integer)
    with tempfile.TemporaryDirectory(prefix="closetflow-cbc-") as tmp:
        folder = Path(tmp)
        to_mps(cbc_problem, folder / "model.mps")
        args = [executable, str(folder / "model.mps"), *_cbc_arguments(options, integer)]
        outputs = ["-solution", str(folder / "solution.txt"), "-saveSolution", str(folder / "solution.bin")]
        cbc_started = time.perf_counter()
        log, returncode = _run([*args, *outputs], options)
        cbc_seconds = time.perf_counter() - cbc_started
        header = _first_line(folder / "solution.txt")
        values = _read_binary_solution(folder / "solution.bin", cbc_problem)
        if integer and returncode < 0 and cbc_seconds < options.time_limit_s:
            # Crashed, not stopped by the watchdog, and its buffered log died with it: run it
            # again without the solution files, which is how it gets to the end of its log.
            log, _ = _run(args, options)
            if _TIGHTENING_INFEASIBLE in log:
                header, returncode, values = f"Infeasible - {_TIGHTENING_INFEASIBLE}", 0, None

    if header is None or returncode != 0:
        tail = " | ".join(log.strip().splitlines()[-5:])
        return make_result(
            problem,
            backend=NAME,
            status=SolveStatus.ERROR,
            x=None,
            bound=math.nan,
            duals=None,
            started=started,
            message=f"cbc exited with code {returncode}: {tail}",
        )
    native = _native_status(header, log)
    status = _STATUS.get(native, SolveStatus.ERROR)
    message = header
    if status in (None, SolveStatus.INFEASIBLE) and cbc_seconds >= options.time_limit_s:
        # CBC 2.10 stopped by the clock inside preprocessing reports "Integer infeasible".
        status = SolveStatus.NO_SOLUTION
        message += "; stopped at the time limit, infeasibility not proven"
    elif status is None:
        status = infeasible_or_unbounded(problem, options, solve_cbc)
        message += f"; feasibility re-solve says {status}"

    x, duals, bound = None, None, math.nan
    if values is not None:
        x, cbc_duals = values
        if not integer:
            # CBC's duals are d(min objective)/d(rhs); sign returns them to the problem's sense.
            duals = np.zeros(problem.n_rows)
            duals[kept] = sign * cbc_duals
    if integer:
        cbc_bound = _log_bound(log)
        if cbc_bound is not None:
            bound = sign * cbc_bound + problem.objective_offset
    return make_result(
        problem,
        backend=NAME,
        status=status,
        x=x,
        bound=bound,
        duals=duals,
        started=started,
        message=message,
    )


def cbc_form(problem: LinearProblem, integer: bool) -> tuple[LinearProblem, np.ndarray]:
    """The problem as CBC gets it: minimisation, no offset, only rows with a finite bound.

    Args:
        problem: Validated problem.
        integer: Keep integrality (False gives the LP relaxation).

    Returns:
        The CBC-form problem and the indices of the original rows it keeps, in order.
    """
    kept = np.flatnonzero(np.isfinite(problem.row_lower) | np.isfinite(problem.row_upper))
    cbc_problem = LinearProblem(
        c=problem.sense_sign() * problem.c,
        A=problem.A[kept],
        row_lower=problem.row_lower[kept],
        row_upper=problem.row_upper[kept],
        col_lower=problem.col_lower,
        col_upper=problem.col_upper,
        integrality=problem.integrality if integer else None,
    )
    return cbc_problem, kept


def _native_status(header: str, log: str) -> str:
    """Key into `_STATUS` from the solution file's first line and the log.

    "Stopped on time (no integer solution - continuous used) - objective value ..." gives
    "Stopped on time": parenthesised remarks are dropped before splitting at " - ".
    """
    if _PREPROCESS_AMBIGUOUS in log:
        return _PREPROCESS_AMBIGUOUS
    return re.sub(r"\s*\([^)]*\)", "", header).split(" - ")[0].strip()


def _cbc_arguments(options: SolveOptions, integer: bool) -> list[str]:
    """Command-line switches; CBC applies them in order, so the action comes last."""
    args = ["-timeMode", "elapsed", "-sec", repr(float(options.time_limit_s))]
    if integer:
        args += ["-ratioGap", repr(float(options.mip_gap)), *_MIP_SWITCHES]
    if options.threads > 1:
        args += ["-threads", str(options.threads)]
    args.append("-solve" if integer else "-initialSolve")
    return args


def _run(args: list[str], options: SolveOptions) -> tuple[str, int]:
    """Run CBC, collecting its log (and echoing it to stderr when verbose).

    Returns:
        The whole log and CBC's exit code (-9 style negative codes when it had to be killed).
    """
    with subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        # A watchdog rather than communicate(timeout=...) so the log can stream line by line.
        watchdog = threading.Timer(options.time_limit_s + _GRACE_S, proc.kill)
        watchdog.start()
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if options.verbose:
                    sys.stderr.write(line)
            returncode = proc.wait()
        finally:
            watchdog.cancel()
    return "".join(lines), returncode


def _first_line(path: Path) -> str | None:
    if not path.exists():
        return None
    with path.open(encoding="ascii", errors="replace") as handle:
        return handle.readline().strip() or None


def _read_binary_solution(path: Path, problem: LinearProblem) -> tuple[np.ndarray, np.ndarray] | None:
    """Column values and row duals from CBC's ``-saveSolution`` file, or None if unusable.

    Layout: int32 rows, int32 columns, float64 objective, then float64 arrays of row
    activities, row duals, column values and reduced costs.
    """
    if not path.exists():
        return None
    raw = path.read_bytes()
    if len(raw) < 16:
        return None
    m, n = (int(v) for v in np.frombuffer(raw, dtype=np.int32, count=2))
    if (m, n) != (problem.n_rows, problem.n_vars):
        return None
    body = np.frombuffer(raw, dtype=np.float64, offset=16)
    if body.size < 2 * m + 2 * n:
        return None
    duals = body[m : 2 * m].copy()
    x = body[2 * m : 2 * m + n].copy()
    return x, duals


def _log_bound(log: str) -> float | None:
    """Best bound of the minimisation as CBC logged it, or None when it logged none."""
    for pattern in _BOUND_PATTERNS:
        found = pattern.findall(log)
        if found:
            try:
                return float(found[-1])
            except ValueError:
                continue
    return None
