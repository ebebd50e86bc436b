import cv2
import numpy as np
import pytest
import torch

from dancegen.body.parts import part_affines, part_masks, warp_parts_with_coverage
from dancegen.body.skeleton import J, NUM_JOINTS, NUM_PARTS, PARTS, part_segments


def warp_parts(image_in, parsing_in, theta, valid):
    """T alone."""
    return warp_parts_with_coverage(image_in, parsing_in, theta, valid)[0]


S = 256
STANDING = {
    "nose": (128, 52), "left_eye": (134, 46), "right_eye": (122, 46), "left_ear": (142, 50),
    "right_ear": (114, 50), "left_shoulder": (150, 80), "right_shoulder": (106, 80),
    "left_elbow": (168, 115), "right_elbow": (88, 115), "left_wrist": (176, 150),
    "right_wrist": (80, 150), "left_hip": (142, 150), "right_hip": (114, 150),
    "left_knee": (146, 195), "right_knee": (110, 195), "left_ankle": (148, 240),
    "right_ankle": (108, 240),
}
# Parts drawn later cover earlier ones where they overlap, as limbs in front of the torso do.
DRAW_ORDER = ("torso", "left_upper_leg", "right_upper_leg", "left_lower_leg", "right_lower_leg",
              "left_upper_arm", "right_upper_arm", "left_lower_arm", "right_lower_arm", "head")
COLOURS = np.random.default_rng(0).uniform(0.3, 1.0, (NUM_PARTS + 1, 3)).astype(np.float32)
COLOURS[0] = 0.0


def _rotate(p, centre, degrees):
    a = np.deg2rad(degrees)
    x, y = np.subtract(p, centre)
    return np.add(centre, (x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)))


def _keypoints(joints: dict) -> np.ndarray:
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    for name, xy in joints.items():
        kp[J[name]] = (*xy, 1.0)
    return kp


def standing() -> np.ndarray:
    return _keypoints(STANDING)


def dancing() -> np.ndarray:
    """The standing figure with arms raised and bent, a leg kicked out, the head tilted, then
    scaled by 0.85 and moved: every part has its own rotation and the whole body a new size."""
    j = dict(STANDING)
    for side, shoulder_turn, elbow_turn in (("left", -70, -40), ("right", 30, 60)):
        shoulder = j[f"{side}_shoulder"]
        j[f"{side}_elbow"] = _rotate(STANDING[f"{side}_elbow"], shoulder, shoulder_turn)
        wrist = _rotate(STANDING[f"{side}_wrist"], shoulder, shoulder_turn)
        j[f"{side}_wrist"] = _rotate(wrist, j[f"{side}_elbow"], elbow_turn)
    j["left_knee"] = _rotate(STANDING["left_knee"], j["left_hip"], -25)
    j["left_ankle"] = _rotate(_rotate(STANDING["left_ankle"], j["left_hip"], -25), j["left_knee"], 30)
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        j[name] = _rotate(STANDING[name], (128, 80), 15)
    return _keypoints({k: np.add(np.multiply(np.subtract(v, 128), 0.85), (120, 132)) for k, v in j.items()})


def render_parsing(kp: np.ndarray, size: int = S) -> np.ndarray:
    """``(size, size) uint8`` labels: each part a filled rectangle around its segment (head: a disc)."""
    parsing = np.zeros((size, size), np.uint8)
    segments = part_segments(kp)
    labels = {p.name: p.label for p in PARTS}
    for name in DRAW_ORDER:
        a, b, width = segments[name]
        if name == "head":
            centre = tuple(int(v) for v in np.round((b - 0.5) * 16))
            cv2.circle(parsing, centre, int(round(width / 2 * 16)), labels[name], -1, shift=4)
        else:
            d = (b - a) / np.linalg.norm(b - a)
            half = np.array([-d[1], d[0]]) * width / 2
            corners = np.stack([a + half, b + half, b - half, a - half])
            cv2.fillPoly(parsing, [np.round((corners - 0.5) * 16).astype(np.int32)], labels[name], shift=4)
    return parsing


def _batch(kp_in, kp_ref, parsing_in, size=S):
    """Image (parts in distinct colours), parsing, theta, valid as a batch of one."""
    theta, valid = part_affines(kp_in, kp_ref, S)
    image = torch.from_numpy(COLOURS[parsing_in]).permute(2, 0, 1)[None]
    parsing = torch.from_numpy(parsing_in.astype(np.int64))[None]
    return image, parsing, torch.from_numpy(theta)[None], torch.from_numpy(valid)[None]


