"""Service boundaries (issue 18): each service's public contract is its schemas.py; the portal
and the other services import only those and services.common.  import-linter checks the
contracts declared in pyproject.toml; this runs it in `make test`."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SERVICES = ("intake", "routing", "sla", "search", "automation", "portal")


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)})


def test_the_services_keep_their_boundaries():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_import_of_another_services_internals_is_caught(tmp_path):
    """The same contracts on a miniature tree where the portal reaches into intake's domain
    (and, allowed, into its schemas): the check must fail and name the import."""
    for service in SERVICES + ("common",):
        package = tmp_path / "services" / service
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "schemas.py").write_text("")
    (tmp_path / "services" / "__init__.py").write_text("")
    (tmp_path / "services" / "intake" / "domain.py").write_text("")
    (tmp_path / "services" / "portal" / "views.py").write_text(
        "from services.intake.schemas import *\nfrom services.intake import domain\n")
    result = lint_imports(tmp_path, "--config", str(ROOT / "pyproject.toml"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "services.portal.views -> services.intake.domain" in result.stdout
    assert "services.portal.views -> services.intake.schemas" not in result.stdout
