"""A real PostgreSQL server for the tests: initdb in a temp folder, listening on a free
loopback port, password authentication, stopped and deleted afterwards.

Debian's ``postgresql-15`` puts its programs under /usr/lib/postgresql/15/bin (not on
PATH); ``PARALLAX_PG_BIN`` names another folder. ``initdb`` refuses to run as root, so
as root the server's programs run as the ``postgres`` user (``runuser``) and the folder is
handed to it. Durability is traded for speed (``fsync=off``): a test server's data is
thrown away.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
USER = "parallax"


def _bin_folder() -> Path:
    folder = Path(os.environ.get("PARALLAX_PG_BIN") or DEBIAN_BIN)
    if not (folder / "initdb").is_file():
        found = shutil.which("initdb")
        if found is None:
            raise RuntimeError(
                f"no PostgreSQL server programs: {folder}/initdb is not there and initdb is not on PATH "
                "(Debian: apt-get install -y postgresql-15; or set PARALLAX_PG_BIN to the folder with initdb)"
            )
        folder = Path(found).parent
    return folder


@dataclass
class PostgresServer:
    folder: Path
    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = USER

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def env(self, database: str) -> dict[str, str]:
        """The variables `deploy/dagster-postgres.yaml` reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    def connect(self, database: str = "postgres"):
        import psycopg2

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database
        )
        connection.autocommit = True
        return connection

    def create_database(self, name: str) -> str:
        connection = self.connect()  # autocommit: CREATE DATABASE refuses a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name

    def query(self, database: str, sql: str) -> list[tuple]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()

    def stop(self) -> None:
        _as_server_user([str(_bin_folder() / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"],
                        check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_server_user(command: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def start_postgres() -> PostgresServer:
    """Initialise and start a throw-away server; `PostgresServer.stop` ends it."""
    bin_folder = _bin_folder()
    folder = Path(tempfile.mkdtemp(prefix="parallax-pg-"))
    password = secrets.token_hex(12)
    (folder / "password").write_text(password + "\n")
    (folder / "socket").mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (folder, folder / "password", folder / "socket"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(folder=folder, port=free_port(), password=password)
    try:
        _as_server_user([
            str(bin_folder / "initdb"), "-D", str(folder / "data"), "-U", USER, f"--pwfile={folder / 'password'}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
        ])
        options = f"-h {server.host} -p {server.port} -k {folder / 'socket'} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        _as_server_user([
            str(bin_folder / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"), "-w", "-t", "60",
            "-o", options, "start",
        ])
    except BaseException:
        log = folder / "server.log"
        detail = log.read_text()[-2000:] if log.is_file() else ""
        shutil.rmtree(folder, ignore_errors=True)
        if detail:
            raise RuntimeError(f"PostgreSQL did not start; its log ends:\n{detail}") from None
        raise
    return server


POSTGRES_SETTINGS = Path(__file__).resolve().parents[1] / "deploy" / "dagster-postgres.yaml"


def write_postgres_home(home: Path, server: PostgresServer, database: str, max_runs: int | None = None) -> Path:
    """``home/dagster.yaml``: the shipped `deploy/dagster-postgres.yaml` with its
    ``{env: ...}`` references replaced by this server's values and a fresh database, so
    the instance opens in this process and in any subprocess without the variables."""
    import yaml

    settings = yaml.safe_load(POSTGRES_SETTINGS.read_text())
    values = server.env(server.create_database(database))
    db = settings["storage"]["postgres"]["postgres_db"]
    for field, reference in list(db.items()):
        if isinstance(reference, dict) and "env" in reference:
            value = values[reference["env"]]
            db[field] = int(value) if field == "port" else value
    if max_runs is not None:
        settings["concurrency"]["runs"]["max_concurrent_runs"] = max_runs
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return home
