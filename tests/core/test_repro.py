"""``dancegen repro``: a real DVC repository of four stages (a → b, c → d), run two at a time."""

import argparse
import json
import subprocess
import sys

import pytest
import yaml

from dancegen.core import repro
from dancegen.core.errors import DanceGenError

# Each stage writes its start and end times and OMP_NUM_THREADS (or fails, writing nothing).
STAGE = ("import json, os, sys, time; start = time.time(); time.sleep(1.0){fail}; "
         "json.dump({{'start': start, 'end': time.time(), 'threads': os.environ.get('OMP_NUM_THREADS')}}, "
         "open('{name}.json', 'w'))")


def _stage(name: str, deps: list[str], fail: bool = False) -> dict:
    code = STAGE.format(name=name, fail="; sys.exit('b: the input is broken')" if fail else "")
    return {"cmd": f'{sys.executable} -c "{code}"', "deps": [f"{d}.json" for d in deps], "outs": [f"{name}.json"]}


def _project(root, fail_b: bool = False) -> None:
    stages = {"a": _stage("a", []), "b": _stage("b", ["a"], fail_b), "c": _stage("c", ["a"]),
              "d": _stage("d", ["b", "c"])}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, check=True)


def _times(root) -> dict:
    return {n: json.loads((root / f"{n}.json").read_text()) for n in "abcd" if (root / f"{n}.json").exists()}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return tmp_path


def test_independent_stages_run_side_by_side_after_what_they_depend_on(project, capsys):
    _project(project)
    graph = repro.stage_graph()
    assert graph == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    stages = repro.stages_to_run(graph, repro.changed_stages(), [])
    assert stages == ["a", "b", "c", "d"]
    assert repro.run_stages(graph, stages, jobs=2, cores=4) == []
    t = _times(project)
    assert t["a"]["end"] <= min(t["b"]["start"], t["c"]["start"])
    assert max(t["b"]["end"], t["c"]["end"]) <= t["d"]["start"]
    assert t["b"]["start"] < t["c"]["end"] and t["c"]["start"] < t["b"]["end"]     # b and c overlapped
    # Every stage on the cores divided by the jobs, also one that runs alone (the same outputs each run).
    assert [t[n]["threads"] for n in "abcd"] == ["2", "2", "2", "2"]
    # DVC recorded every stage: nothing left to run.
    assert repro.changed_stages() == set()
    repro.main(argparse.Namespace(targets=[], jobs=2))
    assert "every stage is up to date" in capsys.readouterr().out


def test_a_changed_stage_reruns_with_what_is_downstream_of_it_only(project):
    _project(project)
    graph = repro.stage_graph()
    assert repro.run_stages(graph, list(graph), jobs=2, cores=2) == []
    (project / "c.json").unlink()
    assert repro.stages_to_run(graph, repro.changed_stages(), []) == ["c", "d"]
    assert repro.stages_to_run(graph, repro.changed_stages(), ["c"]) == ["c"]
    with pytest.raises(DanceGenError, match="has no stage 'e'"):
        repro.stages_to_run(graph, repro.changed_stages(), ["e"])


def test_a_failed_stage_stops_what_depends_on_it_and_names_its_log(project, capsys):
    _project(project, fail_b=True)
    with pytest.raises(DanceGenError, match=r"b\.log: stage 'b' failed"):
        repro.main(argparse.Namespace(targets=[], jobs=2))
    assert set(_times(project)) == {"a", "c"}          # c ran beside b; d never started
    err = capsys.readouterr().err
    assert "b: failed" in err and "b: the input is broken" in err
    assert "b: the input is broken" in (project / repro.LOG_DIR / "b.log").read_text()


def test_outside_a_dvc_project_one_line_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DanceGenError, match="dvc.yaml: not found"):
        repro.main(argparse.Namespace(targets=[], jobs=0))
