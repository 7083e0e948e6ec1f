"""Every user mistake the command line meets ends in one line that names the field and the fix,
exit code 2 (3 for a broker that does not answer), and no traceback.

Table-driven: each case changes a good card, a good reference sample or the arguments of a good
``models register`` in one way and says what the one line must contain. The artifact is the demo
model's real ONNX graph.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME, train_demo_model
from driftline.models.registry import Registry
from driftline.models.synthetic import SyntheticStream
from tests.command import DRIFTLINE

Card = dict[str, Any]
Rows = list[dict[str, Any]]
#: A port nothing listens on (the discard service is not run here): connections are refused.
UNREACHABLE = "127.0.0.1:9"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRIFTLINE, *args], capture_output=True, text=True, timeout=180, check=False)


def problem_lines(stderr: str) -> list[str]:
    """What the command said about the problem (progress lines at INFO may precede it)."""
    return [line for line in stderr.splitlines() if line.strip() and " INFO " not in line]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo graph, its card (as a user would write it: no sha256) and a valid reference sample."""
    folder = tmp_path_factory.mktemp("artifact")
    _, card = train_demo_model(folder, n_train=2000)
    document = card.to_dict()
    document.pop("sha256")
    (folder / "card.json").write_bytes(orjson.dumps(document))
    rows, labels = SyntheticStream(seed=3).sample(400)
    write_sample(folder / "reference.jsonl", [{"features": r, "label": int(y)}
                                              for r, y in zip(rows, labels, strict=True)])
    return folder


