import json
import os
import pickle

import pytest
import torch

from src.checkpoint import (
    CheckpointError,
    load_checkpoint,
    record_metrics,
    restore_weights,
    save_checkpoint,
)
from src.models.classifier import ClassifierConfig, DigitClassifier
from src.runtime import select_device, set_seed


def tiny_classifier(width=4):
    return DigitClassifier(ClassifierConfig(hidden_channels=width))


def test_round_trip_keeps_everything(tmp_path):
    model = tiny_classifier()
    model.temperature.fill_(1.7)
    path = tmp_path / "ck" / "model.pth"
    save_checkpoint(path, "classifier", model, {"hidden_channels": 4}, {"lr": 0.1}, {"acc": 0.5})
    ck = load_checkpoint(path, "classifier")
    assert ck["format_version"] == 1 and ck["kind"] == "classifier"
    assert ck["model_config"] == {"hidden_channels": 4}
    assert ck["train_config"] == {"lr": 0.1} and ck["metrics"] == {"acc": 0.5}
    assert ck["torch_version"] == torch.__version__ and ck["created"]
    assert "git_commit" in ck
    clone = tiny_classifier()
    restore_weights(clone, ck, path)
    assert clone.temperature.item() == pytest.approx(1.7)
    x = torch.rand(3, 1, 28, 28)
    model.eval(), clone.eval()
    assert torch.equal(model(x), clone(x))


def test_recorded_metrics_replace_old_figures_and_keep_them(tmp_path):
    path = tmp_path / "model.pth"
    save_checkpoint(path, "classifier", tiny_classifier(), {}, {"lr": 0.1}, {"acc": 0.5, "n": 3})
    before = load_checkpoint(path, "classifier")
    record_metrics(path, "classifier", {"acc": 0.75})
    after = load_checkpoint(path, "classifier")
    assert after["metrics"]["acc"] == 0.75 and after["metrics"]["n"] == 3
    assert after["metrics"]["remeasured"][0]["was"] == {"acc": 0.5}
    assert after["created"] == before["created"] and after["train_config"] == {"lr": 0.1}
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())


def test_atomic_write_keeps_previous_file_when_save_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    save_checkpoint(path, "classifier", tiny_classifier(), {}, metrics={"generation": 1})

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. the user hits Ctrl-C mid-save

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, "classifier", tiny_classifier(), {}, metrics={"generation": 2})
    monkeypatch.undo()
    assert load_checkpoint(path, "classifier")["metrics"] == {"generation": 1}
    assert os.listdir(tmp_path) == ["model.pth"]  # no temp file left behind


class Payload:
    def __reduce__(self):
        return (print, ("this would run",))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"kind": "classifier", "format_version": 1, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused to load") as err:
        load_checkpoint(path, "classifier")
    assert str(path) in str(err.value)
    with open(path, "wb") as f:
        pickle.dump({"kind": "classifier"}, f)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path, "classifier")


def test_wrong_kind_names_both_kinds(tmp_path):
    path = tmp_path / "vae.pth"
    save_checkpoint(path, "vae", tiny_classifier(), {})
    with pytest.raises(CheckpointError, match="this is a 'vae' checkpoint, expected 'classifier'"):
        load_checkpoint(path, "classifier")


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "model.pth"
    save_checkpoint(path, "classifier", tiny_classifier(), {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_checkpoint(path, "classifier")
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_checkpoint(path, "classifier")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pth", "classifier")


def test_not_our_format(tmp_path):
    path = tmp_path / "sd.pth"
    torch.save(tiny_classifier().state_dict(), path)  # a bare state_dict
    with pytest.raises(CheckpointError, match="not a Digit Insight Studio checkpoint"):
        load_checkpoint(path, "classifier")


def test_shape_mismatch_is_clear(tmp_path):
    path = tmp_path / "model.pth"
    save_checkpoint(path, "classifier", tiny_classifier(4), {})
    with pytest.raises(CheckpointError, match="do not fit the model"):
        restore_weights(tiny_classifier(8), load_checkpoint(path, "classifier"), path)


def test_device_choice():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="device must be one of"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_set_seed_covers_every_rng():
    import random

    import numpy as np

    set_seed(5)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(5)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())


@pytest.mark.integration
def test_a_broken_optional_model_turns_its_feature_off(tmp_path, monkeypatch):
    """The studio still reads when the line reader, the VAE or the style VAE cannot be
    loaded; `warnings` names each, and the missing features say so plainly."""
    import shutil

    import src.studio as studio_module
    from src.restyle import RestyleError
    from src.studio import ROOT, Studio

    broken = tmp_path / "line_reader.pth"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(studio_module, "DEFAULT_LINE_READER", broken)
    monkeypatch.setattr(studio_module, "DEFAULT_STYLE_VAE", tmp_path / "absent.pth")
    half = tmp_path / "vae.pth"
    shutil.copy(ROOT / "checkpoints" / "vae.pth", half)
    half.write_bytes(half.read_bytes()[:1000])  # truncated

    studio = Studio.load(vae_path=half)
    assert studio.line_reader is None and studio.vae is None and studio.style_vae is None
    assert len(studio.warnings) == 2
    assert any("line reader" in w and "line_reader.pth" in w for w in studio.warnings)
    assert any("the VAE (variations" in w and "vae.pth" in w for w in studio.warnings)
    assert studio.read(ROOT / "assets" / "examples" / "2025.png").text == "2025"
    with pytest.raises(RestyleError, match="style model"):
        studio.restyle(ROOT / "assets" / "examples" / "2025.png", "12")


def test_mixed_precision_only_where_bfloat16_is_native(monkeypatch):
    """bfloat16 autocast when asked for and the CPU computes it natively; float32
    otherwise (an emulated bfloat16 step would be slower, not faster)."""
    from src import runtime

    layer, x = torch.nn.Linear(4, 4), torch.randn(2, 4)
    cpu = torch.device("cpu")
    with runtime.mixed_precision(cpu, False):
        assert layer(x).dtype == torch.float32
    for native in (True, False):
        monkeypatch.setattr(runtime, "fast_bfloat16", lambda device, native=native: native)
        with runtime.mixed_precision(cpu, True):
            expected = torch.bfloat16 if native else torch.float32
            assert layer(x).dtype == expected


def test_epoch_log_writes_each_epoch_and_keeps_the_best_weights(tmp_path):
    """The training scripts' bookkeeping: metrics on disk after every epoch, the best
    epoch's weights (not the last's) kept, ties going to the earlier epoch."""
    from dataclasses import dataclass

    from src.runtime import EpochLog

    @dataclass
    class Result:
        epoch: int
        score: float
        seconds: float

    log = EpochLog(tmp_path / "metrics.json", score=lambda r: r.score)
    model = torch.nn.Linear(2, 1)
    for epoch, score in enumerate([0.5, 0.9, 0.9, 0.7], start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        log(Result(epoch, score, 2.0), model)
        assert len(json.loads((tmp_path / "metrics.json").read_text())) == epoch
    assert log.best.epoch == 2
    assert torch.equal(log.best_state["weight"], torch.full((1, 2), 2.0))
    assert log.train_seconds == 8.0


def test_eval_mode_switches_only_when_needed_and_restores():
    from src.runtime import eval_mode

    model = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(3))
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert all(m.training for m in model.modules())  # the caller's mode is back
    model.eval()
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("boom")  # restored on the way out, whatever happens
    assert not model.training
