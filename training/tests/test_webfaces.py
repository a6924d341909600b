"""The WebFaces held-out set (issue 21): the four-point box rule, its calibration on real face300w crops, the
ground-truth reader and the copy check that keeps training photos out of a test."""
from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import commit_all, jpeg_bytes

REPO = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("webfaces", REPO / "training/data_sources/prepare_webfaces.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rule_fitted_on_boxes_made_by_a_rule_gives_that_rule_back():
    wf = _module()
    truth = {"scale": "blend", "cx": 0.05, "cy": 0.4, "w": 2.2, "h": 2.6}
    rng = np.random.default_rng(0)
    points, boxes = [], []
    for _ in range(30):
        centre, iod = rng.uniform(50, 200, 2), rng.uniform(20, 60)
        q = np.array([[-iod / 2, 0], [iod / 2, 0], [0, 0.6 * iod], [0, iod]]) + centre
        points.append(q)
        boxes.append(wf.rule_box(q, truth))
    fitted = wf.fit_rule(points, boxes, "blend")
    for key in ("cx", "cy", "w", "h"):
        assert fitted[key] == pytest.approx(truth[key], abs=1e-9)
    # the box follows the face: twice the size, twice the box; it hangs below the eyes, centred on them
    q = points[0]
    b = wf.rule_box(q, truth)
    b2 = wf.rule_box((q - q.mean(0)) * 2 + q.mean(0), truth)
    assert (b2[2] - b2[0]) == pytest.approx(2 * (b[2] - b[0]))
    assert b[1] < q[0, 1] < b[3] and b[1] < q[3, 1] < b[3]


def test_calibration_on_real_face300w_crops_fits_their_boxes(face300w_dir, tmp_path):
    wf = _module()
    archive = tmp_path / "face300w.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(face300w_dir / "landmarks.json", arcname="face300w/landmarks.json")
    rule = wf.calibrate(archive)
    assert rule["scale"] in wf.SCALES and rule["val_faces"] > 0
    # a face box is about two eye-to-mouth lengths wide and a little taller; the fitted boxes overlap the
    # landmark boxes well on crops the fit did not see
    assert 1.5 < rule["w"] < 3.5 and rule["w"] < rule["h"] < 4.0
    assert rule["val_iou_median"] > 0.7


def test_ground_truth_lines_become_four_points_per_face():
    wf = _module()
    text = ("pic1.jpg 1 2 3 4 5 6 7 8 \n"
            "pic1.jpg 10 20 30 40 50 60 70 80\n"
            "pic2.jpg 1 1 2 2 3 3 4 4\n"
            "\n")
    faces = wf.read_ground_truth(text)
    assert sorted(faces) == ["pic1.jpg", "pic2.jpg"]
    assert len(faces["pic1.jpg"]) == 2 and faces["pic1.jpg"][1].tolist() == [[10, 20], [30, 40], [50, 60], [70, 80]]


def test_copy_check_needs_both_the_hash_and_the_thumbnail():
    wf = _module()
    rng = np.random.default_rng(3)

    def jpg(a):
        return jpeg_bytes(a, quality=85)

    smooth = np.clip(np.add.outer(np.arange(60) * 3, np.arange(80) * 2), 0, 255).astype(np.uint8)
    noisy = np.clip(smooth + rng.normal(0, 40, smooth.shape), 0, 255).astype(np.uint8)
    photo = jpg(noisy)
    finder = wf.CopyFinder()
    finder.add("seen.jpg", wf.dhash(photo), lambda: photo)
    # a re-encoded copy is one; a different photo with the same broad layout (same dHash) is not
    copy = jpg(np.clip(noisy.astype(int) + 2, 0, 255).astype(np.uint8))
    other = jpg(np.clip(smooth + rng.normal(0, 40, smooth.shape), 0, 255).astype(np.uint8))
    assert finder.copy_of(wf.dhash(copy), copy, wf.HELD_OUT_COPY_BITS) == "seen.jpg"
    assert wf.hamming(wf.dhash(other), np.array([wf.dhash(photo)], np.uint64))[0] <= wf.HELD_OUT_COPY_BITS
    assert finder.copy_of(wf.dhash(other), other, wf.HELD_OUT_COPY_BITS) == ""
    assert wf.CopyFinder().copy_of(wf.dhash(copy), copy, 10) == ""


def test_prepare_writes_a_split_the_detector_tools_load(face300w_dir, tmp_path):
    """End to end on a tiny git repository shaped like PigeonDan1/face_reco."""
    wf = _module()
    repo = tmp_path / "repo"
    (repo / "Caltech_WebFaces").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for name in ("pic00001.jpg", "pic00002.jpg"):
        Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(repo / "Caltech_WebFaces" / name)
    # pic00003 repeats pic00001
    (repo / "Caltech_WebFaces/pic00003.jpg").write_bytes((repo / "Caltech_WebFaces/pic00001.jpg").read_bytes())
    (repo / "WebFaces_GroundThruth.txt").write_text(
        "pic00001.jpg 60 50 90 50 75 65 75 80\npic00002.jpg 20 30 40 30 30 40 30 50\n"
        "pic00002.jpg 100 30 120 30 110 40 110 50\npic00003.jpg 60 50 90 50 75 65 75 80\n")
    commit = commit_all(repo)
    archive = tmp_path / "face300w.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(face300w_dir / "landmarks.json", arcname="face300w/landmarks.json")
    out = tmp_path / "webfaces"
    assert wf.main(["--repo", str(repo), "--commit", commit, "--face300w", str(archive), "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["photos"], meta["faces"], meta["left_out"]["repeat"]) == (2, 3, 1)
    from moodlens_train.detector.data import load_split
    items = load_split(out, "test")
    assert [len(it.boxes) for it in items] == [1, 2]
    x1, y1, x2, y2 = items[0].boxes[0]
    # eyes at y 50, mouth at y 80: the box spans them, centred between the eyes
    assert y1 < 50 and y2 > 80 and (x1 + x2) / 2 == pytest.approx(75, abs=1)


def test_reviewed_precision_counts_the_judged_share_of_real_faces():
    from moodlens_train.detector.reviewed_precision import estimate, wilson
    r = estimate(900, 100, ["face"] * 75 + ["not-face"] * 20 + ["label-mismatch"] * 3 + ["unclear"] * 2)
    assert r["measured_precision"] == pytest.approx(0.9)
    assert r["precision"] == pytest.approx((900 + 75) / 1000)
    lo, hi = r["precision_95"]
    assert 0.9 < lo < r["precision"] < hi < 1.0
    assert r["counts"] == {"face": 75, "not-face": 20, "label-mismatch": 3, "unclear": 2}
    # Wilson: inside [0, 1] even at the edges, and narrower with more judged
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(50, 100)[1] - wilson(50, 100)[0] < wilson(5, 10)[1] - wilson(5, 10)[0]
    with pytest.raises(ValueError):
        estimate(10, 5, ["face", "a face?"])


def test_reviewed_precision_by_strata_weights_each_judged_share_by_its_count(tmp_path):
    import json
    from moodlens_train.detector.reviewed_precision import estimate, estimate_strata, main
    a, b = ["face"] * 8 + ["not-face"] * 2, ["face"] * 1 + ["unclear"] * 3
    r = estimate_strata(900, [(80, a), (20, b)])
    assert r["precision"] == pytest.approx((900 + 0.8 * 80 + 0.25 * 20) / 1000)
    assert r["false_positives"] == 100 and [s["judged"] for s in r["strata"]] == [10, 4]
    lo, hi = r["precision_95"]
    assert lo < r["precision"] < hi
    # one stratum is the plain estimate
    one = estimate_strata(900, [(100, a)])
    assert one["precision"] == pytest.approx(estimate(900, 100, a)["precision"])
    assert one["precision_95"] == pytest.approx(estimate(900, 100, a)["precision_95"])
    with pytest.raises(ValueError):
        estimate_strata(900, [(100, ["face?"])])
    # from files: the figures beside the verdicts, and the strata must add up to their false detections
    (tmp_path / "fig.json").write_text(json.dumps({"figures": {"true_positives": 900, "false_positives": 100,
                                                               "recall": 0.9}}))
    doc = {"figures": "fig.json", "strata": [{"false_positives": 80, "reviewed": [{"verdict": v} for v in a]},
                                             {"false_positives": 20, "reviewed": [{"verdict": v} for v in b]}]}
    (tmp_path / "review.json").write_text(json.dumps(doc))
    assert main([str(tmp_path / "review.json")]) == 0
    doc["strata"][1]["false_positives"] = 21
    (tmp_path / "review.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="hold 101"):
        main([str(tmp_path / "review.json")])


def test_review_sample_draws_false_detections_with_their_overlap(tmp_path):
    from moodlens_train.detector.data import Item
    from moodlens_train.detector.review import write_sample
    image = np.zeros((200, 200, 3), np.uint8)
    labels = np.array([[10, 10, 60, 60]], np.float32)
    item = Item(image, labels, np.full((1, 5, 2), np.nan, np.float32), "webfaces", "images/a.jpg")
    listing = [{"image": "images/a.jpg", "kind": "false", "box": [100.0 + i, 100.0, 140.0 + i, 140.0], "score": 0.7}
               for i in range(50)]
    listing += [{"image": "images/a.jpg", "kind": "false", "box": [20.0, 20.0, 70.0, 70.0], "score": 0.9},
                {"image": "images/a.jpg", "kind": "missed", "box": [10.0, 10.0, 60.0, 60.0], "side": 50.0}]
    pick = write_sample(listing, [item], 40, 0, tmp_path)
    assert len(pick) == 40 and all(e["kind"] == "false" for e in pick)
    # the same seed draws the same sample; 40 tiles make two sheets
    assert [e["box"] for e in write_sample(listing, [item], 40, 0, tmp_path)] == [e["box"] for e in pick]
    assert (tmp_path / "false-sample-0.png").is_file() and (tmp_path / "false-sample-1.png").is_file()
    assert json.loads((tmp_path / "false-sample.json").read_text())[0]["box"] == pick[0]["box"]
    shifted = [e for e in write_sample(listing, [item], 60, 0, tmp_path) if e["box"][0] == 20.0]
    assert shifted and shifted[0]["overlap"] == pytest.approx(1600 / (2500 + 2500 - 1600), abs=1e-3)


def test_a_missed_face_records_how_near_the_detector_came():
    from moodlens_train.detector.review import best_score_on
    dets = {"boxes": np.array([[0, 0, 40, 40], [2, 2, 42, 42], [100, 100, 140, 140]], np.float32),
            "scores": np.array([0.35, 0.45, 0.9], np.float32)}
    assert best_score_on(dets, np.array([0, 0, 40, 40], np.float32), 0.4) == pytest.approx(0.45)
    assert best_score_on(dets, np.array([300, 300, 340, 340], np.float32), 0.4) == 0.0
    assert best_score_on({"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0)}, np.zeros(4), 0.4) == 0.0


def test_recall_by_face_size_against_the_photo():
    from moodlens_train.detector.data import Item
    from moodlens_train.detector.review import recall_by_relative_size
    image = np.zeros((100, 200, 3), np.uint8)  # long side 200
    boxes = np.array([[0, 0, 10, 10], [0, 0, 30, 30], [0, 0, 150, 90], [0, 0, 40, 40]], np.float32)
    item = Item(image, boxes, np.full((4, 5, 2), np.nan, np.float32), "webfaces", "a.jpg")
    # the 10 px face is under min_face (not counted); 30 px is 0.15 of the photo, 40 px 0.2, 150 px 0.75
    rows = recall_by_relative_size([item], [("a.jpg", [0, 0, 150, 90])], min_face=20)
    counts = {(lo, hi): (n, found) for lo, hi, n, found in rows if n}
    assert counts == {(0.1, 0.2): (1, 1), (0.2, 0.35): (1, 1), (0.7, float("inf")): (1, 0)}


def test_webfaces_splits_by_name_alone_in_the_fixed_shares():
    from moodlens_train.detector.add_webfaces import split_of
    names = [f"pic{i:05d}" for i in range(4000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]  # no randomness: the same name, the same split
    share = {s: splits.count(s) / len(names) for s in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.35, abs=0.03) and share["val"] == pytest.approx(0.15, abs=0.03)
    assert share["test"] == pytest.approx(0.50, abs=0.03)


def test_only_found_faces_that_overlap_no_label_become_ignore_regions():
    from moodlens_train.detector.add_webfaces import unlabelled_faces
    labelled = np.array([[10, 10, 50, 50]], np.float32)
    found = np.array([[12, 12, 52, 52], [100, 100, 140, 140], [30, 30, 70, 70]], np.float32)
    # IoU with the label: 0.82 (the labelled face), 0 (an unlabelled face), 400/2800 = 0.14 (beside it)
    assert unlabelled_faces(found, labelled).tolist() == [[100, 100, 140, 140], [30, 30, 70, 70]]
    assert unlabelled_faces(found, np.zeros((0, 4), np.float32)).shape == (3, 4)


def test_an_ignore_region_is_never_a_target_in_any_crop(tmp_path):
    from moodlens_train.detector.data import finish, load_split, real_sample
    photo = np.full((200, 300, 3), 120, np.uint8)
    (tmp_path / "images").mkdir()
    Image.fromarray(photo).save(tmp_path / "images/a.png")
    faces = [{"box": [20, 20, 80, 90], "kps": None}, {"box": [150, 40, 230, 130], "kps": None, "ignore": True}]
    (tmp_path / "train.json").write_text(json.dumps([{"image": "images/a.png", "source": "webfaces",
                                                      "faces": faces}]))
    item = load_split(tmp_path, "train")[0]
    assert item.boxes.tolist() == [[20, 20, 80, 90]] and item.ignore.tolist() == [[150, 40, 230, 130]]
    rng = np.random.default_rng(0)
    both_in_view = 0
    for _ in range(40):
        image, boxes, kps, ignored = real_sample(item, 160, rng)
        assert ignored.tolist() == [False, True]
        unflagged = finish(image, boxes, kps, 160, np.random.default_rng(1))[1]
        _, targets, _, ignore = finish(image, boxes, kps, 160, np.random.default_rng(1), ignored)
        # the region (as large as the face) would be a target without its flag; with it, an ignore box
        if len(unflagged) == 2:
            both_in_view += 1
            assert len(targets) == 1 and len(ignore) >= 1
        assert len(targets) <= 1
    assert both_in_view > 0


def test_add_webfaces_writes_splits_and_marks_unlabelled_faces_in_training_photos_only(tmp_path, monkeypatch):
    from moodlens_train.detector import add_webfaces, export, metrics
    from moodlens_train.detector.data import load_split
    det, web, out = tmp_path / "det", tmp_path / "web", tmp_path / "out"
    (det / "images/ece").mkdir(parents=True)
    (web / "images/webfaces").mkdir(parents=True)
    photo = np.full((120, 160, 3), 90, np.uint8)
    Image.fromarray(photo).save(det / "images/ece/e.png")
    own = {s: [{"image": "images/ece/e.png", "source": "ece", "group": s,
                "faces": [{"box": [10, 10, 50, 50], "kps": None}]}] for s in ("train", "val", "test")}
    for s, items in own.items():
        (det / f"{s}.json").write_text(json.dumps(items))
    web_items = []
    for i in range(40):
        Image.fromarray(photo).save(web / f"images/webfaces/pic{i:05d}.png")
        web_items.append({"image": f"images/webfaces/pic{i:05d}.png", "source": "webfaces", "group": f"pic{i:05d}",
                          "faces": [{"box": [10, 10, 50, 50], "kps": None}]})
    (web / "test.json").write_text(json.dumps(web_items))
    # a stand-in detector: it finds the labelled face and one more
    monkeypatch.setattr(export, "load_model", lambda path: (None, {}))
    found = {"boxes": np.array([[11, 11, 50, 50], [90, 20, 140, 80]], np.float32), "scores": np.array([0.9, 0.4])}
    monkeypatch.setattr(metrics, "detect", lambda model, image, threshold, **passes: found)
    assert add_webfaces.main(["--detector", str(det), "--webfaces", str(web), "--model", "m.pt",
                              "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    expected = {s: [it["group"] for it in web_items if add_webfaces.split_of(it["group"]) == s]
                for s in ("train", "val", "test")}
    train = json.loads((out / "train.json").read_text())
    assert [it["group"] for it in train] == ["train"] + expected["train"]
    assert [it["group"] for it in json.loads((out / "val.json").read_text())] == ["val"] + expected["val"]
    assert json.loads((out / "test.json").read_text()) == own["test"]
    assert [it["group"] for it in json.loads((out / "webfaces-test.json").read_text())] == expected["test"]
    assert meta["ignore_regions"] == len(expected["train"])
    # one ignore region per WebFaces training photo (the unlabelled face); none in val or test, none in own photos
    items = load_split(out, "train")
    assert [it.ignore.tolist() for it in items] == [[]] + [[[90, 20, 140, 80]]] * len(expected["train"])
    assert all(len(it.ignore) == 0 for s in ("val", "webfaces-test") for it in load_split(out, s))


def _node_report(per_image: dict) -> dict:
    """A `moodlens evaluate-detector --json` report's per-photo false detections ([x, y, w, h], score)."""
    return {"perImage": [{"file": f, "falseDetections": [{"box": b, "score": s} for b, s in dets]}
                         for f, dets in per_image.items()]}


def test_review_strata_keeps_the_old_verdicts_and_draws_only_new_false_detections(tmp_path):
    import json
    from moodlens_train.detector.review_strata import build, copy_verdicts, differences, main
    base = _node_report({"webfaces_a.jpg": [([10, 10, 20, 20], 0.9), ([100, 0, 30, 30], 0.7)],
                         "webfaces_b.jpg": [([0, 0, 40, 40], 0.8)]})
    new = _node_report({"webfaces_a.jpg": [([11, 10, 20, 20], 0.9), ([60, 60, 20, 20], 0.6)],
                        "webfaces_b.jpg": [([0, 0, 40, 40], 0.8), ([200, 0, 40, 40], 0.65)],
                        "webfaces_c.jpg": [([5, 5, 10, 10], 0.7)]})
    # the earlier sample (from the Python review: xyxy boxes, prepared-data paths): one is still false with
    # the new setting, one is gone (the new setting no longer makes it), one is on a photo it never had
    judged = [{"image": "images/webfaces/a.jpg", "box": [10, 10, 30, 30], "verdict": "face"},
              {"image": "images/webfaces/a.jpg", "box": [100, 0, 130, 30], "verdict": "not-face"},
              {"image": "images/webfaces/b.jpg", "box": [300, 300, 320, 320], "verdict": "face"},
              {"image": "images/webfaces/c.jpg", "box": [5, 5, 15, 15], "verdict": "not-face"}]
    doc = build(base, new, judged, n_sample=2, seed=0)
    old, fresh = doc["strata"]
    assert old["false_positives"] == 2 and fresh["false_positives"] == 3
    assert [j["verdict"] for j in old["reviewed"]] == ["face"]
    assert doc["judged_no_longer_false"] == {"face": 1, "not-face": 1}
    # one the base report did not make falls in the new stratum: no random draw of it, so it judges neither
    assert doc["judged_in_new_stratum"] == 1
    assert len(fresh["reviewed"]) == 2 and all(r["verdict"] is None for r in fresh["reviewed"])
    assert {r["image"] for r in fresh["reviewed"]} <= {"webfaces_a.jpg", "webfaces_b.jpg", "webfaces_c.jpg"}
    assert build(base, new, judged, 2, 0) == doc  # the same seed draws the same sample
    with pytest.raises(ValueError, match="more than the 3"):
        build(base, new, judged, 4, 0)
    # verdicts given once carry over to a rebuilt file; a file is its own reference
    earlier = json.loads(json.dumps(doc))
    for r, v in zip(earlier["strata"][1]["reviewed"], ["face", "not-face"]):
        r["verdict"] = v
    assert copy_verdicts(doc, earlier) == 0
    assert [r["verdict"] for r in doc["strata"][1]["reviewed"]] == ["face", "not-face"]
    assert differences(doc, earlier) == []
    other = build(base, new, judged, 1, 0)
    assert differences(other, earlier) == ["stratum 2: 1 judged, the reference 2"]
    # the command: files in, a strata file out that reviewed_precision reads; --check against itself
    for name, d in (("base.json", base), ("new.json", new), ("review.json", {"detectors": {"cnn": {"reviewed": judged}}})):
        (tmp_path / name).write_text(json.dumps(d))
    args = ["--base", str(tmp_path / "base.json"), "--new", str(tmp_path / "new.json"), "--judged",
            str(tmp_path / "review.json"), "--figures", "fig.json", "--sample", "2", "--out", str(tmp_path / "s.json")]
    assert main(args) == 0
    assert main(args[:-1] + [str(tmp_path / "t.json"), "--check", str(tmp_path / "s.json")]) == 0
    assert main(args[:-4] + ["--sample", "1", "--out", str(tmp_path / "u.json"), "--check", str(tmp_path / "s.json")]) == 1
    assert main(args[:-4] + ["--sample", "9", "--out", str(tmp_path / "u.json")]) == 2
    # an unjudged file is refused by reviewed_precision, a judged one gives a figure
    from moodlens_train.detector.reviewed_precision import main as precision_main
    (tmp_path / "fig.json").write_text(json.dumps({"figures": {"true_positives": 95, "false_positives": 5,
                                                               "recall": 0.9}}))
    with pytest.raises(ValueError, match="2 of 2 sampled detections are not judged"):
        precision_main([str(tmp_path / "s.json")])
    assert main(args + ["--verdicts", str(tmp_path / "s.json")]) == 0
    filled = json.loads((tmp_path / "s.json").read_text())
    for r in filled["strata"][1]["reviewed"]:
        r["verdict"] = "face"
    (tmp_path / "s.json").write_text(json.dumps(filled))
    assert precision_main([str(tmp_path / "s.json")]) == 0
