"""The user's SQLAlchemy models, in their own module as an app defines them.

Imported only by the factories that need SQLAlchemy, so the rest of the corpus runs
without it.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
