"""The data layout is spelled twice, in dancegen.layout and in dvc.yaml: the two must agree."""

from pathlib import Path

import yaml

from dancegen import layout

REPO = Path(__file__).resolve().parents[1]
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
        "pairs": {"outs": {layout.pairs_file(V)}},
        "train_sp": {"outs": {layout.sp_dir(V) / "sp.pt"}, "metrics": {layout.sp_dir(V) / "metrics.json"}},
        "train": {"outs": {layout.model_dir(V, M), layout.checkpoints_dir(V, M)},
                  "metrics": {layout.train_logs_dir(V, M) / "metrics.json"}},
        "infer": {"outs": {layout.infer_file(V, M)}},
        "transfer": {"outs": {layout.transfer_dir(V, M, R)}},
        "evaluate": {"outs": {layout.evaluation_dir(V) / f for f in ("pairs.csv", "run.csv", "test_results.png")},
                     "metrics": {layout.evaluation_dir(V) / "metrics.json"},
                     "plots": {layout.evaluation_dir(V) / "novelty.csv"}},
    }
    for name, fields in expected.items():
        for field, paths in fields.items():
            assert spelled(stages[name], field) == {str(p) for p in paths}, (name, field)
    paths = layout.TrainPaths.of_run(V, M)
    assert (paths.frames, paths.model, paths.logs) == (layout.frames_file(V), layout.model_path(V, M),
                                                       layout.train_logs_dir(V, M))
    assert layout.model_path(V, M).parent == layout.model_dir(V, M)
