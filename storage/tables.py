"""Imports every storage module so that SQLModel's metadata knows all tables (Alembic reads it here)."""

from sqlmodel import SQLModel

from storage import complaints, needs, property, reports, services  # noqa: F401
from storage import announcements, board, meetings  # noqa: F401
from storage import assembly, compounds, conversations, outbox, party, people, points, schedule, volunteering

metadata = SQLModel.metadata

__all__ = ["assembly", "compounds", "conversations", "metadata", "outbox", "party", "people", "points", "schedule",
           "volunteering"]
