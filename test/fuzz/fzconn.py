# The fuzz drivers' connection: to FUZZ_DB (default "fuzz") through libpq's
# environment, waiting up to a minute for a server in crash recovery.
import os, time, psycopg


def connect():
    """A new connection (not autocommit) and its cursor."""
    for _ in range(60):
        try:
            conn = psycopg.connect("dbname=" + os.environ.get("FUZZ_DB", "fuzz"), autocommit=False)
            return conn, conn.cursor()
        except psycopg.OperationalError:
            time.sleep(1)
    raise SystemExit("no server")
