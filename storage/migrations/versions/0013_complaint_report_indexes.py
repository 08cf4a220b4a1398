"""complaints: covering indexes for the monthly reports' range scans

Revision ID: 0013_complaint_report_indexes
Revises: 0002_complaints
Create Date: 2026-11-23 14:00:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013_complaint_report_indexes'
down_revision: str | Sequence[str] | None = '0002_complaints'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    'ix_complaint_case_month_opened': ['opened_at', 'compound_id', 'category', 'level', 'overdue_count'],
    'ix_complaint_case_month_resolved': ['resolved_at', 'compound_id', 'opened_at'],
    'ix_complaint_case_month_closed': ['closed_at', 'compound_id', 'rating'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'complaint_case', columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='complaint_case')
