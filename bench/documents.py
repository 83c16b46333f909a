"""Document ingest on one core: saved web pages and PDFs through `samdata ingest`, beside the bare
libraries on the same files.

    python bench/documents.py                          # 300 pages of HTML, 400 PDF pages
    python bench/documents.py --html-pages 1000 --pdf-pages 2000 --json out.json
    python bench/documents.py --html-pages 50 --pdf-pages 50      # quick look

The inputs, generated: saved pages of 30-80 KB as sites serve them (inline CSS and scripts, a
navigation bar, a cookie banner, a sidebar, a footer around a 600-1500-word article with headings,
a list and a code block) and PDFs of 20 pages written by fpdf2 (a running head, page numbers,
headings, wrapped paragraphs). Each figure comes from its own process pinned to one core, so its
peak RSS is its own:

- `samdata ingest --config ... --json --workers 1` (the CLI as users run it, into a fresh catalog:
  extraction, chunking, token counts, secrets scan, dedup, the catalog writes);
- the adapter alone (`convert_file` of each file, no catalog): what the catalog path adds;
- the floor: `trafilatura.extract` of each page with its defaults; pypdfium2 opening each PDF and
  reading every page's text (`get_text_bounded`), pages and text pages closed.

Prints one table (pages/s, MB/s, CPU s, peak RSS, and the share of the floor's speed) and writes
the same figures as JSON with `--json PATH`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_VOCABULARY = (
    "the of and to in is that it for on with as this be at by from or an are was can will not but all "
    "bread flour water salt yeast starter dough oven crust crumb loaf proof rise knead shape bake heat "
    "time hour minute night morning fridge room temperature jar spoon bowl scale gram cup rye wheat "
    "spelt sour acid bacteria gas bubble steam lid pot tray rack stone recipe note step method result"
)
WORDS = _VOCABULARY.split()
PDF_PAGES_PER_FILE = 20
_CPU = min(os.sched_getaffinity(0))


def sentence(rng: random.Random, lo: int = 8, hi: int = 24) -> str:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"])


def paragraph(rng: random.Random, n: int | None = None) -> str:
    return " ".join(sentence(rng) for _ in range(n or rng.randint(3, 7)))


def html_page(rng: random.Random, i: int) -> str:
    """A saved article page: most of its bytes are not the article, as on the web."""
    nav = "".join(f'<li><a href="/section/{k}">{rng.choice(WORDS).title()} {k}</a></li>' for k in range(30))
    style = "".join(
        f".c{k}{{margin:{k % 7}px;padding:{k % 5}px;color:#{k * 37 % 4096:03x};font-size:{12 + k % 6}px}}\n"
        for k in range(rng.randint(150, 450))
    )
    script = json.dumps(
        {"events": [{"id": k, "name": rng.choice(WORDS), "v": rng.random()} for k in range(300)]}
    )
    related = "".join(
        f'<li><a href="/post/{rng.randint(1, 9999)}">{sentence(rng, 4, 8)}</a></li>' for _ in range(15)
    )
    body = [
        f"<h1>{sentence(rng, 4, 9).rstrip('.?!')}</h1>",
        '<p class="byline">By Sam, <time datetime="2024-05-01">1 May 2024</time></p>',
    ]
    for s in range(rng.randint(3, 6)):
        body.append(f"<h2>{sentence(rng, 3, 6).rstrip('.?!')}</h2>")
        body += [f"<p>{paragraph(rng)}</p>" for _ in range(rng.randint(2, 4))]
        if s == 1:
            body.append("<ul>" + "".join(f"<li>{sentence(rng, 4, 10)}</li>" for _ in range(5)) + "</ul>")
        if s == 2:
            body.append("<pre><code>oven --preheat 250\n\nsleep 1800\nbake --lid on</code></pre>")
    footer = "".join(f'<a href="/legal/{k}">{rng.choice(WORDS)}</a> ' for k in range(40))
    return (
        f"<!DOCTYPE html>\n<!-- saved from url=(0040)https://bakery.example.org/post/{i:06d} -->\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>Post {i}</title>'
        f'<link rel="canonical" href="https://bakery.example.org/post/{i:06d}">'
        f"<style>{style}</style><script>window.__DATA__ = {script};</script></head><body>"
        f'<div id="cookie-banner" class="consent">We use cookies to improve your experience. '
        f"<button>Accept all</button><button>Settings</button></div>"
        f'<header><nav><ul class="menu">{nav}</ul></nav></header>'
        f"<main><article>{''.join(body)}</article>"
        f'<aside class="sidebar"><h3>Related posts</h3><ul>{related}</ul></aside></main>'
        f"<footer><p>© 2024 Bakery Notes. All rights reserved.</p><p>{footer}</p></footer>"
        f"<script>console.log('analytics');</script></body></html>\n"
    )


def write_pdf(path: Path, rng: random.Random, pages: int) -> None:
    from fpdf import FPDF

    class Report(FPDF):  # type: ignore[misc]
        def header(self) -> None:
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 8, "Bakery Notes: field reports", align="R")
            self.ln(10)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 10, f"Page {self.page_no()}", align="C")

    pdf = Report()
    pdf.set_title(f"Field report {path.stem}")
    pdf.set_auto_page_break(False)
    widths: dict[tuple[str, int], float] = {}

    def lines(text: str, size: int) -> list[str]:
        """Wrapped to the text width (fpdf2's own line breaking costs ~100 ms a page)."""
        out, line, width = [], [], 0.0
        space = pdf.get_string_width(" ")
        for word in text.split():
            w = widths.get((word, size))
            if w is None:
                w = widths[(word, size)] = pdf.get_string_width(word)
            if line and width + space + w > pdf.epw:
                out.append(" ".join(line))
                line, width = [], 0.0
            width += (space if line else 0) + w
            line.append(word)
        return [*out, " ".join(line)] if line else out

    for _ in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 8, sentence(rng, 3, 7).rstrip(".?!"))
        pdf.ln(10)
        pdf.set_font("Helvetica", size=10)
        while pdf.get_y() < 235:
            for line in lines(paragraph(rng, 4), 10):
                pdf.cell(0, 5, line)
                pdf.ln(5)
            pdf.ln(3)
    pdf.output(str(path))


