"""A model registered after a worker started is served once promoted; the CLI's mistakes against a
real broker are one line."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import orjson

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.synthetic import SyntheticStream
from driftline.streams.topics import ensure_topics
from tests.command import DRIFTLINE
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    isolated_settings,
    send_all,
    worker_environment,
)
from tests.integration.test_model_rollout import wait_for_log

NEW_MODEL = "iris"


def events(prefix: str, n: int, model: str | None) -> list[tuple[bytes, bytes]]:
    rows = SyntheticStream(seed=5).rows(n)
    return [(f"{prefix}-{i}".encode(), orjson.dumps({"id": f"{prefix}-{i}", "features": row}
                                                    | ({"model": model} if model else {})))
            for i, row in enumerate(rows)]


def new_model_files(demo_registry: Path, folder: Path) -> Path:
    """The demo graph and card as a user would hand them in for a new model, with a reference."""
    folder.mkdir()
    shutil.copyfile(demo_registry / DEMO_MODEL_NAME / "1" / "model.onnx", folder / "model.onnx")
    shutil.copyfile(demo_registry / DEMO_MODEL_NAME / "1" / "card.json", folder / "card.json")
    rows, labels = SyntheticStream(seed=9).sample(500)
    (folder / "reference.jsonl").write_bytes(b"\n".join(
        orjson.dumps({"features": r, "label": int(y)}) for r, y in zip(rows, labels, strict=True)))
    return folder


async def test_a_model_registered_after_start_is_served_once_promoted(
        kafka_bootstrap: str, topic_prefix: str, demo_registry: Path, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    shutil.copytree(demo_registry, root)
    settings = isolated_settings(kafka_bootstrap, topic_prefix, root)  # models: every one with a champion
    await ensure_topics(settings)
    env = worker_environment(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with TopicReader(settings.broker, (settings.topic_predictions,)) as out:
            await send_all(settings.broker, settings.topic_events, events("first", 200, None))
            await out.read_until(lambda r: r.count() >= 200, timeout=120, alive=worker.assert_alive)

            files = new_model_files(demo_registry, tmp_path / "new")
            register = ["models", "register", str(files), "--name", NEW_MODEL,
                        "--reference", str(files / "reference.jsonl"), "--registry", str(root)]
            registered = subprocess.run([*DRIFTLINE, *register], capture_output=True, text=True, timeout=180,
                                        env=env, check=False)
            assert registered.returncode == 0, registered.stderr
            # The command register prints is the one that makes running workers serve the model.
            told = registered.stderr.split("running ones once told: ", 1)[1].splitlines()[0]
            assert told == f"driftline models promote {NEW_MODEL} 1 --registry {root}"
            promoted = subprocess.run([*DRIFTLINE, *shlex.split(told)[1:]], capture_output=True, text=True,
                                      timeout=120, env=env, check=False)
            assert promoted.returncode == 0, promoted.stderr
            serving = f"now serving {NEW_MODEL} v1 (a model this worker did not serve before)"
            await wait_for_log(worker, serving, timeout=60)

            await send_all(settings.broker, settings.topic_events, events("new", 300, NEW_MODEL))
            await send_all(settings.broker, settings.topic_events, events("old", 100, None))
            await out.read_until(lambda r: r.count() >= 600, timeout=120, alive=worker.assert_alive)
    finally:
        worker.stop()
    models = {(str(v["id"]).split("-")[0], v["model"]) for _, v in out.records[settings.topic_predictions]}
    # Events naming the new model are scored by it; events naming none still go to the default model.
    assert models == {("first", DEMO_MODEL_NAME), ("new", NEW_MODEL), ("old", DEMO_MODEL_NAME)}
    assert "is not served here" not in worker.log_path.read_text(errors="replace")


def test_tail_of_an_unknown_topic_is_one_line_and_exit_2(kafka_bootstrap: str, topic_prefix: str) -> None:
    result = subprocess.run([*DRIFTLINE, "tail", f"{topic_prefix}-nosuchtopic", "--broker", kafka_bootstrap],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"no topic '{topic_prefix}-nosuchtopic' at {kafka_bootstrap}" in lines[0]
