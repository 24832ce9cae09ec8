"""Exit 0 if the database of DATABASE_URL can be opened; else one line saying why, exit 1.

    python scripts/check_database.py        (scripts/run.sh runs it before migrating)

A MySQL/MariaDB database that does not exist yet gets the command that creates it, with the
character set and collation the project expects (README, "Pointing it at MySQL"); any other
failure (server down, access denied, a SQLite folder that does not exist) gets the driver's
message on one line, not a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run from scripts/: the repository root (manage.py's folder) holds the settings package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

MYSQL_UNKNOWN_DATABASE = 1049  # ER_BAD_DB_ERROR


def problem() -> str | None:
    import django
    from django.db import connection
    from django.db.utils import Error

    django.setup()
    try:
        connection.ensure_connection()
    except Error as exc:
        config = connection.settings_dict
        name = config["NAME"]
        code = exc.args[0] if exc.args else None
        if connection.vendor == "mysql" and code == MYSQL_UNKNOWN_DATABASE:
            host = config["HOST"] or "127.0.0.1"
            port = config["PORT"] or 3306
            user = config["USER"] or "root"
            password = " -p" if config["PASSWORD"] else ""
            create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
            return (
                f"the database {name} does not exist on {host}:{port}; create it with: "
                f"mysql -h {host} -P {port} -u {user}{password} -e '{create}'"
            )
        detail = " ".join(str(arg) for arg in exc.args) or type(exc).__name__
        return f"cannot open the {connection.vendor} database {name}: {detail}"
    finally:
        connection.close()
    return None


if __name__ == "__main__":
    message = problem()
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
