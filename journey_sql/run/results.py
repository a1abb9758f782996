"""What a run reports: per-step rows and time, the source's counts, the run as a whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class StageResult:
    stage: str
    rows: int
    seconds: float


@dataclass
class SourceStats:
    rows: int  # rows in the source table
    rows_without_id: int  # cannot be deduplicated or ordered: left out
    distinct_ids: int
    # events (distinct ids) whose kept copy the stages leave out, by reason
    events_without_timestamp: int = 0  # NULL, 'infinity' or '-infinity'
    events_without_identity: int = 0  # neither user_id nor anonymous_id (and a usable timestamp)

    @property
    def duplicate_deliveries(self) -> int:
        return self.rows - self.rows_without_id - self.distinct_ids


@dataclass
class RunReport:
    # counted from the events table after the run (the whole source, also after an incremental run)
    source: SourceStats = field(default_factory=lambda: SourceStats(0, 0, 0))
    stages: list[StageResult] = field(default_factory=list)  # one per step: rows written (work tables too)
    mode: str = "full"  # or "incremental"
    reason: str = ""  # why this mode
    # incremental runs only
    window_rows: int | None = None  # source rows read again (received in the lookback window, or NULL)
    new_rows: int | None = None  # of those, the rows no build had processed
    visitors_rebuilt: int | None = None
    # source rows no build has processed (arrived beyond the lookback); None where not counted
    missed_rows: int | None = None

    @property
    def events(self) -> int:
        """Events placed in the tables (rows of dbt_mapped_tracks): kept copies with a timestamp and identity."""
        src = self.source
        return src.distinct_ids - src.events_without_timestamp - src.events_without_identity

    @property
    def events_left_out(self) -> int:
        """Events with no user_id and no anonymous_id, or no timestamp, or no id."""
        return self.source.distinct_ids - self.events + self.source.rows_without_id


Echo = Callable[[str], None]


class ProgressLine(str):
    """A line of a run's progress, as Echo receives it, that also says what it reports, for a caller that
    shows less than every line: the build's mode, or a step's kind and the rows it wrote."""

    mode: str | None
    kind: str | None
    rows: int | None

    def __new__(cls, text: str, mode: str | None = None, kind: str | None = None, rows: int | None = None):  # noqa: ANN204
        line = super().__new__(cls, text)
        line.mode, line.kind, line.rows = mode, kind, rows
        return line
