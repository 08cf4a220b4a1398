"""Imports every storage module so that SQLModel's metadata knows all tables (Alembic reads it here)."""

from sqlmodel import SQLModel

from storage import (  # noqa: F401  # noqa: F401
           access_log,
           announcements,
           assembly,
           board,
           complaints,
           compounds,
           conversations,
           meetings,
           needs,
           notifications,
           organisations,
           outbox,
           party,
           people,
           points,
           property,
           reports,
           resources,
           schedule,
           services,
           volunteering,
           wechat,
)

metadata = SQLModel.metadata

__all__ = ["assembly", "compounds", "conversations", "metadata", "outbox", "party", "people", "points", "schedule",
           "volunteering"]
