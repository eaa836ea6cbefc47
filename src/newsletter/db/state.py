"""Which database a project's state lives in: ``state.database_url_env`` of schedule.yaml."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from newsletter.db.backend import Database, connect
from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.config import Config


def database_url(config: Config) -> str | None:
    """The PostgreSQL URL of the project's state, or None for SQLite files in the state folder.

    ConfigError, at the key's line, when the variable it names is unset or empty."""
    name = config.state.database_url_env
    if name is None:
        return None
    url = os.environ.get(name, "").strip()
    if not url:
        raise ConfigError(
            config.problem(
                "state.database_url_env",
                f"the environment variable {name} is unset or empty; set it to the "
                "database's URL (postgresql://user:password@host:5432/base), or remove "
                "'state:' to keep the state in SQLite files",
            )
        )
    return url


def open_database(config: Config, sqlite_file: str) -> Database:
    """The project's state database: PostgreSQL when configured, else ``sqlite_file`` in the
    state folder."""
    url = database_url(config)
    return connect(config.state_dir / sqlite_file if url is None else url)
