"""Prompt wording (docs/design.md §4.5): training pools drawn uniformly with the sample's `numpy` Generator, and the one
fixed wording used at evaluation (pass `rng=None`). The segmentation pools and evaluation strings match the published
protocol word for word; the region-caption pools (`REF_SHORT_CAPTION_PROMPTS`, `REGION_DETAIL_PROMPTS`) are our own
wording with the pool sizes of docs/design.md §4.5 (the upstream lists were not available).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SEG = "<|seg|>"
REF = "<|ref|>"
MEM = "<|mem|>"

# ------------------------------------------------------------------------------------------- segmentation
IMAGE_QUERY_PROMPTS = (
    "Can you segment the {} in this image?",
    "Please segment the {} in this image.",
    "Can you find the {} in the image?",
    "Segment the {} in the image.",
    "Track the {} in this image.",
    "Where is the {} in this image? Please respond with the segmentation mask.",
    "What is the {}? Please output the segmentation mask.",
)
VIDEO_QUERY_PROMPTS = (
    "Can you segment the {} in this video?",
    "Please segment the {} in this video.",
    "Can you find the {} in the video?",
    "Segment the {} in the video.",
    "Track the {} in this video.",
    "Where is the {} in this video? Please respond with the segmentation mask.",
    "What is the {}? Please output the segmentation mask.",
)
SENTENCE_PROMPTS = (
    "{} Please provide the segmentation mask.",
    "{} Please respond with the segmentation mask.",
    "{} Output the segmentation mask.",
    "{} Give me the segmentation results directly.",
    "{} Segment the target directly.",
)
EXPLANATORY_PROMPTS = (
    "{} Please provide the segmentation mask and explain why.",
    "{} Respond with the segmentation mask and explain the reason.",
    "{} Output the segmentation mask and give some explanations.",
    "{} Provide the segmentation mask while answering the question.",
    "{} Segment the relevant target and answer the question.",
)
QUESTION_PROMPTS = (
    "{} Please answer the question and provide the segmentation mask.",
    "{} Please associate your answer with the segmentation mask.",
    "{} Answer the question and provide the corresponding segmentation mask.",
    "{} Give me the answer and segment the target.",
    "{} Provide a short answer while segmenting the relevant object.",
)
DESCRIPTION_PROMPTS = (
    "Please segment the object according to the description: {}",
    "Segment the target according to the description: {}",
    "Analyze the following sentences and provide the corresponding segmentation mask: {}",
    "Given the description: {} Where is the described object in this video?",
    "Find the object according to the description: {}",
)
SEG_ANSWERS = (
    f"The target is {SEG}.",
    f"The segmentation result is {SEG}.",
    f"Sure, the segmentation mask is {SEG}.",
    f"Sure, it is {SEG}.",
    f"{SEG}.",
)

# evaluation: one fixed wording per sample type
EVAL_PROMPTS = {
    ("query", False): "Please segment the {} in this image.",
    ("query", True): "Please segment the {} in this video.",
    "sentence": SENTENCE_PROMPTS[0],
    "explanatory": EXPLANATORY_PROMPTS[0],
    "question": QUESTION_PROMPTS[0],
    "description": DESCRIPTION_PROMPTS[0],
}
SEG_KINDS = ("query", "sentence", "explanatory", "question", "description")

# ----------------------------------------------------------------------------------------- memory (docs/design.md §4.6)
MEMORY_PROMPTS = (
    "{} Please localize the relevant objects with IDs.",
    "{} Segment all the relevant target(s) with ID(s) in the video.",
    "{} Can you segment the target object(s) with ID(s) in the video?",
    "Please segment the mentioned objects with IDs in the question: {}",
    "Find and track the relevant objects with IDs in the query: {}",
    "Given the query '{}', please provide segmentation masks for the relevant objects with IDs.",
)

# ------------------------------------------------------------------------------------------- region understanding
# stage 1 short captions with a sparse prompt; "{}" becomes "<|ref|>" (24 phrasings)
REF_SHORT_CAPTION_PROMPTS = (
    "Give me a short description of {}.",
    "Briefly describe {}.",
    "Describe {} in a few words.",
    "What is {}? Answer briefly.",
    "Write a short caption for {}.",
    "Provide a brief description of {}.",
    "Summarize what {} is in a short phrase.",
    "Can you briefly describe {}?",
    "In a few words, what is shown at {}?",
    "Give a concise description of {}.",
    "Tell me briefly what {} is.",
    "What can you see at {}? Keep it short.",
    "Offer a short caption describing {}.",
    "Name and briefly describe {}.",
    "Provide a one-sentence description of {}.",
    "Please describe {} concisely.",
    "How would you briefly describe {}?",
    "Give me a brief caption of {}.",
    "Describe the object at {} in short.",
    "Write a few words about {}.",
    "What does {} show? Be brief.",
    "Characterize {} in a short sentence.",
    "Short description of {}, please.",
    "Could you give a quick description of {}?",
)
# Osprey detailed descriptions; "{}" becomes "[ID]" (30 phrasings)
REGION_DETAIL_PROMPTS = (
    "Can you provide me with a detailed description of the region {}?",
    "Please give a detailed description of {}.",
    "Describe {} in detail.",
    "What can you tell me about {}? Please be detailed.",
    "Provide a thorough description of the region {}.",
    "Give an elaborate description of {}.",
    "Write a detailed caption for the region {}.",
    "Explain in detail what {} shows.",
    "Describe the appearance of {} in detail.",
    "I'd like a detailed description of {}.",
    "Could you describe {} thoroughly?",
    "Please provide an in-depth description of {}.",
    "Give me a comprehensive description of the region {}.",
    "What does the region {} contain? Describe it in detail.",
    "Describe everything you can observe in {}.",
    "Provide a detailed account of {}.",
    "Tell me about {} with as much detail as possible.",
    "Write a rich description of {}.",
    "Describe {} carefully, including its attributes.",
    "Please elaborate on what is in {}.",
    "Give a detailed explanation of the content of {}.",
    "Depict the region {} in detail.",
    "How would you describe {} in detail?",
    "Offer a detailed description of the object in {}.",
    "Describe the details of {}.",
    "Provide a precise and detailed description of {}.",
    "Characterize {} in detail.",
    "Could you give me a detailed look at {}?",
    "Describe {} comprehensively.",
    "Please describe the region {} in full detail.",
)
VIDEOREFER_BENCH_D_PROMPT = "Please give a detailed description of the highlighted object [0] in the video."
BEST_OPTION_SUFFIX = "\nPlease only give the best option."
BEST_OPTION_PRESEED = "The best option is ("
MVBENCH_PRESEED = "Best Option: ("


# ------------------------------------------------------------------------------------------- helpers
def choose(pool, rng: np.random.Generator | None, eval_index: int = 0) -> str:
    """A uniform draw from `pool` with `rng`, or `pool[eval_index]` when `rng` is None."""
    return pool[eval_index] if rng is None else pool[int(rng.integers(len(pool)))]


def normalize_query(query: str) -> str:
    """Short-query normalisation: strip, drop trailing dots, lowercase the first letter, drop one leading article
    ("the " / "an " / "a ")."""
    q = query.strip().rstrip(".").strip()
    if q:
        q = q[0].lower() + q[1:]
    for article in ("the ", "an ", "a "):
        if q.startswith(article):
            q = q[len(article) :]
            break
    return q


def part_query(obj: str, part: str, rng: np.random.Generator | None) -> str:
    """PACO / Pascal-Part query: "{object} {part}" or "{part} of the {object}", 50/50 (the first at evaluation)."""
    if rng is None or rng.random() < 0.5:
        return f"{obj} {part}"
    return f"{part} of the {obj}"


def seg_question(kind: str, query: str, video: bool = False, rng: np.random.Generator | None = None) -> str:
    """User text of one segmentation turn. `kind`: query (normalised here), sentence, explanatory, question,
    description. `rng=None` gives the evaluation wording."""
    if kind == "query":
        query = normalize_query(query)
        if rng is None:
            return EVAL_PROMPTS[("query", video)].format(query)
        return choose(VIDEO_QUERY_PROMPTS if video else IMAGE_QUERY_PROMPTS, rng).format(query)
    pools = {
        "sentence": SENTENCE_PROMPTS,
        "explanatory": EXPLANATORY_PROMPTS,
        "question": QUESTION_PROMPTS,
        "description": DESCRIPTION_PROMPTS,
    }
    if kind not in pools:
        raise ValueError(f"unknown segmentation sample kind {kind!r}; expected one of {SEG_KINDS}")
    query = query.strip()
    return EVAL_PROMPTS[kind].format(query) if rng is None else choose(pools[kind], rng).format(query)


ANSWER_STYLES = ("template", "echo", "describe")


def echo_answer(expression: str, colour_last: Iterable[str] = ()) -> str:
    """ "the small red circle" → "The small red circle<|seg|>.": the expression repeated, `<|seg|>` glued to its last
    word, so that the state which predicts `<|seg|>` (the one the mask decoder reads, docs/design.md §1.2) is the
    expression's own last word and not a lone-space token that every answer shares (a toy-run answer style, see
    `docs/toy.md`).

    colour_last: colour words; the first of them found in the expression moves to the end as "in <colour>"
    ("the small red circle" → "The small circle in red<|seg|>."), so that the state the mask decoder reads is the
    colour word itself: a language model trained from scratch carries little beyond its own token there, and a
    from-scratch SAM 2 learns to select by colour much sooner than by shape (docs/toy.md).
    """
    text = expression.strip().rstrip(".")
    colours = {c.lower() for c in colour_last}
    if colours:
        words = text.split()
        found = next((i for i, w in enumerate(words) if w.lower().strip(",") in colours), None)
        if found is not None:
            colour = words.pop(found).lower().strip(",")
            text = " ".join([*words, "in", colour])
    return f"{text[:1].upper()}{text[1:]}{SEG}."


def check_answer_style(style: str, allowed: tuple[str, ...] = ANSWER_STYLES) -> str:
    """`style` if it is one of `allowed`, else a `ValueError` listing them."""
    if style not in allowed:
        raise ValueError(f"answer_style must be one of {allowed}, got {style!r}")
    return style


def styled_seg_answer(
    style: str,
    kind: str,
    query: str,
    rng: np.random.Generator | None = None,
    text: str | None = None,
    colour_last: Iterable[str] = (),
) -> str:
    """The training answer of one segmentation turn in an `ANSWER_STYLES` style: `echo` and `describe` apply to
    referring (`kind: query`) turns only, any other kind gets the pool answer of `seg_answer`. `describe` has no
    `<|seg|>` and no article ("The target is small red circle."): the state after "is" must predict the referent.
    `colour_last` goes to `echo_answer`."""
    if kind == "query" and style == "echo":
        return echo_answer(query, colour_last)
    if kind == "query" and style == "describe":
        return f"The target is {query.strip().rstrip('.').removeprefix('the ')}."
    return seg_answer(kind, rng, text)


def seg_answer(kind: str = "query", rng: np.random.Generator | None = None, text: str | None = None) -> str:
    """Assistant text of one segmentation turn, with exactly one `<|seg|>`: a pool answer; for `explanatory` the
    explanation `text` follows it; for `question` it is "{text} <|seg|>."."""
    if kind == "question":
        if not text:
            raise ValueError("a question sample needs its answer text")
        return f"{text.strip()} {SEG}."
    answer = choose(SEG_ANSWERS, rng)
    if kind == "explanatory":
        if not text:
            raise ValueError("an explanatory sample needs its explanation text")
        return f"{answer} {text.strip()}"
    return answer


def memory_prefix(object_groups: dict, num_frames: int | None = None) -> str:
    """The `<|mem|>` block of docs/design.md §1.5 (user-turn prefix).

    Args:
        object_groups: `{object id: [temporal group g, ...]}` in display order; for an image, `{id: [0]}`.
        num_frames: frames shown to the LLM (video); None for an image.

    Video: "Here is a video with N frames denoted as <1> to <N>. The highlighted regions are as follows:\\n" then per
    object "[ID]: <2g+1>-<2g+2> <|mem|> ...\\n". Image: "Here is an image with the following highlighted regions:\\n"
    then "[ID]: <|mem|>\\n".
    """
    if num_frames is None:
        lines = [f"[{oid}]: {MEM}" for oid in object_groups]
        return "Here is an image with the following highlighted regions:\n" + "\n".join(lines) + "\n"
    lines = []
    for oid, groups in object_groups.items():
        parts = " ".join(f"<{2 * g + 1}>-<{2 * g + 2}> {MEM}" for g in groups)
        lines.append(f"[{oid}]: {parts}")
    head = (
        f"Here is a video with {num_frames} frames denoted as <1> to <{num_frames}>. "
        "The highlighted regions are as follows:\n"
    )
    return head + "\n".join(lines) + "\n"


def options_text(options: list[str]) -> str:
    """The options block `\\nOptions:\\n(A) ...\\n(B) ...` of a list of option strings (letters added here)."""
    return "\nOptions:\n" + "\n".join(f"({chr(65 + i)}) {opt}" for i, opt in enumerate(options))
