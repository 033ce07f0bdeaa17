"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}, written ${create_date}.
Migrations only go forward and never drop data: add, copy, then stop using; never delete.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = "${up_revision}"
down_revision = ${'"%s"' % down_revision if isinstance(down_revision, str) else repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("platbot's migrations only go forward: restore a backup to go back")