def generate(work: Path, html_pages: int, pdf_pages: int) -> tuple[Path, Path]:
    rng = random.Random(15)
    html_dir, pdf_dir = work / "pages", work / "pdfs"
    html_dir.mkdir(parents=True)
    pdf_dir.mkdir(parents=True)
    for i in range(html_pages):
        (html_dir / f"post-{i:06d}.html").write_text(html_page(rng, i))
    left, n = pdf_pages, 0
    while left > 0:
        write_pdf(pdf_dir / f"report-{n:04d}.pdf", rng, min(PDF_PAGES_PER_FILE, left))
        left -= PDF_PAGES_PER_FILE
        n += 1
    return html_dir, pdf_dir


# -- what each child process measures ----------------------------------------------------------


def floor_html(folder: Path) -> dict[str, Any]:
    import trafilatura

    pages = chars = 0
    for path in sorted(folder.iterdir()):
        text = trafilatura.extract(path.read_bytes().decode("utf-8"))
        pages += 1
        chars += len(text or "")
    return {"pages": pages, "chars": chars}


def floor_pdf(folder: Path) -> dict[str, Any]:
    import pypdfium2 as pdfium

    pages = chars = 0
    for path in sorted(folder.iterdir()):
        doc = pdfium.PdfDocument(path)
        for i in range(len(doc)):
            page = doc[i]
            textpage = page.get_textpage()
            chars += len(textpage.get_text_bounded())
            textpage.close()
            page.close()
            pages += 1
        doc.close()
    return {"pages": pages, "chars": chars}


def adapter_only(fmt: str, folder: Path) -> dict[str, Any]:
    from samdata.sources import Context, Produced, adapter_for

    adapter = adapter_for(fmt)
    assert adapter is not None and adapter.convert_file is not None
    records = examples = chars = 0
    for path in sorted(folder.iterdir()):
        ctx = Context(path, {"license": "CC-BY-4.0"})
        for _, out in adapter.convert_file(ctx):
            records += 1 if not isinstance(out, Produced) else out.records
            if isinstance(out, Produced):
                examples += 1
                chars += len(out.example.messages[-1].content)
    return {"pages": records, "examples": examples, "chars": chars}


def samdata_ingest(fmt: str, folder: Path) -> dict[str, Any]:
    """`samdata ingest` in its own process (a grandchild of this one, pinned as it is)."""
    work = folder.parent / f"catalog-{fmt}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    cfg = work / "samdata.toml"
    cfg.write_text(
        f'[[sources]]\nname = "{fmt}"\npath = "{folder}/*"\nformat = "{fmt}"\nlicense = "CC-BY-4.0"\n'
    )
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "samdata", "ingest", "--config", str(cfg), "--json", "--workers", "1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"samdata ingest failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return {
        "pages": report["records"],
        "produced": report["produced"],
        "examples": report["examples"],
        "skipped": report["skipped"],
        "quarantined": report["quarantined"],
        "balanced": report["records"] == report["produced"] + report["skipped"] + report["quarantined"]
        and not report["unaccounted"],
        "elapsed": report["elapsed_s"],  # the ingest run, from the CLI's own report
        "process_wall": wall,  # with the interpreter's start and the imports
    }


def _warm(mode: str) -> None:
    """Imports and one-time loads (the tokenizer) outside the timed part, as in a long run."""
    if mode.endswith("html"):
        import trafilatura  # noqa: F401
    if mode.endswith("pdf"):
        import pypdfium2  # noqa: F401
    if mode.startswith("adapter"):
        from samdata.sources import Context, adapter_for
        from samdata.sources.documents import token_counter

        adapter_for(mode.split("-")[1])
        token_counter(Context(Path(".")))("warm")