def write_sample(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    return path


def feature(card: Card, name: str) -> dict[str, Any]:
    return next(f for f in card["features"] if f["name"] == name)


def changed(change: Callable[[Card], object]) -> Callable[[Card], Card]:
    """A card edit, made on a copy of the good card (what ``change`` returns is ignored)."""
    def edit(card: Card) -> Card:
        card = copy.deepcopy(card)
        change(card)
        return card
    return edit


@dataclass(frozen=True)
class CardMistake:
    card: Callable[[Card], Any]
    field: str
    says: tuple[str, ...]


def setting(which: str, **changes: Any) -> Callable[[Card], Card]:
    """The good card with ``changes`` made to feature ``which``."""
    return changed(lambda c: feature(c, which).update(changes))


CARD_MISTAKES = {
    "min is a word": CardMistake(
        setting("amount", min="zero"), "amount.min",
        ("feature 'amount': min must be a finite number or null, not 'zero'",)),
    "nullable is a string": CardMistake(
        setting("amount", nullable="false"), "amount.nullable",
        ("must be true or false (a JSON boolean)", "'false'")),
    "type is not a known one": CardMistake(
        setting("amount", type="number"), "amount.type",
        ('type must be "numeric" or "categorical"', "'number'")),
    "type is missing": CardMistake(
        changed(lambda c: feature(c, "amount").pop("type")), "amount.type",
        ('type must be "numeric" or "categorical", missing',)),
    "categories are not a list": CardMistake(
        setting("channel", categories="pos"), "channel.categories", ("a non-empty list of strings", "'pos'")),
    "a category is not a string": CardMistake(
        changed(lambda c: feature(c, "channel")["categories"].append(7)), "channel.categories",
        ("a non-empty list of strings",)),
    "unseen policy misspelt": CardMistake(
        setting("channel", unseen="strictly"), "channel.unseen",
        ('unseen must be "other" or "strict"', "'strictly'")),
    "a feature is not an object": CardMistake(
        changed(lambda c: c["features"].__setitem__(0, "amount")), "features",
        ("a feature must be an object like", "'amount'")),
    "a feature key is misspelt": CardMistake(
        setting("amount", nulable=True), "amount.nulable",
        ("unknown key 'nulable'", "allowed: max, min, name")),
    "a range key on a categorical": CardMistake(
        setting("channel", min=0), "channel.min", ("unknown key 'min' for a categorical feature",)),
    "min above max": CardMistake(
        setting("amount", min=10, max=5), "amount.min", ("min (10) must not be above max (5)",)),
    "features is not a list": CardMistake(
        changed(lambda c: c.update(features={"amount": "numeric"})), "features",
        ("features must be a non-empty list",)),
    "the card is a list": CardMistake(
        lambda c: [c], "card", ("a model card must be a JSON object", "not list")),
    "metrics are not numbers": CardMistake(
        changed(lambda c: c.update(metrics={"auc": "high"})), "metrics",
        ("metrics must be an object of numbers",)),
    "a fallback out of range": CardMistake(
        changed(lambda c: c.update(fallback={"score": 3})), "fallback.score",
        ("fallback score must be a number in [0, 1]",)),
    # The graph's side: before the reference is scored, so not an ONNX Runtime error on the sample.
    "a feature name the graph lacks": CardMistake(
        setting("amount", name="amount_eur"), "amount_eur",
        ("CardMismatch", "feature 'amount_eur' is not an input of the graph")),
    "a categorical declared numeric": CardMistake(
        changed(lambda c: as_numeric(feature(c, "channel"))), "channel",
        ("CardMismatch", "'channel' is numeric in the card", "tensor(string)")),
}


def as_numeric(spec: dict[str, Any]) -> None:
    """Declare a categorical feature numeric, as a user who took its codes for numbers would."""
    del spec["categories"], spec["unseen"]
    spec.update(type="numeric", min=0, max=4)


@pytest.mark.parametrize("case", CARD_MISTAKES.values(), ids=CARD_MISTAKES.keys())
def test_a_card_mistake_is_one_line_naming_the_field_and_exit_2(artifact: Path, tmp_path: Path,
                                                                 case: CardMistake) -> None:
    card = tmp_path / "card.json"
    card.write_bytes(orjson.dumps(case.card(orjson.loads((artifact / "card.json").read_bytes()))))
    result = run("models", "register", str(artifact / "model.onnx"), "--name", "fraud", "--card", str(card),
                 "--reference", str(artifact / "reference.jsonl"), "--registry", str(tmp_path / "registry"))
    assert_one_line(result, 2, f"(field {case.field})", *case.says)
    assert Registry(tmp_path / "registry").list_models() == []


@pytest.mark.parametrize(("content", "says"), [
    (b'{"name": "fraud", "features": [', ("is not valid JSON",)),
    (b"\xff\xfe", ("is not valid JSON",)),
])
def test_a_card_file_that_is_not_json_is_named(artifact: Path, tmp_path: Path, content: bytes,
                                               says: tuple[str, ...]) -> None:
    card = tmp_path / "card.json"
    card.write_bytes(content)
    result = run("models", "register", str(artifact / "model.onnx"), "--name", "fraud", "--card", str(card),
                 "--registry", str(tmp_path / "registry"))
    assert_one_line(result, 2, "(field card)", str(card), *says)


def test_a_missing_card_says_how_to_give_one(artifact: Path, tmp_path: Path) -> None:
    result = run("models", "register", str(artifact / "model.onnx"), "--name", "fraud", "--card",
                 str(tmp_path / "absent.json"), "--registry", str(tmp_path / "registry"))
    assert_one_line(result, 2, "(field card)", "no model card at", "pass --card")


def good_rows(artifact: Path) -> Rows:
    return [orjson.loads(line) for line in (artifact / "reference.jsonl").read_bytes().splitlines()]


def renamed(old: str, new: str) -> Callable[[Rows], Rows]:
    return lambda rows: [{**r, "features": {(new if k == old else k): v for k, v in r["features"].items()}}
                         for r in rows]


def spoiled(every: int, name: str, value: object) -> Callable[[Rows], Rows]:
    return lambda rows: [{**r, "features": {**r["features"], name: value}} if i % every == 3 else r
                         for i, r in enumerate(rows)]


REFERENCE_MISTAKES: dict[str, tuple[Callable[[Rows], list[Any]], tuple[str, ...]]] = {
    "a misspelt key": (renamed("amount", "amount_eur"),
                       ("feature 'amount' of the card is in none of the 400 reference rows",
                        "did you mean 'amount_eur'?")),
    "a misspelt nullable key": (renamed("device_trust_score", "device_trust"),
                                ("'device_trust_score' of the card is in none",
                                 "did you mean 'device_trust'?")),
    "values out of range": (spoiled(40, "amount", -5.0),
                            ("10 of 400 reference rows do not fit the card (out_of_range 10)",
                             "first: line 4: feature 'amount' = -5.0 is outside [0.0, 100000.0]",
                             "--reference-rejects skip")),
    "an unknown category on a strict feature": (spoiled(400, "card_type", "gold"),
                                                ("(unknown_category 1)", "line 4", "'gold'")),
    "a number given as a string": (spoiled(200, "hour_of_day", "8"), ("(wrong_type 2)",)),
    "too few rows": (lambda rows: rows[:40], ("40 valid rows, fewer than the 100 a drift profile needs",)),
    "a line that is not JSON": (lambda rows: [*rows[:5], "not json"], ("reference.jsonl:6: not JSON",)),
    "a line that is not an object": (lambda rows: [*rows[:5], [1, 2]], ("reference.jsonl:6:",
                                                                       "must be a JSON object of features")),
}


@pytest.mark.parametrize("case", REFERENCE_MISTAKES.values(), ids=REFERENCE_MISTAKES.keys())
def test_a_reference_that_does_not_fit_the_card_is_refused(
        artifact: Path, tmp_path: Path, case: tuple[Callable[[Rows], list[Any]], tuple[str, ...]]) -> None:
    spoil, says = case
    sample = tmp_path / "reference.jsonl"
    if says[0].startswith("reference.jsonl"):  # lines that are not JSON are written as they are
        sample.write_bytes(b"\n".join(line.encode() if isinstance(line, str) else orjson.dumps(line)
                                      for line in spoil(good_rows(artifact))))
    else:
        write_sample(sample, spoil(good_rows(artifact)))
    result = run("models", "register", str(artifact), "--name", "fraud", "--reference", str(sample),
                 "--registry", str(tmp_path / "registry"))
    assert_one_line(result, 2, "ReferenceSampleError", "(field reference)", *says)
    assert Registry(tmp_path / "registry").list_models() == []


def test_skipping_rejected_reference_rows_registers_the_rest_and_says_what_was_skipped(
        artifact: Path, tmp_path: Path) -> None:
    sample = write_sample(tmp_path / "reference.jsonl", spoiled(40, "amount", -5.0)(good_rows(artifact)))
    registry = tmp_path / "registry"
    result = run("models", "register", str(artifact), "--name", "fraud", "--reference", str(sample),
                 "--reference-rejects", "skip", "--registry", str(registry))
    assert result.returncode == 0, result.stderr
    assert "skipped 10 of 400 reference rows do not fit the card (out_of_range 10)" in result.stderr
    profile = Registry(registry).reference("fraud", 1)
    assert profile is not None and sum(profile["labels"].values()) == 390


def test_register_says_which_version_is_champion_and_how_to_promote(artifact: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    first = run("models", "register", str(artifact), "--name", "fraud", "--registry", str(registry))
    assert first.returncode == 0, first.stderr
    assert (f"fraud v1 is the champion (the model had none); workers started from now on serve it, running "
            f"ones once told: driftline models promote fraud 1 --registry {registry}") in first.stderr
    second = run("models", "register", str(artifact), "--name", "fraud", "--registry", str(registry))
    assert second.returncode == 0, second.stderr
    assert (f"fraud v2 registered; the champion is still v1; to serve v2: driftline models promote fraud 2 "
            f"--registry {registry}") in second.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("--log-level", "LOUD", "settings"), ("log_level", "'LOUD' is not one of debug, info, warning")),
    (("models", "register", "model.onnx", "--name", "fraud", "--reference-rejects", "some"),
     ("--reference-rejects", "invalid choice: 'some'", "choose from 'refuse', 'skip'")),
])
def test_a_bad_argument_is_one_line_and_exit_2(args: tuple[str, ...], says: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert all(fragment in result.stderr for fragment in says), result.stderr


@pytest.mark.parametrize("command", [("tail", "predictions"), ("produce", "--count", "1"), ("topics",)])
def test_an_unreachable_broker_is_one_line_and_exit_3(command: tuple[str, ...]) -> None:
    result = run(*command, "--broker", UNREACHABLE)
    assert_one_line(result, 3, f"cannot reach Kafka at {UNREACHABLE}", "check the setting broker")


def test_promote_against_an_unreachable_broker_leaves_the_registry_alone(
        demo_registry: Path, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    demo = Registry(demo_registry)
    for _ in range(2):  # the demo model's v1 twice: v1 champion, v2 registered
        registry.register(demo_registry / DEMO_MODEL_NAME / "1" / "model.onnx", demo.card(DEMO_MODEL_NAME, 1))
    result = run("models", "promote", DEMO_MODEL_NAME, "2", "--broker", UNREACHABLE, "--registry",
                 str(registry.root))
    assert_one_line(result, 3, f"cannot reach Kafka at {UNREACHABLE}")
    assert registry.champion(DEMO_MODEL_NAME) == 1  # refused before the registry changed


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr, result.stderr
    lines = problem_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, result.stderr
    missing = [fragment for fragment in fragments if fragment not in lines[0]]
    assert not missing, f"{missing} not in {lines[0]!r}"
