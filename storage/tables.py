"""Imports every storage module so that SQLModel's metadata knows all tables (Alembic reads it here)."""

from sqlmodel import SQLModel

from storage import compounds, conversations, outbox, people, schedule

metadata = SQLModel.metadata

__all__ = ["compounds", "conversations", "metadata", "outbox", "people", "schedule"]