CHILDREN = {
    "floor-html": floor_html,
    "floor-pdf": floor_pdf,
    "adapter-html": lambda d: adapter_only("html", d),
    "adapter-pdf": lambda d: adapter_only("pdf", d),
    "ingest-html": lambda d: samdata_ingest("html", d),
    "ingest-pdf": lambda d: samdata_ingest("pdf", d),
}


def child(mode: str, folder: Path) -> None:
    os.sched_setaffinity(0, {_CPU})
    _warm(mode)
    t = time.perf_counter()
    result = CHILDREN[mode](folder)
    result.setdefault("elapsed", time.perf_counter() - t)
    print(json.dumps(result))


def measure(mode: str, folder: Path) -> dict[str, Any]:
    """Run one measurement in its own process: its figures, its CPU time and peak RSS (with those
    of the processes it waited for: the CLI's, for `ingest-*`)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["rss_mb"] = usage.ru_maxrss / 1024
    return result


def run_all(
    dirs: dict[str, Path], sizes: dict[str, int]
) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    """Floor, adapter and CLI for each input, each in its own pinned process."""
    results: dict[str, Any] = {}
    rows = []
    for fmt, folder in dirs.items():
        floor_name = "trafilatura.extract" if fmt == "html" else "pypdfium2 text"
        paths = [
            (f"floor-{fmt}", floor_name),
            (f"adapter-{fmt}", "adapter alone"),
            (f"ingest-{fmt}", "samdata ingest (CLI)"),
        ]
        floor = None
        for mode, label in paths:
            r = measure(mode, folder)
            r["pages_per_s"] = r["pages"] / r["elapsed"]
            r["mb_per_s"] = sizes[fmt] / 1e6 / r["elapsed"]
            floor = floor or r
            r["of_floor"] = r["pages_per_s"] / floor["pages_per_s"]
            results[mode] = r
            rows.append((fmt, label, r))
            print(f"  {fmt} {label}: {r['elapsed']:.1f} s", flush=True)
    return results, rows


def print_table(results: dict[str, Any], rows: list[tuple[str, str, Any]]) -> None:
    head = f"{'input':5} {'path':22} {'pages/s':>9} {'MB/s':>7} {'time s':>7} {'CPU s':>7} {'peak RSS':>9}"
    print(f"\n{head} {'of floor':>9}")
    for fmt, label, r in rows:
        print(
            f"{fmt:5} {label:22} {r['pages_per_s']:9,.1f} {r['mb_per_s']:7.2f} {r['elapsed']:7.2f}"
            f" {r['cpu_s']:7.2f} {r['rss_mb']:6,.0f} MB {r['of_floor']:9.0%}"
        )
    print("(time: the timed part, after imports; for the CLI, its own elapsed_s. CPU s and peak RSS: the")
    print(" whole process, interpreter start and imports included)")
    for fmt in ("html", "pdf"):
        r = results[f"ingest-{fmt}"]
        print(
            f"{fmt} account: {r['pages']} records, {r['produced']} produced, {r['skipped']} skipped,"
            f" {r['quarantined']} quarantined, {r['examples']} examples, balanced: {r['balanced']};"
            f" the CLI process took {r['process_wall']:.1f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html-pages", type=int, default=300)
    ap.add_argument("--pdf-pages", type=int, default=400)
    ap.add_argument("--dir", type=Path, default=None, help="keep the inputs and catalogs here")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    work = args.dir or Path(tempfile.mkdtemp(prefix="samdata-bench-documents-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        html_dir, pdf_dir = generate(work, args.html_pages, args.pdf_pages)
        dirs = {"html": html_dir, "pdf": pdf_dir}
        sizes = {fmt: sum(p.stat().st_size for p in d.iterdir()) for fmt, d in dirs.items()}
        print(
            f"inputs: {args.html_pages} saved pages ({sizes['html'] / 1e6:.1f} MB, "
            f"{sizes['html'] / max(args.html_pages, 1) / 1e3:.0f} KB each), {args.pdf_pages} PDF pages in "
            f"{len(list(pdf_dir.iterdir()))} files ({sizes['pdf'] / 1e6:.1f} MB), written in "
            f"{time.perf_counter() - t:.1f} s; pinned to CPU {_CPU} of {os.cpu_count()}",
            flush=True,
        )
        results, rows = run_all(dirs, sizes)
        print_table(results, rows)
        if args.json:
            inputs = {"html_pages": args.html_pages, "pdf_pages": args.pdf_pages, "bytes": sizes, "cpu": _CPU}
            args.json.write_text(json.dumps({"inputs": inputs, **results}, indent=2))
            print(f"figures written to {args.json}")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
