"""The code hash that ties a checkpoint to the code that computed it."""

import shutil
from pathlib import Path

from dancegen.core.sources import ROOT, code_hash, import_closure


def names(paths):
    return {str(p.relative_to(ROOT)) for p in paths}


def test_training_closure_holds_what_training_imports_and_nothing_else():
    closure = names(import_closure("dancegen.train.loop"))
    assert {"train/loop.py", "train/losses.py", "model/generators.py", "model/dataset.py",
            "model/nets/generator.py", "model/nets/discriminator.py", "model/nets/vgg.py",
            "core/config.py", "__init__.py"} <= closure
    # Data flows one way: training never imports what runs or judges a trained model.
    assert not any(name.startswith(("transfer/", "evaluate/", "demo/")) for name in closure)


def test_hash_follows_the_closure_only(tmp_path):
    root = tmp_path / "dancegen"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_hash("dancegen.train.loop", root)
    assert before == code_hash("dancegen.train.loop", ROOT)
    with (root / "evaluate" / "report.py").open("a") as f:        # not imported by training
        f.write("# a comment\n")
    assert code_hash("dancegen.train.loop", root) == before
    with (root / "train" / "losses.py").open("a") as f:
        f.write("# a comment\n")
    assert code_hash("dancegen.train.loop", root) != before


def test_relative_and_lazy_imports_count(tmp_path):
    pkg = tmp_path / "dancegen"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("from .. import c\n")
    (pkg / "c.py").write_text("import os\n")
    (pkg / "d.py").write_text("")
    found = {str(p.relative_to(pkg)) for p in import_closure("dancegen.a", pkg)}
    assert found == {"__init__.py", "a.py", "sub/__init__.py", "sub/b.py", "c.py"}


def listed_code(stage: dict, repo: Path) -> set[str]:
    """The library files a dvc.yaml stage lists as deps (folders expanded)."""
    body = stage.get("do", stage)
    files = set()
    for dep in body["deps"]:
        if isinstance(dep, str) and dep.startswith("lib/"):
            path = repo / dep
            files |= ({str(p.relative_to(repo)) for p in path.rglob("*.py")} if path.is_dir() else {dep})
    return files


def test_every_stage_lists_exactly_the_library_code_it_imports():
    import yaml

    from dancegen.core.sources import script_closure

    repo = ROOT.parents[1]
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        imported = {str(p.relative_to(repo)) for p in script_closure(repo / "stages" / f"{name}.py")}
        assert listed_code(stage, repo) == imported, name
