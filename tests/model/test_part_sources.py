"""Per-part sources (:mod:`dancegen.model.sources`) on a short demo clip in the pipeline's formats."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import make_video

from dancegen.body.distances import part_descriptors
from dancegen.body.parts import tangram, warp_parts_amodal
from dancegen.body.skeleton import NUM_PARTS
from dancegen.core.config import InputSpec, PosemapParams, SourcesParams
from dancegen.model.inputs import part_stacks
from dancegen.model.personal import PersonalVideo
from dancegen.model.sources import PartIndex, frame_visibility, frames_visibility

PER_PART = InputSpec(PosemapParams(K=1), sources=SourcesParams(mode="per_part", exclude_window=3))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("data"), size=64, seconds=2.0)


def _tangram(sample: dict) -> torch.Tensor:
    images, parsing = part_stacks(sample)
    T, coverage, hidden = warp_parts_amodal(images[None], parsing[None], sample["theta"][None],
                                            sample["part_valid"][None], sample["hidden_in"][None])
    return tangram(T, coverage, sample["B_in"][None], hidden)[0]


def test_one_source_frame_for_every_part_gives_the_single_frame_tangram(video):
    """Per-part stacks that all hold I_in warp to exactly the paper's tangram."""
    with PersonalVideo(video) as v:
        t_in, t_ref = int(v.train_frames[2]), int(v.train_frames[-1])
        single = v.builder(32, InputSpec(PosemapParams(K=1), sources=SourcesParams(mode="single"))).sample(t_in, v.history(t_ref, 1))
        stacked = {**single, "I_parts": single["I_in"].expand(NUM_PARTS, -1, -1, -1),
                   "parsing_parts": single["parsing_in"].expand(NUM_PARTS, -1, -1)}
        assert torch.equal(_tangram(stacked), _tangram(single))
        # ... and the per-part builder, forced to one frame, builds those very stacks.
        builder = v.builder(32, PER_PART)
        builder.index = None
        assert torch.equal(_tangram(builder.sample(t_in, v.history(t_ref, 1))), _tangram(single))


def test_a_source_is_never_within_the_excluded_window(video):
    with PersonalVideo(video) as v:
        builder, window = v.builder(32, PER_PART), PER_PART.sources.exclude_window
        for t_ref in v.train_frames:
            chosen = v.part_index(PER_PART).sources(v.pose.keypoints[t_ref], exclude=int(t_ref))
            found = chosen[chosen >= 0]
            assert len(found) and (np.abs(found - t_ref) > window).all()
            assert set(found) <= set(v.train_frames.tolist())
        sample = builder.sample(int(v.train_frames[0]), v.history(int(v.train_frames[5]), 1), int(v.train_frames[5]))
        assert sample["I_parts"].shape == (NUM_PARTS, 3, 32, 32) and sample["parsing_parts"].shape == (NUM_PARTS, 32, 32)


