"""A non-editable install must carry the templates: build the wheel, install it into a fresh venv, render."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_in_fresh_venv_renders_every_stage(tmp_path: Path) -> None:
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not running from a source checkout")
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("journey_sql-*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr
    # dependencies come from this environment (appended after the venv's own
    # site-packages, so the wheel's journey_sql is the one imported)
    site = Path(sysconfig.get_paths()["purelib"])
    new_site = next((env_dir / "lib").glob("python*/site-packages"))
    (new_site / "deps-from-test-env.pth").write_text(str(site) + "\n")

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    probe = subprocess.run(
        [str(py), "-c", "import journey_sql.compile.templates as r; print(r.__file__); print(r.template_dir())"],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    assert probe.returncode == 0, probe.stderr
    module_file, templates = probe.stdout.split()
    assert module_file.startswith(str(env_dir)) and templates.startswith(str(env_dir))

    render = subprocess.run(
        [str(env_dir / "bin" / "journey-sql"), "render", "--dialect", "snowflake"],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    assert render.returncode == 0, render.stderr
    assert render.stdout.count("CREATE OR REPLACE TABLE") == 10  # the events table, every stage and the state

    # the dbt project's static macro file travels in the wheel too
    project = workdir / "dbt-project"
    written = subprocess.run(
        [str(env_dir / "bin" / "journey-sql"), "dbt", "--out", str(project)],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    assert written.returncode == 0, written.stderr
    assert "{% materialization journey_sql, default %}" in (project / "macros" / "journey_sql.sql").read_text()

    # one version: the wheel's name and metadata, the installed package and --version all say __init__'s
    init = (ROOT / "journey_sql" / "__init__.py").read_text()
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', init, flags=re.M)
    assert wheel.name.startswith(f"journey_sql-{version}-")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"journey_sql-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in metadata
    shown = subprocess.run([str(env_dir / "bin" / "journey-sql"), "--version"], capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout.strip() == f"journey-sql, version {version}", shown.stdout
    installed = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('journey-sql'))"],
        capture_output=True,
        text=True,
    )
    assert installed.stdout.strip() == version, installed.stderr
