"""``labelloop prelabel`` and ``labelloop models``: draft labels with a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labelloop.cli._exec import ExecutorOption, WorkersOption, chunk_progress
from labelloop.cli.common import ProjectDir, console, open_project

app = typer.Typer()


@app.command()
def prelabel(
    project: ProjectDir = Path("."),
    model: Annotated[str, typer.Option(
        help="Built-in model (see 'labelloop models'), hub name or local path.")] = "minilm",
    target_precision: Annotated[float | None, typer.Option(
        min=0.5, max=0.999,
        help="Precision auto-accepted drafts must reach (default: the project setting).")] = None,
    per_class: Annotated[bool, typer.Option(
        "--per-class/--one-threshold",
        help="One auto-accept threshold per class (each class reaches the target) or one "
             "for all classes (more auto-accepted; the target holds overall).")] = True,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    chunk_size: Annotated[int | None, typer.Option(
        min=1, help="Items per chunk sent to the executor (default 5000).")] = None,
    llm_model: Annotated[str, typer.Option(
        envvar="LABELLOOP_LLM_MODEL", rich_help_panel="LLM (--model llm)",
        help="Model name the endpoint serves.")] = "",
    llm_base_url: Annotated[str | None, typer.Option(
        envvar="LABELLOOP_LLM_BASE_URL", rich_help_panel="LLM (--model llm)",
        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: OpenAI). "
             "The key comes from LABELLOOP_LLM_API_KEY or OPENAI_API_KEY.")] = None,
    budget_requests: Annotated[int | None, typer.Option(
        min=0, rich_help_panel="LLM (--model llm)",
        help="Send at most this many requests in this run.")] = None,
    budget_tokens: Annotated[int | None, typer.Option(
        min=0, rich_help_panel="LLM (--model llm)",
        help="Start no request once this many tokens are spent in this run.")] = None,
    samples: Annotated[int, typer.Option(
        min=1, rich_help_panel="LLM (--model llm)",
        help="Answers per item; > 1 gives a confidence from their agreement (needs "
             "--temperature > 0).")] = 1,
    temperature: Annotated[float, typer.Option(
        min=0.0, rich_help_panel="LLM (--model llm)", help="Sampling temperature.")] = 0.0,
    concurrency: Annotated[int, typer.Option(
        min=1, rich_help_panel="LLM (--model llm)", help="Requests in flight.")] = 8,
    answer_tokens: Annotated[int, typer.Option(
        min=1, rich_help_panel="LLM (--model llm)",
        help="Most tokens of one answer (raise it for models that think aloud first).")] = 32,
    shots: Annotated[int, typer.Option(
        min=0, rich_help_panel="LLM (--model llm)",
        help="Few-shot examples per item: the most similar human-labelled texts (MiniLM).")
    ] = 0,
    template: Annotated[Path | None, typer.Option(
        rich_help_panel="LLM (--model llm)",
        help="Prompt template file (default: the project's prompts/classify.txt, written on "
             "first use).")] = None,
    instructions: Annotated[Path | None, typer.Option(
        rich_help_panel="LLM (--model llm)",
        help="Annotator instructions for the prompt (default: the project's "
             "instructions.md).")] = None,
    logprobs: Annotated[bool, typer.Option(
        "--logprobs/--no-logprobs", rich_help_panel="LLM (--model llm)",
        help="Ask for token logprobs (the confidence of one answer).")] = True,
    structured: Annotated[bool, typer.Option(
        "--structured/--no-structured", rich_help_panel="LLM (--model llm)",
        help="Ask for JSON constrained by a schema (turn off for servers that reject "
             "response_format).")] = True,
    price_in: Annotated[float, typer.Option(
        min=0.0, rich_help_panel="LLM (--model llm)",
        help="US dollars per million prompt tokens (for the run's cost).")] = 0.0,
    price_out: Annotated[float, typer.Option(
        min=0.0, rich_help_panel="LLM (--model llm)",
        help="US dollars per million completion tokens.")] = 0.0,
    entity_map: Annotated[Path | None, typer.Option(
        rich_help_panel="Spans (--model spacy-ner)",
        help='JSON/YAML file {"spaCy label": "class" or null}; unmapped entities are dropped '
             "(default: PERSON->PER, ORG->ORG, GPE/LOC/FAC->LOC, NORP/EVENT/...->MISC).")
    ] = None,
    phrases: Annotated[Path | None, typer.Option(
        rich_help_panel="Spans (--model spacy-ner)",
        help='JSON/YAML file {"class": ["phrase", ...]} matched case-insensitively; a '
             "match wins over an overlapping entity.")] = None,
) -> None:
    """Draft a label (or boxes) with a confidence for every item not yet drafted by this model.

    Embeddings and detections run in chunks on --executor (a model loaded once per worker);
    finished chunks of embeddings are cached, so an interrupted run resumes.

    --model llm asks an LLM behind any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp,
    Ollama, TGI); its answers are cached in the project, so a run again sends no request.

    Example: [bold]labelloop prelabel -p spam --model minilm --target-precision 0.95[/]

    Spans projects (--task ner) draft entities with spaCy: --model spacy-ner.

    Example: [bold]labelloop prelabel -p news --model spacy-ner --phrases teams.yaml[/]

    Example: [bold]labelloop prelabel -p spam --model llm --llm-model llama3.1:8b
    --llm-base-url http://localhost:11434/v1[/]
    """
    from labelloop.services.prelabel import prelabel_project

    llm = None
    if model == "llm":
        from labelloop.prelabel.llm import LLMConfig
        from labelloop.services.llm import LLMOptions

        config = LLMConfig(
            model=llm_model, base_url=llm_base_url, concurrency=concurrency,
            max_tokens=answer_tokens, temperature=temperature, samples=samples, logprobs=logprobs,
            structured=structured, max_requests=budget_requests,
            max_total_tokens=budget_tokens, price_in=price_in, price_out=price_out)
        llm = LLMOptions(
            config=config, template=template, shots=shots,
            instructions=_read(instructions) if instructions is not None else None)
    span_options = None
    if entity_map is not None or phrases is not None:
        from labelloop.services.span_prelabel import SpanPrelabelOptions

        span_options = SpanPrelabelOptions(entity_map=entity_map, phrases=phrases)
    with open_project(project) as p, chunk_progress("pre-labeling") as on_chunk:
        rep = prelabel_project(p, model=model, target_precision=target_precision,
                               per_class=per_class, progress=executor == "local",
                               executor=executor, n_workers=workers, chunk_size=chunk_size,
                               on_chunk=on_chunk, llm=llm, spans=span_options)
    console.print(
        f"{rep.model} ({rep.version}): drafted {rep.n_drafted} of {rep.n_items} item(s), "
        f"{rep.n_skipped} already drafted, {rep.n_failed} failed; "
        f"{rep.n_auto_accepted} auto-accepted, {rep.n_needs_review} need review",
        highlight=False,
    )
    if rep.usage is not None:
        _print_usage(rep.usage, rep.n_unsent)
    if rep.calibration is not None:
        cal = rep.calibration
        if rep.coverage > 0:
            console.print(
                f"calibrated on {rep.n_human_checked} human-checked item(s): "
                f"{rep.coverage:.0%} of them auto-acceptable at precision >= "
                f"{cal['target_precision']:.2f} (Clopper-Pearson, delta {cal['delta']})",
                highlight=False,
            )
        else:
            console.print(
                f"not enough human-checked items ({rep.n_human_checked}) to auto-accept at "
                f"precision {cal['target_precision']:.2f}: every draft needs review",
                highlight=False,
            )


def _read(path: Path) -> str:
    from labelloop.errors import NotFoundError

    if not path.is_file():
        raise NotFoundError(f"instructions file {str(path)!r} does not exist")
    return path.read_text(encoding="utf-8")


def _print_usage(usage: dict[str, Any], n_unsent: int) -> None:
    console.print(
        f"LLM: {usage['requests']} request(s) sent, {usage['cached']} answered from the "
        f"cache, {usage['errors']} failed; {usage['prompt_tokens']} prompt + "
        f"{usage['completion_tokens']} completion tokens, cost ${usage['cost']:.4f}",
        highlight=False,
    )
    if usage.get("budget_stop"):
        console.print(
            f"budget: {usage['budget_stop']}; {n_unsent} item(s) not asked yet: run again "
            "to continue (answers so far are cached)", highlight=False)


@app.command()
def models() -> None:
    """List the built-in pre-labeling models and whether each is installed.

    Example: [bold]labelloop models[/]
    """
    from labelloop.prelabel.registry import list_models

    table = Table("name", "task", "installed", "description", title="Built-in models")
    for m in list_models():
        table.add_row(str(m["name"]), str(m["task"]), "yes" if m["installed"] else "no",
                      str(m["description"]))
    console.print(table)
    console.print("Any other --model is a hub name or local path: a transformers NLI model "
                  "(text), a DETR-style model or a YOLO .onnx file (boxes).", highlight=False)