def _costs(desc: np.ndarray, visible: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """The module docstring's cost of part k of every frame, by brute force (w_context 2, w_visible 1)."""
    shown = visible[:, k][visible[:, k] > 0]
    hidden = np.clip(1 - visible[:, k] / np.median(shown), 0, None)
    return np.sqrt(np.sum((desc[:, k, :2] - q[0, k, :2]) ** 2, 1)
                   + 4.0 * np.sum((desc[:, k, 2:] - q[0, k, 2:]) ** 2, 1) + hidden ** 2)


def _index(v, params: SourcesParams) -> tuple[PartIndex, np.ndarray, np.ndarray]:
    frames = v.train_frames
    visible = np.stack([frame_visibility(v.pose, int(t), PER_PART.posemap) for t in frames])
    return PartIndex(frames, v.pose.keypoints[frames], visible, params, 0.3), frames, visible


def test_the_index_answers_as_a_brute_force_search(video):
    with PersonalVideo(video) as v:
        index, frames, visible = _index(v, SourcesParams(mode="per_part", exclude_window=2, w_context=2.0))
        desc, own, context = part_descriptors(v.pose.keypoints[frames], 0.3)
        for t_ref in range(len(v.pose)):
            q, q_own, q_ctx = part_descriptors(v.pose.keypoints[t_ref][None], 0.3)
            chosen = index.sources(v.pose.keypoints[t_ref], exclude=t_ref)
            for k in range(NUM_PARTS):
                ok = context[:, k] & (visible[:, k] > 0) & (np.abs(frames - t_ref) > 2)
                if not (q_ctx[0, k] and ok.any()):
                    continue
                cost = _costs(desc, visible, q, k)
                cost[~ok] = np.inf
                assert np.isclose(cost[frames == chosen[k]][0], cost.min(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("margin", [0.0, 0.15])
def test_the_input_frame_keeps_each_part_unless_a_frame_poses_it_nearer_by_the_margin(video, margin):
    with PersonalVideo(video) as v:
        index, frames, visible = _index(v, SourcesParams(mode="per_part", exclude_window=2, keep_margin=margin))
        t_in = int(frames[3])
        incumbent = (t_in, v.pose.keypoints[t_in], visible[3])
        # its own pose: I_in costs 0 for every part it shows as much as usual, so it keeps those, the
        # excluded window notwithstanding
        chosen = index.sources(v.pose.keypoints[t_in], exclude=t_in, incumbent=incumbent)
        usual = visible[3] >= index.typical
        assert usual.sum() >= 3 and (chosen[usual] == t_in).all()
        # any pose: I_in unless the index's nearest frame costs less by more than the margin
        desc, _, context = part_descriptors(v.pose.keypoints[frames], 0.3)
        swapped = 0
        for t_ref in range(0, len(v.pose), 3):
            q, _, q_ctx = part_descriptors(v.pose.keypoints[t_ref][None], 0.3)
            chosen = index.sources(v.pose.keypoints[t_ref], exclude=t_ref, incumbent=incumbent)
            for k in np.flatnonzero(q_ctx[0] & context[3] & (visible[3] > 0)):
                ok = context[:, k] & (visible[:, k] > 0) & (np.abs(frames - t_ref) > 2)
                cost = _costs(desc, visible, q, k)
                own = cost[3]
                cost[~ok] = np.inf
                if own < cost.min() + margin - 1e-5:
                    assert chosen[k] == t_in
                elif own > cost.min() + margin + 1e-5:
                    assert chosen[k] != t_in and np.isclose(cost[frames == chosen[k]][0], cost.min(), rtol=1e-4)
                    swapped += 1
        assert swapped > 0


def test_a_per_part_model_records_its_sources_for_inference():
    from dancegen.transfer.infer import trained_sources
    assert trained_sources({}) == SourcesParams(mode="single")
    recorded = dataclasses.asdict(SourcesParams(mode="per_part", w_context=1.5))
    assert trained_sources({"sources_params": recorded}) == SourcesParams(mode="per_part", w_context=1.5)


def test_untrained_nets_start_as_the_per_part_tangram(video):
    """A training batch under per-part sources goes through the generators, and with zero heads
    Ĩ_out's composite I_comb is the per-part tangram over B_in."""
    from torch.utils.data import default_collate

    from dancegen.core.config import ModelParams
    from dancegen.model.dataset import PairDataset
    from dancegen.model.generators import GeneratorConfig, Generators

    spec = dataclasses.replace(PER_PART, posemap=PosemapParams(K=3))
    ds = PairDataset(PersonalVideo(video), "train", 32, spec)
    batch = default_collate([ds[i] for i in range(2)])
    assert (batch["sources"] != batch["in_frame"][:, None]).any()     # parts from other frames than I_in
    tiny = ModelParams(ngf=8, n_downsample=2, n_blocks=1, n_local_blocks=1, ndf=8, compose="flow")
    gens = Generators(GeneratorConfig.from_params("ours", tiny, K=3))
    out = gens(batch)
    images, parsing = part_stacks(batch)
    T, coverage, hidden = warp_parts_amodal(images, parsing, batch["theta"], batch["part_valid"], batch["hidden_in"])
    torch.testing.assert_close(out["comb"], tangram(T, coverage, batch["B_in"], hidden), rtol=0, atol=1e-6)


def test_a_video_builds_its_part_index_once_for_every_dataset_and_worker(video, monkeypatch):
    """Both training phases' datasets of one opened video, and a DataLoader worker's copy of one
    (pickled, as a spawned worker gets it; or reopened after a fork), share one part index."""
    import pickle

    from dancegen.model import personal, sources
    from dancegen.model.dataset import PairDataset

    built = []

    def counting(*args):
        built.append(args)
        return sources.build_part_index(*args)

    monkeypatch.setattr(personal, "build_part_index", counting)
    with PersonalVideo(video) as v:
        low, high = (PairDataset(v, "train", r, PER_PART) for r in (16, 32))
        spawned = pickle.loads(pickle.dumps(high))
        forked = PairDataset.__new__(PairDataset)
        forked.__dict__.update(high.__dict__, _pid=-1)       # a fork: the parent's state, another process id
        items = [ds[3] for ds in (high, spawned, forked)]
        assert low[3]["I_in"].shape == (3, 16, 16)
    assert len(built) == 1
    for item in items[1:]:
        for key, value in items[0].items():
            torch.testing.assert_close(item[key], value, rtol=0, atol=0)
    assert forked.video is not high.video and forked.video.pose is not high.video.pose
    spawned.video.close()
    forked.video.close()


def test_part_visibility_is_cached_under_what_it_depends_on(video):
    """The cached visibility is the computed one, and other pose-map parameters are another entry."""
    with PersonalVideo(video) as v:
        frames = v.train_frames[:6]
        for posemap in (PosemapParams(K=1), PosemapParams(K=1, limb_width=2.0), PosemapParams(K=1)):
            direct = np.stack([frame_visibility(v.pose, int(t), posemap) for t in frames])
            np.testing.assert_array_equal(frames_visibility(v.pose, frames, posemap), direct)
        assert not np.array_equal(frames_visibility(v.pose, frames, PosemapParams(K=1, limb_width=2.0)),
                                  frames_visibility(v.pose, frames, PosemapParams(K=1)))
