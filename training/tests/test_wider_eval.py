"""The WIDER FACE protocol (wider_eval.py) on small hand-made cases whose AP is worked out by hand."""
import numpy as np
import pytest

from moodlens_train.detector.wider_eval import overlaps_plus_one, voc_ap, wider_ap


def photo(boxes_xywh, easy, medium=None, hard=None):
    n = len(boxes_xywh)
    return {"boxes": boxes_xywh, "easy": easy, "medium": medium if medium is not None else easy,
            "hard": hard if hard is not None else list(range(n))}


def xyxy(b):
    x, y, w, h = b
    return [x, y, x + w, y + h]


FACES = [[10, 10, 40, 50], [100, 20, 30, 30], [200, 200, 12, 14]]


def test_overlaps_count_pixels_inclusively():
    # two 10x10 boxes sharing a 5-pixel-wide strip: (6 * 11) / (2 * 121 - 66) with the +1 rule
    iou = overlaps_plus_one(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]]))
    assert iou[0, 0] == pytest.approx(66 / (2 * 121 - 66))
    assert overlaps_plus_one(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10]]))[0, 0] == 1.0


def test_finding_every_face_scores_one_in_every_subset():
    p = photo(FACES, easy=[0], medium=[0, 1])
    pred = {"boxes": np.array([xyxy(b) for b in FACES]), "scores": np.array([0.9, 0.8, 0.7])}
    result = wider_ap([pred], [p])
    assert {s: result[s]["ap"] for s in result} == {"easy": 1.0, "medium": 1.0, "hard": 1.0}
    assert [result[s]["faces"] for s in ("easy", "medium", "hard")] == [1, 2, 3]


def test_faces_outside_the_subset_are_neither_hits_nor_false_positives():
    # only face 2 (the small one) is found, with the top score: easy (face 0) gets nothing, but the detection
    # on an ignored face does not count against it either; hard recalls 1 of 3 at precision 1
    p = photo(FACES, easy=[0])
    pred = {"boxes": np.array([xyxy(FACES[2]), [500, 500, 540, 540]]), "scores": np.array([0.9, 0.1])}
    result = wider_ap([pred], [p])
    assert result["easy"]["ap"] == 0.0
    assert result["hard"]["ap"] == pytest.approx(1 / 3, abs=1e-4)


def test_a_top_scoring_false_positive_halves_the_ap_of_a_single_face():
    p = photo([FACES[0]], easy=[0])
    pred = {"boxes": np.array([[300, 300, 340, 350], xyxy(FACES[0])]), "scores": np.array([0.95, 0.4])}
    assert wider_ap([pred], [p])["easy"]["ap"] == pytest.approx(0.5)


def test_a_second_detection_of_a_found_face_is_a_false_positive():
    p = photo([FACES[0]], easy=[0])
    shifted = xyxy(FACES[0])
    shifted[0] += 2
    # the duplicate scores highest after the first hit and before a second photo's face
    q = photo([FACES[1]], easy=[0])
    preds = [{"boxes": np.array([xyxy(FACES[0]), shifted]), "scores": np.array([0.9, 0.8])},
             {"boxes": np.array([xyxy(FACES[1])]), "scores": np.array([0.5])}]
    # curve: (1 hit / 1 proposal, recall 1/2), (1 / 2, 1/2), (2 / 3, 1): AP = 0.5 * 1 + 0.5 * 2/3
    assert wider_ap(preds, [p, q])["easy"]["ap"] == pytest.approx(0.5 + 1 / 3, abs=1e-4)


def test_scores_are_normalised_over_the_whole_set():
    # the same ranking on another scale gives the same AP
    p, q = photo([FACES[0]], easy=[0]), photo([FACES[1]], easy=[0])
    boxes = [np.array([xyxy(FACES[0]), [300, 300, 340, 350]]), np.array([xyxy(FACES[1])])]
    low = [{"boxes": boxes[0], "scores": np.array([0.30, 0.20])}, {"boxes": boxes[1], "scores": np.array([0.10])}]
    high = [{"boxes": boxes[0], "scores": np.array([30.0, 20.0])}, {"boxes": boxes[1], "scores": np.array([10.0])}]
    assert wider_ap(low, [p, q])["easy"]["ap"] == wider_ap(high, [p, q])["easy"]["ap"]
    assert wider_ap(low, [p, q])["easy"]["ap"] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-4)


def test_photos_without_detections_still_count_their_faces():
    p, q = photo([FACES[0]], easy=[0]), photo([FACES[1]], easy=[0])
    preds = [{"boxes": np.array([xyxy(FACES[0])]), "scores": np.array([0.9])},
             {"boxes": np.zeros((0, 4)), "scores": np.zeros(0)}]
    result = wider_ap(preds, [p, q])["easy"]
    assert result["ap"] == pytest.approx(0.5) and result["recall_at_lowest_score"] == 0.5


def test_voc_ap_takes_the_precision_envelope():
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([0.2, 1.0, 0.5])) == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
