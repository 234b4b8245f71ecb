"""Every third-party package the ``medsign`` package imports is declared in pyproject.toml.

A package that arrives only as somebody else's dependency (``httpcore`` under httpx,
``fontTools`` under fpdf2) can disappear or change under us with that other package's next
release; declared and pinned, it cannot. An import of the service is satisfied only by
``[project.dependencies]`` (``pip install medsign`` must run it); the emulators and the demo
(``EMULATOR_ONLY``) may also use the ``emulators`` extra. The ``test`` extra satisfies nothing
in the package. Import names are mapped to distributions with
``importlib.metadata.packages_distributions()``, so the check needs the environment installed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "medsign"
# the distribution name at the start of a requirement: "uvicorn[standard]==0.54.0" → uvicorn
REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# the modules that run only with the extra `medsign[emulators]` installed
EMULATOR_ONLY = re.compile(
    r"medsign/(integrations/\w+/emulator/.*|pdf/cutting\.py|demo(_people)?\.py)")


def normalized(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pyproject: Mapping[str, object],
                           extras: Iterable[str] = ()) -> set[str]:
    """The distributions of the dependencies and of the named extras (the project's own name,
    as in ``medsign[emulators]`` inside another extra, is left out)."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        requirements.extend(project.get("optional-dependencies", {}).get(extra, []))
    names = set()
    for requirement in requirements:
        match = REQUIREMENT_NAME.match(requirement)
        assert match, f"cannot read the requirement {requirement!r}"
        names.add(normalized(match.group(1)))
    return names - {normalized(str(project["name"]))}


def top_level_imports(source: str, filename: str = "<source>") -> set[str]:
    """The top-level names of the absolute imports in a module, wherever they stand."""
    names = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party(names: Iterable[str]) -> set[str]:
    return {name for name in names
            if name not in sys.stdlib_module_names and name != "medsign"}


def undeclared(imports: Mapping[str, set[str]], declared: set[str],
               distributions: Mapping[str, list[str]]) -> dict[str, str]:
    """``{"<import> (in <module>)": what is wrong}`` for every import no declaration covers."""
    problems = {}
    for module, names in sorted(imports.items()):
        for name in sorted(third_party(names)):
            provided_by = {normalized(d) for d in distributions.get(name, [])}
            if not provided_by:
                problems[f"{name} (in {module})"] = "no installed distribution provides it"
            elif not provided_by & declared:
                problems[f"{name} (in {module})"] = (
                    f"provided by {', '.join(sorted(provided_by))}, which pyproject.toml "
                    "does not declare")
    return problems


def package_imports() -> dict[str, set[str]]:
    return {str(path.relative_to(ROOT)): top_level_imports(path.read_text(encoding="utf-8"),
                                                            str(path))
            for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_third_party_import_of_the_package_is_declared() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = package_imports()
    installed = importlib.metadata.packages_distributions()
    service = {m: names for m, names in found.items() if not EMULATOR_ONLY.fullmatch(m)}
    emulators = {m: names for m, names in found.items() if EMULATOR_ONLY.fullmatch(m)}
    assert emulators and service
    assert undeclared(service, declared_distributions(pyproject), installed) == {}
    assert undeclared(emulators, declared_distributions(pyproject, ["emulators"]),
                      installed) == {}


def test_the_test_extra_does_not_count_for_the_service() -> None:
    pyproject = {"project": {"name": "medsign", "dependencies": ["httpx==0.28.1"],
                             "optional-dependencies": {"test": ["pytest==9.2.0"],
                                                       "emulators": ["fonttools==4.68.0"]}}}
    imports = {"medsign/a.py": top_level_imports("import httpx\nimport pytest\n"),
               "medsign/b.py": top_level_imports("import fontTools\n")}
    distributions = {"httpx": ["httpx"], "pytest": ["pytest"], "fontTools": ["fonttools"]}
    assert set(undeclared(imports, declared_distributions(pyproject), distributions)) == {
        "pytest (in medsign/a.py)", "fontTools (in medsign/b.py)"}
    assert set(undeclared(imports, declared_distributions(pyproject, ["emulators"]),
                          distributions)) == {"pytest (in medsign/a.py)"}


def test_the_check_finds_an_import_that_only_a_dependency_brings() -> None:
    pyproject = {"project": {"name": "medsign",
                             "dependencies": ["httpx==0.28.1", "uvicorn[standard]==0.54.0"],
                             "optional-dependencies": {"emulators": ["fpdf2==2.8.9"]}}}
    imports = {"medsign/a.py": top_level_imports(
                   "import httpx\nimport httpcore\nfrom uvicorn import run\n"),
               "medsign/emulator/b.py": top_level_imports(
                   "import json\nfrom fpdf import FPDF\nfrom . import c\n"
                   "def f():\n    import fontTools.ttLib\n"),
               "medsign/c.py": top_level_imports("import not_installed_anywhere\n")}
    distributions = {"httpx": ["httpx"], "httpcore": ["httpcore"], "uvicorn": ["uvicorn"],
                     "fpdf": ["fpdf2"], "fontTools": ["fonttools"], "json": ["json-shadow"]}
    assert undeclared(imports, declared_distributions(pyproject, ["emulators"]),
                      distributions) == {
        "httpcore (in medsign/a.py)":
            "provided by httpcore, which pyproject.toml does not declare",
        "fontTools (in medsign/emulator/b.py)":
            "provided by fonttools, which pyproject.toml does not declare",
        "not_installed_anywhere (in medsign/c.py)": "no installed distribution provides it",
    }


def test_every_declared_dependency_is_pinned_in_pyproject_and_in_the_constraints() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, version = line.partition("==")
            constraints[normalized(name.strip())] = version.strip()
    project = pyproject["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project["optional-dependencies"].values() for r in extra)]
    wrong = []
    for requirement in requirements:
        if requirement.startswith(f"{project['name']}["):
            continue  # an extra that includes another one of this project
        pinned = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", requirement.strip())
        if pinned is None:
            wrong.append(f"{requirement}: not pinned with ==")
        elif constraints.get(normalized(pinned.group(1))) != pinned.group(2):
            wrong.append(f"{requirement}: constraints.txt has "
                         f"{constraints.get(normalized(pinned.group(1)))}")
    assert wrong == []
