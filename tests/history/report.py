"""The table a history run prints: one row per seed, then the first violations in detail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tests.history.checker import EXAMPLES_PER_KIND, Result
from tests.history.history import Fault, Op

SHORT_FAULTS = {
    "redis_sigterm": "term",
    "redis_sigkill": "kill",
    "redis_power_loss": "power",
    "redis_flushall": "flush",
    "worker_sigkill": "wkill",
    "worker_sigstop": "wstop",
    "mariadb_restart": "db",
    "worker_exited": "wexit",
    "master_failover": "fover",
    "replica_restart": "rkill",
    "stream_sigkill": "skill",
}
HEADER = ("seed", "ops", "ok", "fail", "unknown", "faults", "violations")


@dataclass(frozen=True)
class Row:
    seed: int
    ops: int
    outcomes: Counter[str]
    faults: Counter[str]
    violations: Counter[str]
    excused: Counter[str]

    @classmethod
    def of(cls, seed: int, ops: list[Op], faults: list[Fault], result: Result) -> Row:
        return cls(
            seed,
            len(ops),
            Counter(op.outcome for op in ops),
            Counter(fault.kind for fault in faults),
            result.by_kind(),
            result.excused,
        )

    def cells(self) -> tuple[str, ...]:
        return (
            str(self.seed),
            str(self.ops),
            str(self.outcomes["ok"]),
            str(self.outcomes["fail"]),
            str(self.outcomes["unknown"]),
            " ".join(f"{SHORT_FAULTS.get(k, k)}:{n}" for k, n in sorted(self.faults.items())),
            ", ".join(f"{k} {n}" for k, n in sorted(self.violations.items())) or "none",
        )


def table(rows: list[Row]) -> str:
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER) - 1)]
    text = []
    for line in lines:
        cells = [
            cell.rjust(width) if index < 5 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=False))
        ]
        text.append("  ".join([*cells, line[-1]]))
    legend = "faults: " + ", ".join(f"{short} = {kind}" for kind, short in SHORT_FAULTS.items())
    return "\n".join([*text, legend])


def details(seed: int, result: Result, faults: list[Fault]) -> str:
    """The faults as injected, what was excused, and the first violations of each kind."""
    lines = [f"seed {seed}: faults"]
    lines += [
        f"  {fault.start:.2f}-{fault.end:.2f} {fault.kind} {fault.detail}".rstrip()
        + (
            f" (loss window {fault.lost_from:.2f}-{fault.lost_until:.2f}"
            + (f", for {len(fault.lost_apps)} applications" if fault.lost_apps is not None else "")
            + ")"
            if fault.lost_until is not None and fault.lost_from is not None
            else ""
        )
        for fault in faults
    ]
    if result.excused:
        lines.append(
            "  excused: " + ", ".join(f"{k} {n}" for k, n in sorted(result.excused.items()))
        )
    shown: Counter[str] = Counter()
    for violation in result.violations:
        if shown[violation.kind] < EXAMPLES_PER_KIND:
            shown[violation.kind] += 1
            lines.append(f"  VIOLATION {violation.kind}: {violation.detail}")
    return "\n".join(lines)
