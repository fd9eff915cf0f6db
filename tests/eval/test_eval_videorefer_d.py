"""VideoRefer-Bench-D evaluator and the LLM judge: inference with the tiny model on the released layout, then scoring
through a fake OpenAI-compatible server (a local http.server thread) that checks each request and returns canned
scores; retries, the JSONL cache (resume, re-judging a changed prediction), and the errors."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from tests.data import video_fixtures as vf
from tests.eval.region_qa_helpers import Recording, add_bench_d_rows, tokens_per_frame, write_predictions
from unipixel.data.templates import VIDEOREFER_BENCH_D_PROMPT
from unipixel.eval.benchmarks.videorefer_bench_d import VideoReferBenchDEvaluator
from unipixel.eval.judge import SYSTEM_PROMPT, JudgeError, load_judgments
from unipixel.eval.metrics import JUDGE_DIMENSIONS
from unipixel.eval.runner import load_predictions, run_predictions, score_predictions
from unipixel.inference import Predictor

# canned replies in three formats the parser must read; per-dimension means: SC 11/3, AD 3, TD 2, HD 4
REPLIES = {
    "pred zero": "Subject Correspondence: 4\nAppearance Description: 3\nTemporal Description: 2\n"
    "Hallucination Detection: 5",
    "pred one": "**Subject Correspondence**: 2\n**Appearance Description**: 2\n**Temporal Description**: 1\n"
    "**Hallucination Detection**: 3",
    "pred two": '{"Subject Correspondence": 5, "Appearance Description": 4, "Temporal Description": 3, '
    '"Hallucination Detection": 4}',
    "pred new": "Subject Correspondence: 0\nAppearance Description: 0\nTemporal Description: 0\n"
    "Hallucination Detection: 0",
}
EXPECTED = {
    "Subject Correspondence": 11 / 3,
    "Appearance Description": 3.0,
    "Temporal Description": 2.0,
    "Hallucination Detection": 4.0,
}


class FakeJudge:
    """A chat-completions server: records requests; `script` holds (status, content) answers used before the canned
    ones (status 200 with unreadable content, or an error status)."""

    def __init__(self):
        self.requests, self.script, self.always_fail = [], [], None
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                user = body["messages"][-1]["content"]
                prediction = user.rsplit("Model description: ", 1)[-1]
                if judge.always_fail and judge.always_fail in prediction:
                    status, content = 500, None
                elif judge.script:
                    status, content = judge.script.pop(0)
                else:
                    status, content = 200, REPLIES[prediction]
                payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
                data = json.dumps(payload if status == 200 else {"error": {"message": "busy"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def judge(monkeypatch):
    server = FakeJudge()
    monkeypatch.setenv("UNIPIXEL_JUDGE_URL", server.url)
    monkeypatch.setenv("UNIPIXEL_JUDGE_MODEL", "judge-x")
    monkeypatch.setenv("UNIPIXEL_JUDGE_API_KEY", "sk-test")
    yield server
    server.close()


@pytest.fixture
def bench_root(tmp_path):
    vf.write_videorefer_bench(tmp_path / "data")
    add_bench_d_rows(tmp_path / "data")
    return tmp_path / "data"


def evaluator_for(root, out, **kwargs):
    kwargs.setdefault("judge_backoff", 0.0)
    kwargs.setdefault("judge_workers", 1)
    return VideoReferBenchDEvaluator("single", root=str(root), out_dir=str(out), **kwargs)


def write_texts(out, evaluator, texts):
    write_predictions(out, evaluator, {i: {"text": t} for i, t in enumerate(texts)})


def test_inference_on_the_released_layout(bench_root, tiny_model, processor, tmp_path):
    evaluator = VideoReferBenchDEvaluator("multi", root=str(bench_root), out_dir=str(tmp_path), max_new_tokens=3)
    recorder = Recording(Predictor(tiny_model, processor))
    run_predictions(evaluator, recorder, tmp_path, limit=1, progress=False)
    (record,) = load_predictions(tmp_path / "videorefer_bench_d" / "multi").values()
    assert record["id"] == "0" and isinstance(record["text"], str)
    sample = recorder.samples[0]
    assert sample.conversation[-1]["role"] == "user"
    assert sample.conversation[-1]["content"].endswith(VIDEOREFER_BENCH_D_PROMPT)
    assert 128 <= tokens_per_frame(recorder.items[0]) <= 256  # D's budget, not the processor default


def test_judged_scores_and_requests(bench_root, judge, tmp_path):
    evaluator = evaluator_for(bench_root, tmp_path)
    write_texts(tmp_path, evaluator, ["pred zero", "pred one", "pred two"])
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    for name, value in EXPECTED.items():
        assert np.isclose(metrics[f"videorefer_bench_d/single/{name}"], value)
    assert np.isclose(metrics["videorefer_bench_d/single/overall"], (11 / 3 + 3 + 2 + 4) / 4)
    assert len(judge.requests) == 3
    captions = [r["caption"] for r in json.loads((bench_root / "videorefer/VideoRefer-Bench/VideoRefer-Bench-D.json")
                                                 .read_text())]  # fmt: skip
    for request, caption, text in zip(judge.requests, captions, ["pred zero", "pred one", "pred two"]):
        body = request["body"]
        assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
        assert body["model"] == "judge-x" and body["temperature"] == 0.0 and body["max_tokens"] == 800
        system, user = body["messages"]
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert all(name in system["content"] for name in JUDGE_DIMENSIONS)
        assert user["role"] == "user"
        assert user["content"] == (
            f"Instruction: {VIDEOREFER_BENCH_D_PROMPT}\n\nReference description: {caption}\n\nModel description: {text}"
        )


def test_cache_resume_and_changed_prediction(bench_root, judge, tmp_path, monkeypatch):
    evaluator = evaluator_for(bench_root, tmp_path)
    path = write_predictions(tmp_path, evaluator, {i: {"text": t} for i, t in enumerate(["pred zero", "pred one"])})
    # judge fails for good on "pred one": the first judgment stays cached, the error names the sample
    judge.always_fail = "pred one"
    evaluator = evaluator_for(bench_root, tmp_path, judge_retries=1)
    with pytest.raises(JudgeError, match=r"sample 1 after 2 attempts; last: HTTP 500"):
        score_predictions(evaluator, tmp_path, allow_partial=True)
    cache = tmp_path / "videorefer_bench_d/single/judgments.jsonl"
    assert list(load_judgments(cache)) == ["0000000"] and len(judge.requests) == 3
    judge.always_fail = None
    write_predictions(tmp_path, evaluator, {2: {"text": "pred two"}})
    first = score_predictions(evaluator, tmp_path)["metrics"]
    assert len(judge.requests) == 5, "only the two unjudged predictions are sent"
    assert np.isclose(first["videorefer_bench_d/single/overall"], (11 / 3 + 3 + 2 + 4) / 4)
    assert score_predictions(evaluator, tmp_path)["metrics"] == first and len(judge.requests) == 5
    # a changed prediction (a later line for the same key) is judged again, the others are not
    with open(path, "a") as f:
        f.write(json.dumps({"key": "0000001", "id": "1", "text": "pred new"}) + "\n")
    changed = score_predictions(evaluator, tmp_path)["metrics"]
    assert len(judge.requests) == 6 and judge.requests[-1]["body"]["messages"][1]["content"].endswith("pred new")
    assert np.isclose(changed["videorefer_bench_d/single/Subject Correspondence"], (4 + 0 + 5) / 3)
    # another judge model does not reuse these judgments
    monkeypatch.setenv("UNIPIXEL_JUDGE_MODEL", "judge-y")
    score_predictions(evaluator, tmp_path)
    assert len(judge.requests) == 9 and judge.requests[-1]["body"]["model"] == "judge-y"
    # without an endpoint, scoring from a complete cache of one judge still works, without requests
    monkeypatch.delenv("UNIPIXEL_JUDGE_URL")
    assert score_predictions(evaluator, tmp_path)["metrics"] == changed and len(judge.requests) == 9
    # ... but not from a cache whose usable judgments come from two judges
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    kept = [e for e in lines if not (e["key"] == "0000000" and e["judge"]["model"] == "judge-y")]
    cache.write_text("".join(json.dumps(e) + "\n" for e in kept))
    with pytest.raises(JudgeError, match="mixes judgments of different judges"):
        score_predictions(evaluator, tmp_path)


def test_retries_transient_errors_and_unreadable_replies(bench_root, judge, tmp_path):
    evaluator = evaluator_for(bench_root, tmp_path)
    write_texts(tmp_path, evaluator, ["pred zero", "pred one", "pred two"])
    judge.script = [(503, None), (200, "Looks fine to me."), (200, "Subject Correspondence: 7 ...")]
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    assert len(judge.requests) == 6, "three failed attempts on the first sample, then one request each"
    assert np.isclose(metrics["videorefer_bench_d/single/Hallucination Detection"], 4.0)
    entry = load_judgments(tmp_path / "videorefer_bench_d/single/judgments.jsonl")["0000000"]
    assert entry["scores"] == {"Subject Correspondence": 4, "Appearance Description": 3, "Temporal Description": 2,
                               "Hallucination Detection": 5}  # fmt: skip
    assert entry["judge"]["model"] == "judge-x" and entry["judge"]["temperature"] == 0.0


def test_refused_request_is_not_retried(bench_root, judge, tmp_path):
    evaluator = evaluator_for(bench_root, tmp_path)
    write_texts(tmp_path, evaluator, ["pred zero", "pred one", "pred two"])
    judge.script = [(401, None)]
    with pytest.raises(JudgeError, match=r"judge request for sample 0 refused: HTTP 401"):
        score_predictions(evaluator, tmp_path)
    sent = [r["body"]["messages"][1]["content"].endswith("pred zero") for r in judge.requests]
    assert sum(sent) == 1, "no retry after a refusal (the pool may already have sent the next sample)"


def test_no_endpoint_is_a_clear_error(bench_root, tmp_path, monkeypatch):
    monkeypatch.delenv("UNIPIXEL_JUDGE_URL", raising=False)
    evaluator = evaluator_for(bench_root, tmp_path)
    write_texts(tmp_path, evaluator, ["pred zero", "pred one", "pred two"])
    with pytest.raises(JudgeError, match=r"3 of 3 predictions have no cached judgment.*set UNIPIXEL_JUDGE_URL"):
        score_predictions(evaluator, tmp_path)
    monkeypatch.setenv("UNIPIXEL_JUDGE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("UNIPIXEL_JUDGE_MODEL", raising=False)
    with pytest.raises(JudgeError, match="no judge endpoint: set UNIPIXEL_JUDGE_MODEL"):
        score_predictions(evaluator, tmp_path)


def test_out_dir_is_needed_to_score(bench_root, tmp_path):
    evaluator = VideoReferBenchDEvaluator("single", root=str(bench_root))
    write_texts(tmp_path, evaluator, ["pred zero", "pred one", "pred two"])
    with pytest.raises(ValueError, match="pass out_dir"):
        score_predictions(evaluator, tmp_path)


def test_concurrent_requests_give_the_same_scores(bench_root, judge, tmp_path):
    evaluator = evaluator_for(bench_root, tmp_path, judge_workers=3)
    write_texts(tmp_path, evaluator, ["pred zero", "pred one", "pred two"])
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    assert len(judge.requests) == 3
    assert np.isclose(metrics["videorefer_bench_d/single/overall"], (11 / 3 + 3 + 2 + 4) / 4)
    assert sorted(load_judgments(tmp_path / "videorefer_bench_d/single/judgments.jsonl")) == [
        "0000000",
        "0000001",
        "0000002",
    ]


def test_string_scores_without_a_judge(bench_root, tmp_path, monkeypatch):
    from unipixel.eval.benchmarks.videorefer_bench_d import normalise_caption, word_f1

    monkeypatch.delenv("UNIPIXEL_JUDGE_URL", raising=False)
    assert normalise_caption("  A  Small box.") == "a small box"
    # pred {a, box, moves}, ref {a, small, box, moves, from, left, to, right}: P = 3/3, R = 3/8 -> F1 = 6/11
    assert np.isclose(word_f1("A box moves.", "A small box moves from left to right."), 6 / 11)
    assert word_f1("", "") == 1.0 and word_f1("red", "blue") == 0.0
    evaluator = evaluator_for(bench_root, tmp_path, judge=False)
    captions = [r["caption"] for r in json.loads((bench_root / "videorefer/VideoRefer-Bench/VideoRefer-Bench-D.json")
                                                 .read_text())]  # fmt: skip
    # the first exact (case and final full stop aside), the second a different caption, the third empty
    write_texts(tmp_path, evaluator, [captions[0].upper().rstrip("."), captions[2], ""])
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    assert np.isclose(metrics["videorefer_bench_d/single/exact_match"], 1 / 3)
    expected_f1 = (1.0 + word_f1(captions[2], captions[1]) + 0.0) / 3
    assert np.isclose(metrics["videorefer_bench_d/single/word_f1"], expected_f1)
    assert "videorefer_bench_d/single/overall" not in metrics