def _warped_masks(parsing: np.ndarray, theta: torch.Tensor, valid: torch.Tensor) -> np.ndarray:
    """``(10, R, R)`` float: each part's warped mask (the warp of a white image)."""
    R = parsing.shape[0]
    ones = torch.ones(1, 3, R, R)
    return warp_parts(ones, torch.from_numpy(parsing.astype(np.int64))[None], theta, valid)[0, ::3].numpy()


def _centroids(masks: np.ndarray) -> np.ndarray:
    """``(N, R, R)`` → ``(N, 2)`` x, y mass centres in continuous pixel coordinates."""
    R = masks.shape[-1]
    ys, xs = np.mgrid[0:R, 0:R] + 0.5
    mass = masks.sum(axis=(1, 2))
    return np.stack([(masks * xs).sum(axis=(1, 2)) / mass, (masks * ys).sum(axis=(1, 2)) / mass], axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _to_normalised(A: np.ndarray, t: np.ndarray, size: int) -> np.ndarray:
    """Pixel map q = A p + t → the (2, 3) theta of torch's normalised coordinates."""
    return np.column_stack([A, A @ np.ones(2) + 2 * t / size - 1])


def test_same_pose_gives_identity_and_the_masked_parts():
    kp = standing()
    parsing = render_parsing(kp)
    image, parsing_t, theta, valid = _batch(kp, kp, parsing)
    assert valid.all()
    np.testing.assert_allclose(theta[0].numpy(), np.repeat([[[1, 0, 0], [0, 1, 0]]], NUM_PARTS, 0), atol=1e-6)
    warped = warp_parts(image, parsing_t, theta, valid)
    assert warped.shape == (1, 3 * NUM_PARTS, S, S)
    masked = image[:, None] * part_masks(parsing_t)[:, :, None]
    torch.testing.assert_close(warped, masked.reshape(1, 3 * NUM_PARTS, S, S), atol=1e-4, rtol=0)


def test_a_similarity_of_the_whole_body_gives_every_part_its_inverse():
    """Moving, turning and scaling the whole pose must give each part the same, exact transform."""
    kp_in = standing()
    angle, scale, shift = np.deg2rad(20), 0.8, np.array([30.0, -12.0])
    R = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    kp_ref = kp_in.copy()
    kp_ref[:, :2] = kp_in[:, :2] @ R.T + shift
    theta, valid = part_affines(kp_in, kp_ref, S)
    assert valid.all()
    R_inv = np.linalg.inv(R)
    expected = _to_normalised(R_inv, -R_inv @ shift, S)
    for i in range(NUM_PARTS):
        np.testing.assert_allclose(theta[i], expected, atol=1e-4, err_msg=PARTS[i].name)


def test_each_warped_part_lands_on_its_reference_part():
    kp_in, kp_ref = standing(), dancing()
    parsing_in, parsing_ref = render_parsing(kp_in), render_parsing(kp_ref)
    image, parsing, theta, valid = _batch(kp_in, kp_ref, parsing_in)
    masks = _warped_masks(parsing_in, theta, valid)
    ious = {p.name: _iou(masks[i] > 0.5, parsing_ref == p.label) for i, p in enumerate(PARTS)}
    # Measured 0.88–0.98 (mean 0.92): what is lost is where other parts cover a part differently in
    # the two poses, e.g. the upper arms over the torso.
    assert min(ious.values()) > 0.85, ious
    assert np.mean(list(ious.values())) > 0.9, ious
    unwarped = [_iou(parsing_in == p.label, parsing_ref == p.label) for p in PARTS]
    assert np.mean(unwarped) < 0.6

    # The colours travel with the parts and nothing of the other parts comes along.
    warped = warp_parts(image, parsing, theta, valid)
    for i, p in enumerate(PARTS):
        inside = masks[i] > 0.999
        assert inside.sum() > 50, p.name
        rgb = warped[0, 3 * i:3 * i + 3].permute(1, 2, 0).numpy()[inside]
        np.testing.assert_allclose(rgb, np.broadcast_to(COLOURS[p.label], rgb.shape), atol=1.5e-3, err_msg=p.name)


@pytest.mark.parametrize("R", [64, 128])
def test_thetas_from_the_frame_apply_at_the_training_resolution(R):
    """Thetas computed from the 256² frame's keypoints warp a downscaled frame to the downscaled result."""
    kp_in, kp_ref = standing(), dancing()
    parsing_in, parsing_ref = render_parsing(kp_in), render_parsing(kp_ref)
    theta, valid = part_affines(kp_in, kp_ref, S)
    theta, valid = torch.from_numpy(theta)[None], torch.from_numpy(valid)[None]
    full = _warped_masks(parsing_in, theta, valid)

    # Each part as a soft mask, area-downscaled, so the comparison is not about jagged labels.
    small = []
    for i, p in enumerate(PARTS):
        soft = cv2.resize((parsing_in == p.label).astype(np.float32), (R, R), interpolation=cv2.INTER_AREA)
        image = torch.from_numpy(soft)[None, None].repeat(1, 3, 1, 1)
        everywhere = torch.full((1, R, R), p.label)
        small.append(warp_parts(image, everywhere, theta, valid)[0, 3 * i].numpy())
    small = np.stack(small)
    # Measured: centres within 0.26 px (at 256²) at R=64, 0.07 px at R=128; masses within 3 %.
    offset = np.abs(_centroids(small) * S / R - _centroids(full)).max()
    assert offset < 0.5
    np.testing.assert_allclose(small.sum(axis=(1, 2)) * (S / R) ** 2, full.sum(axis=(1, 2)), rtol=0.05)

    # The data pipeline's way: nearest-neighbour parsing at R; measured IoU ≥ 0.59 at 64², ≥ 0.79 at 128².
    nearest = _warped_masks(cv2.resize(parsing_in, (R, R), interpolation=cv2.INTER_NEAREST), theta, valid)
    target = cv2.resize(parsing_ref, (R, R), interpolation=cv2.INTER_NEAREST)
    ious = [_iou(nearest[i] > 0.5, target == p.label) for i, p in enumerate(PARTS)]
    assert min(ious) > (0.5 if R == 64 else 0.75), ious


@pytest.mark.parametrize("pose, joint", [("in", "left_wrist"), ("ref", "left_wrist")])
def test_missing_joint_gives_identity_and_zero_channels(pose, joint):
    kp_in, kp_ref = standing(), dancing()
    parsing_in = render_parsing(kp_in)
    (kp_in if pose == "in" else kp_ref)[J[joint], 2] = 0.0
    image, parsing, theta, valid = _batch(kp_in, kp_ref, parsing_in)
    lower = [p.name for p in PARTS].index("left_lower_arm")
    assert valid[0].tolist() == [i != lower for i in range(NUM_PARTS)]
    np.testing.assert_array_equal(theta[0, lower].numpy(), [[1, 0, 0], [0, 1, 0]])
    warped = warp_parts(image, parsing, theta, valid)
    assert (parsing == PARTS[lower].label).any()
    assert warped[0, 3 * lower:3 * lower + 3].abs().max() == 0
    assert warped[0, :3 * lower].abs().max() > 0


def test_degenerate_segment_is_invalid():
    kp_in, kp_ref = standing(), dancing()
    kp_ref[J["right_wrist"], :2] = kp_ref[J["right_elbow"], :2] + 0.3
    _, valid = part_affines(kp_in, kp_ref, S)
    assert not valid[[p.name for p in PARTS].index("right_lower_arm")]
    assert valid.sum() == NUM_PARTS - 1


def test_gradient_reaches_the_input_image():
    kp_in, kp_ref = standing(), dancing()
    image, parsing, theta, valid = _batch(kp_in, kp_ref, render_parsing(kp_in))
    image = image.repeat(2, 1, 1, 1).requires_grad_(True)
    warped = warp_parts(image, parsing.repeat(2, 1, 1), theta.repeat(2, 1, 1, 1), valid.repeat(2, 1))
    warped.sum().backward()
    grad = image.grad.abs().sum(1)
    person = parsing.repeat(2, 1, 1) > 0
    assert (grad[person] > 0).float().mean() > 0.9
    assert grad[~person].max() == 0


def test_warp_is_differentiable_in_double_precision():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    parsing = torch.randint(0, NUM_PARTS + 1, (1, 8, 8))
    theta = (torch.eye(2, 3, dtype=torch.float64) + 0.2 * torch.randn(1, NUM_PARTS, 2, 3, dtype=torch.float64))
    valid = torch.rand(1, NUM_PARTS) > 0.3
    assert torch.autograd.gradcheck(lambda x: warp_parts(x, parsing, theta, valid), (image,))


def test_demo_frame_pairs_are_aligned_by_the_warp():
    """Real rendered figures (their own limb shapes, clothes, hands), true keypoints and parts."""
    demo = pytest.importorskip("dancegen.demo")
    size = 128
    frames = list(demo.render_video("personal", 2.0, size, 15, 0))
    warped_ious, unwarped_ious = [], []
    for a, b in ((0, 10), (0, 29), (5, 20), (12, 25)):
        fi, fr = frames[a], frames[b]
        theta, valid = part_affines(fi.keypoints, fr.keypoints, size)
        masks = _warped_masks(fi.parts, torch.from_numpy(theta)[None], torch.from_numpy(valid)[None])
        for i, p in enumerate(PARTS):
            target = fr.parts == p.label
            warped_ious.append(_iou(masks[i] > 0.5, target))
            unwarped_ious.append(_iou(fi.parts == p.label, target))
    # Measured: mean IoU 0.82 warped against 0.57 unwarped; the worst part 0.47 (an upper arm whose
    # shoulder turns in depth, which a 2-D affine cannot follow).
    assert np.mean(warped_ious) > 0.75
    assert np.mean(warped_ious) > np.mean(unwarped_ious) + 0.15


def arms_crossed() -> np.ndarray:
    """The standing figure with its forearms folded across the front of the torso."""
    return _keypoints({**STANDING, "left_elbow": (160, 125), "right_elbow": (96, 125),
                       "left_wrist": (108, 118), "right_wrist": (148, 118)})


def _inputs(kp_in: np.ndarray):
    from dancegen.core.config import PosemapParams
    from dancegen.body.parts import hidden_regions
    from dancegen.body.posemaps import pose_maps

    parsing_in = render_parsing(kp_in)
    image = torch.from_numpy(COLOURS[parsing_in]).permute(2, 0, 1)[None]
    parsing = torch.from_numpy(parsing_in.astype(np.int64))[None]
    shapes = torch.from_numpy(pose_maps(kp_in, S, S, PosemapParams())[:NUM_PARTS])[None]
    return parsing_in, image, parsing, hidden_regions(parsing, shapes)


def test_a_part_is_hidden_where_another_part_covers_its_shape():
    parsing_in, _, _, hidden = _inputs(arms_crossed())
    torso = next(i for i, p in enumerate(PARTS) if p.name == "torso")
    labels = {p.name: p.label for p in PARTS}
    hidden_torso = hidden[0, torso].numpy().astype(bool)
    forearms = np.isin(parsing_in, [labels["left_lower_arm"], labels["right_lower_arm"]])
    # the forearms folded over the torso hide it; the torso's own pixels and the room hide nothing
    in_torso = np.zeros_like(parsing_in)
    a, b, width = part_segments(arms_crossed())["torso"]
    cv2.line(in_torso, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, int(width) - 8)
    assert (forearms & in_torso.astype(bool)).sum() > 300
    assert hidden_torso[forearms & in_torso.astype(bool)].mean() > 0.95
    assert (parsing_in[hidden_torso] > 0).all()
    assert not hidden_torso[parsing_in == labels["torso"]].any()
    assert not hidden[0][:, torch.from_numpy(parsing_in == 0)].any()


def test_completed_parts_have_no_holes_once_the_occluder_has_moved():
    from dancegen.body.parts import tangram_layer, warp_parts_amodal, warp_parts_with_coverage

    kp_in, kp_ref = arms_crossed(), standing()
    _, image, parsing, hidden = _inputs(kp_in)
    theta, valid = (torch.from_numpy(a)[None] for a in part_affines(kp_in, kp_ref, S))
    T, coverage = warp_parts_with_coverage(image, parsing, theta, valid)
    T_full, coverage_full, hidden_out = warp_parts_amodal(image, parsing, theta, valid, hidden)
    torso = next(i for i, p in enumerate(PARTS) if p.name == "torso")
    inner = cv2.erode((render_parsing(kp_ref) == PARTS[torso].label).astype(np.uint8), np.ones((7, 7), np.uint8))
    inner = torch.from_numpy(inner.astype(bool))
    # the paper's warp leaves the forearms' hole in the torso; the completed torso covers it
    assert (coverage[0, torso][inner] < 0.5).float().mean() > 0.1
    assert (coverage_full[0, torso][inner] > 0.99).float().mean() > 0.98
    assert hidden_out[0, torso][inner].max() > 0.99
    colour, alpha = tangram_layer(T_full, coverage_full, hidden_out)
    torso_colour = torch.from_numpy(COLOURS[PARTS[torso].label])
    filled = inner & (hidden_out[0, torso] > 0.99) & (coverage_full[0].sum(0) - coverage_full[0, torso] < 0.01)
    torch.testing.assert_close(colour[0][:, filled].T, torso_colour.expand(int(filled.sum()), 3), atol=0.02, rtol=0)


def test_a_visible_part_stays_in_front_of_a_completed_one():
    from dancegen.body.parts import HIDDEN_WEIGHT, tangram_layer, warp_parts_amodal

    kp = arms_crossed()
    parsing_in, image, parsing, hidden = _inputs(kp)
    theta, valid = (torch.from_numpy(a)[None] for a in part_affines(kp, kp, S))
    colour, alpha = tangram_layer(*warp_parts_amodal(image, parsing, theta, valid, hidden))
    labels = {p.name: p.label for p in PARTS}
    forearm = cv2.erode((parsing_in == labels["left_lower_arm"]).astype(np.uint8), np.ones((5, 5), np.uint8))
    forearm = torch.from_numpy(forearm.astype(bool)) & (hidden[0].sum(0) == 1)   # over one hidden part
    assert forearm.sum() > 50
    arm = torch.from_numpy(COLOURS[labels["left_lower_arm"]])
    # the one hidden part behind it adds at most its share of the largest colour difference
    bound = HIDDEN_WEIGHT / (1 + HIDDEN_WEIGHT) * (torch.from_numpy(COLOURS[1:]) - arm).abs().max() + 1e-3
    assert (colour[0][:, forearm].T - arm).abs().max() <= bound


def test_without_hidden_pixels_the_amodal_warp_is_the_papers():
    from dancegen.body.parts import warp_parts_amodal, warp_parts_with_coverage

    kp_in, kp_ref = standing(), dancing()
    _, image, parsing, hidden = _inputs(kp_in)
    theta, valid = (torch.from_numpy(a)[None] for a in part_affines(kp_in, kp_ref, S))
    T, coverage = warp_parts_with_coverage(image, parsing, theta, valid)
    T_full, coverage_full, hidden_out = warp_parts_amodal(image, parsing, theta, valid, torch.zeros_like(hidden))
    torch.testing.assert_close(T_full, T, rtol=0, atol=1e-6)
    torch.testing.assert_close(coverage_full, coverage, rtol=0, atol=1e-6)
    assert not hidden_out.any()


def test_only_the_parts_with_hidden_pixels_are_completed_and_the_result_is_filling_every_part():
    from dancegen.body.parts import _completion, fill_from_neighbours

    kp = arms_crossed()
    _, image, parsing, hidden = _inputs(kp)
    images = image.reshape(1, 1, 3, S, S).expand(1, NUM_PARTS, 3, S, S)
    masks = part_masks(parsing).float()
    visible = images * masks[:, :, None]
    assert 0 < int((hidden.flatten(2) > 0).any(2).sum()) < NUM_PARTS      # some parts hidden, some not
    every = fill_from_neighbours(visible.reshape(NUM_PARTS, 3, S, S), masks.reshape(NUM_PARTS, 1, S, S))
    expected = every.reshape(1, NUM_PARTS, 3, S, S) * hidden[:, :, None]
    assert torch.equal(_completion(visible, masks, hidden), expected)
    assert not _completion(visible, masks, torch.zeros_like(hidden)).any()


def test_fill_from_neighbours_keeps_known_colours_and_fills_holes():
    from dancegen.body.parts import fill_from_neighbours

    g = torch.Generator().manual_seed(0)
    colour = torch.tensor([0.2, -0.5, 0.9]).view(1, 3, 1, 1).expand(1, 3, 37, 23).clone()
    weight = (torch.rand(1, 1, 37, 23, generator=g) > 0.7).float()       # odd sizes, 70 % holes
    weight[..., 10:30, 5:20] = 0                                          # and one large hole
    filled = fill_from_neighbours(colour * weight, weight)
    torch.testing.assert_close(filled, colour, rtol=0, atol=1e-5)
    varied = torch.rand(1, 3, 37, 23, generator=g)
    known = fill_from_neighbours(varied * weight, weight)
    torch.testing.assert_close(known[weight.expand_as(known) == 1], varied[weight.expand_as(varied) == 1])
    assert not fill_from_neighbours(varied * 0, weight * 0).any()
