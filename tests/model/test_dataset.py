"""PairDataset on a short clip of the demo renderer, written in the pipeline's on-disk formats
(:func:`conftest.make_video`)."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import FPS, dataset, make_video
from torch.utils.data import DataLoader

from dancegen import demo
from dancegen.core.config import InputSpec, PosemapParams
from dancegen.model.dataset import PairDataset
from dancegen.model.personal import PersonalVideo
from dancegen.core.errors import DanceGenError
from dancegen.core.store import PoseStore
from dancegen.core.layout import TrainPaths

@pytest.fixture(scope="module")
def video(tmp_path_factory) -> TrainPaths:
    return make_video(tmp_path_factory.mktemp("data"), size=64, invalid=(3, 4))


def test_item_layout_and_ranges(video):
    ds = dataset(video, 32)
    assert len(ds) == 16
    item = ds[0]
    shapes = {k: tuple(v.shape) for k, v in item.items()}
    assert shapes == {"I_in": (3, 32, 32), "I_ref": (3, 32, 32), "B": (3, 32, 32), "B_in": (3, 32, 32),
                      "parsing_in": (32, 32), "hidden_in": (10, 32, 32), "P_in": (15, 32, 32),
                      "hole_in": (1, 32, 32), "theta": (10, 2, 3), "part_valid": (10,), "P_ref": (45, 32, 32), "H_ref": (1, 32, 32),
                      "in_frame": (), "ref_frame": (),
                      # per-part sources (the default): each part's frame and its image and parsing
                      "I_parts": (10, 3, 32, 32), "parsing_parts": (10, 32, 32), "sources": (10,)}
    for key in ("I_in", "I_ref", "B", "B_in"):
        assert item[key].dtype == torch.float32
        assert -1.0 <= item[key].min() and item[key].max() <= 1.0
        assert item[key].std() > 0.1          # a real picture, not a constant
    assert item["parsing_in"].dtype == torch.int64
    assert set(item["parsing_in"].unique().tolist()) <= set(range(11))
    assert len(item["parsing_in"].unique()) >= 8   # most of the 10 parts survive at 32²
    assert item["part_valid"].dtype == torch.bool and item["part_valid"].all()  # demo poses are complete
    assert 0.0 <= item["P_ref"].min() and item["P_ref"].max() <= 1.0
    assert set(item["H_ref"].unique().tolist()) == {0.0, 1.0}


def test_scene_is_the_input_frame_with_only_its_person_replaced_by_the_plate(video):
    ds = dataset(video, 64)
    item = ds[0]
    with PoseStore(video.pose) as pose:
        t = int(item["in_frame"])
        person = torch.from_numpy((pose.parsing(t) > 0) | (pose.mask(t) >= 128))
    far = torch.nn.functional.max_pool2d(person[None, None].float(), 31, 1, 15)[0, 0] == 0
    assert torch.equal(item["B_in"][:, person], item["B"][:, person])
    assert torch.equal(item["B_in"][:, far], item["I_in"][:, far])
    assert far.float().mean() > 0.2
    # hole_in is exactly where B_in took the plate: the person, not the far room.
    hole = item["hole_in"][0].bool()
    assert hole[person].all() and not hole[far].any()
    assert torch.equal(item["B_in"][:, ~hole], item["I_in"][:, ~hole])


def test_item_matches_the_files(video):
    ds = dataset(video, 64)
    table = ds.pairs
    item = ds[5]
    t_in, t_ref = table[5]
    assert (int(item["in_frame"]), int(item["ref_frame"])) == (t_in, t_ref)
    frames = list(demo.render_video("personal", 1.0, 64, FPS, seed=0))
    # At the frame size nothing is resampled: images round-trip exactly through [-1, 1].
    back = ((item["I_ref"].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    np.testing.assert_array_equal(back, frames[t_ref].frame)
    np.testing.assert_array_equal(item["parsing_in"].numpy(), frames[t_in].parts)
    person = (frames[t_ref].parts > 0) | (frames[t_ref].mask >= 128)
    np.testing.assert_array_equal(item["H_ref"][0].numpy().astype(bool), person)


def test_reference_person_lies_under_its_pose_maps(video):
    item = dataset(video, 32)[3]
    body = item["P_ref"][:10].amax(0) > 0.5           # current pose's parts
    person = item["H_ref"][0] > 0
    assert (body & person).sum() / body.sum() > 0.9


def test_history_skips_invalid_frames(video):
    ds = dataset(video, 32, K=3)
    # Frames 3 and 4 are invalid: t-1 = 4 and t-2 = 3 of reference frame 5 both fall back to frame 2.
    ds.pairs = np.array([[0, 5]])
    maps = ds[0]["P_ref"]
    ref = PairDataset(ds.video, "train", 32, InputSpec(PosemapParams(K=1)))
    for k, frame in enumerate((5, 2, 2)):
        ref.pairs = np.array([[0, frame]])
        torch.testing.assert_close(maps[15 * k:15 * (k + 1)], ref[0]["P_ref"])


def test_resize_and_workers(video):
    ds = dataset(video, 32, split="test")
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    batch = next(iter(loader))
    assert batch["I_in"].shape == (2, 3, 32, 32)
    torch.testing.assert_close(batch["P_ref"][0], ds[0]["P_ref"])


def test_bad_inputs_name_the_file(video, tmp_path):
    with pytest.raises(DanceGenError, match="has no 'val' pairs"):
        dataset(video, 32, split="val")
    bad = tmp_path / "pairs.csv"
    bad.write_text("split,in_frame,ref_frame\ntrain,0,3\n")     # frame 3 has no valid pose
    with pytest.raises(DanceGenError, match="no valid pose"):
        PairDataset(PersonalVideo(dataclasses.replace(video, pairs=bad)), "train", 32, InputSpec())
