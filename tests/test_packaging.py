"""What a `pip install` of curate ships: every package (and no top-level `train`), the example pipelines as package
data read through importlib.resources, and `curate init` copying them without replacing a user's files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

from curate.cli import main
from curate.examples import example_files

SHIPPED = {
    "fineweb.yaml",
    "extract.yaml",
    "compare-example.yaml",
    "mix-example.yaml",
    "train-tiny.yaml",
    "demo-mix.yaml",
}


def test_examples_are_the_repository_pipelines():
    shipped = {f.name: f.read_bytes() for f in example_files()}
    assert set(shipped) == SHIPPED == {p.name for p in (REPO / "pipelines").glob("*.yaml")}
    assert all(shipped[name] == (REPO / "pipelines" / name).read_bytes() for name in shipped)


def test_package_list_names_every_package_folder():
    """pyproject.toml lists packages by hand (the mapped curate.pipelines cannot join a `find`): a new package
    folder left out of the list would be missing from every wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("curate", "curate_train")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == folders | {"curate.pipelines"}
    assert setuptools["package-dir"] == {"curate.pipelines": "pipelines"}


def test_init_copies_then_refuses_then_forces(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    copied = tmp_path / "pipelines"
    assert {p.name for p in copied.iterdir()} == SHIPPED
    assert all((copied / n).read_bytes() == (REPO / "pipelines" / n).read_bytes() for n in SHIPPED)
    assert f"wrote {copied / 'fineweb.yaml'}" in out and "next: " in out and "curate run pipelines/" in out

    mine = copied / "fineweb.yaml"
    mine.write_text("# my edited recipe\n")
    (copied / "extract.yaml").unlink()
    assert main(["init", str(tmp_path)]) == 2  # an existing file: nothing written, not even the missing one
    err = capsys.readouterr().err
    assert str(mine) in err and "--force" in err
    assert mine.read_text() == "# my edited recipe\n" and not (copied / "extract.yaml").exists()

    assert main(["init", str(tmp_path), "--force"]) == 0
    out = capsys.readouterr().out
    assert f"replaced {mine}" in out and f"wrote {copied / 'extract.yaml'}" in out
    assert mine.read_bytes() == (REPO / "pipelines" / "fineweb.yaml").read_bytes()


def test_copied_examples_resolve_paths_as_in_the_repository(tmp_path):
    """The examples' relative paths resolve against their own folder: from DIR/pipelines/ they point into DIR as
    they point into the repository from pipelines/ (here DIR has no runs yet, so the error names the path)."""
    from curate.compare.spec import load_spec
    from curate.config import ConfigError

    main(["init", str(tmp_path)])
    with pytest.raises(ConfigError) as err:
        load_spec(tmp_path / "pipelines" / "compare-example.yaml")
    assert f"{(tmp_path / 'runs' / 'extract' / 'tokens').resolve()} is not a token directory" in str(err.value)


@pytest.mark.slow
def test_wheel_ships_examples_and_curate_train_not_train(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    for folder in ("curate", "curate_train", "pipelines"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    # the installed setuptools (>= 77, the build requirement) builds it: no index needed
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."]
    subprocess.run(cmd, cwd=source, check=True, capture_output=True)
    (wheel,) = wheels.glob("curate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.removeprefix("curate/pipelines/") for n in names if n.endswith(".yaml")} == SHIPPED
    assert "curate_train/__main__.py" in names and "curate/stages/english_tokenizer.json" in names
    metadata = zipfile.ZipFile(wheel).read("curate-0.1.0.dist-info/METADATA").decode()
    spacy = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: spacy")]
    assert spacy and all("; extra == " in line for line in spacy)  # an extra's only (test, multilingual), never a run's
    assert {n.split("/")[0] for n in names if not n.startswith("curate-")} == {"curate", "curate_train"}

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import curate, curate.examples as e; "
        "assert curate.__file__.startswith(sys.argv[1]), curate.__file__; "
        'from curate.stages.english_tokenizer import EnglishTokenizer as T; assert len(T().tokens("don\'t.")) == 3; '
        "print(sorted(f.name for f in e.example_files()))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(unpacked)], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == str(sorted(SHIPPED))
