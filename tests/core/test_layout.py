"""The data layout is spelled twice, in dancegen.core.layout and in dvc.yaml: the two must agree."""


import yaml

from dancegen.core import layout
from conftest import REPO_ROOT

REPO = REPO_ROOT
V, M, R = "vid", "ours", "ref"      # a video, a variant, a reference


def spelled(stage: dict, field: str) -> set[str]:
    """The paths a dvc.yaml stage lists under ``field`` (outs, metrics, plots), for video V, variant M
    and reference R."""
    body = stage.get("do", stage)
    out = set()
    for entry in body.get(field, []):
        path = next(iter(entry)) if isinstance(entry, dict) else entry
        for token, value in (("${key}", V), ("${item.video}", V), ("${item.variant}", M),
                             ("${item.reference}", R), ("${item}", V)):
            path = path.replace(token, value)
        out.add(path)
    return out


def test_every_stage_writes_where_the_layout_module_says():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    expected = {
        "extract": {"outs": {layout.frames_file(V)}},
        "detect": {"outs": {layout.pose_file(V)}},
        "background": {"outs": {layout.background_dir(V)}},
        "pairs": {"outs": {layout.pairs_file(V), layout.split_file(V)}},
        "train_sp": {"outs": {layout.sp_dir(V) / "sp.pt", layout.sp_dir(V) / "metrics.json"}},
        "train": {"outs": {layout.model_dir(V, M), layout.train_logs_dir(V, M) / "metrics.json"}},
        "infer": {"outs": {layout.infer_file(V, M)}},
        "transfer": {"outs": {layout.transfer_dir(V, M, R)}},
        "evaluate": {"outs": {layout.evaluation_dir(V) / f
                              for f in ("metrics.json", "pairs.csv", "run.csv", "pairs_hd.csv", "test_results.png")},
                     "plots": {layout.evaluation_dir(V) / "novelty.csv"}},
        "judge": {"outs": {layout.judge_dir(V, R) / "metrics.json"}},
    }
    for name, fields in expected.items():
        for field, paths in fields.items():
            assert spelled(stages[name], field) == {str(p) for p in paths}, (name, field)
    paths = layout.TrainPaths.of_run(V, M)
    assert (paths.frames, paths.model, paths.logs) == (layout.frames_file(V), layout.model_path(V, M),
                                                       layout.train_logs_dir(V, M))
    assert layout.model_path(V, M).parent == layout.model_dir(V, M)


def test_the_headline_is_the_only_metrics_dvc_shows_and_checkpoints_are_no_output():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    declared = {name: spelled(stage, "metrics") for name, stage in stages.items() if spelled(stage, "metrics")}
    assert declared == {"report": {"reports/summary"}}
    # Neither cached nor pushed, nor missed by a clone that pulled the models; git ignores them.
    every_path = {p for stage in stages.values() for field in ("outs", "metrics", "plots") for p in spelled(stage, field)}
    assert not any(p.startswith(str(layout.checkpoints_dir(V, M).parents[1])) for p in every_path)
    assert "data/checkpoints/" in (REPO / ".gitignore").read_text().splitlines()


def test_every_trained_model_is_a_dvc_artifact():
    """dvc.yaml's artifacts: one model per personal video × variant of params.yaml, at its model_dir."""
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    expected = {f"{video}-{variant}".replace("_", "-"): str(layout.model_dir(video, variant))
                for video in params["personal"] for variant in params["train"]["variants"]}
    assert {name: a["path"] for name, a in artifacts.items()} == expected, (
        "add or remove dvc.yaml artifacts to match personal × train.variants")
    for a in artifacts.values():
        assert a["type"] == "model" and a["desc"] and {"dancegen"} <= set(a["labels"])
