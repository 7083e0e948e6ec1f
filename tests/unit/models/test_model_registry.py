from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from driftline.models.card import ModelCard, ModelOutput
from driftline.models.errors import IntegrityError, ModelNotFound, RegistrationError
from driftline.models.registry import Registry
from driftline.models.runtime import OnnxModel, columns_from_rows, sha256_file
from driftline.models.synthetic import SyntheticStream

# The shapes of the conftest fixtures (test modules do not import conftest: its name is not unique).
DemoArtifact = tuple[Path, ModelCard]
TinyModelFactory = Callable[..., Path]


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry")


def entries(registry: Registry, name: str) -> list[str]:
    """Everything in the model's folder, hidden staging folders included."""
    folder = registry.root / name
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def with_feature(card: ModelCard, feature: str, **changes: object) -> ModelCard:
    features = tuple(replace(spec, **changes) if spec.name == feature else spec  # type: ignore[arg-type]
                     for spec in card.features)
    return replace(card, features=features)


def test_round_trip(registry: Registry, demo_artifact: DemoArtifact) -> None:
    artifact, card = demo_artifact
    registered = registry.register(artifact, card, reference={"features": {"amount": [1, 2, 3]}})

    assert (registered.version, registered.sha256) == (1, sha256_file(artifact))
    assert registered.created_at is not None and registered.created_at.endswith("+00:00")
    assert entries(registry, "card-fraud") == ["1", "stages.json"]
    assert sorted(p.name for p in (registry.root / "card-fraud" / "1").iterdir()) == [
        "card.json", "model.onnx", "reference.json"]
    assert (registry.root / "card-fraud" / "1" / "model.onnx").read_bytes() == artifact.read_bytes()
    assert json.loads((registry.root / "card-fraud" / "stages.json").read_text()) == {"champion": 1}
    assert registry.list_models() == [{"name": "card-fraud", "versions": [1], "champion": 1,
                                       "stages": {"champion": 1}}]
    assert registry.card("card-fraud") == registry.card("card-fraud", 1) == registered
    assert registry.card("card-fraud").metrics == card.metrics
    assert registry.reference("card-fraud") == {"features": {"amount": [1, 2, 3]}}

    loaded = registry.load("card-fraud")
    columns = columns_from_rows(loaded.card, SyntheticStream(seed=31).rows(200))
    direct = OnnxModel.load(artifact, card, expected_sha256=None)
    assert np.array_equal(loaded.predict(columns).scores, direct.predict(columns).scores)


def test_versions_increment_and_stages_move(registry: Registry, tiny_model: TinyModelFactory,
                                            tiny_card: ModelCard) -> None:
    artifact = tiny_model()
    assert [registry.register(artifact, tiny_card).version for _ in range(3)] == [1, 2, 3]
    assert registry.versions("tiny") == [1, 2, 3]
    assert registry.champion("tiny") == 1  # "auto" promotes only the first version
    assert registry.promote("tiny", 3) == 1
    assert registry.champion("tiny") == 3 and registry.card("tiny").version == 3
    assert registry.register(artifact, tiny_card, stage="champion").version == 4
    assert registry.champion("tiny") == 4
    assert registry.register(artifact, tiny_card, stage=None).version == 5
    assert registry.list_models() == [{"name": "tiny", "versions": [1, 2, 3, 4, 5], "champion": 4,
                                       "stages": {"champion": 4, "history": [1, 3]}}]


def test_a_model_registered_without_stage_has_no_champion(registry: Registry, tiny_model: TinyModelFactory,
                                                           tiny_card: ModelCard) -> None:
    registry.register(tiny_model(), tiny_card, stage=None)
    with pytest.raises(ModelNotFound, match="no champion"):
        registry.card("tiny")
    assert registry.card("tiny", 1).version == 1
    assert registry.list_models() == [{"name": "tiny", "versions": [1], "champion": None,
                                       "stages": {"champion": None}}]


def test_promote_keeps_stage_keys_it_does_not_know(registry: Registry, tiny_model: TinyModelFactory,
                                                   tiny_card: ModelCard) -> None:
    registry.register(tiny_model(), tiny_card)
    registry.register(tiny_model(), tiny_card)
    stages_file = registry.root / "tiny" / "stages.json"
    stages_file.write_text(json.dumps({"champion": 1, "archived": [7], "owner": "team-risk"}))
    registry.promote("tiny", 2)
    assert registry.stages("tiny") == {"champion": 2, "history": [1], "archived": [7], "owner": "team-risk"}
    with pytest.raises(ModelNotFound):
        registry.promote("tiny", 7)


def test_unknown_models_and_versions_are_not_found(registry: Registry, tiny_model: TinyModelFactory,
                                                   tiny_card: ModelCard) -> None:
    assert registry.list_models() == []
    with pytest.raises(ModelNotFound, match="not registered"):
        registry.champion("tiny")
    registry.register(tiny_model(), tiny_card)
    with pytest.raises(ModelNotFound, match="no version 2") as caught:
        registry.card("tiny", 2)
    assert (caught.value.model, caught.value.version) == ("tiny", 2)
    with pytest.raises(ModelNotFound):
        registry.load("../tiny")


