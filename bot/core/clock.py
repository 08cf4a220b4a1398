"""The clock: real in production, movable in the console (`:clock +2h`) and in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, start: datetime | None = None, frozen: bool = False) -> None:
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        if start is not None:
            if frozen:
                self._frozen_at = start.astimezone(UTC)
            else:
                self._offset = start.astimezone(UTC) - datetime.now(UTC)

    def now(self) -> datetime:
        if self._frozen_at is not None:
            return self._frozen_at
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("the clock only moves forward")
        if self._frozen_at is not None:
            self._frozen_at += step
        else:
            self._offset += step
        return self.now()

    def set(self, moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        if moment < self.now():
            raise ValueError("the clock only moves forward")
        return self.advance(moment - self.now())
