"""The IoU tracker on synthetic boxes: identities kept across frames, gaps, skips."""

from __future__ import annotations

import numpy as np
import pytest

from facedb.watch.tracker import IouTracker, iou_matrix


def box(x: float, y: float, size: float = 80.0) -> list[float]:
    return [x, y, x + size, y + size]


def test_iou_matrix() -> None:
    a = np.array([box(0, 0, 10), box(100, 100, 10)])
    b = np.array([box(0, 0, 10), box(5, 0, 10), box(50, 50, 10)])
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(50 / 150)  # half overlap: 50 / (100 + 100 - 50)
    assert iou[0, 2] == 0.0 and iou[1].max() == 0.0
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_two_people_walking_keep_their_tracks() -> None:
    tracker = IouTracker()
    first = tracker.update([box(0, 0), box(400, 200)])
    assert first.started == first.assigned and len(set(first.assigned)) == 2
    for k in range(1, 30):
        # Detection order changes from frame to frame; the tracks must not swap.
        boxes = [box(400 - 4 * k, 200), box(5 * k, 3 * k)]
        step = tracker.update(boxes[::-1] if k % 2 else boxes)
        expected = first.assigned if k % 2 else first.assigned[::-1]
        assert step.assigned == expected
        assert step.started == () and step.ended == ()
    visible = tracker.visible()
    assert {v.track_id for v in visible} == set(first.assigned)
    assert all(v.hits == 30 and v.detection is not None for v in visible)


def test_a_short_gap_keeps_the_track_a_long_one_ends_it() -> None:
    tracker = IouTracker(max_missed=3)
    (track,) = tracker.update([box(100, 100)]).assigned
    for _ in range(3):
        assert tracker.update([]).ended == ()
        assert tracker.visible() == []  # not drawn while missing
    assert tracker.update([box(102, 100)]).assigned == (track,)
    for _ in range(3):
        tracker.update([])
    assert tracker.update([]).ended == (track,)
    assert tracker.active_ids() == []
    step = tracker.update([box(102, 100)])
    assert step.started == step.assigned and step.assigned != (track,)


def test_fast_motion_is_followed_by_velocity() -> None:
    # 60 px a frame with an 80 px box: consecutive boxes overlap with IoU 0.14 and
    # their centres are 0.75 box sizes apart, too far for either rule on its own;
    # the box predicted from the track's velocity lands on the next detection.
    tracker = IouTracker()
    (track,) = tracker.update([box(0, 100)]).assigned
    x = 40.0  # a first step of 40 px is matched by centre distance (0.5 box sizes)
    assert tracker.update([box(x, 100)]).assigned == (track,)
    for _ in range(8):
        x += 60.0
        assert tracker.update([box(x, 100)]).assigned == (track,)
    fresh = IouTracker()
    (other,) = fresh.update([box(0, 100)]).assigned
    assert fresh.update([box(60, 100)]).assigned != (other,)  # no velocity yet: lost


def test_a_jump_is_matched_by_centre_distance_but_not_to_a_much_bigger_face() -> None:
    tracker = IouTracker()
    (track,) = tracker.update([box(100, 100)]).assigned
    # 45 px jump from standing still: IoU 0.28, centre shift 0.56 box sizes.
    assert tracker.update([box(145, 100)]).assigned == (track,)
    # A box three times bigger at the same place is somebody else (nearer the camera).
    step = tracker.update([box(130, 80, 240)])
    assert step.assigned != (track,) and step.started == step.assigned


def test_predict_moves_boxes_between_detections() -> None:
    tracker = IouTracker()
    (track,) = tracker.update([box(0, 0)]).assigned
    tracker.update([box(10, 0)])
    predicted = tracker.predict()
    assert [p.track_id for p in predicted] == [track]
    assert predicted[0].box[0] == pytest.approx(20.0)
    assert predicted[0].detection is None
    assert tracker.predict()[0].box[0] == pytest.approx(30.0)
    # Skipping detections does not end a track; the next detection continues it.
    assert tracker.update([box(40, 0)]).assigned == (track,)


def test_many_faces_at_once_and_none() -> None:
    tracker = IouTracker()
    boxes = [box(120 * i, 50) for i in range(5)]
    ids = tracker.update(boxes).assigned
    assert len(set(ids)) == 5
    assert tracker.update([b for b in boxes[::-1]]).assigned == ids[::-1]
    assert tracker.update(np.zeros((0, 4))).assigned == ()


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        IouTracker(iou_threshold=0.0)
    with pytest.raises(ValueError, match="max_missed"):
        IouTracker(max_missed=-1)
