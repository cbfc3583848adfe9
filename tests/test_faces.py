import logging

import numpy as np
import pytest

from core.faces import LANDMARK_GROUPS, FaceDetector, align_arcface, align_gfiqa, region_mask, transform_points
from core.faces.align import ARCFACE_112, gfiqa_matrix, invert_affine, umeyama_similarity
from core.faces.dlib_backend import embedding, models_dir


def test_dlib_models_found_without_pkg_resources():
    d = models_dir()
    assert (d / "shape_predictor_68_face_landmarks.dat").is_file()
    assert (d / "dlib_face_recognition_resnet_model_v1.dat").is_file()


def test_one_face_with_68_landmarks(astronaut, astronaut_face):
    f = astronaut_face
    assert f.landmarks.shape == (68, 2) and f.backend == "dlib-hog+dlib"
    x1, y1, x2, y2 = f.box
    assert 0 <= x1 < x2 <= astronaut.shape[1] and 0 <= y1 < y2 <= astronaut.shape[0]
    inside = (f.landmarks[:, 0] > x1 - 20) & (f.landmarks[:, 0] < x2 + 20)
    assert inside.mean() > 0.95
    le, re = f.eye_centres
    assert le[0] < re[0]  # image-left eye is the subject's right eye (iBUG 36-41)
    assert set(LANDMARK_GROUPS) == {"jaw", "right_brow", "left_brow", "nose", "right_eye", "left_eye", "mouth"}
    assert sum(len(v) for v in LANDMARK_GROUPS.values()) == 68


