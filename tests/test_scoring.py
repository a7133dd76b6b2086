"""predictions.csv validation (every fault named) and metrics against hand-computed values."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from grader.i18n import translator
from grader.scoring import InvalidPredictions, Predictions, read_predictions, score

t = translator("en")
IDS = ["a1", "b2", "c3", "d4"]
CLASSES = ["cat", "dog", "fox"]


def read(tmp_path, text: str | bytes):
    path = tmp_path / "predictions.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_predictions(path, IDS, CLASSES, t)


def faults(tmp_path, text) -> str:
    with pytest.raises(InvalidPredictions) as info:
        read(tmp_path, text)
    return "; ".join(info.value.faults)


def test_indices_and_class_names_are_both_labels(tmp_path):
    pred = read(tmp_path, "id,label\na1,0\nb2,dog\nc3,2\nd4,cat\n")
    assert pred.labels.tolist() == [0, 1, 2, 0]
    assert pred.probabilities is None


def test_rows_in_any_order_are_aligned_to_the_test_ids(tmp_path):
    pred = read(tmp_path, "id,label\nd4,2\nc3,1\nb2,0\na1,1\n")
    assert pred.labels.tolist() == [1, 0, 1, 2]


def test_bom_and_crlf_are_accepted(tmp_path):
    pred = read(tmp_path, "\ufeffid,label\r\na1,0\r\nb2,1\r\nc3,2\r\nd4,0\r\n".encode("utf-8"))
    assert pred.labels.tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize("text, expected", [
    ("id,label\na1,0\nb2,1\nc3,2\n", "1 test id has no prediction ('d4')"),
    ("id,label\na1,0\nb2,1\nc3,2\nd4,0\nd4,1\n", "1 id appears more than once ('d4')"),
    ("id,label\na1,0\nb2,1\nc3,2\nd4,0\nzz,1\n", "1 row has an id that is not in the test set ('zz')"),
    ("id,label\na1,0\nb2,wolf\nc3,7\nd4,0\n", "2 rows have a label that is neither a class index 0-2 nor a class name"),
    ("id,label\na1,0\nb2,NaN\nc3,\nd4,0\n", "2 rows have an empty or NaN label (lines 3, 4)"),
    ("id,label\na1,0\nb2,1.5\nc3,2\nd4,0\n", "1 row has a label that is neither"),
    ("id,label\na1,0,9\nb2,1\nc3,2\nd4,0\n", "1 row has the wrong number of columns (line 2)"),
    ("ident,prediction\na1,0\n", "the first line must name the columns id,label"),
    ("", "the file is empty"),
    (b"id,label\na1,\xff\n", "not UTF-8 text"),
    # Sized from the test set: millions of blank lines would cost memory far beyond their bytes.
    ("id,label\na1,0\nb2,1\nc3,2\nd4,0\n" + "\n" * (1 << 20), "predictions.csv is larger than 1.0 MB"),
    ("id,label\na1,0\nb2,1\nc3,2\nd4,0\n" + "".join(f"x{i},0\n" for i in range(1100)),
     "has far more rows than the 4 test ids"),
    # Past the csv module's field limit: the notebook's fault, never a scoring failure (which would be refunded).
    ("id,label\na1,0\nb2,\"" + "x" * 200_000 + "\"\n", "not a readable CSV file (field larger than field limit"),
])
def test_each_fault_is_named(tmp_path, text, expected):
    assert expected in faults(tmp_path, text)


def test_all_faults_are_reported_at_once(tmp_path):
    message = faults(tmp_path, "id,label\na1,0\na1,1\nzz,2\nb2,wolf\n")
    for part in ("more than once", "not in the test set", "no prediction", "neither a class index"):
        assert part in message


def test_missing_file_and_symlink_are_refused_without_following(tmp_path):
    missing = tmp_path / "predictions.csv"
    with pytest.raises(InvalidPredictions, match="was not written"):
        read_predictions(missing, IDS, CLASSES, t)
    secret = tmp_path / "secret.csv"
    secret.write_text("id,label\na1,0\nb2,1\nc3,2\nd4,0\n")
    os.symlink(secret, missing)
    with pytest.raises(InvalidPredictions, match="symbolic link"):
        read_predictions(missing, IDS, CLASSES, t)


def test_probability_columns_by_name_or_index(tmp_path):
    text = "id,label,p_cat,p_dog,p_2\na1,0,0.7,0.2,0.1\nb2,1,0.1,0.8,0.1\nc3,2,0.2,0.2,0.6\nd4,0,0.5,0.5,0\n"
    pred = read(tmp_path, text)
    assert pred.probabilities.shape == (4, 3)
    assert pred.probabilities[3].tolist() == [0.5, 0.5, 0.0]


def test_bad_probabilities_are_faults(tmp_path):
    assert "p_fox is missing" in faults(tmp_path, "id,label,p_cat,p_dog\na1,0,0.5,0.5\n")
    text = "id,label,p_cat,p_dog,p_fox\na1,0,0.9,0.9,0\nb2,1,-1,2,0\nc3,2,x,0,1\nd4,0,1,0,0\n"
    assert "3 rows have probabilities that are not numbers >= 0 summing to 1 (lines 2, 3, 4)" in faults(tmp_path, text)


def test_rounded_probabilities_are_scaled_to_one_and_counted(tmp_path):
    # Written with few decimals: sums like 0.99 and 1.01, which mean 1 (a text's 65 classes at "%.4f" are
    # off by up to 0.003).
    text = "id,label,p_cat,p_dog,p_fox\na1,0,0.33,0.33,0.33\nb2,1,0.1,0.8,0.1\nc3,2,0.01,0.01,0.99\n" \
           "d4,0,1,0,0\n"
    pred = read(tmp_path, text)
    assert pred.renormalised == 2
    assert np.allclose(pred.probabilities.sum(axis=1), 1) and np.allclose(pred.probabilities[0], 1 / 3)


def test_logits_are_refused_with_the_softmax_hint(tmp_path):
    text = "id,label,p_cat,p_dog,p_fox\na1,0,2.3,-1.2,0.4\nb2,1,-0.5,3.1,0.2\nc3,2,0.1,0.2,4.0\nd4,0,1.5,0.1,-2\n"
    found = faults(tmp_path, text)
    assert "4 rows have probabilities that are not numbers >= 0 summing to 1" in found
    assert "look like scores (logits)" in found and "softmax" in found
    short = "id,label,p_cat,p_dog,p_fox\na1,0,0.5,0.3,0\nb2,1,0,1,0\nc3,2,0,0,1\nd4,0,1,0,0\n"
    found = faults(tmp_path, short)  # 0.8 is more than one decimal's rounding, and no logit: a plain fault
    assert "1 row has probabilities" in found and "softmax" not in found


def test_spanish_messages_follow_the_course_language(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("id,label\na1,0\n")
    with pytest.raises(InvalidPredictions) as info:
        read_predictions(path, IDS, CLASSES, translator("es"))
    assert "3 ids del test no tienen predicción" in info.value.faults[0]


def test_metrics_match_hand_computed_values():
    # truth: a1=cat b2=dog c3=fox d4=cat; predicted: cat, fox, fox, dog -> accuracy 2/4
    truth = {"a1": (0, "public"), "b2": (1, "public"), "c3": (2, "private"), "d4": (0, "private")}
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.4, 0.5], [0.2, 0.1, 0.7], [0.3, 0.6, 0.1]])
    pred = Predictions(IDS, np.array([0, 2, 2, 1]), probs)
    result = score(pred, truth, ("accuracy", "macro_f1", "top3", "log_loss"))
    assert result["all"]["accuracy"] == 0.5
    assert result["public"]["accuracy"] == 0.5 and result["private"]["accuracy"] == 0.5
    # per class F1: cat tp1 fn1 -> 2/3; dog tp0 -> 0; fox tp1 fp1 -> 2/3
    assert result["all"]["macro_f1"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert result["all"]["top3"] == 1.0
    expected_loss = -(math.log(0.6) + math.log(0.4) + math.log(0.7) + math.log(0.3)) / 4
    assert result["all"]["log_loss"] == pytest.approx(expected_loss)


def test_probability_metrics_are_absent_without_probabilities():
    truth = {pid: (0, "public") for pid in IDS}
    result = score(Predictions(IDS, np.zeros(4, dtype=int), None), truth, ("accuracy", "log_loss", "top3"))
    assert result["all"] == {"accuracy": 1.0, "log_loss": None, "top3": None}
    assert "private" not in result