def test_a_tampered_artifact_is_refused(registry: Registry, demo_artifact: DemoArtifact,
                                        tmp_path: Path) -> None:
    artifact, card = demo_artifact
    tampered = tmp_path / "model.onnx"
    data = bytearray(artifact.read_bytes())
    data[: len(data) // 2] = b"\xff" * (len(data) // 2)  # no longer parses as a protobuf
    tampered.write_bytes(bytes(data))

    with pytest.raises(RegistrationError, match="does not load in ONNX Runtime") as caught:
        registry.register(tampered, replace(card, sha256=None))
    assert caught.value.model == "card-fraud"
    with pytest.raises(RegistrationError, match="sha256") as caught:
        registry.register(tampered, card)  # the card still carries the trained artifact's digest
    assert caught.value.field == "sha256"
    assert entries(registry, "card-fraud") == []


@pytest.mark.parametrize(("feature", "changes", "field"), [
    ("amount", {"name": "amount_eur"}, "amount_eur"),
    ("txn_count_24h", {"type": "categorical", "categories": ("low", "high")}, "txn_count_24h"),
    ("channel", {"type": "numeric", "categories": (), "min": 0.0, "max": 4.0}, "channel"),
])
def test_inputs_that_mismatch_the_card_are_refused(registry: Registry, demo_artifact: DemoArtifact,
                                                   feature: str, changes: dict[str, object],
                                                   field: str) -> None:
    artifact, card = demo_artifact
    with pytest.raises(RegistrationError, match="disagrees with its card") as caught:
        registry.register(artifact, with_feature(card, feature, **changes))
    assert (caught.value.field, caught.value.model) == (field, "card-fraud")
    assert field in str(caught.value)
    assert entries(registry, "card-fraud") == []


def test_a_card_missing_a_feature_is_refused(registry: Registry, demo_artifact: DemoArtifact) -> None:
    artifact, card = demo_artifact
    partial = replace(card, features=tuple(s for s in card.features if s.name != "merchant_region"))
    with pytest.raises(RegistrationError, match="does not declare") as caught:
        registry.register(artifact, partial)
    assert caught.value.field == "merchant_region"


def test_missing_declared_outputs_are_refused(registry: Registry, demo_artifact: DemoArtifact) -> None:
    artifact, card = demo_artifact
    with pytest.raises(RegistrationError, match="'predicted_label'") as caught:
        registry.register(artifact, replace(card, output=ModelOutput(label_output="predicted_label")))
    assert caught.value.field == "output.label_output"


def test_scores_outside_the_unit_interval_are_refused(registry: Registry, tiny_model: TinyModelFactory,
                                                      tiny_card: ModelCard) -> None:
    with pytest.raises(RegistrationError, match=r"outside \[0, 1\]"):
        registry.register(tiny_model(scale=3.0), tiny_card)
    assert entries(registry, "tiny") == []


def test_non_finite_scores_are_refused(registry: Registry, tiny_model: TinyModelFactory,
                                       tiny_card: ModelCard) -> None:
    nullable = with_feature(tiny_card, "x", nullable=True)  # the graph does not impute: NaN in, NaN out
    with pytest.raises(RegistrationError, match="not finite"):
        registry.register(tiny_model(), nullable)


def test_a_failing_test_inference_is_refused(registry: Registry, tiny_model: TinyModelFactory,
                                             tiny_card: ModelCard) -> None:
    with pytest.raises(RegistrationError, match="test inference"):
        registry.register(tiny_model(fixed_batch=True), tiny_card)


def test_bad_names_and_references_are_refused(registry: Registry, tiny_model: TinyModelFactory,
                                              tiny_card: ModelCard, tmp_path: Path) -> None:
    with pytest.raises(RegistrationError) as caught:
        registry.register(tiny_model(), replace(tiny_card, name="../escape"))
    assert caught.value.field == "name"
    not_json = tmp_path / "reference.json"
    not_json.write_text("{not json")
    with pytest.raises(RegistrationError) as caught:
        registry.register(tiny_model(), tiny_card, reference=not_json)
    assert caught.value.field == "reference"
    with pytest.raises(RegistrationError):
        registry.register(tmp_path / "absent.onnx", tiny_card)
    assert entries(registry, "tiny") == []


def test_load_detects_a_modified_artifact(registry: Registry, demo_artifact: DemoArtifact) -> None:
    registered = registry.register(*demo_artifact)
    stored = registry.root / "card-fraud" / "1" / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"\x00")
    with pytest.raises(IntegrityError) as caught:
        registry.load("card-fraud")
    assert (caught.value.model, caught.value.version) == ("card-fraud", 1)
    assert registered.sha256 is not None and registered.sha256 in str(caught.value)
    assert sha256_file(stored) in str(caught.value)
    stored.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        registry.load("card-fraud", 1)


def test_concurrent_registrations_get_distinct_versions(registry: Registry, tiny_model: TinyModelFactory,
                                                        tiny_card: ModelCard) -> None:
    artifact = tiny_model()
    with ThreadPoolExecutor(max_workers=4) as pool:
        cards = list(pool.map(lambda _: registry.register(artifact, tiny_card, stage=None), range(8)))
    versions = sorted(card.version or 0 for card in cards)
    assert versions == list(range(1, 9))
    assert entries(registry, "tiny") == sorted(str(v) for v in range(1, 9))


def test_the_registered_copy_is_independent_of_the_source(registry: Registry, tiny_model: TinyModelFactory,
                                                          tiny_card: ModelCard, tmp_path: Path) -> None:
    source = tmp_path / "outside.onnx"
    shutil.copyfile(tiny_model(), source)
    registry.register(source, tiny_card)
    source.write_bytes(b"overwritten after registration")
    registry.load("tiny")  # still verifies: the registry holds its own copy