def test_no_face_and_many_faces(astronaut):
    from conftest import SAMPLES

    from core.io import load_image

    assert FaceDetector().detect(load_image(SAMPLES / "no_face_coffee.jpg")) == []
    assert FaceDetector().detect(np.zeros((300, 400, 3), np.uint8)) == []
    grid = np.concatenate([np.concatenate([astronaut, astronaut], 1)] * 2, 0)  # 4 faces, 720x640
    faces = FaceDetector().detect(grid)
    assert len(faces) == 4
    centres = sorted(((f.box[0] + f.box[2]) // 2 // 360, (f.box[1] + f.box[3]) // 2 // 320) for f in faces)
    assert len(set(centres)) == 4  # one per quadrant
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)


def test_large_image_detected_on_downscaled_copy(astronaut):
    import cv2

    big = cv2.resize(astronaut, (1440, 1280), interpolation=cv2.INTER_CUBIC)
    faces = FaceDetector(max_side=720).detect(big)
    ref = FaceDetector().detect(astronaut)[0]
    assert len(faces) == 1
    np.testing.assert_allclose(np.array(faces[0].box) / 4, ref.box, atol=12)
    # landmarks are fitted at full resolution: same face, 4x the coordinates
    assert np.median(np.abs(faces[0].landmarks / 4 - ref.landmarks)) < 3


def test_gfiqa_alignment_geometry(astronaut, astronaut_face):
    a = align_gfiqa(astronaut, astronaut_face, 512)
    assert a.image.shape == (512, 512, 3) and a.image.dtype == np.uint8
    le = a.landmarks[36:42].mean(0)
    re = a.landmarks[42:48].mean(0)
    np.testing.assert_allclose(le, [192, 256], atol=0.5)  # 4x eye distance => eyes at 3/8, 5/8
    np.testing.assert_allclose(re, [320, 256], atol=0.5)
    # rotated input: the eyes still end up level and in place
    import cv2

    m = cv2.getRotationMatrix2D((180, 160), 25, 1.0)
    rot = cv2.warpAffine(astronaut, m, (360, 320))
    face = astronaut_face
    from dataclasses import replace

    rface = replace(face, landmarks=transform_points(face.landmarks, m))
    b = align_gfiqa(rot, rface, 512)
    np.testing.assert_allclose(b.landmarks[36:42].mean(0), [192, 256], atol=0.5)
    np.testing.assert_allclose(b.landmarks[42:48].mean(0), [320, 256], atol=0.5)
    # content agrees with the unrotated alignment (same face pixels)
    diff = np.abs(a.image[150:400, 150:400].astype(int) - b.image[150:400, 150:400].astype(int)).mean()
    assert diff < 12


def test_gfiqa_matrix_scale_and_inverse():
    m = gfiqa_matrix(np.array([100.0, 200.0]), np.array([160.0, 200.0]), 512)
    assert np.isclose(np.sqrt(abs(np.linalg.det(m[:, :2]))), 512 / (4 * 60))
    pts = np.array([[100.0, 200.0], [160.0, 200.0]])
    back = transform_points(transform_points(pts, m), invert_affine(m))
    np.testing.assert_allclose(back, pts, atol=1e-3)
    with pytest.raises(ValueError, match="coincide"):
        gfiqa_matrix(np.zeros(2), np.zeros(2))


def test_arcface_alignment(astronaut, astronaut_face):
    a = align_arcface(astronaut, astronaut_face)
    assert a.image.shape == (112, 112, 3)
    five = transform_points(astronaut_face.five_points(), a.matrix)
    assert np.abs(five - ARCFACE_112).max() < 6  # similarity fit to the template
    le, re = five[0], five[1]
    assert abs(le[1] - re[1]) < 3


def test_umeyama_recovers_similarity():
    rng = np.random.default_rng(0)
    src = rng.random((5, 2)) * 100
    ang, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = s * src @ r.T + t
    m = umeyama_similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_region_masks(astronaut, astronaut_face):
    a = align_gfiqa(astronaut, astronaut_face, 512)
    eyes = region_mask(a.landmarks, (512, 512), ("eyes",))
    face = region_mask(a.landmarks, (512, 512), ("face",))
    assert eyes.shape == (512, 512) and set(np.unique(eyes)) <= {0.0, 1.0}
    assert 0 < eyes.sum() < face.sum()
    assert eyes[256, 192] == 1.0 and eyes[256, 256] == 0.0  # eye centre in, nose bridge out
    assert (eyes <= face).all()
    with pytest.raises(KeyError, match="unknown region"):
        region_mask(a.landmarks, (512, 512), ("ears",))


def test_embeddings_same_person_closer(astronaut, astronaut_face):
    import cv2

    e1 = embedding(astronaut, astronaut_face.box, astronaut_face.landmarks)
    assert e1.shape == (128,)
    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    f2 = FaceDetector().detect(flipped)[0]
    e2 = embedding(flipped, f2.box, f2.landmarks)
    assert np.linalg.norm(e1 - e2) < 0.6  # dlib's same-person threshold
    small = cv2.resize(astronaut, (270, 240))
    f3 = FaceDetector().detect(small)[0]
    assert np.linalg.norm(e1 - embedding(small, f3.box, f3.landmarks)) < 0.6


def test_fan_falls_back_to_dlib_with_warning(tmp_path, monkeypatch, caplog, astronaut):
    from core.faces import fan_backend

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache: FAN weights absent
    fan_backend.load_fan.cache_clear()
    with caplog.at_level(logging.WARNING):
        det = FaceDetector(landmarker="fan")
    assert det.landmark_backend == "dlib"
    assert any("fan" in r.message and "using dlib" in r.message for r in caplog.records)
    assert len(det.detect(astronaut)) == 1
    fan_backend.load_fan.cache_clear()


def test_fan_used_when_available(monkeypatch, astronaut):
    from core.faces import fan_backend

    calls = []

    def fake_fan(image, box):
        calls.append(box)
        x1, y1, x2, y2 = box
        return np.tile(np.array([[(x1 + x2) / 2, (y1 + y2) / 2]], np.float32), (68, 1))

    monkeypatch.setattr(fan_backend, "load_fan", lambda device=None: fake_fan)
    det = FaceDetector(landmarker="fan")
    faces = det.detect(astronaut)
    assert det.landmark_backend == "fan" and faces[0].backend == "dlib-hog+fan"
    assert len(calls) == 1 and faces[0].landmarks.shape == (68, 2)


def test_bad_config():
    with pytest.raises(ValueError, match="detector"):
        FaceDetector(detector="yolo")
    with pytest.raises(ValueError, match="landmarker"):
        FaceDetector(landmarker="x")
