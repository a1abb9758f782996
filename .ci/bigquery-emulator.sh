#!/usr/bin/env bash
# Build the local BigQuery emulator the BigQuery tests run against, and print
# the path of its executable (also written to $GITHUB_ENV as
# JOURNEY_SQL_BQ_EMULATOR when running on GitHub Actions).
#
#   eval "export JOURNEY_SQL_BQ_EMULATOR=$(.ci/bigquery-emulator.sh)"
#
# Why its own virtualenv: bqemulator pins sqlglot<30.12, journey-sql pins
# sqlglot~=30.22, so the two cannot share one environment. The tests talk to
# the emulator over HTTP on 127.0.0.1 only.
#
# Why a wrapper script: bqemulator runs `INSTALL spatial; LOAD spatial` at
# startup and gives up when it cannot download the extension. The extension
# ships as a wheel (duckdb-extension-spatial); we put its file where DuckDB
# looks for it, under a HOME private to the emulator, so nothing is written to
# the user's ~/.duckdb and no network is needed.
#
# Idempotent: a second run with everything in place only prints the path.
set -euo pipefail

DIR="${JOURNEY_SQL_BQ_EMULATOR_DIR:-/tmp/jsql-bqemu}"
PYTHON="${PYTHON:-python3}"
BQEMULATOR_VERSION="1.4.0"
DUCKDB_VERSION="1.5.5" # must match duckdb-extension-spatial's version exactly
WRAPPER="$DIR/bin/jsql-bqemulator"
STAMP="$DIR/.jsql-bqemu-$BQEMULATOR_VERSION-$DUCKDB_VERSION"

if [ ! -f "$STAMP" ] || [ ! -x "$WRAPPER" ]; then
    [ -x "$DIR/bin/python" ] || "$PYTHON" -m venv "$DIR" >&2
    "$DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
        "bqemulator==$BQEMULATOR_VERSION" \
        "duckdb==$DUCKDB_VERSION" \
        "duckdb-extension-spatial==$DUCKDB_VERSION" \
        numpy >&2

    # DuckDB looks for extensions in $HOME/.duckdb/extensions/v<version>/<platform>/.
    "$DIR/bin/python" - "$DIR/home" >&2 <<'EOF'
import pathlib, shutil, sys
import duckdb, duckdb_extension_spatial

home = pathlib.Path(sys.argv[1])
version = "v" + duckdb.__version__
platform = duckdb.execute("PRAGMA platform").fetchone()[0]
source = pathlib.Path(duckdb_extension_spatial.__file__).parent / "extensions" / version / "spatial.duckdb_extension"
target = home / ".duckdb" / "extensions" / version / platform
target.mkdir(parents=True, exist_ok=True)
shutil.copy2(source, target / source.name)
print(f"spatial extension -> {target / source.name}")
EOF

    cat > "$WRAPPER" <<EOF
#!/bin/sh
# journey-sql test emulator: bqemulator with a private HOME holding DuckDB's spatial extension.
HOME="$DIR/home" exec "$DIR/bin/bqemulator" "\$@"
EOF
    chmod +x "$WRAPPER"
    touch "$STAMP"
fi

if [ -n "${GITHUB_ENV:-}" ]; then
    echo "JOURNEY_SQL_BQ_EMULATOR=$WRAPPER" >>"$GITHUB_ENV"
fi
echo "$WRAPPER"
